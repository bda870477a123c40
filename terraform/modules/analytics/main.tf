# SQL on the lake where it lives: a Glue catalog database with one table per lake table
# (Parquet, Hive partitions date=YYYY-MM-DD, partition projection on date: no crawler, no
# MSCK REPAIR, a new partition is queryable the moment it is written), an Athena workgroup whose
# results are encrypted with the environment's key under their own prefix of the lake bucket
# (expired by the bucket's lifecycle, see envs/*/main.tf), and a read-only analyst role.
#
# Columns and types come from tables.json, generated from core/contracts.py by
# `python -m core.catalog` (tests/unit/test_catalog.py fails while the two disagree).

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.region

  # Glue names: lower-case letters, digits and underscores.
  database_name = replace(var.name, "-", "_")
  tables        = jsondecode(file("${path.module}/tables.json")).tables
  lake_root     = trimsuffix("s3://${var.lake_bucket_name}/${var.lake_prefix}", "/")
  lake_key_root = var.lake_prefix == "" ? "" : "${trimsuffix(var.lake_prefix, "/")}/"
  results_uri   = "s3://${var.lake_bucket_name}/${var.results_prefix}"

  catalog_arn  = "arn:${local.partition}:glue:${local.region}:${local.account_id}:catalog"
  database_arn = "arn:${local.partition}:glue:${local.region}:${local.account_id}:database/${local.database_name}"
  table_arns   = "arn:${local.partition}:glue:${local.region}:${local.account_id}:table/${local.database_name}/*"
  bucket_arn   = "arn:${local.partition}:s3:::${var.lake_bucket_name}"
  workgroup    = "${var.name}-analytics"
  # Built, not read from the resource: IAM documents are then complete at plan time.
  workgroup_arn = "arn:${local.partition}:athena:${local.region}:${local.account_id}:workgroup/${local.workgroup}"
}

resource "aws_glue_catalog_database" "this" {
  name        = local.database_name
  description = "volcast ${var.name}: the lake's tables (Parquet, partitioned by date) for Athena."
  tags        = var.tags
}

resource "aws_glue_catalog_table" "this" {
  for_each = local.tables

  name          = each.key
  database_name = aws_glue_catalog_database.this.name
  description   = "Lake table ${each.value.lake_table}: ${local.lake_root}/${each.value.lake_table}/date=YYYY-MM-DD/part-0.parquet"
  table_type    = "EXTERNAL_TABLE"

  # Partition projection (Athena user guide, "Partition projection with Amazon Athena"; date
  # type: "Supported types for partition projection"): Athena computes the partitions from
  # these properties instead of reading them from the catalog. Dates without a partition
  # (weekends, holidays) are simply empty locations.
  parameters = {
    EXTERNAL                              = "TRUE"
    classification                        = "parquet"
    "parquet.compression"                 = "ZSTD"
    "projection.enabled"                  = "true"
    "projection.date.type"                = "date"
    "projection.date.format"              = "yyyy-MM-dd"
    "projection.date.range"               = "${var.projection_start},NOW"
    "projection.date.interval"            = "1"
    "projection.date.interval.unit"       = "DAYS"
    "storage.location.template"           = "${local.lake_root}/${each.value.lake_table}/date=$${date}/"
    "volcast.lake_table"                  = each.value.lake_table
    "volcast.generated_from_contracts_by" = "python -m core.catalog"
  }

  partition_keys {
    name    = each.value.partition_key.name
    type    = each.value.partition_key.type
    comment = "trading day (XNYS session), from the path date=YYYY-MM-DD"
  }

  storage_descriptor {
    location      = "${local.lake_root}/${each.value.lake_table}/"
    input_format  = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"
    output_format = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat"

    ser_de_info {
      name                  = "parquet"
      serialization_library = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
    }

    dynamic "columns" {
      for_each = each.value.columns
      content {
        name = columns.value.name
        type = columns.value.type
      }
    }
  }
}

