# What comes from outside the repository: what the deploy workflow passes (TF_VAR_*, -var) and
# secrets. modules/stack validates the passed-through ones; everything else about an
# environment is a value in main.tf. terraform/README.md: "What a deploy passes".

# ---- the Prefect provider (providers.tf) ----

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

# ---- passed to modules/stack unchanged (descriptions and validations there) ----

variable "image_tag" {
  description = "Image tag the API runs: the full git commit SHA of the pushed images."
  type        = string
}

variable "github_repository" {
  description = "GitHub repository (owner/name) whose main branch and environments may deploy."
  type        = string
}

variable "state_bucket_name" {
  description = "Terraform state bucket (terraform/bootstrap output state_bucket_name)."
  type        = string
}

variable "state_kms_key_arn" {
  description = "KMS key of the state bucket (terraform/bootstrap output state_kms_key_arn)."
  type        = string
}

variable "prefect_flow_api_key" {
  description = "Prefect Cloud key of the flows' own service account, written write-only to Secrets Manager."
  type        = string
  sensitive   = true
  ephemeral   = true
}

variable "prefect_flow_api_key_version" {
  description = "Increase by one to write a rotated prefect_flow_api_key into Secrets Manager."
  type        = number
  default     = 1
}

variable "project" {
  description = "Project name: prefix of every resource name, ECR namespace, log group root."
  type        = string
  default     = "volcast"
}

variable "aws_region" {
  description = "AWS region of the environment."
  type        = string
  default     = "us-east-1"
}

variable "alarm_emails" {
  description = "Addresses notified by the SNS alerts topic and by Prefect on failed flow runs."
  type        = list(string)
  default     = []
}

variable "enable_fred" {
  description = "Run the optional macro step: a FRED API key secret, injected into flow containers."
  type        = bool
  default     = false
}

variable "fred_api_key" {
  description = "FRED API key, written write-only to Secrets Manager when enable_fred."
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

variable "prefect_slack_webhook_url" {
  description = "Slack incoming-webhook URL for Prefect's failed-flow-run notifications; null for none."
  type        = string
  default     = null
  sensitive   = true
}
