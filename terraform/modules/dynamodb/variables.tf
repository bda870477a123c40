variable "table_name" {
  description = "Name of the predictions mirror table (VOLCAST_DYNAMODB_TABLE)."
  type        = string

  validation {
    condition     = can(regex("^[a-zA-Z0-9_.-]{3,255}$", var.table_name))
    error_message = "table_name must be 3-255 characters of [a-zA-Z0-9_.-]."
  }
}

variable "kms_key_arn" {
  description = "Customer-managed KMS key for server-side encryption."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:kms:", var.kms_key_arn))
    error_message = "kms_key_arn must be a KMS key ARN."
  }
}

variable "deletion_protection" {
  description = "Refuse table deletion (a destroy must turn this off first)."
  type        = bool
  default     = true
}

variable "tags" {
  description = "Tags for the table."
  type        = map(string)
  default     = {}
}
