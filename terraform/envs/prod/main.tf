# Composition of one environment. envs/dev and envs/prod share this file verbatim; env.tf holds
# what differs. Names: <project>-<env> prefixes everything, log groups live under
# /<project>/<env>/, secrets under <project>/<env>/.

data "aws_caller_identity" "current" {}

locals {
  name             = "${var.project}-${local.environment}"
  log_group_prefix = "/${var.project}/${local.environment}/"
  secrets_prefix   = "${var.project}/${local.environment}/"
  state_key_prefix = "${var.project}/${local.environment}/"
  account_id       = data.aws_caller_identity.current.account_id
  lake_bucket_name = "${local.name}-lake-${local.account_id}"
  work_pool_name   = "${var.project}-ecs"
  prefect_secret   = "${local.secrets_prefix}prefect-api-key"
  fred_secret      = "${local.secrets_prefix}fred-api-key"
  api_log_group    = "${local.log_group_prefix}api"
  flows_log_group  = "${local.log_group_prefix}flows"
  access_log_group = "${local.log_group_prefix}apigw-access"
  flow_log_group   = "${local.log_group_prefix}vpc-flow-logs"
  api_keys_secret  = "${local.secrets_prefix}api-keys"
  # Athena results in the lake bucket, under a prefix no flow reads or writes.
  athena_results_prefix = "athena-results/"

  # Every resource carries these (the provider's default_tags); the deploy role may create VPC
  # pieces and HTTP APIs only with them and change only those that have them (modules/iam).
  ownership_tags = {
    Project     = var.project
    Environment = local.environment
  }
  tags = merge(local.ownership_tags, {
    ManagedBy  = "terraform"
    Repository = var.github_repository
  })
}

module "kms" {
  source = "../../modules/kms"

  alias              = local.name
  log_group_prefixes = [local.log_group_prefix]
}

module "lake" {
  source = "../../modules/s3"

  bucket_name = local.lake_bucket_name
  kms_key_arn = module.kms.key_arn
  # raw.* and old partitions go to STANDARD_IA, then GLACIER_IR (readable without a restore,
  # so re-curation and backfills still work). features_daily and labels_daily are read in full
  # by every weekly train, so they stop at STANDARD_IA.
  transitions = [
    { prefix = "raw.market/", infrequent_access_after_days = 30, glacier_after_days = 90 },
    { prefix = "raw.macro/", infrequent_access_after_days = 30, glacier_after_days = 90 },
    { prefix = "_rejected/", infrequent_access_after_days = 30, glacier_after_days = 90 },
    { prefix = "curated.market_daily/", infrequent_access_after_days = 90, glacier_after_days = 400 },
    { prefix = "curated.macro_release_aligned/", infrequent_access_after_days = 90, glacier_after_days = 400 },
    { prefix = "predictions_daily/", infrequent_access_after_days = 90, glacier_after_days = 400 },
    { prefix = "features_daily/", infrequent_access_after_days = 90 },
    { prefix = "labels_daily/", infrequent_access_after_days = 90 },
  ]
  noncurrent_version_expiration_days = var.noncurrent_version_expiration_days
  # Athena query results (modules/analytics) are scratch: deleted after 30 days.
  expirations = [{ prefix = local.athena_results_prefix, days = 30 }]
}

# SQL on the lake: Glue tables with partition projection, an Athena workgroup, an analyst role.
module "analytics" {
  source = "../../modules/analytics"

  name                     = local.name
  lake_bucket_name         = module.lake.bucket_name
  results_prefix           = local.athena_results_prefix
  kms_key_arn              = module.kms.key_arn
  permissions_boundary_arn = module.iam.permissions_boundary_arn
}

module "predictions_table" {
  source = "../../modules/dynamodb"
  count  = var.enable_predictions_mirror ? 1 : 0

  table_name  = "${local.name}-predictions"
  kms_key_arn = module.kms.key_arn
}

locals {
  mirror_table_name = one(module.predictions_table[*].table_name)
  # Every flow container's environment (the push pool's base job template default).
  flow_environment = {
    for k, v in {
      VOLCAST_LAKE_URI              = "s3://${module.lake.bucket_name}"
      VOLCAST_SOURCE                = var.market_data_source # the code's default is synthetic
      VOLCAST_DYNAMODB_TABLE        = local.mirror_table_name
      AWS_REGION                    = var.aws_region
      PREFECT_LOGGING_EXTRA_LOGGERS = "core" # core's step logs in the Prefect UI, not only in CloudWatch
    } : k => v if v != null
  }
}

module "ecr" {
  source = "../../modules/ecr"

  repository_prefix = var.project
  services          = ["ingest", "features", "train", "infer", "api"]
  kms_key_arn       = module.kms.key_arn
  keep_last_images  = var.ecr_keep_last_images
}

module "iam" {
  source = "../../modules/iam"

  name                           = local.name
  lake_bucket_arn                = module.lake.bucket_arn
  kms_key_arn                    = module.kms.key_arn
  dynamodb_table_arn             = one(module.predictions_table[*].table_arn)
  ecr_repository_arns            = module.ecr.repository_arns
  ecr_repository_prefix          = var.project
  log_group_prefix               = local.log_group_prefix
  api_log_group_name             = local.api_log_group
  flows_log_group_name           = local.flows_log_group
  secrets_prefix                 = local.secrets_prefix
  prefect_api_key_secret_name    = local.prefect_secret
  fred_api_key_secret_name       = var.enable_fred ? local.fred_secret : null
  ecs_cluster_name               = local.name
  prefect_work_pool_name         = local.work_pool_name
  github_repository              = var.github_repository
  github_oidc_subject_repository = var.github_oidc_subject_repository
  github_environments            = local.github_environments
  github_oidc_provider_arn       = var.github_oidc_provider_arn
  ownership_tags                 = local.ownership_tags
  api_keys_secret_name           = local.api_keys_secret
  state_bucket_name              = var.state_bucket_name
  state_key_prefix               = local.state_key_prefix
  state_kms_key_arn              = var.state_kms_key_arn
}

