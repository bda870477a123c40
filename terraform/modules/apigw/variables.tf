variable "name" {
  description = "Name prefix (e.g. volcast-prod)."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,40}$", var.name))
    error_message = "name must be 2-41 lowercase letters, digits or hyphens."
  }
}

variable "vpc_id" {
  description = "VPC of the VPC link."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets for the VPC link ENIs."
  type        = list(string)

  validation {
    condition     = length(var.subnet_ids) >= 2
    error_message = "Give the VPC link subnets in at least two AZs."
  }
}

variable "alb_cidr_blocks" {
  description = "CIDRs of the subnets the internal ALB lives in (the VPC link may reach them only)."
  type        = list(string)

  validation {
    condition     = length(var.alb_cidr_blocks) > 0 && alltrue([for c in var.alb_cidr_blocks : can(cidrnetmask(c)) && c != "0.0.0.0/0"])
    error_message = "alb_cidr_blocks must be non-empty private CIDRs."
  }
}

variable "alb_listener_arn" {
  description = "ARN of the internal ALB listener (the HTTP proxy integration target)."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:elasticloadbalancing:.*:listener/app/", var.alb_listener_arn))
    error_message = "alb_listener_arn must be an ALB listener ARN."
  }
}

variable "alb_listener_port" {
  description = "Port of the ALB listener."
  type        = number
  default     = 80
}

variable "integration_timeout_ms" {
  description = "Integration timeout in milliseconds (HTTP APIs allow 50-30000)."
  type        = number
  default     = 10000

  validation {
    condition     = var.integration_timeout_ms >= 50 && var.integration_timeout_ms <= 30000
    error_message = "integration_timeout_ms must be between 50 and 30000."
  }
}

variable "route_authorization_type" {
  description = "Authorization of the $default route: NONE (public read-only API) or AWS_IAM (SigV4 callers)."
  type        = string
  default     = "NONE"

  validation {
    condition     = contains(["NONE", "AWS_IAM"], var.route_authorization_type)
    error_message = "route_authorization_type must be NONE or AWS_IAM."
  }
}

variable "throttling_rate_limit" {
  description = "Steady-state requests per second the stage admits."
  type        = number
  default     = 50

  validation {
    condition     = var.throttling_rate_limit > 0
    error_message = "throttling_rate_limit must be positive."
  }
}

variable "throttling_burst_limit" {
  description = "Burst of requests the stage admits."
  type        = number
  default     = 100

  validation {
    condition     = var.throttling_burst_limit > 0
    error_message = "throttling_burst_limit must be positive."
  }
}

variable "access_log_group_name" {
  description = "Log group of the stage's access logs."
  type        = string

  validation {
    condition     = startswith(var.access_log_group_name, "/")
    error_message = "access_log_group_name must start with /."
  }
}

variable "log_retention_days" {
  description = "Retention of the access logs (a CloudWatch Logs value of at least 365)."
  type        = number
  default     = 365

  validation {
    condition     = contains([365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a CloudWatch Logs retention value of at least 365."
  }
}

variable "kms_key_arn" {
  description = "KMS key for the access log group."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:kms:", var.kms_key_arn))
    error_message = "kms_key_arn must be a KMS key ARN."
  }
}

variable "domain_name" {
  description = "Optional custom domain (e.g. api.example.com); null serves the execute-api URL."
  type        = string
  default     = null
}

variable "certificate_arn" {
  description = "ACM certificate for domain_name (same region); required when domain_name is set."
  type        = string
  default     = null

  validation {
    condition     = var.certificate_arn == null || can(regex("^arn:aws[a-z-]*:acm:", var.certificate_arn))
    error_message = "certificate_arn must be an ACM certificate ARN or null."
  }
}

variable "tags" {
  description = "Tags for the API resources."
  type        = map(string)
  default     = {}
}
