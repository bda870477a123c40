variable "alias" {
  description = "Alias of the key, without the alias/ prefix (e.g. volcast-prod)."
  type        = string

  validation {
    condition     = can(regex("^[a-zA-Z0-9/_-]{1,250}$", var.alias)) && !startswith(var.alias, "aws/")
    error_message = "alias must be 1-250 characters of [a-zA-Z0-9/_-] and must not start with aws/."
  }
}

variable "description" {
  description = "Human description of what the key protects."
  type        = string
  default     = "volcast: lake, logs, alerts, predictions mirror, secrets"
}

variable "log_group_prefixes" {
  description = "CloudWatch Logs group name prefixes that may encrypt with this key (e.g. /volcast/prod/)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for p in var.log_group_prefixes : startswith(p, "/")])
    error_message = "Each log group prefix must start with /."
  }
}

variable "rotation_period_in_days" {
  description = "Automatic key material rotation period (AWS allows 90-2560 days)."
  type        = number
  default     = 365

  validation {
    condition     = var.rotation_period_in_days >= 90 && var.rotation_period_in_days <= 2560
    error_message = "rotation_period_in_days must be between 90 and 2560."
  }
}

variable "deletion_window_in_days" {
  description = "Waiting period before a scheduled key deletion (7-30 days)."
  type        = number
  default     = 30

  validation {
    condition     = var.deletion_window_in_days >= 7 && var.deletion_window_in_days <= 30
    error_message = "deletion_window_in_days must be between 7 and 30."
  }
}

variable "tags" {
  description = "Tags for the key."
  type        = map(string)
  default     = {}
}
