variable "name" {
  description = "Environment prefix (<project>-<env>): names the database (dashes as underscores), the workgroup and the analyst role."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,40}$", var.name))
    error_message = "name must be 2-41 characters of lowercase letters, digits and dashes, starting with a letter."
  }
}

variable "lake_bucket_name" {
  description = "The lake bucket (VOLCAST_LAKE_URI s3://<bucket>/<prefix>)."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.lake_bucket_name))
    error_message = "lake_bucket_name must be a valid S3 bucket name."
  }
}

variable "lake_prefix" {
  description = "Key prefix of the lake inside the bucket (\"\" when the lake is the bucket's root)."
  type        = string
  default     = ""

  validation {
    condition     = var.lake_prefix == "" || can(regex("^[a-z0-9._-]+(/[a-z0-9._-]+)*/?$", var.lake_prefix))
    error_message = "lake_prefix must be empty or a key prefix without a leading slash."
  }
}

variable "results_prefix" {
  description = "Key prefix of Athena query results in the lake bucket (give it an expiration in the bucket's lifecycle)."
  type        = string
  default     = "athena-results/"

  validation {
    condition     = can(regex("^[a-z0-9._-]+/$", var.results_prefix))
    error_message = "results_prefix must be one path segment ending in /."
  }
}

variable "kms_key_arn" {
  description = "The environment's KMS key: encrypts query results; the analyst may decrypt the lake with it."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:kms:", var.kms_key_arn))
    error_message = "kms_key_arn must be a KMS key ARN."
  }
}

variable "permissions_boundary_arn" {
  description = "The environment's permissions boundary (modules/iam), carried by the analyst role."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:iam::", var.permissions_boundary_arn))
    error_message = "permissions_boundary_arn must be an IAM policy ARN."
  }
}

variable "analyst_principal_arns" {
  description = "IAM principals (users, roles, SSO roles) that may assume the analyst role; empty = any principal of this account allowed to by its own policies."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for a in var.analyst_principal_arns : can(regex("^arn:aws[a-z-]*:(iam|sts)::[0-9]{12}:", a))])
    error_message = "analyst_principal_arns must be IAM or STS principal ARNs."
  }
}

variable "projection_start" {
  description = "First date partition projection covers (yyyy-MM-dd): the lake's history start."
  type        = string
  default     = "2007-04-11"

  validation {
    condition     = can(regex("^[0-9]{4}-[0-9]{2}-[0-9]{2}$", var.projection_start))
    error_message = "projection_start must be a date as yyyy-MM-dd."
  }
}

variable "bytes_scanned_cutoff_per_query" {
  description = "Athena cancels a query that scans more than this many bytes (the whole lake is ~1 GB)."
  type        = number
  default     = 10737418240

  validation {
    condition     = var.bytes_scanned_cutoff_per_query >= 10485760
    error_message = "Athena's smallest cutoff is 10 MB (10485760 bytes)."
  }
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}