resource "aws_athena_workgroup" "this" {
  name          = local.workgroup
  description   = "volcast ${var.name}: queries on the lake; results under ${local.results_uri}, SSE-KMS."
  state         = "ENABLED"
  force_destroy = true # only saved queries and history; results live (and expire) in the bucket
  tags          = var.tags

  configuration {
    # Clients cannot override where results go or how they are encrypted.
    enforce_workgroup_configuration    = true
    publish_cloudwatch_metrics_enabled = true
    bytes_scanned_cutoff_per_query     = var.bytes_scanned_cutoff_per_query

    engine_version {
      selected_engine_version = "Athena engine version 3"
    }

    result_configuration {
      output_location       = local.results_uri
      expected_bucket_owner = local.account_id

      encryption_configuration {
        encryption_option = "SSE_KMS"
        kms_key_arn       = var.kms_key_arn
      }
    }
  }
}

# ---------------------------------------------------------------------------------------------
# The analyst role: query the lake through Athena, read nothing it could change.
# ---------------------------------------------------------------------------------------------
data "aws_iam_policy_document" "analyst_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type = "AWS"
      # Default: principals of this account whose own policies allow assuming the role.
      identifiers = length(var.analyst_principal_arns) > 0 ? var.analyst_principal_arns : ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
  }
}

resource "aws_iam_role" "analyst" {
  name                 = "${var.name}-analyst"
  description          = "Read-only SQL on the ${var.name} lake through Athena workgroup ${var.name}-analytics."
  assume_role_policy   = data.aws_iam_policy_document.analyst_assume.json
  permissions_boundary = var.permissions_boundary_arn
  max_session_duration = 3600
  tags                 = var.tags
}

data "aws_iam_policy_document" "analyst" {
  statement {
    sid = "RunQueriesInOwnWorkgroup"
    actions = [
      "athena:StartQueryExecution", "athena:StopQueryExecution", "athena:GetQueryExecution",
      "athena:GetQueryResults", "athena:GetQueryResultsStream", "athena:BatchGetQueryExecution",
      "athena:ListQueryExecutions", "athena:GetWorkGroup",
    ]
    resources = [local.workgroup_arn]
  }

  statement {
    sid = "ReadCatalog"
    actions = [
      "glue:GetDatabase", "glue:GetDatabases", "glue:GetTable", "glue:GetTables",
      "glue:GetPartition", "glue:GetPartitions", "glue:BatchGetPartition",
    ]
    resources = [local.catalog_arn, local.database_arn, local.table_arns]
  }

  statement {
    sid       = "ListLakeTablesAndResults"
    actions   = ["s3:ListBucket"]
    resources = [local.bucket_arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values = concat(
        [for t in values(local.tables) : "${local.lake_key_root}${t.lake_table}/*"],
        ["${var.results_prefix}*"],
      )
    }
  }

  statement {
    sid       = "BucketLocation"
    actions   = ["s3:GetBucketLocation"]
    resources = [local.bucket_arn]
  }

  statement {
    sid       = "ReadLakeTables"
    actions   = ["s3:GetObject"]
    resources = [for t in values(local.tables) : "${local.bucket_arn}/${local.lake_key_root}${t.lake_table}/*"]
  }

  statement {
    sid = "OwnQueryResults"
    # Athena writes results with the caller's credentials and reads them back for
    # GetQueryResults (Athena user guide, "Access to Amazon S3"); only under the results prefix.
    actions   = ["s3:PutObject", "s3:GetObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"]
    resources = ["${local.bucket_arn}/${var.results_prefix}*"]
  }

  statement {
    sid       = "EnvironmentKey"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey"]
    resources = [var.kms_key_arn]
  }
}

resource "aws_iam_role_policy" "analyst" {
  name   = "analyst-${var.name}"
  role   = aws_iam_role.analyst.id
  policy = data.aws_iam_policy_document.analyst.json
}
