# ---- required for every plan/apply (terraform/README.md: "What a deploy passes") ----

variable "image_tag" {
  description = "Image tag the API runs: the full git commit SHA of the pushed images."
  type        = string

  validation {
    condition     = can(regex("^[0-9a-f]{40}$", var.image_tag))
    error_message = "image_tag must be a full 40-character lowercase git SHA."
  }
}

variable "github_repository" {
  description = "GitHub repository (owner/name) whose main branch and environments may deploy."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$", var.github_repository))
    error_message = "github_repository must be owner/name."
  }
}

variable "state_bucket_name" {
  description = "Terraform state bucket (terraform/bootstrap output state_bucket_name)."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.state_bucket_name))
    error_message = "state_bucket_name must be an S3 bucket name."
  }
}

variable "state_kms_key_arn" {
  description = "KMS key of the state bucket (terraform/bootstrap output state_kms_key_arn)."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:kms:", var.state_kms_key_arn))
    error_message = "state_kms_key_arn must be a KMS key ARN."
  }
}

variable "prefect_account_id" {
  description = "Prefect Cloud account id (UUID)."
  type        = string

  validation {
    condition     = can(regex("^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", var.prefect_account_id))
    error_message = "prefect_account_id must be a UUID."
  }
}

variable "prefect_workspace_id" {
  description = "Prefect Cloud workspace id (UUID) of this environment."
  type        = string

  validation {
    condition     = can(regex("^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", var.prefect_workspace_id))
    error_message = "prefect_workspace_id must be a UUID."
  }
}

variable "prefect_api_key" {
  description = "Prefect Cloud key that configures the Prefect provider: read-only in the plan job (PREFECT_API_KEY_READONLY), the deploying key in the approved job (PREFECT_API_KEY, production environment). Never given to the flows."
  type        = string
  sensitive   = true
  ephemeral   = true

  validation {
    condition     = length(var.prefect_api_key) >= 20
    error_message = "prefect_api_key looks too short to be a Prefect API key."
  }
}

variable "prefect_flow_api_key" {
  description = "Prefect Cloud key of the flows' own service account (least role that runs flows), written write-only to Secrets Manager for the flow containers."
  type        = string
  sensitive   = true
  ephemeral   = true

  validation {
    condition     = length(var.prefect_flow_api_key) >= 20
    error_message = "prefect_flow_api_key looks too short to be a Prefect API key."
  }
}

# ---- optional ----

variable "project" {
  description = "Project name: prefix of every resource name, ECR namespace, log group root."
  type        = string
  default     = "volcast"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,15}$", var.project))
    error_message = "project must be 2-16 lowercase letters, digits or hyphens."
  }
}

variable "aws_region" {
  description = "AWS region of the environment."
  type        = string
  default     = "us-east-1"

  validation {
    condition     = can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]$", var.aws_region))
    error_message = "aws_region must look like us-east-1."
  }
}

variable "availability_zone_ids" {
  description = "Zone IDs of the subnets (two at least; the ALB needs two). IDs, not names: names map to different zones per account, and API Gateway VPC links are published per zone ID (not in use1-az3)."
  type        = list(string)
  default     = ["use1-az1", "use1-az2"]

  validation {
    condition     = length(var.availability_zone_ids) >= 2 && alltrue([for id in var.availability_zone_ids : can(regex("^[a-z]+[0-9]+-az[0-9]+$", id))])
    error_message = "availability_zone_ids must be at least two zone IDs such as use1-az1 (not zone names such as us-east-1a)."
  }
}

variable "vpc_cidr_block" {
  description = "CIDR of the VPC."
  type        = string
  default     = "10.40.0.0/16"
}

variable "prefect_flow_api_key_version" {
  description = "Increase by one to write a rotated prefect_flow_api_key into Secrets Manager."
  type        = number
  default     = 1
}

variable "github_oidc_subject_repository" {
  description = "Repository part of the GitHub OIDC subject when it is not owner/name (GitHub's immutable subject format); null = github_repository."
  type        = string
  default     = null
}

