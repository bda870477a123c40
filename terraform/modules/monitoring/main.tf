# Alerting for one environment: a KMS-encrypted SNS topic (email, optional Slack via AWS
# Chatbot), an EventBridge rule that reports every batch task that stops badly, the alarms the
# runbook relies on, and a dashboard. Metric names come from the team brief (EMF namespace
# Volcast): API per request {Service=api, Route}: Latency, Requests, ServerErrors; pipeline
# {Service=pipeline}: PredictionsStaleSessions, emitted by the freshness_check flow at 07:45
# America/New_York, Tuesday to Saturday.

data "aws_caller_identity" "current" {}
data "aws_region" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  region     = data.aws_region.current.region
  actions    = [aws_sns_topic.alerts.arn]
}

# ---------------------------------------------------------------------------------------------
# SNS topic and subscribers.
# ---------------------------------------------------------------------------------------------
resource "aws_sns_topic" "alerts" {
  name              = "${var.name}-alerts"
  kms_master_key_id = var.kms_key_arn
  tags              = var.tags

  # An alarm that reaches nobody is no alarm: where a destination is required (prod), plan
  # stops unless an email address or a Slack channel subscribes.
  lifecycle {
    precondition {
      condition     = !var.require_alarm_destination || length(var.alarm_emails) > 0 || local.slack_enabled
      error_message = "No alarm destination: set alarm_emails (the deploy workflow passes the ALARM_EMAILS variable) or slack_team_id + slack_channel_id."
    }
  }
}

data "aws_iam_policy_document" "alerts" {
  statement {
    sid = "AccountManagesTopic"
    actions = [
      "sns:GetTopicAttributes", "sns:SetTopicAttributes", "sns:AddPermission", "sns:RemovePermission",
      "sns:DeleteTopic", "sns:Subscribe", "sns:ListSubscriptionsByTopic", "sns:Publish",
    ]
    resources = [aws_sns_topic.alerts.arn]
    principals {
      type        = "AWS"
      identifiers = ["arn:aws:iam::${local.account_id}:root"]
    }
  }

  statement {
    sid       = "AlarmsAndRulesPublish"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.alerts.arn]
    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com", "events.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_sns_topic_policy" "alerts" {
  arn    = aws_sns_topic.alerts.arn
  policy = data.aws_iam_policy_document.alerts.json
}

resource "aws_sns_topic_subscription" "email" {
  for_each = toset(var.alarm_emails)

  topic_arn = aws_sns_topic.alerts.arn
  protocol  = "email" # each address confirms once from the email AWS sends
  endpoint  = each.value
}

# Optional Slack through AWS Chatbot (the workspace is authorised once in the Chatbot console).
locals {
  slack_enabled = var.slack_team_id != null && var.slack_channel_id != null
}

data "aws_iam_policy_document" "chatbot_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["chatbot.amazonaws.com"]
    }
  }
}

# Notification-only channel: the role has no policy, so nobody can run commands from Slack.
resource "aws_iam_role" "chatbot" {
  count = local.slack_enabled ? 1 : 0

  name                 = "${var.name}-chatbot"
  assume_role_policy   = data.aws_iam_policy_document.chatbot_assume.json
  permissions_boundary = var.permissions_boundary_arn
  tags                 = var.tags
}

resource "aws_chatbot_slack_channel_configuration" "alerts" {
  count = local.slack_enabled ? 1 : 0

  configuration_name    = "${var.name}-alerts"
  iam_role_arn          = aws_iam_role.chatbot[0].arn
  slack_team_id         = var.slack_team_id
  slack_channel_id      = var.slack_channel_id
  sns_topic_arns        = [aws_sns_topic.alerts.arn]
  guardrail_policy_arns = ["arn:aws:iam::aws:policy/ReadOnlyAccess"]
  logging_level         = "ERROR"
  tags                  = var.tags
}

# ---------------------------------------------------------------------------------------------
# Any failed batch task: a standalone task (group "family:...", i.e. started by the Prefect
# push pool, not by the API service) in this cluster stopped with a non-zero exit code, or
# never started, or lost its Spot capacity.
# ---------------------------------------------------------------------------------------------
resource "aws_cloudwatch_event_rule" "batch_task_failed" {
  name        = "${var.name}-batch-task-failed"
  description = "A batch (flow) task in ${var.cluster_name} stopped with an error."
  event_pattern = jsonencode({
    source        = ["aws.ecs"]
    "detail-type" = ["ECS Task State Change"]
    detail = {
      clusterArn = [var.cluster_arn]
      lastStatus = ["STOPPED"]
      group      = [{ prefix = "family:" }]
      "$or" = [
        { containers = { exitCode = [{ "anything-but" = 0 }] } },
        { stopCode = ["TaskFailedToStart", "SpotInterruption"] },
      ]
    }
  })
  tags = var.tags
}

