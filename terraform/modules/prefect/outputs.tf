output "work_pool_name" {
  description = "Name of the ECS push work pool."
  value       = prefect_work_pool.ecs.name
}

output "work_pool_id" {
  description = "ID of the ECS push work pool."
  value       = prefect_work_pool.ecs.id
}

output "task_role_variable_names" {
  description = "Prefect variables holding the task role ARN of each family."
  value       = { for f, v in prefect_variable.task_role_arn : f => v.name }
}

output "prefect_api_key_secret_arn" {
  description = "ARN of the Secrets Manager secret with the Prefect API key."
  value       = aws_secretsmanager_secret.prefect_api_key.arn
}

output "fred_api_key_secret_arn" {
  description = "ARN of the Secrets Manager secret with the FRED API key (null unless enable_fred)."
  value       = one(aws_secretsmanager_secret.fred_api_key[*].arn)
}

output "failed_flow_run_automation_id" {
  description = "ID of the failed-flow-run automation (null without a notification target)."
  value       = one(prefect_automation.flow_run_failed[*].id)
}
