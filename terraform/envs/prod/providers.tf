provider "aws" {
  region = var.aws_region

  # Every resource carries these. The deploy role may create VPC pieces and HTTP APIs only with
  # Project/Environment and change only those that have them: modules/stack passes the same
  # pair to modules/iam (tests/infra checks both agree).
  default_tags {
    tags = {
      Project     = var.project
      Environment = local.environment
      ManagedBy   = "terraform"
      Repository  = var.github_repository
    }
  }
}

provider "prefect" {
  account_id   = var.prefect_account_id
  workspace_id = var.prefect_workspace_id
  api_key      = var.prefect_api_key
}