resource "aws_cloudwatch_event_target" "batch_task_failed" {
  rule      = aws_cloudwatch_event_rule.batch_task_failed.name
  target_id = "sns"
  arn       = aws_sns_topic.alerts.arn

  input_transformer {
    input_paths = {
      group    = "$.detail.group"
      task     = "$.detail.taskArn"
      stopCode = "$.detail.stopCode"
      reason   = "$.detail.stoppedReason"
      time     = "$.time"
    }
    input_template = "\"[volcast ${var.name}] batch task <group> stopped badly at <time>: <stopCode> - <reason> (<task>)\""
  }
}

# ---------------------------------------------------------------------------------------------
# Alarms.
# ---------------------------------------------------------------------------------------------
resource "aws_cloudwatch_metric_alarm" "batch_task_failed" {
  alarm_name          = "${var.name}-batch-task-failed"
  alarm_description   = "A batch task stopped with a non-zero exit code, failed to start or lost Spot capacity (rule ${aws_cloudwatch_event_rule.batch_task_failed.name}); the SNS message carries the task."
  namespace           = "AWS/Events"
  metric_name         = "TriggeredRules"
  dimensions          = { RuleName = aws_cloudwatch_event_rule.batch_task_failed.name }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching" # no event = nothing failed
  alarm_actions       = local.actions
  ok_actions          = local.actions
  tags                = var.tags
}

resource "aws_cloudwatch_metric_alarm" "predict_latency_p95" {
  alarm_name          = "${var.name}-api-predict-latency-p95"
  alarm_description   = "p95 latency of /predict above ${var.predict_p95_threshold_ms} ms (2 of 3 five-minute periods)."
  namespace           = var.metrics_namespace
  metric_name         = "Latency"
  dimensions          = { Service = "api", Route = "/predict" }
  extended_statistic  = "p95"
  period              = 300
  evaluation_periods  = 3
  datapoints_to_alarm = 2
  threshold           = var.predict_p95_threshold_ms
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching" # no traffic is not slowness
  alarm_actions       = local.actions
  ok_actions          = local.actions
  tags                = var.tags
}

resource "aws_cloudwatch_metric_alarm" "api_5xx_rate" {
  alarm_name          = "${var.name}-api-5xx-rate"
  alarm_description   = "Share of 5xx answers above ${var.server_error_rate_threshold_percent}% on ${join(", ", var.error_rate_routes)} (metric math on ServerErrors / Requests)."
  evaluation_periods  = 3
  datapoints_to_alarm = 2
  threshold           = var.server_error_rate_threshold_percent
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.actions
  ok_actions          = local.actions
  tags                = var.tags

  metric_query {
    id          = "rate"
    expression  = "IF(requests > 0, 100 * errors / requests, 0)"
    label       = "5xx rate (%)"
    return_data = true
  }

  metric_query {
    id          = "errors"
    expression  = join(" + ", [for i, _ in var.error_rate_routes : "e${i}"])
    label       = "5xx answers"
    return_data = false
  }

  metric_query {
    id          = "requests"
    expression  = join(" + ", [for i, _ in var.error_rate_routes : "r${i}"])
    label       = "requests"
    return_data = false
  }

  dynamic "metric_query" {
    for_each = var.error_rate_routes
    content {
      id          = "e${metric_query.key}"
      return_data = false
      metric {
        namespace   = var.metrics_namespace
        metric_name = "ServerErrors"
        dimensions  = { Service = "api", Route = metric_query.value }
        period      = 300
        stat        = "Sum"
      }
    }
  }

  dynamic "metric_query" {
    for_each = var.error_rate_routes
    content {
      id          = "r${metric_query.key}"
      return_data = false
      metric {
        namespace   = var.metrics_namespace
        metric_name = "Requests"
        dimensions  = { Service = "api", Route = metric_query.value }
        period      = 300
        stat        = "Sum"
      }
    }
  }
}

