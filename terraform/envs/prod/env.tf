# What makes this environment prod; everything else is the same composition as envs/dev.
locals {
  environment         = "prod"
  github_environments = ["production"]

  alb_deletion_protection = true
  api_capacity_provider   = "FARGATE" # on demand: no Spot interruptions for the public API
  api_schedule            = null      # always on
}
