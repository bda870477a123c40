# Runtime identities of one environment, least privilege:
# - a permissions boundary every role and user of this environment carries (a ceiling the
#   deploy role cannot lift, see github.tf);
# - task roles: the API reads only what it serves; each flow family writes only its own
#   prefixes of the lake (and reads the lake);
# - execution roles: pull only their images, write only their log group.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.region
  arn_prefix = "arn:${local.partition}"

  lake_objects = "${var.lake_bucket_arn}/*"
  # The Glue database of modules/analytics (its name rule: dashes as underscores).
  glue_database = replace(var.name, "-", "_")

  # Lake tables each writer owns (brief: "Writers"). A writer may also keep a conflicting copy
  # of its own tables under _rejected/<table>/ (core.lake keeps it there instead of overwriting).
  # The macro step writes both macro tables in one task (ingest --source fred, and daily).
  owned_tables = {
    ingest   = ["raw.market", "raw.macro", "curated.macro_release_aligned"]
    features = ["curated.market_daily", "features_daily", "labels_daily"]
    train    = []
    infer    = ["predictions_daily"]
  }
  owned_extra_prefixes = {
    ingest   = ["_meta/"]
    features = []
    train    = ["artifacts/model/", "artifacts/evaluation/"] # evaluate (research) runs as train
    infer    = []
  }
  writer_prefixes = {
    for writer, tables in local.owned_tables : writer => concat(
      [for t in tables : "${t}/"],
      [for t in tables : "_rejected/${t}/"],
      local.owned_extra_prefixes[writer],
    )
  }

  # Deployment families (brief: one task role per family) = unions of writers.
  family_writers = {
    ingest    = ["ingest"]
    features  = ["features"]
    train     = ["train"]
    infer     = ["infer"]
    daily     = ["ingest", "features", "infer"]
    backfill  = ["ingest", "features"]
    freshness = []
  }
  family_write_prefixes = {
    for family, writers in local.family_writers :
    family => distinct(flatten([for w in writers : local.writer_prefixes[w]]))
  }
  # Families that mirror predictions into DynamoDB (infer writes predictions_daily).
  mirror_families = [for f, writers in local.family_writers : f if contains(writers, "infer")]

  api_read_prefixes = ["artifacts/model", "features_daily", "predictions_daily"]

  api_log_group_arn   = "${local.arn_prefix}:logs:${local.region}:${local.account_id}:log-group:${var.api_log_group_name}"
  flows_log_group_arn = "${local.arn_prefix}:logs:${local.region}:${local.account_id}:log-group:${var.flows_log_group_name}"
  # Secrets Manager appends a random 6-character suffix to a secret's ARN.
  prefect_api_key_secret_arn = "${local.arn_prefix}:secretsmanager:${local.region}:${local.account_id}:secret:${var.prefect_api_key_secret_name}-??????"
  fred_api_key_secret_arn    = var.fred_api_key_secret_name == null ? null : "${local.arn_prefix}:secretsmanager:${local.region}:${local.account_id}:secret:${var.fred_api_key_secret_name}-??????"
  # Secrets ECS injects into flow containers (read by the flows' execution role).
  flow_secret_arns    = compact([local.prefect_api_key_secret_arn, local.fred_api_key_secret_arn])
  api_keys_secret_arn = "${local.arn_prefix}:secretsmanager:${local.region}:${local.account_id}:secret:${var.api_keys_secret_name}-??????"

  flow_services = [for s in keys(var.ecr_repository_arns) : s if s != "api"]
}

