# What makes this environment prod; everything else is the same composition as envs/dev.
locals {
  environment         = "prod"
  github_environments = ["production"]

  alb_deletion_protection = true
  api_capacity_provider   = "FARGATE" # on demand: no Spot interruptions for the public API
  api_schedule            = null      # always on

  # Alarms must reach a human: plan stops without alarm_emails or Slack (modules/monitoring).
  require_alarm_destination = true
}
