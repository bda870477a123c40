# What makes this environment dev; everything else is the same composition as envs/prod.
locals {
  environment         = "dev"
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
}
