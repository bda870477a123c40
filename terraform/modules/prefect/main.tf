# Prefect Cloud side of the batch: the ECS push work pool whose base job template points at
# this environment's cluster, roles, subnets and Spot capacity; one Prefect variable per
# deployment family holding its task role ARN (prefect.yaml reads them); automations that
# notify on failed flow runs; and the flows' own Prefect API key (and, when enabled, the FRED
# API key) in Secrets Manager, which ECS injects into flow containers as PREFECT_API_KEY (and
# VOLCAST_FRED_API_KEY), never as plain environment variables. The Prefect key belongs to a
# service account of its own with the least built-in workspace role that runs flows
# (Developer; Prefect Cloud docs, "Manage roles": Runner may only start deployments), not to
# the CI key that configures this provider (terraform/README.md, "Prefect keys").

data "aws_region" "current" {}

# ---------------------------------------------------------------------------------------------
# The flows' Prefect API key, stored write-only (never in state or plan).
# ---------------------------------------------------------------------------------------------
resource "aws_secretsmanager_secret" "prefect_api_key" {
  #checkov:skip=CKV2_AWS_57:Prefect API keys are issued and rotated in Prefect Cloud; rotation = a new flows key in the production environment's secret and flow_api_key_version + 1 (docs/security.md)
  name                    = var.prefect_api_key_secret_name
  description             = "Prefect Cloud API key of the flows service account (injected by ECS as PREFECT_API_KEY)."
  kms_key_id              = var.kms_key_arn
  recovery_window_in_days = 7
  tags                    = var.tags
}

resource "aws_secretsmanager_secret_version" "prefect_api_key" {
  secret_id                = aws_secretsmanager_secret.prefect_api_key.id
  secret_string_wo         = var.flow_api_key
  secret_string_wo_version = var.flow_api_key_version
}

# ---------------------------------------------------------------------------------------------
# The FRED API key (optional macro step), stored write-only like the Prefect key, injected by
# ECS into every flow container as VOLCAST_FRED_API_KEY through the task definition's secrets.
# ---------------------------------------------------------------------------------------------
resource "aws_secretsmanager_secret" "fred_api_key" {
  #checkov:skip=CKV2_AWS_57:FRED keys are issued at fredaccount.stlouisfed.org; rotation = a new key in CI's secret and fred_api_key_version + 1 (docs/runbook.md)
  count = var.enable_fred ? 1 : 0

  name                    = var.fred_api_key_secret_name
  description             = "FRED API key of the macro step (injected by ECS as VOLCAST_FRED_API_KEY)."
  kms_key_id              = var.kms_key_arn
  recovery_window_in_days = 7
  tags                    = var.tags
}

resource "aws_secretsmanager_secret_version" "fred_api_key" {
  count = var.enable_fred ? 1 : 0

  secret_id                = aws_secretsmanager_secret.fred_api_key[0].id
  secret_string_wo         = var.fred_api_key
  secret_string_wo_version = var.fred_api_key_version
}

# ---------------------------------------------------------------------------------------------
# Credentials the push pool uses to call ECS (the bounded IAM user of modules/iam).
# ---------------------------------------------------------------------------------------------
resource "prefect_block" "aws_credentials" {
  name      = "${var.name}-ecs-push"
  type_slug = "aws-credentials"
  data = jsonencode({
    aws_access_key_id     = var.push_access_key_id
    aws_secret_access_key = var.push_secret_access_key
    region_name           = data.aws_region.current.region
  })
}

