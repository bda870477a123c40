variable "name" {
  description = "Environment name prefix (e.g. volcast-prod); every IAM name starts with it."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,40}$", var.name))
    error_message = "name must be 2-41 lowercase letters, digits or hyphens."
  }
}

variable "lake_bucket_arn" {
  description = "ARN of the lake bucket."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:s3:::[a-z0-9.-]+$", var.lake_bucket_arn))
    error_message = "lake_bucket_arn must be an S3 bucket ARN."
  }
}

variable "kms_key_arn" {
  description = "ARN of the environment's KMS key (lake, secrets)."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:kms:", var.kms_key_arn))
    error_message = "kms_key_arn must be a KMS key ARN."
  }
}

variable "dynamodb_table_arn" {
  description = "ARN of the predictions mirror table, or null when the mirror is disabled."
  type        = string
  default     = null

  validation {
    condition     = var.dynamodb_table_arn == null || can(regex("^arn:aws[a-z-]*:dynamodb:", var.dynamodb_table_arn))
    error_message = "dynamodb_table_arn must be a DynamoDB table ARN or null."
  }
}

variable "ecr_repository_arns" {
  description = "Map of service -> ECR repository ARN; must contain api and the flow services."
  type        = map(string)

  validation {
    condition     = contains(keys(var.ecr_repository_arns), "api") && length(var.ecr_repository_arns) >= 2
    error_message = "ecr_repository_arns must contain the api repository and at least one flow repository."
  }
}

variable "ecr_repository_prefix" {
  description = "Namespace of the ECR repositories the deploy role may push to (volcast -> volcast/*)."
  type        = string
  default     = "volcast"
}

variable "log_group_prefix" {
  description = "Prefix of every log group of this environment (e.g. /volcast/prod/)."
  type        = string

  validation {
    condition     = startswith(var.log_group_prefix, "/") && endswith(var.log_group_prefix, "/")
    error_message = "log_group_prefix must start and end with /."
  }
}

variable "api_log_group_name" {
  description = "Log group the API containers write to."
  type        = string
}

variable "flows_log_group_name" {
  description = "Log group the flow containers write to."
  type        = string
}

variable "secrets_prefix" {
  description = "Prefix of this environment's Secrets Manager secret names (e.g. volcast/prod/)."
  type        = string

  validation {
    condition     = endswith(var.secrets_prefix, "/")
    error_message = "secrets_prefix must end with /."
  }
}

variable "prefect_api_key_secret_name" {
  description = "Name of the Secrets Manager secret holding the Prefect API key (flows read it)."
  type        = string
}

variable "fred_api_key_secret_name" {
  description = "Name of the Secrets Manager secret holding the FRED API key, or null when the macro step is off."
  type        = string
  default     = null
}

variable "ecs_cluster_name" {
  description = "Name of the ECS cluster the flows run in."
  type        = string
}

variable "prefect_work_pool_name" {
  description = "Prefect work pool name (prefect-aws names task definition families after it)."
  type        = string
  default     = "volcast-ecs"
}

variable "github_repository" {
  description = "GitHub repository allowed to deploy, as owner/name."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$", var.github_repository))
    error_message = "github_repository must be owner/name."
  }
}

variable "github_environments" {
  description = "GitHub deployment environments whose jobs may assume the deploy role (besides main)."
  type        = list(string)

  validation {
    condition     = length(var.github_environments) > 0
    error_message = "Name at least one GitHub environment."
  }
}

variable "github_oidc_subject_repository" {
  description = "Repository part of the OIDC sub claim when it is not owner/name (GitHub's immutable subject format, e.g. for repositories created after 2026-06-18); null = github_repository."
  type        = string
  default     = null

  validation {
    condition     = var.github_oidc_subject_repository == null || can(regex("^[A-Za-z0-9_.@-]+/[A-Za-z0-9_.@-]+$", coalesce(var.github_oidc_subject_repository, "-/-")))
    error_message = "github_oidc_subject_repository must look like owner/name (ids included), or be null."
  }
}

variable "ownership_tags" {
  description = "Tags every resource of this environment carries (the provider's default_tags): the deploy role may create VPC pieces and HTTP APIs only with them and change only those that have them."
  type        = map(string)

  validation {
    condition     = alltrue([for k in ["Project", "Environment"] : length(lookup(var.ownership_tags, k, "")) > 0])
    error_message = "ownership_tags must set Project and Environment."
  }
}

variable "api_keys_secret_name" {
  description = "Name of the Secrets Manager secret holding the API key hashes (the API task reads it)."
  type        = string

  validation {
    condition     = length(var.api_keys_secret_name) > 0
    error_message = "api_keys_secret_name must not be empty."
  }
}

variable "github_oidc_provider_arn" {
  description = "ARN of an existing GitHub OIDC provider in the account; null creates one."
  type        = string
  default     = null
}

variable "state_bucket_name" {
  description = "Terraform state bucket (from terraform/bootstrap)."
  type        = string
}

variable "state_key_prefix" {
  description = "Key prefix of this environment's state objects (state and lock file)."
  type        = string

  validation {
    condition     = endswith(var.state_key_prefix, "/")
    error_message = "state_key_prefix must end with /."
  }
}

variable "state_kms_key_arn" {
  description = "KMS key of the state bucket (from terraform/bootstrap)."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:kms:", var.state_kms_key_arn))
    error_message = "state_kms_key_arn must be a KMS key ARN."
  }
}

variable "tags" {
  description = "Tags for the IAM resources."
  type        = map(string)
  default     = {}
}