module "network" {
  source = "../../modules/network"

  name                     = local.name
  cidr_block               = var.vpc_cidr_block
  availability_zone_ids    = var.availability_zone_ids
  kms_key_arn              = module.kms.key_arn
  flow_logs_log_group_name = local.flow_log_group
  permissions_boundary_arn = module.iam.permissions_boundary_arn
}

module "alb" {
  source = "../../modules/alb"

  name                = local.name
  vpc_id              = module.network.vpc_id
  vpc_cidr_block      = module.network.vpc_cidr_block
  subnet_ids          = module.network.private_subnet_ids
  ingress_cidr_blocks = module.network.private_subnet_cidr_blocks
  target_port         = var.api_container_port
  deletion_protection = local.alb_deletion_protection
}

module "ecs" {
  source = "../../modules/ecs"

  name                     = local.name
  vpc_id                   = module.network.vpc_id
  task_subnet_ids          = module.network.public_subnet_ids
  kms_key_arn              = module.kms.key_arn
  api_log_group_name       = local.api_log_group
  flows_log_group_name     = local.flows_log_group
  alb_security_group_id    = module.alb.security_group_id
  alb_arn_suffix           = module.alb.alb_arn_suffix
  alb_listener_arn         = module.alb.listener_arn
  target_group_arn         = module.alb.target_group_arn
  target_group_arn_suffix  = module.alb.target_group_arn_suffix
  api_image_repository_url = module.ecr.repository_urls["api"]
  image_tag                = var.image_tag
  api_task_role_arn        = module.iam.api_task_role_arn
  api_execution_role_arn   = module.iam.api_execution_role_arn
  lake_uri                 = "s3://${module.lake.bucket_name}"
  api_keys_secret_name     = local.api_keys_secret
  api_extra_environment    = var.api_extra_environment
  api_container_port       = var.api_container_port
  api_cpu                  = var.api_cpu
  api_memory               = var.api_memory
  api_web_concurrency      = var.api_web_concurrency
  cpu_architecture         = var.api_cpu_architecture
  api_capacity_provider    = local.api_capacity_provider
  api_min_count            = var.api_min_count
  api_max_count            = var.api_max_count
  api_schedule             = local.api_schedule
}

module "apigw" {
  source = "../../modules/apigw"

  name                   = local.name
  vpc_id                 = module.network.vpc_id
  subnet_ids             = module.network.private_subnet_ids
  alb_cidr_blocks        = module.network.private_subnet_cidr_blocks
  alb_listener_arn       = module.alb.listener_arn
  access_log_group_name  = local.access_log_group
  kms_key_arn            = module.kms.key_arn
  throttling_rate_limit  = var.api_throttling_rate_limit
  throttling_burst_limit = var.api_throttling_burst_limit
  domain_name            = var.api_domain_name
  certificate_arn        = var.api_certificate_arn
}

module "prefect" {
  source = "../../modules/prefect"

  name                        = local.name
  work_pool_name              = local.work_pool_name
  cluster_arn                 = module.ecs.cluster_arn
  vpc_id                      = module.network.vpc_id
  subnet_ids                  = module.network.public_subnet_ids
  security_group_ids          = [module.ecs.flow_tasks_security_group_id]
  execution_role_arn          = module.iam.flows_execution_role_arn
  default_task_role_arn       = module.iam.task_role_arns["freshness"]
  task_role_arns              = module.iam.task_role_arns
  flows_log_group_name        = module.ecs.flows_log_group_name
  flow_environment            = local.flow_environment
  kms_key_arn                 = module.kms.key_arn
  prefect_api_key_secret_name = local.prefect_secret
  flow_api_key                = var.prefect_flow_api_key
  flow_api_key_version        = var.prefect_flow_api_key_version
  enable_fred                 = var.enable_fred
  fred_api_key_secret_name    = local.fred_secret
  fred_api_key                = var.fred_api_key
  fred_api_key_version        = var.fred_api_key_version
  push_access_key_id          = module.iam.prefect_push_access_key_id
  push_secret_access_key      = module.iam.prefect_push_secret_access_key
  notification_emails         = var.alarm_emails
  slack_webhook_url           = var.prefect_slack_webhook_url
}

module "monitoring" {
  source = "../../modules/monitoring"

  name                      = local.name
  kms_key_arn               = module.kms.key_arn
  alarm_emails              = var.alarm_emails
  require_alarm_destination = local.require_alarm_destination
  slack_team_id             = var.slack_team_id
  slack_channel_id          = var.slack_channel_id
  permissions_boundary_arn  = module.iam.permissions_boundary_arn
  cluster_name              = module.ecs.cluster_name
  cluster_arn               = module.ecs.cluster_arn
  api_service_name          = module.ecs.api_service_name
  api_gateway_id            = module.apigw.api_id
  api_gateway_stage         = module.apigw.stage_name
  alb_arn_suffix            = module.alb.alb_arn_suffix
  target_group_arn_suffix   = module.alb.target_group_arn_suffix
}
