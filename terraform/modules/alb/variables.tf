variable "name" {
  description = "Name prefix (e.g. volcast-prod); ALB and target group names are <name>-api (<= 32 chars)."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,27}$", var.name))
    error_message = "name must be 2-28 lowercase letters, digits or hyphens (ALB names are limited to 32)."
  }
}

variable "vpc_id" {
  description = "VPC of the ALB."
  type        = string
}

variable "vpc_cidr_block" {
  description = "CIDR of the VPC (the ALB may reach targets inside it only)."
  type        = string

  validation {
    condition     = can(cidrnetmask(var.vpc_cidr_block))
    error_message = "vpc_cidr_block must be an IPv4 CIDR."
  }
}

variable "subnet_ids" {
  description = "Private subnets (two AZs) for the internal ALB."
  type        = list(string)

  validation {
    condition     = length(var.subnet_ids) >= 2
    error_message = "An ALB needs subnets in at least two AZs."
  }
}

variable "ingress_cidr_blocks" {
  description = "CIDRs allowed to reach the listener: the private subnets where the VPC link ENIs live."
  type        = list(string)

  validation {
    condition     = length(var.ingress_cidr_blocks) > 0 && alltrue([for c in var.ingress_cidr_blocks : can(cidrnetmask(c)) && c != "0.0.0.0/0"])
    error_message = "ingress_cidr_blocks must be non-empty private CIDRs (never 0.0.0.0/0)."
  }
}

variable "listener_port" {
  description = "Listener port."
  type        = number
  default     = 80

  validation {
    condition     = var.listener_port > 0 && var.listener_port < 65536
    error_message = "listener_port must be a TCP port."
  }
}

variable "target_port" {
  description = "Container port of the API tasks."
  type        = number
  default     = 8000

  validation {
    condition     = var.target_port > 0 && var.target_port < 65536
    error_message = "target_port must be a TCP port."
  }
}

variable "health_check_path" {
  description = "Health check path (200 only when the API has a model loaded)."
  type        = string
  default     = "/health"

  validation {
    condition     = startswith(var.health_check_path, "/")
    error_message = "health_check_path must start with /."
  }
}

variable "deletion_protection" {
  description = "Protect the ALB from deletion."
  type        = bool
  default     = true
}

variable "tags" {
  description = "Tags for the ALB resources."
  type        = map(string)
  default     = {}
}
