variable "aws_region" {
  description = "Region of the state bucket (use the region of the environments)."
  type        = string
  default     = "us-east-1"

  validation {
    condition     = can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]$", var.aws_region))
    error_message = "aws_region must look like us-east-1."
  }
}

variable "project" {
  description = "Project name, prefix of the state bucket and key alias."
  type        = string
  default     = "volcast"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,15}$", var.project))
    error_message = "project must be 2-16 lowercase letters, digits or hyphens."
  }
}

variable "state_bucket_name" {
  description = "State bucket name; null = <project>-tfstate-<account id>."
  type        = string
  default     = null
}
