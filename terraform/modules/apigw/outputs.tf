output "api_id" {
  description = "ID of the HTTP API (CloudWatch ApiId dimension)."
  value       = aws_apigatewayv2_api.this.id
}

output "stage_name" {
  description = "Name of the stage ($default)."
  value       = aws_apigatewayv2_stage.default.name
}

output "api_url" {
  description = "HTTPS base URL clients call (custom domain when set, else the execute-api URL)."
  value       = var.domain_name != null ? "https://${var.domain_name}" : trimsuffix(aws_apigatewayv2_stage.default.invoke_url, "/")
}

output "domain_target" {
  description = "Regional target for a DNS alias/CNAME of the custom domain (null without one)."
  value       = one(aws_apigatewayv2_domain_name.this[*].domain_name_configuration[0].target_domain_name)
}

output "access_log_group_name" {
  description = "Log group of the access logs."
  value       = aws_cloudwatch_log_group.access.name
}

output "vpc_link_security_group_id" {
  description = "Security group of the VPC link ENIs."
  value       = aws_security_group.vpc_link.id
}
