output "table_name" {
  description = "Name of the predictions mirror table."
  value       = aws_dynamodb_table.predictions.name
}

output "table_arn" {
  description = "ARN of the predictions mirror table."
  value       = aws_dynamodb_table.predictions.arn
}
