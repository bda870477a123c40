output "repository_urls" {
  description = "Map of service -> repository URL (<registry>/volcast/<service>)."
  value       = { for s, r in aws_ecr_repository.this : s => r.repository_url }
}

output "repository_arns" {
  description = "Map of service -> repository ARN."
  value       = { for s, r in aws_ecr_repository.this : s => r.arn }
}

output "repository_names" {
  description = "Map of service -> repository name (volcast/<service>)."
  value       = { for s, r in aws_ecr_repository.this : s => r.name }
}

output "registry" {
  description = "Registry host (<account>.dkr.ecr.<region>.amazonaws.com), i.e. VOLCAST_ECR_REGISTRY."
  value       = split("/", values(aws_ecr_repository.this)[0].repository_url)[0]
}