# ---------------------------------------------------------------------------------------------
# Permissions boundary: the most any role or user of this environment can ever do.
# ---------------------------------------------------------------------------------------------
data "aws_iam_policy_document" "boundary" {
  statement {
    sid     = "LakeObjects"
    actions = ["s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload", "s3:ListBucket", "s3:GetBucketLocation"]
    resources = [
      var.lake_bucket_arn,
      local.lake_objects,
    ]
  }

  statement {
    sid = "LakeCatalogAndQueries"
    # The analyst role (modules/analytics): read the Glue catalog, run Athena queries; only in
    # this environment's database and workgroup.
    actions = [
      "glue:GetDatabase", "glue:GetDatabases", "glue:GetTable", "glue:GetTables",
      "glue:GetPartition", "glue:GetPartitions", "glue:BatchGetPartition",
      "athena:StartQueryExecution", "athena:StopQueryExecution", "athena:GetQueryExecution",
      "athena:GetQueryResults", "athena:GetQueryResultsStream", "athena:BatchGetQueryExecution",
      "athena:ListQueryExecutions", "athena:GetWorkGroup",
    ]
    resources = [
      "${local.arn_prefix}:glue:${local.region}:${local.account_id}:catalog",
      "${local.arn_prefix}:glue:${local.region}:${local.account_id}:database/${local.glue_database}",
      "${local.arn_prefix}:glue:${local.region}:${local.account_id}:table/${local.glue_database}/*",
      "${local.arn_prefix}:athena:${local.region}:${local.account_id}:workgroup/${var.name}-analytics",
    ]
  }

  statement {
    sid       = "EnvironmentKey"
    actions   = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:DescribeKey"]
    resources = [var.kms_key_arn]
  }

  statement {
    sid = "PredictionsMirror"
    actions = [
      "dynamodb:DescribeTable", "dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query",
      "dynamodb:PutItem", "dynamodb:BatchWriteItem",
    ]
    resources = ["${local.arn_prefix}:dynamodb:${local.region}:${local.account_id}:table/${var.name}-*"]
  }

  statement {
    sid       = "OwnLogGroups"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams", "logs:GetLogEvents"]
    resources = ["${local.arn_prefix}:logs:${local.region}:${local.account_id}:log-group:${var.log_group_prefix}*"]
  }

  statement {
    sid       = "PullOwnImages"
    actions   = ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"]
    resources = values(var.ecr_repository_arns)
  }

  statement {
    sid = "CallsWithoutResourceLevelPermissions"
    # These actions do not support resource-level permissions in IAM, so "*" is the only
    # resource they accept; the roles' own policies grant them only where needed.
    actions = [
      "ecr:GetAuthorizationToken",
      "ecs:RegisterTaskDefinition", "ecs:DescribeTaskDefinition", "ecs:DeregisterTaskDefinition",
      "ec2:DescribeVpcs", "ec2:DescribeSubnets",
    ]
    resources = ["*"] # see the comment above: no resource-level permissions exist for these
  }

  statement {
    sid       = "PrefectApiKeyAndApiKeyHashes"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = concat(local.flow_secret_arns, [local.api_keys_secret_arn])
  }

  statement {
    sid     = "RunFlowTasksInOwnCluster"
    actions = ["ecs:RunTask", "ecs:DescribeTasks", "ecs:StopTask", "ecs:TagResource"]
    resources = [
      "${local.arn_prefix}:ecs:${local.region}:${local.account_id}:task-definition/*",
      "${local.arn_prefix}:ecs:${local.region}:${local.account_id}:task/${var.ecs_cluster_name}/*",
    ]
  }

  statement {
    sid       = "PassOwnRolesToEcs"
    actions   = ["iam:PassRole"]
    resources = ["${local.arn_prefix}:iam::${local.account_id}:role/${var.name}-*"]
    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = ["ecs-tasks.amazonaws.com"]
    }
  }
}

resource "aws_iam_policy" "boundary" {
  name        = "${var.name}-boundary"
  description = "Permissions boundary of every ${var.name} role and user: a ceiling, grants nothing by itself."
  policy      = data.aws_iam_policy_document.boundary.json
  tags        = var.tags
}

# ---------------------------------------------------------------------------------------------
# Who may assume the ECS roles: ECS tasks of this account only.
# ---------------------------------------------------------------------------------------------
data "aws_iam_policy_document" "ecs_tasks_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

# ---------------------------------------------------------------------------------------------
# API task role: reads artifacts/model, features_daily, predictions_daily, and the API key
# hashes. Nothing else.
# ---------------------------------------------------------------------------------------------
data "aws_iam_policy_document" "api_task" {
  statement {
    sid       = "ReadServedTables"
    actions   = ["s3:GetObject"]
    resources = [for p in local.api_read_prefixes : "${var.lake_bucket_arn}/${p}/*"]
  }

  statement {
    sid = "ListLake"
    # Unconditioned on purpose. A GET or HEAD of a missing key answers 404 only to a caller
    # with s3:ListBucket on the bucket, else 403 (Amazon S3 API reference, GetObject and
    # HeadObject, "Permissions"); that check carries no s3:prefix, so a prefix-conditioned
    # grant turned "no PRODUCTION pointer yet" into AccessDenied. Listing shows key names
    # (dates and table names), never contents: GetObject stays limited to the served prefixes.
    actions   = ["s3:ListBucket"]
    resources = [var.lake_bucket_arn]
  }

  statement {
    sid       = "DecryptLakeAndApiKeyHashes"
    actions   = ["kms:Decrypt"]
    resources = [var.kms_key_arn]
  }

  statement {
    sid       = "ReadApiKeyHashes"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [local.api_keys_secret_arn]
  }
}

resource "aws_iam_role" "api_task" {
  name                 = "${var.name}-api-task"
  assume_role_policy   = data.aws_iam_policy_document.ecs_tasks_assume.json
  permissions_boundary = aws_iam_policy.boundary.arn
  tags                 = var.tags
}

