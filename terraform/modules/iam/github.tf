# GitHub Actions deploys through OIDC, with no stored AWS key. The deploy role trusts only
# tokens for this repository whose subject is its main branch or one of its deployment
# environments. It may manage this environment's resources (named <name>-*), and it can create
# or change roles and users only with the permissions boundary attached, so nothing it creates
# can do more than the runtime needs. It cannot change itself, the boundary or the OIDC
# provider: those change only in an admin's apply.

locals {
  github_oidc_host         = "token.actions.githubusercontent.com"
  github_oidc_provider_arn = coalesce(var.github_oidc_provider_arn, one(aws_iam_openid_connect_provider.github[*].arn))
  github_subjects = concat(
    ["repo:${var.github_repository}:ref:refs/heads/main"],
    [for e in var.github_environments : "repo:${var.github_repository}:environment:${e}"],
  )
  deploy_role_name = "${var.name}-github-deploy"
  deploy_role_arn  = "${local.arn_prefix}:iam::${local.account_id}:role/${local.deploy_role_name}"
  iam_named = [
    "${local.arn_prefix}:iam::${local.account_id}:role/${var.name}-*",
    "${local.arn_prefix}:iam::${local.account_id}:user/${var.name}-*",
    "${local.arn_prefix}:iam::${local.account_id}:group/${var.name}-*",
    "${local.arn_prefix}:iam::${local.account_id}:policy/${var.name}-*",
  ]
  state_objects = "arn:${local.partition}:s3:::${var.state_bucket_name}/${var.state_key_prefix}*"
}

resource "aws_iam_openid_connect_provider" "github" {
  count = var.github_oidc_provider_arn == null ? 1 : 0

  url            = "https://${local.github_oidc_host}"
  client_id_list = ["sts.amazonaws.com"]
  tags           = var.tags
}