resource "aws_cloudwatch_metric_alarm" "edge_5xx_rate" {
  alarm_name          = "${var.name}-edge-5xx-rate"
  alarm_description   = "Share of 5xx answers at API Gateway above ${var.server_error_rate_threshold_percent}% (including the answers given while no API task is healthy)."
  evaluation_periods  = 3
  datapoints_to_alarm = 2
  threshold           = var.server_error_rate_threshold_percent
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.actions
  ok_actions          = local.actions
  tags                = var.tags

  metric_query {
    id          = "rate"
    expression  = "IF(count > 0, 100 * errors / count, 0)"
    label       = "edge 5xx rate (%)"
    return_data = true
  }

  metric_query {
    id          = "errors"
    return_data = false
    metric {
      namespace   = "AWS/ApiGateway"
      metric_name = "5xx"
      dimensions  = { ApiId = var.api_gateway_id, Stage = var.api_gateway_stage }
      period      = 300
      stat        = "Sum"
    }
  }

  metric_query {
    id          = "count"
    return_data = false
    metric {
      namespace   = "AWS/ApiGateway"
      metric_name = "Count"
      dimensions  = { ApiId = var.api_gateway_id, Stage = var.api_gateway_stage }
      period      = 300
      stat        = "Sum"
    }
  }
}

# Failed or crashed flow runs. prefect 3.9's `flow-run execute` exits 0 once a flow's failure is
# reported to Prefect, so the batch-task-failed rule only sees containers that die; every flow
# therefore prints an EMF line FlowRunsFailed = 1 {Service=pipeline} from its on_failure and
# on_crashed hooks (flows/alerting.py), which CloudWatch Logs turns into a metric from the
# flows log group (CloudWatch user guide, "Using the PutLogEvents API to send manually-created
# embedded metric format logs": the awslogs driver's PutLogEvents needs no extra header).
resource "aws_cloudwatch_metric_alarm" "flow_run_failed" {
  alarm_name          = "${var.name}-flow-run-failed"
  alarm_description   = "A Prefect flow run failed or crashed (FlowRunsFailed > 0); its log line in the flows log group names the flow, the run and the state."
  namespace           = var.metrics_namespace
  metric_name         = "FlowRunsFailed"
  dimensions          = { Service = "pipeline" }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching" # no line = no failure
  alarm_actions       = local.actions
  ok_actions          = local.actions
  tags                = var.tags
}

# Freshness: the freshness_check flow reports, at 07:45 America/New_York (Tue-Sat), how many
# trading sessions the newest predictions_daily partition lags the latest completed trading
# day. Alarm when the figure is > 0 or when it is absent (treat_missing_data = breaching).
# A one-day period makes the check's single daily datapoint the one evaluated: a lag fires
# within minutes of the 07:45 report, i.e. before 08:00. When datapoints are missing,
# CloudWatch first falls back on the most recent real datapoint inside the alarm's evaluation
# range (a few periods), which is what keeps Sunday and Monday (no check scheduled) quiet and
# means a check that stops reporting altogether is flagged once that range holds no
# datapoint; a single failed check run is reported at once by the Prefect automation on failed
# flow runs and by the batch-task-failed rule (docs/runbook.md).
resource "aws_cloudwatch_metric_alarm" "predictions_stale" {
  alarm_name          = "${var.name}-predictions-stale"
  alarm_description   = "predictions_daily lags the latest completed trading day (PredictionsStaleSessions > 0) at the 07:45 America/New_York check, or the check stopped reporting."
  namespace           = var.metrics_namespace
  metric_name         = "PredictionsStaleSessions"
  dimensions          = { Service = "pipeline" }
  statistic           = "Maximum"
  period              = 86400
  evaluation_periods  = 1
  datapoints_to_alarm = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "breaching"
  alarm_actions       = local.actions
  ok_actions          = local.actions
  tags                = var.tags
}

# Feature drift: every infer run prints an EMF line FeatureDriftMaxExcessPSI {Service=model}
# (flows/tasks.py, core.models.drift): over the last 20 sessions, the largest excess of a model
# feature's PSI against its training deciles over the largest PSI any 20-session window of the
# training data itself showed. Raw PSI is emitted too (FeatureDriftMaxPSI) but is not alarmed:
# on SPY's persistent features it exceeded 0.25 on every weekly check since 2015
# (docs/models.md, "Feature drift"). One datapoint per evening; 3 breaching days within 5
# calendar days = 3 sessions in a row, a weekend in between included. No infer, no datapoint:
# the freshness alarm covers that (notBreaching here).
resource "aws_cloudwatch_metric_alarm" "feature_drift" {
  alarm_name          = "${var.name}-feature-drift"
  alarm_description   = "A model feature's recent 20 sessions lie beyond anything the training data showed (FeatureDriftMaxExcessPSI > ${var.feature_drift_threshold}) on 3 sessions; the infer log line names the feature (docs/runbook.md)."
  namespace           = var.metrics_namespace
  metric_name         = "FeatureDriftMaxExcessPSI"
  dimensions          = { Service = "model" }
  statistic           = "Maximum"
  period              = 86400
  evaluation_periods  = 5
  datapoints_to_alarm = 3
  threshold           = var.feature_drift_threshold
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.actions
  ok_actions          = local.actions
  tags                = var.tags
}

