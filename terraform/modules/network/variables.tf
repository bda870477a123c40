variable "name" {
  description = "Name prefix of the network resources (e.g. volcast-prod)."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,40}$", var.name))
    error_message = "name must be 2-41 lowercase letters, digits or hyphens."
  }
}

variable "cidr_block" {
  description = "IPv4 CIDR of the VPC (a /16 leaves room for /24 subnets)."
  type        = string
  default     = "10.40.0.0/16"

  validation {
    condition     = can(cidrnetmask(var.cidr_block)) && tonumber(split("/", var.cidr_block)[1]) <= 20
    error_message = "cidr_block must be a valid IPv4 CIDR of /20 or larger."
  }
}

variable "availability_zone_ids" {
  description = "Zone IDs of the subnets (e.g. [\"use1-az1\", \"use1-az2\"]), by ID because zone names map to different zones per account; the internal ALB and the API Gateway VPC link live in all of them."
  type        = list(string)

  validation {
    condition     = length(var.availability_zone_ids) >= 2 && length(var.availability_zone_ids) <= 3 && length(distinct(var.availability_zone_ids)) == length(var.availability_zone_ids)
    error_message = "availability_zone_ids must name 2 or 3 distinct zones (an ALB needs two)."
  }

  validation {
    condition     = alltrue([for id in var.availability_zone_ids : can(regex("^[a-z]+[0-9]+-az[0-9]+$", id))])
    error_message = "availability_zone_ids must be zone IDs such as use1-az1, not zone names such as us-east-1a."
  }

  # API Gateway developer guide, "Set up VPC links for HTTP APIs", Availability by Region: VPC
  # links are not offered in these zones (us-east-1 lists use1-az1/2/4/5/6, us-west-1 usw1-az1/3).
  validation {
    condition     = length(setintersection(var.availability_zone_ids, ["use1-az3", "usw1-az2"])) == 0
    error_message = "API Gateway VPC links are not available in use1-az3 or usw1-az2: choose other zone IDs."
  }
}

variable "kms_key_arn" {
  description = "KMS key for the flow-log group."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:kms:", var.kms_key_arn))
    error_message = "kms_key_arn must be a KMS key ARN."
  }
}

variable "flow_logs_log_group_name" {
  description = "CloudWatch log group for the VPC flow logs."
  type        = string

  validation {
    condition     = startswith(var.flow_logs_log_group_name, "/")
    error_message = "flow_logs_log_group_name must start with /."
  }
}

variable "flow_logs_traffic_type" {
  description = "Flow log traffic type: REJECT (default, small), ACCEPT or ALL."
  type        = string
  default     = "REJECT"

  validation {
    condition     = contains(["REJECT", "ACCEPT", "ALL"], var.flow_logs_traffic_type)
    error_message = "flow_logs_traffic_type must be REJECT, ACCEPT or ALL."
  }
}

variable "log_retention_days" {
  description = "Retention of the flow logs, in days (a value CloudWatch Logs accepts, >= 365)."
  type        = number
  default     = 365

  validation {
    condition     = contains([365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a CloudWatch Logs retention value of at least 365."
  }
}

variable "permissions_boundary_arn" {
  description = "Permissions boundary for the flow-log delivery role (null for none)."
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags for the network resources."
  type        = map(string)
  default     = {}
}