data "aws_iam_policy_document" "github_assume" {
  statement {
    actions = ["sts:AssumeRoleWithWebIdentity"]
    principals {
      type        = "Federated"
      identifiers = [local.github_oidc_provider_arn]
    }
    condition {
      test     = "StringEquals"
      variable = "${local.github_oidc_host}:aud"
      values   = ["sts.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "${local.github_oidc_host}:sub"
      values   = local.github_subjects
    }
  }
}

resource "aws_iam_role" "github_deploy" {
  name                 = local.deploy_role_name
  description          = "GitHub Actions (${var.github_repository}: main, environments ${join(", ", var.github_environments)}) deploys ${var.name}."
  assume_role_policy   = data.aws_iam_policy_document.github_assume.json
  max_session_duration = 3600
  tags                 = var.tags
}

data "aws_iam_policy_document" "github_deploy" {
  #checkov:skip=CKV_AWS_356:only VPC, API Gateway and Application Auto Scaling writes (random ids, region-limited) and read-only calls use "*" (statements ManageNetworkAndApis, ReadForPlan)
  #checkov:skip=CKV_AWS_111:same statements as CKV_AWS_356: writes on resources whose ids do not exist before Terraform creates them
  statement {
    sid = "StateBackend"
    actions = [
      "s3:GetObject", "s3:PutObject", "s3:DeleteObject",
    ]
    resources = [local.state_objects]
  }

  statement {
    sid       = "StateBucketList"
    actions   = ["s3:ListBucket", "s3:GetBucketVersioning"]
    resources = ["arn:${local.partition}:s3:::${var.state_bucket_name}"]
  }

  statement {
    sid       = "StateKey"
    actions   = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:DescribeKey"]
    resources = [var.state_kms_key_arn]
  }

  statement {
    sid = "ReadForPlan"
    # Terraform refreshes every managed resource; these read calls support no resource-level
    # permissions (or take random ids), so they are granted on "*" and are read-only.
    actions = [
      "sts:GetCallerIdentity",
      "ec2:Describe*",
      "ecs:Describe*", "ecs:List*",
      "elasticloadbalancing:Describe*",
      "apigateway:GET",
      "logs:Describe*", "logs:ListTagsForResource", "logs:ListTagsLogGroup",
      "cloudwatch:Describe*", "cloudwatch:GetDashboard", "cloudwatch:ListDashboards", "cloudwatch:ListTagsForResource",
      "events:Describe*", "events:List*",
      "sns:Get*", "sns:List*",
      "dynamodb:Describe*", "dynamodb:List*",
      "ecr:Describe*", "ecr:List*", "ecr:GetLifecyclePolicy", "ecr:GetRepositoryPolicy", "ecr:GetAuthorizationToken",
      "secretsmanager:DescribeSecret", "secretsmanager:GetResourcePolicy", "secretsmanager:ListSecrets",
      "kms:DescribeKey", "kms:GetKeyPolicy", "kms:GetKeyRotationStatus", "kms:ListAliases", "kms:ListResourceTags",
      "iam:Get*", "iam:List*",
      "application-autoscaling:Describe*", "application-autoscaling:ListTagsForResource",
      "chatbot:Describe*", "chatbot:ListTagsForResource",
      "s3:ListAllMyBuckets",
    ]
    resources = ["*"] # read-only calls, see the comment above
  }

  statement {
    sid     = "ManageOwnBuckets"
    actions = ["s3:*"] # Terraform manages every bucket setting; limited to this env's buckets
    resources = [
      "arn:${local.partition}:s3:::${var.name}-*",
      "arn:${local.partition}:s3:::${var.name}-*/*",
    ]
  }

  statement {
    sid       = "ManageOwnRepositoriesAndPushImages"
    actions   = ["ecr:*"] # settings, lifecycle and image pushes; only volcast/* repositories
    resources = ["${local.arn_prefix}:ecr:${local.region}:${local.account_id}:repository/${var.ecr_repository_prefix}/*"]
  }

  statement {
    sid     = "ManageOwnEcs"
    actions = ["ecs:*"] # cluster, service and task definitions named <name>; nothing else
    resources = [
      "${local.arn_prefix}:ecs:${local.region}:${local.account_id}:cluster/${var.name}",
      "${local.arn_prefix}:ecs:${local.region}:${local.account_id}:service/${var.name}/*",
      "${local.arn_prefix}:ecs:${local.region}:${local.account_id}:task-definition/${var.name}-*:*",
      "${local.arn_prefix}:ecs:${local.region}:${local.account_id}:task/${var.name}/*",
      "${local.arn_prefix}:ecs:${local.region}:${local.account_id}:capacity-provider/*",
    ]
  }

  statement {
    sid = "EcsCallsWithoutResourceLevelPermissions"
    # RegisterTaskDefinition and DeregisterTaskDefinition take no resource ARN.
    actions   = ["ecs:RegisterTaskDefinition", "ecs:DeregisterTaskDefinition"]
    resources = ["*"] # no resource-level permissions for these actions
    condition {
      test     = "StringEquals"
      variable = "aws:RequestedRegion"
      values   = [local.region]
    }
  }

  statement {
    sid     = "ManageOwnLoadBalancer"
    actions = ["elasticloadbalancing:*"] # only load balancer, target group and listeners named <name>-*
    resources = [
      "${local.arn_prefix}:elasticloadbalancing:${local.region}:${local.account_id}:loadbalancer/app/${var.name}-*/*",
      "${local.arn_prefix}:elasticloadbalancing:${local.region}:${local.account_id}:targetgroup/${var.name}-*/*",
      "${local.arn_prefix}:elasticloadbalancing:${local.region}:${local.account_id}:listener/app/${var.name}-*/*",
      "${local.arn_prefix}:elasticloadbalancing:${local.region}:${local.account_id}:listener-rule/app/${var.name}-*/*",
    ]
  }

  statement {
    sid = "ManageNetworkAndApis"
    # VPC pieces and API Gateway APIs/VPC links are addressed by random ids that do not exist
    # before Terraform creates them, so these writes cannot be scoped by name; they are limited
    # to VPC/API management actions in this region (no instances, no other services).
    actions = [
      "ec2:CreateVpc", "ec2:DeleteVpc", "ec2:ModifyVpcAttribute",
      "ec2:CreateSubnet", "ec2:DeleteSubnet", "ec2:ModifySubnetAttribute",
      "ec2:CreateRouteTable", "ec2:DeleteRouteTable", "ec2:AssociateRouteTable", "ec2:DisassociateRouteTable",
      "ec2:CreateRoute", "ec2:DeleteRoute", "ec2:ReplaceRoute",
      "ec2:CreateInternetGateway", "ec2:DeleteInternetGateway", "ec2:AttachInternetGateway", "ec2:DetachInternetGateway",
      "ec2:CreateSecurityGroup", "ec2:DeleteSecurityGroup",
      "ec2:AuthorizeSecurityGroupIngress", "ec2:AuthorizeSecurityGroupEgress",
      "ec2:RevokeSecurityGroupIngress", "ec2:RevokeSecurityGroupEgress",
      "ec2:UpdateSecurityGroupRuleDescriptionsIngress", "ec2:UpdateSecurityGroupRuleDescriptionsEgress",
      "ec2:ModifySecurityGroupRules",
      "ec2:CreateVpcEndpoint", "ec2:DeleteVpcEndpoints", "ec2:ModifyVpcEndpoint",
      "ec2:CreateFlowLogs", "ec2:DeleteFlowLogs",
      "ec2:CreateTags", "ec2:DeleteTags",
      "apigateway:POST", "apigateway:PUT", "apigateway:PATCH", "apigateway:DELETE",
      "application-autoscaling:*",
    ]
    resources = ["*"] # ids are random, see the comment above; region-limited below
    condition {
      test     = "StringEquals"
      variable = "aws:RequestedRegion"
      values   = [local.region]
    }
  }

  statement {
    sid = "ApiGatewayAccessLogDelivery"
    # Turning on HTTP API access logs asks for CloudWatch Logs "log delivery" actions, which
    # have no resource-level permissions (AWS: Setting up CloudWatch logging for HTTP APIs).
    actions = [
      "logs:CreateLogDelivery", "logs:GetLogDelivery", "logs:UpdateLogDelivery",
      "logs:DeleteLogDelivery", "logs:ListLogDeliveries",
      "logs:PutResourcePolicy", "logs:DescribeResourcePolicies",
    ]
    resources = ["*"] # no resource-level permissions for log deliveries (see above)
  }

  statement {
    sid       = "ManageOwnLogGroups"
    actions   = ["logs:*"] # create, retain, encrypt, tag: only this env's log groups
    resources = ["${local.arn_prefix}:logs:${local.region}:${local.account_id}:log-group:${var.log_group_prefix}*"]
  }

  statement {
    sid = "ManageOwnAlarmsDashboardsRulesTopicsTablesSecrets"
    # Service-wide actions, each limited to resources named after this environment below.
    actions = ["cloudwatch:*", "events:*", "sns:*", "dynamodb:*", "secretsmanager:*"]
    resources = [
      "${local.arn_prefix}:cloudwatch:${local.region}:${local.account_id}:alarm:${var.name}-*",
      "${local.arn_prefix}:cloudwatch::${local.account_id}:dashboard/${var.name}*",
      "${local.arn_prefix}:events:${local.region}:${local.account_id}:rule/${var.name}-*",
      "${local.arn_prefix}:sns:${local.region}:${local.account_id}:${var.name}-*",
      "${local.arn_prefix}:dynamodb:${local.region}:${local.account_id}:table/${var.name}-*",
      "${local.arn_prefix}:secretsmanager:${local.region}:${local.account_id}:secret:${var.secrets_prefix}*",
    ]
  }

  statement {
    sid = "ManageOwnKey"
    # GenerateDataKey* = the plain and WithoutPlaintext variants; only the key aliased <name>.
    actions = [
      "kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey*", "kms:CreateGrant", "kms:RetireGrant",
      "kms:PutKeyPolicy", "kms:EnableKeyRotation", "kms:TagResource", "kms:UntagResource",
      "kms:UpdateKeyDescription", "kms:ScheduleKeyDeletion", "kms:RotateKeyOnDemand",
    ]
    resources = ["${local.arn_prefix}:kms:${local.region}:${local.account_id}:key/*"]
    condition {
      test     = "ForAnyValue:StringEquals"
      variable = "kms:ResourceAliases"
      values   = ["alias/${var.name}"]
    }
  }

  statement {
    sid       = "ManageOwnKeyAlias"
    actions   = ["kms:CreateAlias", "kms:DeleteAlias", "kms:UpdateAlias"]
    resources = ["${local.arn_prefix}:kms:${local.region}:${local.account_id}:alias/${var.name}"]
  }

  statement {
    sid = "ChatbotConfigurations"
    # Chatbot channel configurations are global and addressed by generated ARNs.
    actions   = ["chatbot:CreateSlackChannelConfiguration", "chatbot:UpdateSlackChannelConfiguration", "chatbot:DeleteSlackChannelConfiguration", "chatbot:TagResource", "chatbot:UntagResource"]
    resources = ["*"] # generated ARNs, see the comment above
  }

  statement {
    sid = "IamWithBoundary"
    actions = [
      "iam:CreateRole", "iam:PutRolePolicy", "iam:DeleteRolePolicy", "iam:AttachRolePolicy",
      "iam:DetachRolePolicy", "iam:PutRolePermissionsBoundary",
      "iam:CreateUser", "iam:PutUserPermissionsBoundary",
    ]
    resources = local.iam_named
    condition {
      test     = "StringEquals"
      variable = "iam:PermissionsBoundary"
      values   = [aws_iam_policy.boundary.arn]
    }
  }

  statement {
    sid = "IamOwnNamedResources"
    actions = [
      "iam:DeleteRole", "iam:UpdateRole", "iam:UpdateRoleDescription", "iam:UpdateAssumeRolePolicy",
      "iam:TagRole", "iam:UntagRole",
      "iam:DeleteUser", "iam:TagUser", "iam:UntagUser",
      "iam:CreateAccessKey", "iam:DeleteAccessKey", "iam:UpdateAccessKey",
      "iam:CreateGroup", "iam:DeleteGroup", "iam:PutGroupPolicy", "iam:DeleteGroupPolicy",
      "iam:AddUserToGroup", "iam:RemoveUserFromGroup",
      "iam:CreatePolicy", "iam:DeletePolicy", "iam:CreatePolicyVersion", "iam:DeletePolicyVersion",
      "iam:SetDefaultPolicyVersion", "iam:TagPolicy", "iam:UntagPolicy",
    ]
    resources = local.iam_named
  }

  statement {
    sid       = "PassOwnRoles"
    actions   = ["iam:PassRole"]
    resources = ["${local.arn_prefix}:iam::${local.account_id}:role/${var.name}-*"]
    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = ["ecs-tasks.amazonaws.com", "vpc-flow-logs.amazonaws.com", "chatbot.amazonaws.com"]
    }
  }

  statement {
    sid       = "ServiceLinkedRoles"
    actions   = ["iam:CreateServiceLinkedRole"]
    resources = ["${local.arn_prefix}:iam::${local.account_id}:role/aws-service-role/*"]
    condition {
      test     = "StringEquals"
      variable = "iam:AWSServiceName"
      values = [
        "ecs.amazonaws.com",
        "elasticloadbalancing.amazonaws.com",
        "ecs.application-autoscaling.amazonaws.com",
        "ops.apigateway.amazonaws.com",
        "management.chatbot.amazonaws.com",
      ]
    }
  }

  statement {
    sid    = "DenySelfAndGuardrails"
    effect = "Deny"
    actions = [
      "iam:Create*", "iam:Delete*", "iam:Put*", "iam:Attach*", "iam:Detach*",
      "iam:Update*", "iam:Tag*", "iam:Untag*", "iam:SetDefaultPolicyVersion", "iam:AddClientIDToOpenIDConnectProvider",
      "iam:RemoveClientIDFromOpenIDConnectProvider",
    ]
    resources = [
      local.deploy_role_arn,
      aws_iam_policy.boundary.arn,
      local.github_oidc_provider_arn,
    ]
  }

  statement {
    sid       = "DenyRemovingBoundaries"
    effect    = "Deny"
    actions   = ["iam:DeleteRolePermissionsBoundary", "iam:DeleteUserPermissionsBoundary"]
    resources = ["*"] # never, on any principal
  }
}

resource "aws_iam_role_policy" "github_deploy" {
  name   = "deploy-${var.name}"
  role   = aws_iam_role.github_deploy.id
  policy = data.aws_iam_policy_document.github_deploy.json
}
