output "state_bucket_name" {
  description = "Pass as -backend-config=bucket=... and TF_VAR_state_bucket_name."
  value       = module.state_bucket.bucket_name
}

output "state_kms_key_arn" {
  description = "Pass as -backend-config=kms_key_id=... and TF_VAR_state_kms_key_arn."
  value       = module.state_kms.key_arn
}

output "aws_region" {
  description = "Pass as -backend-config=region=..."
  value       = var.aws_region
}
