# The ECS cluster (FARGATE for the API, FARGATE_SPOT for the batch flows that Prefect starts),
# the log groups both write to, and the API service: min 1 task behind the ALB, autoscaling on
# CPU and on requests per target, and a deployment circuit breaker that rolls back.

data "aws_region" "current" {}

resource "aws_cloudwatch_log_group" "this" {
  for_each = {
    api   = var.api_log_group_name
    flows = var.flows_log_group_name
  }

  name              = each.value
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
  tags              = var.tags
}

resource "aws_ecs_cluster" "this" {
  #checkov:skip=CKV_AWS_65:Container Insights bills every cluster/service/task-family metric (~$0.30 each, tens of dollars at this size); AWS/ECS service metrics, ALB/API Gateway metrics and the API's own EMF metrics cover the alarms
  name = var.name

  setting {
    name  = "containerInsights"
    value = "disabled"
  }

  configuration {
    execute_command_configuration {
      kms_key_id = var.kms_key_arn
      logging    = "OVERRIDE"
      log_configuration {
        cloud_watch_encryption_enabled = true
        cloud_watch_log_group_name     = aws_cloudwatch_log_group.this["flows"].name
      }
    }
  }

  tags = var.tags
}

resource "aws_ecs_cluster_capacity_providers" "this" {
  cluster_name       = aws_ecs_cluster.this.name
  capacity_providers = ["FARGATE", "FARGATE_SPOT"]

  # Tasks started without a strategy (the flows, unless Prefect passes one) go to Spot.
  default_capacity_provider_strategy {
    capacity_provider = "FARGATE_SPOT"
    weight            = 1
  }
}

# ---------------------------------------------------------------------------------------------
# Security groups: API tasks take traffic from the ALB only; flow tasks take none. Both reach
# out on 443 only (ECR, S3 via the gateway endpoint, CloudWatch, Prefect Cloud, market data).
# ---------------------------------------------------------------------------------------------
resource "aws_security_group" "api_tasks" {
  name        = "${var.name}-api-tasks"
  description = "API tasks: container port from the ALB only; HTTPS out"
  vpc_id      = var.vpc_id
  tags        = merge(var.tags, { Name = "${var.name}-api-tasks" })
}

resource "aws_vpc_security_group_ingress_rule" "api_from_alb" {
  security_group_id            = aws_security_group.api_tasks.id
  description                  = "Container port from the internal ALB"
  referenced_security_group_id = var.alb_security_group_id
  ip_protocol                  = "tcp"
  from_port                    = var.api_container_port
  to_port                      = var.api_container_port
}

resource "aws_vpc_security_group_egress_rule" "api_https" {
  security_group_id = aws_security_group.api_tasks.id
  description       = "HTTPS to ECR, S3 and CloudWatch Logs"
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
}

resource "aws_security_group" "flow_tasks" {
  #checkov:skip=CKV2_AWS_5:attached at run time: the Prefect ECS push work pool passes it in each RunTask (modules/prefect base job template)
  name        = "${var.name}-flow-tasks"
  description = "Flow tasks started by the Prefect push pool: nothing in; HTTPS out"
  vpc_id      = var.vpc_id
  tags        = merge(var.tags, { Name = "${var.name}-flow-tasks" })
}

resource "aws_vpc_security_group_egress_rule" "flows_https" {
  security_group_id = aws_security_group.flow_tasks.id
  description       = "HTTPS to ECR, S3, CloudWatch Logs, Prefect Cloud and market data"
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
}

# ---------------------------------------------------------------------------------------------
# API keys: one Secrets Manager secret holding SHA-256 hashes of the keys (never a key), KMS
# encrypted. `volcast api-keys create|revoke|list` writes its versions; Terraform creates only
# the empty secret and never a version, so an apply never overwrites the keys.
# ---------------------------------------------------------------------------------------------
resource "aws_secretsmanager_secret" "api_keys" {
  #checkov:skip=CKV2_AWS_57:keys are issued and revoked one by one with `volcast api-keys`; the secret holds hashes, so rotation = create a key, hand it out, revoke the old one (docs/security.md)
  name                    = var.api_keys_secret_name
  description             = "SHA-256 hashes of the API keys of ${var.name} (volcast api-keys); read by the API tasks."
  kms_key_id              = var.kms_key_arn
  recovery_window_in_days = 7
  tags                    = var.tags
}

