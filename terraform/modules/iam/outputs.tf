output "permissions_boundary_arn" {
  description = "Permissions boundary every role and user of this environment carries."
  value       = aws_iam_policy.boundary.arn
}

output "api_task_role_arn" {
  description = "Task role of the API service."
  value       = aws_iam_role.api_task.arn
}

output "api_execution_role_arn" {
  description = "Execution role of the API service."
  value       = aws_iam_role.api_execution.arn
}

output "flows_execution_role_arn" {
  description = "Execution role of the flow tasks (push work pool default)."
  value       = aws_iam_role.flows_execution.arn
}

output "task_role_arns" {
  description = "Map of deployment family -> task role ARN (ingest, features, train, infer, daily, backfill, freshness)."
  value       = { for f, r in aws_iam_role.flow_task : f => r.arn }
}

output "family_write_prefixes" {
  description = "Map of deployment family -> lake prefixes its task role may write."
  value       = local.family_write_prefixes
}

output "prefect_push_access_key_id" {
  description = "Access key id of the Prefect push work pool user."
  value       = aws_iam_access_key.prefect_push.id
}

output "prefect_push_secret_access_key" {
  description = "Secret access key of the Prefect push work pool user (goes into a Prefect AWS Credentials block)."
  value       = aws_iam_access_key.prefect_push.secret
  sensitive   = true
}

output "github_deploy_role_arn" {
  description = "Role GitHub Actions assumes through OIDC to deploy."
  value       = aws_iam_role.github_deploy.arn
}

output "github_oidc_provider_arn" {
  description = "GitHub OIDC provider used by the deploy role."
  value       = local.github_oidc_provider_arn
}
