variable "bucket_name" {
  description = "Globally unique bucket name (lowercase, 3-63 characters)."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.bucket_name))
    error_message = "bucket_name must be 3-63 characters of lowercase letters, digits, dots and hyphens."
  }
}

variable "kms_key_arn" {
  description = "ARN of the KMS key for default SSE-KMS encryption (with an S3 bucket key)."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:kms:", var.kms_key_arn))
    error_message = "kms_key_arn must be a KMS key ARN."
  }
}

variable "transitions" {
  description = <<-EOT
    Storage-class tiers per key prefix: STANDARD_IA after infrequent_access_after_days, then
    glacier_storage_class (GLACIER_IR stays readable in milliseconds, GLACIER needs a restore)
    after glacier_after_days (null: stay in STANDARD_IA, for data read in bulk every week).
  EOT
  type = list(object({
    prefix                       = string
    infrequent_access_after_days = number
    glacier_after_days           = optional(number)
    glacier_storage_class        = optional(string, "GLACIER_IR")
  }))
  default = []

  validation {
    condition = alltrue([for t in var.transitions :
      t.infrequent_access_after_days >= 30 && (t.glacier_after_days == null ? true : t.glacier_after_days >= t.infrequent_access_after_days + 30)
    ])
    error_message = "S3 requires >= 30 days before STANDARD_IA and >= 30 more days in STANDARD_IA before a Glacier class."
  }

  validation {
    condition     = alltrue([for t in var.transitions : contains(["GLACIER_IR", "GLACIER", "DEEP_ARCHIVE"], t.glacier_storage_class)])
    error_message = "glacier_storage_class must be GLACIER_IR, GLACIER or DEEP_ARCHIVE."
  }

  validation {
    condition     = alltrue([for t in var.transitions : t.prefix != "" && endswith(t.prefix, "/")])
    error_message = "Each transition prefix must be a non-empty key prefix ending in /."
  }
}

variable "expirations" {
  description = "Key prefixes whose objects expire (are deleted) after days, e.g. query results."
  type = list(object({
    prefix = string
    days   = number
  }))
  default = []

  validation {
    condition     = alltrue([for e in var.expirations : e.prefix != "" && endswith(e.prefix, "/") && e.days >= 1])
    error_message = "Each expiration needs a non-empty key prefix ending in / and at least 1 day."
  }
}

variable "noncurrent_version_expiration_days" {
  description = "Days a replaced or deleted object version is kept before it expires."
  type        = number
  default     = 30

  validation {
    condition     = var.noncurrent_version_expiration_days >= 1
    error_message = "noncurrent_version_expiration_days must be at least 1."
  }
}

variable "force_destroy" {
  description = "Allow terraform destroy to delete a non-empty bucket (never for data buckets in prod)."
  type        = bool
  default     = false
}

variable "tags" {
  description = "Tags for the bucket."
  type        = map(string)
  default     = {}
}
