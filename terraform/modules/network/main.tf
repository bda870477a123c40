# A VPC across two AZs without a NAT gateway (about $33/month each, more than this whole
# stack): tasks that need the internet (ECR pulls, Prefect Cloud, market data) run in public
# subnets with a public IP and a security group that admits nothing inbound; the internal ALB
# and the API Gateway VPC link sit in private subnets that have no route to the internet.
# S3 traffic goes through a free gateway endpoint in both route tables.

locals {
  # Zones by ID (use1-az1), not by name (us-east-1a): names map to different physical zones in
  # each account, while service support is published per zone ID (e.g. API Gateway VPC links,
  # "Availability by Region": not in use1-az3). The IDs given must exist in this region.
  azs      = var.availability_zone_ids
  az_count = length(var.availability_zone_ids)
}

# The requested zones that exist and are available in this region (the subnets' preconditions
# refuse any other ID).
data "aws_availability_zones" "available" {
  state = "available"
  filter {
    name   = "zone-id"
    values = var.availability_zone_ids
  }
}

resource "aws_vpc" "this" {
  cidr_block           = var.cidr_block
  enable_dns_support   = true
  enable_dns_hostnames = true
  tags                 = merge(var.tags, { Name = var.name })
}

# Nothing may use the default security group.
resource "aws_default_security_group" "this" {
  vpc_id = aws_vpc.this.id
  tags   = merge(var.tags, { Name = "${var.name}-default-unused" })
}

resource "aws_internet_gateway" "this" {
  vpc_id = aws_vpc.this.id
  tags   = merge(var.tags, { Name = var.name })
}

resource "aws_subnet" "public" {
  count = local.az_count

  vpc_id               = aws_vpc.this.id
  availability_zone_id = local.azs[count.index]
  cidr_block           = cidrsubnet(var.cidr_block, 8, count.index)
  # Public IPs are requested per task (assignPublicIp), never handed out by default.
  map_public_ip_on_launch = false
  tags                    = merge(var.tags, { Name = "${var.name}-public-${local.azs[count.index]}", Tier = "public" })

  lifecycle {
    precondition {
      condition     = contains(data.aws_availability_zones.available.zone_ids, local.azs[count.index])
      error_message = "Zone ID ${local.azs[count.index]} is not an available zone of this region (availability_zone_ids)."
    }
  }
}

resource "aws_subnet" "private" {
  count = local.az_count

  vpc_id                  = aws_vpc.this.id
  availability_zone_id    = local.azs[count.index]
  cidr_block              = cidrsubnet(var.cidr_block, 8, count.index + 10)
  map_public_ip_on_launch = false
  tags                    = merge(var.tags, { Name = "${var.name}-private-${local.azs[count.index]}", Tier = "private" })

  lifecycle {
    precondition {
      condition     = contains(data.aws_availability_zones.available.zone_ids, local.azs[count.index])
      error_message = "Zone ID ${local.azs[count.index]} is not an available zone of this region (availability_zone_ids)."
    }
  }
}

resource "aws_route_table" "public" {
  vpc_id = aws_vpc.this.id
  tags   = merge(var.tags, { Name = "${var.name}-public" })
}

resource "aws_route" "public_internet" {
  route_table_id         = aws_route_table.public.id
  destination_cidr_block = "0.0.0.0/0"
  gateway_id             = aws_internet_gateway.this.id
}

resource "aws_route_table_association" "public" {
  count = local.az_count

  subnet_id      = aws_subnet.public[count.index].id
  route_table_id = aws_route_table.public.id
}

# Private subnets: local routes and the S3 endpoint only.
resource "aws_route_table" "private" {
  vpc_id = aws_vpc.this.id
  tags   = merge(var.tags, { Name = "${var.name}-private" })
}

resource "aws_route_table_association" "private" {
  count = local.az_count

  subnet_id      = aws_subnet.private[count.index].id
  route_table_id = aws_route_table.private.id
}

data "aws_region" "current" {}

resource "aws_vpc_endpoint" "s3" {
  vpc_id            = aws_vpc.this.id
  service_name      = "com.amazonaws.${data.aws_region.current.region}.s3"
  vpc_endpoint_type = "Gateway"
  route_table_ids   = [aws_route_table.public.id, aws_route_table.private.id]
  tags              = merge(var.tags, { Name = "${var.name}-s3" })
}

# VPC flow logs (rejected traffic by default: what an investigation needs, at a fraction of
# the volume of ALL) into a KMS-encrypted log group.
resource "aws_cloudwatch_log_group" "flow_logs" {
  name              = var.flow_logs_log_group_name
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
  tags              = var.tags
}

data "aws_iam_policy_document" "flow_logs_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["vpc-flow-logs.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
}

data "aws_caller_identity" "current" {}

data "aws_iam_policy_document" "flow_logs_write" {
  statement {
    actions = [
      "logs:CreateLogStream",
      "logs:PutLogEvents",
      "logs:DescribeLogStreams",
    ]
    resources = ["${aws_cloudwatch_log_group.flow_logs.arn}:*"]
  }
}

resource "aws_iam_role" "flow_logs" {
  name                 = "${var.name}-vpc-flow-logs"
  assume_role_policy   = data.aws_iam_policy_document.flow_logs_assume.json
  permissions_boundary = var.permissions_boundary_arn
  tags                 = var.tags
}

resource "aws_iam_role_policy" "flow_logs" {
  name   = "write-flow-logs"
  role   = aws_iam_role.flow_logs.id
  policy = data.aws_iam_policy_document.flow_logs_write.json
}

resource "aws_flow_log" "this" {
  vpc_id               = aws_vpc.this.id
  traffic_type         = var.flow_logs_traffic_type
  log_destination_type = "cloud-watch-logs"
  log_destination      = aws_cloudwatch_log_group.flow_logs.arn
  iam_role_arn         = aws_iam_role.flow_logs.arn
  tags                 = var.tags
}