resource "aws_iam_role_policy" "api_task" {
  name   = "read-served-tables"
  role   = aws_iam_role.api_task.id
  policy = data.aws_iam_policy_document.api_task.json
}

# ---------------------------------------------------------------------------------------------
# Flow task roles, one per deployment family: read the lake, write only owned prefixes.
# ---------------------------------------------------------------------------------------------
data "aws_iam_policy_document" "flow_task" {
  for_each = local.family_writers

  statement {
    sid       = "ReadLake"
    actions   = ["s3:GetObject", "s3:ListBucket", "s3:GetBucketLocation"]
    resources = [var.lake_bucket_arn, local.lake_objects]
  }

  dynamic "statement" {
    for_each = length(local.family_write_prefixes[each.key]) > 0 ? [1] : []
    content {
      sid       = "WriteOwnedPrefixes"
      actions   = ["s3:PutObject", "s3:AbortMultipartUpload"]
      resources = [for p in local.family_write_prefixes[each.key] : "${var.lake_bucket_arn}/${p}*"]
    }
  }

  statement {
    sid = "UseLakeKey"
    actions = concat(
      ["kms:Decrypt"],
      length(local.family_write_prefixes[each.key]) > 0 ? ["kms:GenerateDataKey"] : [],
    )
    resources = [var.kms_key_arn]
  }

  dynamic "statement" {
    for_each = var.dynamodb_table_arn != null && contains(local.mirror_families, each.key) ? [1] : []
    content {
      sid = "MirrorPredictions"
      actions = [
        "dynamodb:DescribeTable", "dynamodb:GetItem", "dynamodb:BatchGetItem",
        "dynamodb:PutItem", "dynamodb:BatchWriteItem",
      ]
      resources = [var.dynamodb_table_arn]
    }
  }
}

resource "aws_iam_role" "flow_task" {
  for_each = local.family_writers

  name                 = "${var.name}-task-${each.key}"
  assume_role_policy   = data.aws_iam_policy_document.ecs_tasks_assume.json
  permissions_boundary = aws_iam_policy.boundary.arn
  tags                 = merge(var.tags, { Family = each.key })
}

resource "aws_iam_role_policy" "flow_task" {
  for_each = local.family_writers

  name   = "lake-${each.key}"
  role   = aws_iam_role.flow_task[each.key].id
  policy = data.aws_iam_policy_document.flow_task[each.key].json
}

# ---------------------------------------------------------------------------------------------
# Execution roles: image pull and log writes for the API, and for the flows (which also read
# the Prefect API key secret that ECS injects as PREFECT_API_KEY, and the FRED key's).
# ---------------------------------------------------------------------------------------------
data "aws_iam_policy_document" "api_execution" {
  statement {
    sid       = "EcrLogin"
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"] # GetAuthorizationToken has no resource-level permissions
  }

  statement {
    sid       = "PullApiImage"
    actions   = ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"]
    resources = [var.ecr_repository_arns["api"]]
  }

  statement {
    sid       = "WriteApiLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${local.api_log_group_arn}:*"]
  }
}

resource "aws_iam_role" "api_execution" {
  name                 = "${var.name}-api-execution"
  assume_role_policy   = data.aws_iam_policy_document.ecs_tasks_assume.json
  permissions_boundary = aws_iam_policy.boundary.arn
  tags                 = var.tags
}

resource "aws_iam_role_policy" "api_execution" {
  name   = "pull-api-image-write-api-logs"
  role   = aws_iam_role.api_execution.id
  policy = data.aws_iam_policy_document.api_execution.json
}

data "aws_iam_policy_document" "flows_execution" {
  statement {
    sid       = "EcrLogin"
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"] # GetAuthorizationToken has no resource-level permissions
  }

  statement {
    sid       = "PullFlowImages"
    actions   = ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"]
    resources = [for s in local.flow_services : var.ecr_repository_arns[s]]
  }

  statement {
    sid       = "WriteFlowLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${local.flows_log_group_arn}:*"]
  }

  statement {
    sid       = "ReadPrefectApiKey"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = local.flow_secret_arns # the Prefect key, and the FRED key when enabled
  }

  statement {
    sid       = "DecryptPrefectApiKey"
    actions   = ["kms:Decrypt"]
    resources = [var.kms_key_arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["secretsmanager.${local.region}.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "flows_execution" {
  name                 = "${var.name}-flows-execution"
  assume_role_policy   = data.aws_iam_policy_document.ecs_tasks_assume.json
  permissions_boundary = aws_iam_policy.boundary.arn
  tags                 = var.tags
}

resource "aws_iam_role_policy" "flows_execution" {
  name   = "pull-flow-images-write-flow-logs"
  role   = aws_iam_role.flows_execution.id
  policy = data.aws_iam_policy_document.flows_execution.json
}
