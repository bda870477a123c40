output "sns_topic_arn" {
  description = "ARN of the alerts topic."
  value       = aws_sns_topic.alerts.arn
}

output "alarm_names" {
  description = "Map of alarm purpose -> alarm name."
  value = {
    batch_task_failed   = aws_cloudwatch_metric_alarm.batch_task_failed.alarm_name
    flow_run_failed     = aws_cloudwatch_metric_alarm.flow_run_failed.alarm_name
    predict_latency_p95 = aws_cloudwatch_metric_alarm.predict_latency_p95.alarm_name
    api_5xx_rate        = aws_cloudwatch_metric_alarm.api_5xx_rate.alarm_name
    edge_5xx_rate       = aws_cloudwatch_metric_alarm.edge_5xx_rate.alarm_name
    predictions_stale   = aws_cloudwatch_metric_alarm.predictions_stale.alarm_name
    feature_drift       = aws_cloudwatch_metric_alarm.feature_drift.alarm_name
  }
}

output "batch_task_failed_rule_name" {
  description = "EventBridge rule that reports failed batch tasks."
  value       = aws_cloudwatch_event_rule.batch_task_failed.name
}

output "dashboard_name" {
  description = "CloudWatch dashboard name."
  value       = aws_cloudwatch_dashboard.this.dashboard_name
}
