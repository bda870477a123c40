output "cluster_name" {
  description = "Name of the ECS cluster."
  value       = aws_ecs_cluster.this.name
}

output "cluster_arn" {
  description = "ARN of the ECS cluster."
  value       = aws_ecs_cluster.this.arn
}

output "api_service_name" {
  description = "Name of the API service."
  value       = aws_ecs_service.api.name
}

output "api_task_definition_arn" {
  description = "ARN of the API task definition revision the service runs."
  value       = aws_ecs_task_definition.api.arn
}

output "api_log_group_name" {
  description = "Log group of the API."
  value       = aws_cloudwatch_log_group.this["api"].name
}

output "flows_log_group_name" {
  description = "Log group of the flows."
  value       = aws_cloudwatch_log_group.this["flows"].name
}

output "flow_tasks_security_group_id" {
  description = "Security group the Prefect push pool puts on flow tasks."
  value       = aws_security_group.flow_tasks.id
}

output "api_tasks_security_group_id" {
  description = "Security group of the API tasks."
  value       = aws_security_group.api_tasks.id
}

output "api_keys_secret_arn" {
  description = "ARN of the API keys' secret (VOLCAST_API_KEYS of the API tasks; volcast api-keys writes it)."
  value       = aws_secretsmanager_secret.api_keys.arn
}
