# dev: the values that make this environment dev. Everything else is modules/stack, which
# envs/prod calls too; the backend is in versions.tf, the providers in providers.tf.

locals {
  environment = "dev"
}

module "stack" {
  source = "../../modules/stack"

  environment         = local.environment
  github_environments = ["dev"]

  alb_deletion_protection = false
  api_capacity_provider   = "FARGATE_SPOT" # about 70% cheaper; an interruption only costs dev a restart
  # Stopped nightly and on weekends: only the API task stops (min/max 0); the lake, the table,
  # the logs and the Prefect schedules are untouched, so nothing is lost.
  api_schedule = {
    stop_cron  = "cron(0 20 ? * MON-FRI *)"
    start_cron = "cron(0 7 ? * MON-FRI *)"
    timezone   = "America/New_York"
  }

  # Alarms may go nowhere in dev until someone subscribes (prod requires a destination).
  require_alarm_destination = false

  # From the deploy (variables.tf).
  image_tag                    = var.image_tag
  github_repository            = var.github_repository
  state_bucket_name            = var.state_bucket_name
  state_kms_key_arn            = var.state_kms_key_arn
  prefect_flow_api_key         = var.prefect_flow_api_key
  prefect_flow_api_key_version = var.prefect_flow_api_key_version
  project                      = var.project
  aws_region                   = var.aws_region
  alarm_emails                 = var.alarm_emails
  enable_fred                  = var.enable_fred
  fred_api_key                 = var.fred_api_key
  fred_api_key_version         = var.fred_api_key_version
  prefect_slack_webhook_url    = var.prefect_slack_webhook_url
}
