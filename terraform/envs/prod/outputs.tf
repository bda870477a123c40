output "aws_region" {
  description = "Region of the environment."
  value       = var.aws_region
}

output "aws_account_id" {
  description = "Account of the environment."
  value       = local.account_id
}

output "ecr_registry" {
  description = "Registry host: VOLCAST_ECR_REGISTRY for docker push and prefect deploy."
  value       = module.ecr.registry
}

output "ecr_repository_urls" {
  description = "Map service -> repository URL."
  value       = module.ecr.repository_urls
}

output "ecs_cluster_name" {
  description = "ECS cluster name."
  value       = module.ecs.cluster_name
}

output "ecs_cluster_arn" {
  description = "ECS cluster ARN."
  value       = module.ecs.cluster_arn
}

output "api_service_name" {
  description = "ECS service of the API."
  value       = module.ecs.api_service_name
}

output "api_task_definition_arn" {
  description = "Task definition the API service should run after this apply (the smoke test compares the service's completed deployment to it)."
  value       = module.ecs.api_task_definition_arn
}

output "api_keys_secret_arn" {
  description = "Secrets Manager secret of the API key hashes (volcast api-keys --secret ...)."
  value       = module.ecs.api_keys_secret_arn
}

output "api_url" {
  description = "HTTPS base URL of the API (smoke test: GET $api_url/health)."
  value       = module.apigw.api_url
}

output "alb_dns_name" {
  description = "Internal DNS name of the ALB."
  value       = module.alb.alb_dns_name
}

output "lake_bucket_name" {
  description = "Lake bucket."
  value       = module.lake.bucket_name
}

output "lake_uri" {
  description = "VOLCAST_LAKE_URI of this environment."
  value       = "s3://${module.lake.bucket_name}"
}

output "dynamodb_table_name" {
  description = "VOLCAST_DYNAMODB_TABLE (null when the mirror is disabled)."
  value       = local.mirror_table_name
}

output "kms_key_arn" {
  description = "The environment's customer-managed key."
  value       = module.kms.key_arn
}

output "sns_topic_arn" {
  description = "Alerts topic."
  value       = module.monitoring.sns_topic_arn
}

output "alarm_names" {
  description = "Alarm names by purpose."
  value       = module.monitoring.alarm_names
}

output "dashboard_name" {
  description = "CloudWatch dashboard."
  value       = module.monitoring.dashboard_name
}

output "github_deploy_role_arn" {
  description = "Role GitHub Actions assumes (AWS_DEPLOY_ROLE_ARN)."
  value       = module.iam.github_deploy_role_arn
}

output "prefect_work_pool_name" {
  description = "ECS push work pool of prefect.yaml."
  value       = module.prefect.work_pool_name
}

output "task_role_arns" {
  description = "Task role ARN per deployment family (also Prefect variables volcast_task_role_arn_<family>)."
  value       = module.iam.task_role_arns
}

output "flow_execution_role_arn" {
  description = "Execution role of the flow tasks."
  value       = module.iam.flows_execution_role_arn
}

output "prefect_api_key_secret_arn" {
  description = "Secrets Manager ARN of the Prefect API key."
  value       = module.prefect.prefect_api_key_secret_arn
}

output "athena_workgroup" {
  description = "Athena workgroup for SQL on the lake (results SSE-KMS, expire after 30 days)."
  value       = module.analytics.workgroup_name
}

output "glue_database" {
  description = "Glue database of the lake's tables (partition projection on date)."
  value       = module.analytics.database_name
}

output "analyst_role_arn" {
  description = "Read-only role for Athena queries on the lake."
  value       = module.analytics.analyst_role_arn
}

output "fred_api_key_secret_arn" {
  description = "ARN of the Secrets Manager secret with the FRED API key (null unless enable_fred)."
  value       = module.prefect.fred_api_key_secret_arn
}
