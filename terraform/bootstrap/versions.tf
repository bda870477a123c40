terraform {
  required_version = ">= 1.11"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 6.60"
    }
  }

  # Local state on purpose: this creates the bucket every other state lives in. Keep the
  # resulting terraform.tfstate with the account's admin records (it holds no secret).
}
