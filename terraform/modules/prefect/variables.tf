variable "name" {
  description = "Environment name prefix (e.g. volcast-prod)."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,40}$", var.name))
    error_message = "name must be 2-41 lowercase letters, digits or hyphens."
  }
}

variable "work_pool_name" {
  description = "Name of the ECS push work pool (prefect.yaml deploys to it)."
  type        = string
  default     = "volcast-ecs"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,62}$", var.work_pool_name))
    error_message = "work_pool_name must be lowercase letters, digits and hyphens."
  }
}

variable "cluster_arn" {
  description = "ECS cluster the flow tasks run in."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:ecs:.*:cluster/", var.cluster_arn))
    error_message = "cluster_arn must be an ECS cluster ARN."
  }
}

variable "vpc_id" {
  description = "VPC of the flow tasks."
  type        = string
}

variable "subnet_ids" {
  description = "Subnets of the flow tasks (public: they need ECR, Prefect Cloud and market data without a NAT)."
  type        = list(string)

  validation {
    condition     = length(var.subnet_ids) >= 1
    error_message = "Give at least one subnet."
  }
}

variable "security_group_ids" {
  description = "Security groups of the flow tasks (nothing in, HTTPS out)."
  type        = list(string)

  validation {
    condition     = length(var.security_group_ids) >= 1
    error_message = "Give at least one security group."
  }
}

variable "capacity_provider" {
  description = "Capacity provider of the flow tasks: FARGATE_SPOT (default, about 70% cheaper) or FARGATE."
  type        = string
  default     = "FARGATE_SPOT"

  validation {
    condition     = contains(["FARGATE_SPOT", "FARGATE"], var.capacity_provider)
    error_message = "capacity_provider must be FARGATE_SPOT or FARGATE."
  }
}

variable "execution_role_arn" {
  description = "Execution role of the flow tasks (pulls flow images, writes flow logs, reads the Prefect key)."
  type        = string
}

variable "default_task_role_arn" {
  description = "Task role used when a deployment names none: the read-only one (least privilege by default)."
  type        = string
}

variable "task_role_arns" {
  description = "Map of deployment family -> task role ARN, published as Prefect variables volcast_task_role_arn_<family>."
  type        = map(string)

  validation {
    condition     = alltrue([for f in ["ingest", "features", "train", "infer", "daily", "backfill", "freshness"] : contains(keys(var.task_role_arns), f)])
    error_message = "task_role_arns must contain ingest, features, train, infer, daily, backfill and freshness."
  }
}

variable "flow_cpu" {
  description = "Default CPU units of a flow task (deployments may override)."
  type        = number
  default     = 1024

  validation {
    condition     = contains([256, 512, 1024, 2048, 4096], var.flow_cpu)
    error_message = "flow_cpu must be a Fargate CPU size."
  }
}

variable "flow_memory" {
  description = "Default memory (MiB) of a flow task; train peaks at ~1 GB (docs/benchmarks.md)."
  type        = number
  default     = 2048

  validation {
    condition     = var.flow_memory >= 512 && var.flow_memory <= 30720
    error_message = "flow_memory must be between 512 and 30720 MiB."
  }
}

variable "flow_environment" {
  description = "Environment every flow container gets (VOLCAST_LAKE_URI, VOLCAST_DYNAMODB_TABLE, ...); deployments may add more."
  type        = map(string)

  validation {
    condition     = startswith(lookup(var.flow_environment, "VOLCAST_LAKE_URI", ""), "s3://")
    error_message = "flow_environment must set VOLCAST_LAKE_URI to an s3:// URI."
  }
}

variable "flows_log_group_name" {
  description = "Log group the flow containers write to (exists already; see modules/ecs)."
  type        = string
}

variable "kms_key_arn" {
  description = "KMS key of the Prefect API key secret."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:kms:", var.kms_key_arn))
    error_message = "kms_key_arn must be a KMS key ARN."
  }
}

variable "prefect_api_key_secret_name" {
  description = "Secrets Manager name of the Prefect API key (e.g. volcast/prod/prefect-api-key)."
  type        = string
}

variable "flow_api_key" {
  description = "Prefect Cloud API key of the flows' own service account (least role that runs flows); ephemeral, written write-only. Never the CI key."
  type        = string
  sensitive   = true
  ephemeral   = true

  validation {
    condition     = length(var.flow_api_key) >= 20
    error_message = "flow_api_key looks too short to be a Prefect API key."
  }
}

variable "flow_api_key_version" {
  description = "Increase by one to write a rotated flow_api_key into Secrets Manager."
  type        = number
  default     = 1

  validation {
    condition     = var.flow_api_key_version >= 1
    error_message = "flow_api_key_version must be at least 1."
  }
}

variable "enable_fred" {
  description = "Create the FRED API key secret and inject it into flow containers (the optional macro step)."
  type        = bool
  default     = false
}

variable "fred_api_key_secret_name" {
  description = "Secrets Manager name of the FRED API key (e.g. volcast/prod/fred-api-key)."
  type        = string
}

variable "fred_api_key" {
  description = "FRED API key (32 lower-case letters and digits); ephemeral, written write-only. Needed when enable_fred."
  type        = string
  default     = null
  sensitive   = true
  ephemeral   = true

  validation {
    condition     = var.fred_api_key == null || var.fred_api_key == "" || can(regex("^[a-z0-9]{32}$", var.fred_api_key))
    error_message = "fred_api_key must be a 32-character FRED API key."
  }
}

variable "fred_api_key_version" {
  description = "Increase by one to write a rotated fred_api_key into Secrets Manager."
  type        = number
  default     = 1

  validation {
    condition     = var.fred_api_key_version >= 1
    error_message = "fred_api_key_version must be at least 1."
  }
}

variable "push_access_key_id" {
  description = "Access key id of the bounded IAM user the push pool calls ECS with."
  type        = string
}

variable "push_secret_access_key" {
  description = "Secret access key of that user."
  type        = string
  sensitive   = true
}

variable "notification_emails" {
  description = "Addresses Prefect notifies of failed flow runs."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for e in var.notification_emails : can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", e))])
    error_message = "notification_emails must be email addresses."
  }
}

variable "slack_webhook_url" {
  description = "Optional Slack incoming-webhook URL Prefect also notifies; null for none."
  type        = string
  default     = null
  sensitive   = true

  validation {
    condition     = var.slack_webhook_url == null || startswith(coalesce(var.slack_webhook_url, "-"), "https://hooks.slack.com/")
    error_message = "slack_webhook_url must be a https://hooks.slack.com/ URL or null."
  }
}

variable "tags" {
  description = "Tags for the AWS resources."
  type        = map(string)
  default     = {}
}