# ---------------------------------------------------------------------------------------------
# Work pool: prefect-aws's default ECS base job template (committed verbatim next to this file
# and checked against the installed prefect-aws by tests/infra) with this environment's
# defaults filled in. Deployments override only what differs (image, task role, cpu/memory).
# ---------------------------------------------------------------------------------------------
locals {
  default_template = jsondecode(file("${path.module}/ecs-push-default-base-job-template.json"))

  job_variable_defaults = {
    aws_credentials = { "$ref" = { block_document_id = prefect_block.aws_credentials.id } }
    cluster         = var.cluster_arn
    vpc_id          = var.vpc_id
    # prefect-aws turns FARGATE_SPOT into the FARGATE_SPOT capacity provider strategy; a
    # deployment that sets launch_type FARGATE (freshness-check) gets on-demand capacity. No
    # default capacity_provider_strategy here: it would override the deployments' launch_type.
    launch_type = var.capacity_provider
    network_configuration = {
      subnets        = var.subnet_ids
      securityGroups = var.security_group_ids
      assignPublicIp = "ENABLED" # no NAT gateway: the task reaches ECR and Prefect Cloud directly
    }
    execution_role_arn         = var.execution_role_arn
    task_role_arn              = var.default_task_role_arn
    cpu                        = var.flow_cpu
    memory                     = var.flow_memory
    prefect_api_key_secret_arn = aws_secretsmanager_secret.prefect_api_key.arn
    configure_cloudwatch_logs  = true
    cloudwatch_logs_options = {
      awslogs-group        = var.flows_log_group_name
      awslogs-region       = data.aws_region.current.region
      awslogs-create-group = "false" # the group exists (modules/ecs); the role may not create groups
    }
    env                             = var.flow_environment
    container_name                  = "prefect"
    match_latest_revision_in_family = true
  }

  # Secrets of the flow container beyond the Prefect key. prefect-aws merges its own
  # PREFECT_API_KEY secret into these instead of replacing them (ecs_worker.py,
  # _prepare_task_definition; tests/infra/test_terraform.py runs that code on this shape), and
  # drops an empty list.
  container_secrets = [
    for arn in aws_secretsmanager_secret.fred_api_key[*].arn : { name = "VOLCAST_FRED_API_KEY", valueFrom = arn }
  ]
  default_task_definition = local.default_template.job_configuration.task_definition

  base_job_template = {
    job_configuration = merge(local.default_template.job_configuration, {
      task_definition = merge(local.default_task_definition, {
        containerDefinitions = [
          for container in local.default_task_definition.containerDefinitions :
          merge(container, { secrets = local.container_secrets })
        ]
      })
    })
    variables = merge(local.default_template.variables, {
      properties = {
        for name, schema in local.default_template.variables.properties :
        name => merge(schema, { for k, v in local.job_variable_defaults : "default" => v if k == name })
      }
    })
  }
}

resource "prefect_work_pool" "ecs" {
  name              = var.work_pool_name
  type              = "ecs:push"
  description       = "volcast ${var.name}: flows on ECS Fargate Spot in ${var.cluster_arn}, writing the lake ${var.flow_environment["VOLCAST_LAKE_URI"]}"
  paused            = false
  base_job_template = jsonencode(local.base_job_template)
}

# prefect.yaml reads the task role of each deployment family from these variables.
resource "prefect_variable" "task_role_arn" {
  for_each = var.task_role_arns

  name  = "volcast_task_role_arn_${each.key}"
  value = each.value
  tags  = ["volcast", var.name]
}

# ---------------------------------------------------------------------------------------------
# Notify on failed, crashed or timed-out flow runs of this work pool.
# ---------------------------------------------------------------------------------------------
resource "prefect_block" "email" {
  count = length(var.notification_emails) > 0 ? 1 : 0

  name      = "${var.name}-alerts-email"
  type_slug = "email" # Prefect Cloud's built-in email notification block
  data      = jsonencode({ emails = var.notification_emails })
}

resource "prefect_block" "slack" {
  count = var.slack_webhook_url != null ? 1 : 0

  name      = "${var.name}-alerts-slack"
  type_slug = "slack-webhook"
  data      = jsonencode({ url = var.slack_webhook_url })
}

locals {
  notification_block_ids = concat(prefect_block.email[*].id, prefect_block.slack[*].id)
}

resource "prefect_automation" "flow_run_failed" {
  count = length(local.notification_block_ids) > 0 ? 1 : 0

  name        = "${var.name}-flow-run-failed"
  description = "A flow run of work pool ${var.work_pool_name} failed, crashed or timed out."
  enabled     = true

  trigger = {
    event = {
      posture = "Reactive"
      expect  = ["prefect.flow-run.Failed", "prefect.flow-run.Crashed", "prefect.flow-run.TimedOut"]
      match   = jsonencode({ "prefect.resource.id" = "prefect.flow-run.*" })
      match_related = jsonencode({
        "prefect.resource.role" = "work-pool"
        "prefect.resource.id"   = "prefect.work-pool.${prefect_work_pool.ecs.id}"
      })
      for_each  = ["prefect.resource.id"]
      threshold = 1
      within    = 0
    }
  }

  actions = [for block_id in local.notification_block_ids : {
    type              = "send-notification"
    block_document_id = block_id
    subject           = "[volcast ${var.name}] flow run {{ flow.name }}/{{ flow_run.name }}: {{ flow_run.state.name }}"
    body              = "Flow run {{ flow.name }}/{{ flow_run.name }} ended {{ flow_run.state.name }}: {{ flow_run.state.message }}\n{{ flow_run|ui_url }}"
  }]
}
