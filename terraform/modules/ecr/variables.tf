variable "services" {
  description = "Services that get a repository each (named <repository_prefix>/<service>)."
  type        = list(string)
  default     = ["ingest", "features", "train", "infer", "api"]

  validation {
    condition     = length(var.services) > 0 && alltrue([for s in var.services : can(regex("^[a-z][a-z0-9-]*$", s))])
    error_message = "services must be a non-empty list of lowercase names."
  }
}

variable "repository_prefix" {
  description = "Namespace of the repositories (volcast -> volcast/api, ...)."
  type        = string
  default     = "volcast"

  validation {
    condition     = can(regex("^[a-z][a-z0-9._-]*$", var.repository_prefix))
    error_message = "repository_prefix must be a lowercase ECR namespace."
  }
}

variable "kms_key_arn" {
  description = "KMS key that encrypts the images at rest."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:kms:", var.kms_key_arn))
    error_message = "kms_key_arn must be a KMS key ARN."
  }
}

variable "keep_last_images" {
  description = "Images kept per repository (the rest expire); each is a possible rollback target."
  type        = number
  default     = 10

  validation {
    condition     = var.keep_last_images >= 2 && var.keep_last_images <= 1000
    error_message = "keep_last_images must be between 2 and 1000."
  }
}

variable "force_delete" {
  description = "Allow terraform destroy to delete repositories that still hold images."
  type        = bool
  default     = false
}

variable "tags" {
  description = "Tags for the repositories."
  type        = map(string)
  default     = {}
}
