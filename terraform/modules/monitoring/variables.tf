variable "name" {
  description = "Environment name prefix (e.g. volcast-prod); alarm names start with it."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,40}$", var.name))
    error_message = "name must be 2-41 lowercase letters, digits or hyphens."
  }
}

variable "kms_key_arn" {
  description = "KMS key of the SNS topic (its policy lets CloudWatch and EventBridge use it)."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:kms:", var.kms_key_arn))
    error_message = "kms_key_arn must be a KMS key ARN."
  }
}

variable "alarm_emails" {
  description = "Email addresses subscribed to the alerts topic (each confirms once)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for e in var.alarm_emails : can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", e))])
    error_message = "alarm_emails must be email addresses."
  }
}

variable "require_alarm_destination" {
  description = "Refuse to plan without an alarm destination (alarm_emails or Slack): true in prod."
  type        = bool
  default     = false

  validation {
    condition     = var.require_alarm_destination != null
    error_message = "require_alarm_destination must be true or false."
  }
}

variable "slack_team_id" {
  description = "Slack workspace id authorised in AWS Chatbot (e.g. T07EA123LEP); null disables Slack."
  type        = string
  default     = null
}

variable "slack_channel_id" {
  description = "Slack channel id for alerts (e.g. C07EZ1ABC23); null disables Slack."
  type        = string
  default     = null
}

variable "permissions_boundary_arn" {
  description = "Permissions boundary for the Chatbot channel role."
  type        = string
  default     = null
}

variable "metrics_namespace" {
  description = "CloudWatch namespace of the EMF metrics (brief: Volcast)."
  type        = string
  default     = "Volcast"
}

variable "cluster_name" {
  description = "ECS cluster name."
  type        = string
}

variable "cluster_arn" {
  description = "ECS cluster ARN (the failed-task rule matches tasks of this cluster only)."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:ecs:.*:cluster/", var.cluster_arn))
    error_message = "cluster_arn must be an ECS cluster ARN."
  }
}

variable "api_service_name" {
  description = "ECS service name of the API."
  type        = string
}

variable "api_gateway_id" {
  description = "HTTP API id (AWS/ApiGateway ApiId dimension)."
  type        = string
}

variable "api_gateway_stage" {
  description = "HTTP API stage name (AWS/ApiGateway Stage dimension)."
  type        = string
  default     = "$default"
}

variable "alb_arn_suffix" {
  description = "ALB ARN suffix (AWS/ApplicationELB LoadBalancer dimension)."
  type        = string
}

variable "target_group_arn_suffix" {
  description = "Target group ARN suffix (AWS/ApplicationELB TargetGroup dimension)."
  type        = string
}

variable "predict_p95_threshold_ms" {
  description = "Alarm when the p95 latency of /predict exceeds this many milliseconds."
  type        = number
  default     = 2000

  validation {
    condition     = var.predict_p95_threshold_ms > 0
    error_message = "predict_p95_threshold_ms must be positive."
  }
}

variable "server_error_rate_threshold_percent" {
  description = "Alarm when the share of 5xx answers exceeds this percentage."
  type        = number
  default     = 1

  validation {
    condition     = var.server_error_rate_threshold_percent > 0 && var.server_error_rate_threshold_percent < 100
    error_message = "server_error_rate_threshold_percent must be between 0 and 100."
  }
}

variable "error_rate_routes" {
  description = "API routes whose EMF ServerErrors/Requests make up the 5xx rate (health checks excluded on purpose)."
  type        = list(string)
  default     = ["/predict"]

  validation {
    condition     = length(var.error_rate_routes) > 0 && length(var.error_rate_routes) <= 10 && alltrue([for r in var.error_rate_routes : startswith(r, "/")])
    error_message = "error_rate_routes must be 1-10 route paths starting with /."
  }
}

variable "tags" {
  description = "Tags for the monitoring resources."
  type        = map(string)
  default     = {}
}

variable "feature_drift_threshold" {
  description = "Excess PSI (over the training windows' own largest PSI) of the most drifting model feature above which 3 sessions raise the drift alarm."
  type        = number
  default     = 0.25

  validation {
    condition     = var.feature_drift_threshold > 0
    error_message = "feature_drift_threshold must be positive."
  }
}