# ---------------------------------------------------------------------------------------------
# API task definition and service.
# ---------------------------------------------------------------------------------------------
locals {
  api_environment = merge(
    {
      HOST             = "0.0.0.0"
      PORT             = tostring(var.api_container_port)
      WEB_CONCURRENCY  = tostring(var.api_web_concurrency)
      VOLCAST_LAKE_URI = var.lake_uri
      AWS_REGION       = data.aws_region.current.region
      # The API keys' secret (hashes only); the task role reads it at start-up and re-reads it
      # every VOLCAST_API_KEYS_REFRESH_SECONDS, so a key created or revoked with
      # `volcast api-keys` takes effect without a restart (docs/api.md).
      VOLCAST_API_KEYS = aws_secretsmanager_secret.api_keys.arn
      # The root filesystem is read-only: libraries that cache (matplotlib) write under /tmp.
      MPLCONFIGDIR = "/tmp/matplotlib"
    },
    var.api_extra_environment,
  )
}

resource "aws_ecs_task_definition" "api" {
  family                   = "${var.name}-api"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = tostring(var.api_cpu)
  memory                   = tostring(var.api_memory)
  execution_role_arn       = var.api_execution_role_arn
  task_role_arn            = var.api_task_role_arn

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = var.cpu_architecture
  }

  volume {
    name = "tmp"
  }

  container_definitions = jsonencode([
    {
      name                   = "api"
      image                  = "${var.api_image_repository_url}:${var.image_tag}"
      essential              = true
      readonlyRootFilesystem = true
      privileged             = false
      portMappings = [
        { containerPort = var.api_container_port, protocol = "tcp" }
      ]
      environment = [for k in sort(keys(local.api_environment)) : { name = k, value = local.api_environment[k] }]
      mountPoints = [
        { sourceVolume = "tmp", containerPath = "/tmp", readOnly = false }
      ]
      logConfiguration = {
        logDriver = "awslogs"
        options = {
          awslogs-group         = aws_cloudwatch_log_group.this["api"].name
          awslogs-region        = data.aws_region.current.region
          awslogs-stream-prefix = "api"
        }
      }
    }
  ])

  tags = var.tags
}

# The API service's health_check_grace_period_seconds: until it ends ECS ignores the ALB's
# health checks; a task whose /health is not 200 by then is replaced (a deployment rolled back).
# Sized from bench/bench_cloud.py on the real-data lake at 25 ms per S3 round trip
# (docs/benchmarks.md: the final run of 2026-12-01 on commit 038ff05): one task (1 worker and
# its scoring process) used at most 5.4 s of CPU to become healthy (any delay; 4.4 s at 25 ms)
# and waited on S3 for well under a second (5.24 s wall at 25 ms vs 5.26 s at 0 ms, 57
# requests, on 2 shared cores). On the task's 0.25 vCPU that is 5.4 / 0.25 = ~22 s; 120 s
# leaves 5x for a slow host or a longer history, and the task's 1 GB holds its 550 MB (RSS at
# /health). Before per-year snapshots the start-up took ~90 s at 20 ms (issue 19), past the
# 60 s grace this was: deployments rolled back.
resource "aws_ecs_service" "api" {
  #checkov:skip=CKV_AWS_333:no NAT gateway (cost, docs/cost.md): the task needs a public IP to pull images and write logs; its security group admits only the ALB
  name                               = "${var.name}-api"
  cluster                            = aws_ecs_cluster.this.id
  task_definition                    = aws_ecs_task_definition.api.arn
  desired_count                      = var.api_min_count
  platform_version                   = "LATEST"
  health_check_grace_period_seconds  = 120
  deployment_minimum_healthy_percent = 100
  deployment_maximum_percent         = 200
  enable_execute_command             = false
  propagate_tags                     = "SERVICE"
  wait_for_steady_state              = false

  capacity_provider_strategy {
    capacity_provider = var.api_capacity_provider
    weight            = 1
    base              = var.api_capacity_provider == "FARGATE" ? 1 : 0
  }

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  network_configuration {
    subnets          = var.task_subnet_ids
    security_groups  = [aws_security_group.api_tasks.id]
    assign_public_ip = true
  }

  load_balancer {
    target_group_arn = var.target_group_arn
    container_name   = "api"
    container_port   = var.api_container_port
  }

  # Autoscaling (and dev's nightly schedule) own the running count after creation.
  lifecycle {
    ignore_changes = [desired_count]
  }

  tags = var.tags

  # Orderings plan cannot see (tests/infra/test_terraform.py::test_explicit_orderings):
  # - ECS refuses a service whose target group has no load balancer yet ("The target group ...
  #   does not have an associated load balancer", ECS CreateService API reference,
  #   loadBalancers): the target group ARN alone does not wait for the listener that attaches
  #   it, so the service depends on the listener (a module variable is a graph node that
  #   depends_on may name: hashicorp/terraform#21418).
  # - A capacity provider strategy names providers the cluster must already have (ECS
  #   CreateService, capacityProviderStrategy); on destroy the service goes first, then the
  #   cluster's providers.
  depends_on = [var.alb_listener_arn, aws_ecs_cluster_capacity_providers.this]
}

