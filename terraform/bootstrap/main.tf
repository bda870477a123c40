# Once per AWS account, by an admin: the bucket and KMS key that hold every environment's
# Terraform state. S3 native locking (use_lockfile in the envs) needs no DynamoDB table.

provider "aws" {
  region = var.aws_region

  default_tags {
    tags = {
      Project   = var.project
      ManagedBy = "terraform"
      Stack     = "bootstrap"
    }
  }
}

data "aws_caller_identity" "current" {}

module "state_kms" {
  source = "../modules/kms"

  alias       = "${var.project}-tfstate"
  description = "${var.project}: Terraform state"
}

module "state_bucket" {
  source = "../modules/s3"

  bucket_name = coalesce(var.state_bucket_name, "${var.project}-tfstate-${data.aws_caller_identity.current.account_id}")
  kms_key_arn = module.state_kms.key_arn
  # Every state write is a new version: keep old ones long enough to recover a bad apply.
  noncurrent_version_expiration_days = 90
}
