provider "aws" {
  region = var.aws_region

  default_tags {
    tags = local.tags
  }
}

provider "prefect" {
  account_id   = var.prefect_account_id
  workspace_id = var.prefect_workspace_id
  api_key      = var.prefect_api_key
}
