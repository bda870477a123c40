# prod: the values that make this environment prod. Everything else is modules/stack, which
# envs/dev calls too; the backend is in versions.tf, the providers in providers.tf.

locals {
  environment = "prod"
}

module "stack" {
  source = "../../modules/stack"

  environment         = local.environment
  github_environments = ["production"]

  alb_deletion_protection = true
  api_capacity_provider   = "FARGATE" # on demand: no Spot interruptions for the public API
  api_schedule            = null      # always on

  # Alarms must reach a human: plan stops without alarm_emails or Slack (modules/monitoring).
  require_alarm_destination = true

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