# ---------------------------------------------------------------------------------------------
# Autoscaling: CPU and ALB requests per target; optional schedule that parks the API at 0.
# ---------------------------------------------------------------------------------------------
resource "aws_appautoscaling_target" "api" {
  service_namespace  = "ecs"
  resource_id        = "service/${aws_ecs_cluster.this.name}/${aws_ecs_service.api.name}"
  scalable_dimension = "ecs:service:DesiredCount"
  min_capacity       = var.api_min_count
  max_capacity       = var.api_max_count
}

resource "aws_appautoscaling_policy" "cpu" {
  name               = "${var.name}-api-cpu"
  policy_type        = "TargetTrackingScaling"
  service_namespace  = aws_appautoscaling_target.api.service_namespace
  resource_id        = aws_appautoscaling_target.api.resource_id
  scalable_dimension = aws_appautoscaling_target.api.scalable_dimension

  target_tracking_scaling_policy_configuration {
    target_value       = var.cpu_target_percent
    scale_in_cooldown  = 300
    scale_out_cooldown = 60
    predefined_metric_specification {
      predefined_metric_type = "ECSServiceAverageCPUUtilization"
    }
  }
}

resource "aws_appautoscaling_policy" "requests" {
  name               = "${var.name}-api-requests"
  policy_type        = "TargetTrackingScaling"
  service_namespace  = aws_appautoscaling_target.api.service_namespace
  resource_id        = aws_appautoscaling_target.api.resource_id
  scalable_dimension = aws_appautoscaling_target.api.scalable_dimension

  target_tracking_scaling_policy_configuration {
    target_value       = var.requests_per_target
    scale_in_cooldown  = 300
    scale_out_cooldown = 60
    predefined_metric_specification {
      predefined_metric_type = "ALBRequestCountPerTarget"
      resource_label         = "${var.alb_arn_suffix}/${var.target_group_arn_suffix}"
    }
  }
}

resource "aws_appautoscaling_scheduled_action" "stop" {
  count = var.api_schedule == null ? 0 : 1

  name               = "${var.name}-api-stop"
  service_namespace  = aws_appautoscaling_target.api.service_namespace
  resource_id        = aws_appautoscaling_target.api.resource_id
  scalable_dimension = aws_appautoscaling_target.api.scalable_dimension
  schedule           = var.api_schedule.stop_cron
  timezone           = var.api_schedule.timezone

  scalable_target_action {
    min_capacity = 0
    max_capacity = 0
  }
}

resource "aws_appautoscaling_scheduled_action" "start" {
  count = var.api_schedule == null ? 0 : 1

  name               = "${var.name}-api-start"
  service_namespace  = aws_appautoscaling_target.api.service_namespace
  resource_id        = aws_appautoscaling_target.api.resource_id
  scalable_dimension = aws_appautoscaling_target.api.scalable_dimension
  schedule           = var.api_schedule.start_cron
  timezone           = var.api_schedule.timezone

  scalable_target_action {
    min_capacity = var.api_min_count
    max_capacity = var.api_max_count
  }

  # The two actions must not be written concurrently to the same scalable target.
  depends_on = [aws_appautoscaling_scheduled_action.stop]
}
