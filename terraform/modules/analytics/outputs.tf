output "database_name" {
  description = "Glue database of the lake's tables (Athena: SELECT ... FROM <database>.predictions_daily)."
  value       = aws_glue_catalog_database.this.name
}

output "table_names" {
  description = "Glue tables, one per lake table (raw.market -> raw_market)."
  value       = sort([for t in aws_glue_catalog_table.this : t.name])
}

output "workgroup_name" {
  description = "Athena workgroup to run queries in (results encrypted under the results prefix)."
  value       = aws_athena_workgroup.this.name
}

output "analyst_role_arn" {
  description = "Read-only analyst role: Athena queries on the lake, nothing else."
  value       = aws_iam_role.analyst.arn
}
