variable "name" {
  description = "Cluster name and prefix of the ECS resources (e.g. volcast-prod)."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,40}$", var.name))
    error_message = "name must be 2-41 lowercase letters, digits or hyphens."
  }
}

variable "vpc_id" {
  description = "VPC of the tasks."
  type        = string
}

variable "task_subnet_ids" {
  description = "Subnets of the API tasks (public subnets: no NAT gateway, see modules/network)."
  type        = list(string)

  validation {
    condition     = length(var.task_subnet_ids) >= 2
    error_message = "Give subnets in at least two AZs."
  }
}

variable "kms_key_arn" {
  description = "KMS key for the log groups and ECS Exec sessions."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:kms:", var.kms_key_arn))
    error_message = "kms_key_arn must be a KMS key ARN."
  }
}

variable "api_log_group_name" {
  description = "Log group of the API containers (their EMF lines become the Volcast metrics)."
  type        = string

  validation {
    condition     = startswith(var.api_log_group_name, "/")
    error_message = "api_log_group_name must start with /."
  }
}

variable "flows_log_group_name" {
  description = "Log group of the flow containers started by the Prefect push pool."
  type        = string

  validation {
    condition     = startswith(var.flows_log_group_name, "/")
    error_message = "flows_log_group_name must start with /."
  }
}

variable "log_retention_days" {
  description = "Retention of the log groups (a CloudWatch Logs value of at least 365)."
  type        = number
  default     = 365

  validation {
    condition     = contains([365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a CloudWatch Logs retention value of at least 365."
  }
}

variable "alb_security_group_id" {
  description = "Security group of the internal ALB (the only source the API tasks admit)."
  type        = string
}

variable "alb_arn_suffix" {
  description = "ARN suffix of the ALB (ALBRequestCountPerTarget resource label)."
  type        = string
}

variable "alb_listener_arn" {
  description = "Listener that forwards to target_group_arn: the service is created only after it exists."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:elasticloadbalancing:.*:listener/app/", var.alb_listener_arn))
    error_message = "alb_listener_arn must be an ALB listener ARN."
  }
}

variable "api_keys_secret_name" {
  description = "Secrets Manager name of the API keys' secret (hashes; e.g. volcast/prod/api-keys)."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9/_+=.@-]{1,512}$", var.api_keys_secret_name))
    error_message = "api_keys_secret_name must be a Secrets Manager name: letters, digits and /_+=.@-."
  }
}

variable "target_group_arn" {
  description = "Target group the API service registers its tasks in."
  type        = string
}

variable "target_group_arn_suffix" {
  description = "ARN suffix of the target group (ALBRequestCountPerTarget resource label)."
  type        = string
}

variable "api_image_repository_url" {
  description = "ECR repository URL of the API image (without tag)."
  type        = string
}

variable "image_tag" {
  description = "Image tag to run: the full git commit SHA."
  type        = string

  validation {
    condition     = can(regex("^[0-9a-f]{40}$", var.image_tag))
    error_message = "image_tag must be a full 40-character lowercase git SHA."
  }
}

variable "api_task_role_arn" {
  description = "Task role of the API (reads what it serves)."
  type        = string
}

variable "api_execution_role_arn" {
  description = "Execution role of the API (pulls its image, writes its logs)."
  type        = string
}

variable "lake_uri" {
  description = "VOLCAST_LAKE_URI of the API (s3://<lake bucket>)."
  type        = string

  validation {
    condition     = startswith(var.lake_uri, "s3://")
    error_message = "lake_uri must be an s3:// URI."
  }
}

variable "api_extra_environment" {
  description = "Extra environment variables of the API container (e.g. VOLCAST_MODEL_VERSION to pin a model)."
  type        = map(string)
  default     = {}
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

  validation {
    condition     = contains([256, 512, 1024, 2048, 4096], var.api_cpu)
    error_message = "api_cpu must be a Fargate CPU size: 256, 512, 1024, 2048 or 4096."
  }
}

variable "api_memory" {
  description = "API task memory in MiB (must fit the Fargate CPU size)."
  type        = number
  default     = 1024

  validation {
    condition     = var.api_memory >= 512 && var.api_memory <= 30720
    error_message = "api_memory must be between 512 and 30720 MiB."
  }
}

variable "api_web_concurrency" {
  description = "gunicorn workers per task (WEB_CONCURRENCY)."
  type        = number
  default     = 1

  validation {
    condition     = var.api_web_concurrency >= 1 && var.api_web_concurrency <= 16
    error_message = "api_web_concurrency must be between 1 and 16."
  }
}

variable "cpu_architecture" {
  description = "CPU architecture of the API task: X86_64, or ARM64 (about 20% cheaper; needs arm64 images)."
  type        = string
  default     = "X86_64"

  validation {
    condition     = contains(["X86_64", "ARM64"], var.cpu_architecture)
    error_message = "cpu_architecture must be X86_64 or ARM64."
  }
}

variable "api_capacity_provider" {
  description = "Capacity provider of the API: FARGATE (on demand) or FARGATE_SPOT (about 70% cheaper, can be interrupted)."
  type        = string
  default     = "FARGATE"

  validation {
    condition     = contains(["FARGATE", "FARGATE_SPOT"], var.api_capacity_provider)
    error_message = "api_capacity_provider must be FARGATE or FARGATE_SPOT."
  }
}

variable "api_min_count" {
  description = "Minimum running API tasks (the issue asks for at least 1)."
  type        = number
  default     = 1

  validation {
    condition     = var.api_min_count >= 1
    error_message = "api_min_count must be at least 1 (use api_schedule to park dev at 0 at night)."
  }
}

variable "api_max_count" {
  description = "Maximum running API tasks."
  type        = number
  default     = 3

  validation {
    condition     = var.api_max_count >= 1 && var.api_max_count <= 20
    error_message = "api_max_count must be between 1 and 20."
  }
}

variable "cpu_target_percent" {
  description = "Target average CPU utilisation of the API service."
  type        = number
  default     = 60

  validation {
    condition     = var.cpu_target_percent >= 10 && var.cpu_target_percent <= 90
    error_message = "cpu_target_percent must be between 10 and 90."
  }
}

variable "requests_per_target" {
  description = "Target ALB requests per task per minute."
  type        = number
  default     = 600

  validation {
    condition     = var.requests_per_target > 0
    error_message = "requests_per_target must be positive."
  }
}

variable "api_schedule" {
  description = <<-EOT
    Optional schedule that parks the API at 0 tasks (dev at night) and brings it back:
    Application Auto Scaling cron expressions in the given IANA time zone. null = always on.
  EOT
  type = object({
    stop_cron  = string
    start_cron = string
    timezone   = string
  })
  default = null

  validation {
    condition     = var.api_schedule == null || (can(regex("^cron\\(.+\\)$", var.api_schedule.stop_cron)) && can(regex("^cron\\(.+\\)$", var.api_schedule.start_cron)))
    error_message = "api_schedule crons must be cron(...) expressions."
  }
}

variable "tags" {
  description = "Tags for the ECS resources."
  type        = map(string)
  default     = {}
}