variable "enable_fred" {
  description = "Run the optional macro step: a FRED API key secret, injected into flow containers."
  type        = bool
  default     = false
}

variable "fred_api_key" {
  description = "FRED API key, written write-only to Secrets Manager when enable_fred (CI: secret FRED_API_KEY)."
  type        = string
  default     = null
  sensitive   = true
  ephemeral   = true
}

variable "fred_api_key_version" {
  description = "Increase by one to write a rotated fred_api_key into Secrets Manager."
  type        = number
  default     = 1
}

variable "github_oidc_provider_arn" {
  description = "Existing GitHub OIDC provider of the account, or null to create it."
  type        = string
  default     = null
}

variable "alarm_emails" {
  description = "Addresses notified by the SNS alerts topic and by Prefect on failed flow runs. prod requires at least one destination (this or Slack): the deploy workflow passes the ALARM_EMAILS variable."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for e in var.alarm_emails : can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", e))])
    error_message = "alarm_emails must be email addresses."
  }
}

variable "slack_team_id" {
  description = "Slack workspace id authorised in AWS Chatbot; null disables Slack for AWS alarms."
  type        = string
  default     = null
}

variable "slack_channel_id" {
  description = "Slack channel id for AWS alarms; null disables Slack."
  type        = string
  default     = null
}

variable "prefect_slack_webhook_url" {
  description = "Slack incoming-webhook URL for Prefect's failed-flow-run notifications; null for none."
  type        = string
  default     = null
  sensitive   = true
}

variable "market_data_source" {
  description = "VOLCAST_SOURCE of the flows: yahoo (market data) in the cloud; synthetic only for a throwaway environment."
  type        = string
  default     = "yahoo"

  validation {
    condition     = contains(["yahoo", "synthetic"], var.market_data_source)
    error_message = "market_data_source must be yahoo or synthetic (a csv folder does not exist in the flow containers)."
  }
}

variable "enable_predictions_mirror" {
  description = "Create the DynamoDB predictions mirror (VOLCAST_DYNAMODB_TABLE)."
  type        = bool
  default     = true
}

variable "noncurrent_version_expiration_days" {
  description = "Days a replaced lake object version is kept."
  type        = number
  default     = 30
}

variable "ecr_keep_last_images" {
  description = "Images kept per ECR repository (rollback window)."
  type        = number
  default     = 10
}

variable "api_container_port" {
  description = "Port gunicorn binds in the API container."
  type        = number
  default     = 8000
}

variable "api_cpu" {
  description = "API task CPU units (256 = 0.25 vCPU)."
  type        = number
  default     = 256
}

variable "api_memory" {
  description = "API task memory (MiB)."
  type        = number
  default     = 1024
}

variable "api_web_concurrency" {
  description = "gunicorn workers per API task."
  type        = number
  default     = 1
}

variable "api_cpu_architecture" {
  description = "X86_64, or ARM64 (about 20% cheaper; needs arm64 images)."
  type        = string
  default     = "X86_64"
}

variable "api_min_count" {
  description = "Minimum API tasks (>= 1)."
  type        = number
  default     = 1
}

variable "api_max_count" {
  description = "Maximum API tasks."
  type        = number
  default     = 3
}

variable "api_extra_environment" {
  description = "Extra API environment, e.g. { VOLCAST_MODEL_VERSION = \"...\" } to pin a model."
  type        = map(string)
  default     = {}
}

variable "api_throttling_rate_limit" {
  description = "Requests per second the API Gateway stage admits."
  type        = number
  default     = 50
}

variable "api_throttling_burst_limit" {
  description = "Burst the API Gateway stage admits."
  type        = number
  default     = 100
}

variable "api_domain_name" {
  description = "Optional custom domain of the API (with api_certificate_arn)."
  type        = string
  default     = null
}

variable "api_certificate_arn" {
  description = "ACM certificate of api_domain_name."
  type        = string
  default     = null
}