# ---------------------------------------------------------------------------------------------
# Dashboard.
# ---------------------------------------------------------------------------------------------
locals {
  dashboard_alarms = [
    aws_cloudwatch_metric_alarm.batch_task_failed.arn,
    aws_cloudwatch_metric_alarm.flow_run_failed.arn,
    aws_cloudwatch_metric_alarm.predict_latency_p95.arn,
    aws_cloudwatch_metric_alarm.api_5xx_rate.arn,
    aws_cloudwatch_metric_alarm.edge_5xx_rate.arn,
    aws_cloudwatch_metric_alarm.predictions_stale.arn,
    aws_cloudwatch_metric_alarm.feature_drift.arn,
  ]
}

resource "aws_cloudwatch_dashboard" "this" {
  dashboard_name = var.name
  dashboard_body = jsonencode({
    widgets = [
      {
        type       = "alarm", x = 0, y = 0, width = 24, height = 3
        properties = { title = "Alarms", alarms = local.dashboard_alarms }
      },
      {
        type = "metric", x = 0, y = 3, width = 12, height = 6
        properties = {
          title  = "/predict latency (ms)"
          region = local.region
          view   = "timeSeries"
          stat   = "p95"
          period = 300
          metrics = [
            [var.metrics_namespace, "Latency", "Service", "api", "Route", "/predict", { stat = "p50", label = "p50" }],
            [var.metrics_namespace, "Latency", "Service", "api", "Route", "/predict", { stat = "p95", label = "p95" }],
          ]
          annotations = { horizontal = [{ label = "p95 alarm", value = var.predict_p95_threshold_ms }] }
        }
      },
      {
        type = "metric", x = 12, y = 3, width = 12, height = 6
        properties = {
          title  = "/predict requests and 5xx"
          region = local.region
          view   = "timeSeries"
          stat   = "Sum"
          period = 300
          metrics = [
            [var.metrics_namespace, "Requests", "Service", "api", "Route", "/predict"],
            [var.metrics_namespace, "ServerErrors", "Service", "api", "Route", "/predict"],
          ]
        }
      },
      {
        type = "metric", x = 0, y = 9, width = 8, height = 6
        properties = {
          title  = "Predictions stale (sessions)"
          region = local.region
          view   = "timeSeries"
          stat   = "Maximum"
          period = 86400
          metrics = [
            [var.metrics_namespace, "PredictionsStaleSessions", "Service", "pipeline"],
          ]
        }
      },
      {
        type = "metric", x = 8, y = 9, width = 8, height = 6
        properties = {
          title  = "API service CPU / memory (%)"
          region = local.region
          view   = "timeSeries"
          stat   = "Average"
          period = 300
          metrics = [
            ["AWS/ECS", "CPUUtilization", "ClusterName", var.cluster_name, "ServiceName", var.api_service_name],
            ["AWS/ECS", "MemoryUtilization", "ClusterName", var.cluster_name, "ServiceName", var.api_service_name],
          ]
        }
      },
      {
        type = "metric", x = 16, y = 9, width = 8, height = 6
        properties = {
          title  = "Edge (API Gateway) and ALB"
          region = local.region
          view   = "timeSeries"
          stat   = "Sum"
          period = 300
          metrics = [
            ["AWS/ApiGateway", "Count", "ApiId", var.api_gateway_id, "Stage", var.api_gateway_stage],
            ["AWS/ApiGateway", "5xx", "ApiId", var.api_gateway_id, "Stage", var.api_gateway_stage],
            ["AWS/ApplicationELB", "HealthyHostCount", "TargetGroup", var.target_group_arn_suffix, "LoadBalancer", var.alb_arn_suffix, { stat = "Minimum" }],
          ]
        }
      },
      {
        type = "metric", x = 0, y = 15, width = 24, height = 4
        properties = {
          title  = "Failed batch tasks and flow runs"
          region = local.region
          view   = "timeSeries"
          stat   = "Sum"
          period = 3600
          metrics = [
            ["AWS/Events", "TriggeredRules", "RuleName", aws_cloudwatch_event_rule.batch_task_failed.name],
            [var.metrics_namespace, "FlowRunsFailed", "Service", "pipeline"],
          ]
        }
      },
    ]
  })
}
