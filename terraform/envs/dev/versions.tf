terraform {
  required_version = ">= 1.11"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 6.60"
    }
    prefect = {
      source  = "prefecthq/prefect"
      version = "~> 2.26"
    }
  }

  # Partial configuration: bucket, region and kms_key_id come from
  # `terraform init -backend-config=...` (terraform/README.md). use_lockfile = S3 native locking.
  backend "s3" {
    key          = "volcast/dev/terraform.tfstate"
    encrypt      = true
    use_lockfile = true
  }
}
