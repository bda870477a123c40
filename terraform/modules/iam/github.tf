# GitHub Actions deploys through OIDC, with no stored AWS key. The deploy role trusts only
# tokens for this repository whose subject is its main branch, or one of its deployment
# environments on its main branch. It may manage this environment's resources (named <name>-*,
# or tagged with ownership_tags where names are random ids), and it can create or change roles
# and users only with the permissions boundary attached, so nothing it creates can do more than
# the runtime needs. It cannot change itself, the boundary or the OIDC provider: those change
# only in an admin's apply.

locals {
  github_oidc_host         = "token.actions.githubusercontent.com"
  github_oidc_provider_arn = coalesce(var.github_oidc_provider_arn, one(aws_iam_openid_connect_provider.github[*].arn))
  # The repository part of the subject: owner/name, or GitHub's immutable form for repositories
  # that use it (GitHub changelog 2026-04-23, "Immutable subject claims for GitHub Actions OIDC
  # tokens": the default for repositories created after 2026-06-18).
  github_subject_repository = coalesce(var.github_oidc_subject_repository, var.github_repository)
  github_subjects = concat(
    # Jobs without an environment (images, plan) on main: GitHub's default subject, and the same
    # job under the repository's custom template ["repo", "context", "ref"], where the context of
    # a job without an environment is "ref:<ref>" (GitHub docs: "Customizing the subject claims").
    [
      "repo:${local.github_subject_repository}:ref:refs/heads/main",
      "repo:${local.github_subject_repository}:ref:refs/heads/main:ref:refs/heads/main",
    ],
    # Environment jobs only with the ref: the default subject of an environment job
    # (repo:<r>:environment:<e>) names no branch, so it is not trusted; the custom template adds
    # the ref, and the environment's deployment branch policy admits main only
    # (terraform/README.md, "GitHub settings").
    [for e in var.github_environments : "repo:${local.github_subject_repository}:environment:${e}:ref:refs/heads/main"],
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
  ec2_arn       = "${local.arn_prefix}:ec2:${local.region}:${local.account_id}"
  apigw_arn     = "${local.arn_prefix}:apigateway:${local.region}::"
  # Every VPC piece this environment creates (the tag-conditioned EC2 statements below).
  ec2_owned = [for type in [
    "vpc", "subnet", "route-table", "internet-gateway", "security-group", "security-group-rule", "vpc-endpoint",
    "vpc-flow-log",
  ] : "${local.ec2_arn}:${type}/*"]
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
  #checkov:skip=CKV_AWS_356:"*" remains only on read-only calls (ReadForPlan) and calls without resource-level permissions (log deliveries, Chatbot, RegisterTaskDefinition); every other write names its resources or carries ownership-tag conditions
  #checkov:skip=CKV_AWS_111:writes on random ids (VPC pieces, API Gateway) are conditioned on ownership_tags or limited by path and region; see the statements' comments
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

  # ---- VPC pieces: ids are random, so ownership is by tag (EC2 supports aws:RequestTag on the
  # create calls and aws:ResourceTag on the rest: Service Authorization Reference, Amazon EC2).
  # The provider's default_tags put ownership_tags on every create request (TagSpecifications).
  statement {
    sid       = "Ec2CreateVpcTagged"
    actions   = ["ec2:CreateVpc"]
    resources = ["${local.ec2_arn}:vpc/*"]
    dynamic "condition" {
      for_each = var.ownership_tags
      content {
        test     = "StringEquals"
        variable = "aws:RequestTag/${condition.key}"
        values   = [condition.value]
      }
    }
  }

  statement {
    sid = "Ec2CreateInOwnVpcTagged"
    # The new resource of each call; the VPC (or route table) it goes into is an existing
    # resource, granted by Ec2ManageOwnNetwork on its tags.
    actions = [
      "ec2:CreateSubnet", "ec2:CreateRouteTable", "ec2:CreateInternetGateway", "ec2:CreateSecurityGroup",
      "ec2:CreateFlowLogs",
    ]
    resources = [
      "${local.ec2_arn}:subnet/*", "${local.ec2_arn}:route-table/*", "${local.ec2_arn}:internet-gateway/*",
      "${local.ec2_arn}:security-group/*", "${local.ec2_arn}:vpc-flow-log/*",
    ]
    dynamic "condition" {
      for_each = var.ownership_tags
      content {
        test     = "StringEquals"
        variable = "aws:RequestTag/${condition.key}"
        values   = [condition.value]
      }
    }
  }

  statement {
    sid       = "Ec2CreateEndpointTagged"
    actions   = ["ec2:CreateVpcEndpoint"]
    resources = ["${local.ec2_arn}:vpc-endpoint/*"]
    dynamic "condition" {
      for_each = var.ownership_tags
      content {
        test     = "StringEquals"
        variable = "aws:RequestTag/${condition.key}"
        values   = [condition.value]
      }
    }
  }

  statement {
    sid = "Ec2CreateRulesTagged"
    # The rule is new (request tags); its security group must be ours (Ec2ManageOwnNetwork).
    actions   = ["ec2:AuthorizeSecurityGroupIngress", "ec2:AuthorizeSecurityGroupEgress"]
    resources = ["${local.ec2_arn}:security-group-rule/*"]
    dynamic "condition" {
      for_each = var.ownership_tags
      content {
        test     = "StringEquals"
        variable = "aws:RequestTag/${condition.key}"
        values   = [condition.value]
      }
    }
  }

  statement {
    sid = "Ec2TagOnCreate"
    # Tagging in a create call needs ec2:CreateTags on the new resource (EC2 user guide: "Grant
    # permission to tag Amazon EC2 resources during creation"), limited to those create calls.
    actions   = ["ec2:CreateTags"]
    resources = local.ec2_owned
    condition {
      test     = "StringEquals"
      variable = "ec2:CreateAction"
      values = [
        "CreateVpc", "CreateSubnet", "CreateRouteTable", "CreateInternetGateway", "CreateSecurityGroup",
        "CreateFlowLogs", "CreateVpcEndpoint", "AuthorizeSecurityGroupIngress", "AuthorizeSecurityGroupEgress",
      ]
    }
  }

  statement {
    sid = "Ec2ManageOwnNetwork"
    # Everything done to an existing VPC piece, including being the parent of a create call
    # (the VPC of CreateSubnet, the route table of CreateVpcEndpoint): only ours, by tag.
    actions = [
      "ec2:DeleteVpc", "ec2:ModifyVpcAttribute",
      "ec2:CreateSubnet", "ec2:DeleteSubnet", "ec2:ModifySubnetAttribute",
      "ec2:CreateRouteTable", "ec2:DeleteRouteTable", "ec2:AssociateRouteTable", "ec2:DisassociateRouteTable",
      "ec2:CreateRoute", "ec2:DeleteRoute", "ec2:ReplaceRoute",
      "ec2:DeleteInternetGateway", "ec2:AttachInternetGateway", "ec2:DetachInternetGateway",
      "ec2:CreateSecurityGroup", "ec2:DeleteSecurityGroup",
      "ec2:AuthorizeSecurityGroupIngress", "ec2:AuthorizeSecurityGroupEgress",
      "ec2:RevokeSecurityGroupIngress", "ec2:RevokeSecurityGroupEgress",
      "ec2:UpdateSecurityGroupRuleDescriptionsIngress", "ec2:UpdateSecurityGroupRuleDescriptionsEgress",
      "ec2:ModifySecurityGroupRules",
      "ec2:CreateVpcEndpoint", "ec2:DeleteVpcEndpoints", "ec2:ModifyVpcEndpoint",
      "ec2:CreateFlowLogs", "ec2:DeleteFlowLogs",
      "ec2:CreateTags", "ec2:DeleteTags",
    ]
    resources = local.ec2_owned
    dynamic "condition" {
      for_each = var.ownership_tags
      content {
        test     = "StringEquals"
        variable = "aws:ResourceTag/${condition.key}"
        values   = [condition.value]
      }
    }
  }

  statement {
    sid = "Ec2AdoptDefaultSecurityGroup"
    # The one untagged piece: the default security group EC2 creates with each VPC, which
    # aws_default_security_group adopts by tagging it and stripping its rules. Allowed only on a
    # security group that has no Project tag yet, and tagging only with our tags.
    actions   = ["ec2:CreateTags", "ec2:RevokeSecurityGroupIngress", "ec2:RevokeSecurityGroupEgress"]
    resources = ["${local.ec2_arn}:security-group/*"]
    condition {
      test     = "Null"
      variable = "aws:ResourceTag/Project"
      values   = ["true"]
    }
    dynamic "condition" {
      for_each = var.ownership_tags
      content {
        test     = "StringEqualsIfExists"
        variable = "aws:RequestTag/${condition.key}"
        values   = [condition.value]
      }
    }
  }

  # ---- API Gateway (HTTP API): APIs and VPC links have random ids. They carry tags (request
  # tags on create, resource tags after); their child resources (routes, integrations, stages)
  # do not inherit them in the V2 API (API Gateway developer guide: "API Gateway resources that
  # can be tagged"), so children are limited by path to /apis/<id>/..., never REST APIs,
  # account settings, API keys or usage plans.
  statement {
    sid       = "ApiGatewayCreateTagged"
    actions   = ["apigateway:POST"]
    resources = ["${local.apigw_arn}/apis", "${local.apigw_arn}/vpclinks", "${local.apigw_arn}/domainnames"]
    dynamic "condition" {
      for_each = var.ownership_tags
      content {
        test     = "StringEquals"
        variable = "aws:RequestTag/${condition.key}"
        values   = [condition.value]
      }
    }
  }

  statement {
    sid       = "ApiGatewayManageOwnTagged"
    actions   = ["apigateway:PUT", "apigateway:PATCH", "apigateway:DELETE"]
    resources = ["${local.apigw_arn}/apis/*", "${local.apigw_arn}/vpclinks/*", "${local.apigw_arn}/domainnames/*"]
    dynamic "condition" {
      for_each = var.ownership_tags
      content {
        test     = "StringEquals"
        variable = "aws:ResourceTag/${condition.key}"
        values   = [condition.value]
      }
    }
  }

  statement {
    sid     = "ApiGatewayChildrenOfApis"
    actions = ["apigateway:POST", "apigateway:PUT", "apigateway:PATCH", "apigateway:DELETE"]
    resources = [
      "${local.apigw_arn}/apis/*/*",
      "${local.apigw_arn}/domainnames/*/apimappings",
      "${local.apigw_arn}/domainnames/*/apimappings/*",
      "${local.apigw_arn}/tags/*",
    ]
    condition {
      test     = "StringEquals"
      variable = "aws:RequestedRegion"
      values   = [local.region]
    }
  }

  # ---- Application Auto Scaling: scalable targets have random ARNs and their write calls take
  # no resource tag condition; they do take the namespace and dimension (Service Authorization
  # Reference, Application Auto Scaling): ECS service desired counts only.
  statement {
    sid = "ScaleEcsServicesOnly"
    actions = [
      "application-autoscaling:RegisterScalableTarget", "application-autoscaling:DeregisterScalableTarget",
      "application-autoscaling:PutScalingPolicy", "application-autoscaling:DeleteScalingPolicy",
      "application-autoscaling:PutScheduledAction", "application-autoscaling:DeleteScheduledAction",
    ]
    resources = ["${local.arn_prefix}:application-autoscaling:${local.region}:${local.account_id}:scalable-target/*"]
    condition {
      test     = "StringEquals"
      variable = "application-autoscaling:service-namespace"
      values   = ["ecs"]
    }
    condition {
      test     = "StringEquals"
      variable = "application-autoscaling:scalable-dimension"
      values   = ["ecs:service:DesiredCount"]
    }
  }

  statement {
    sid       = "TagScalableTargets"
    actions   = ["application-autoscaling:TagResource"]
    resources = ["${local.arn_prefix}:application-autoscaling:${local.region}:${local.account_id}:scalable-target/*"]
    dynamic "condition" {
      for_each = var.ownership_tags
      content {
        test     = "StringEquals"
        variable = "aws:RequestTag/${condition.key}"
        values   = [condition.value]
      }
    }
  }

  statement {
    sid = "UntagScalableTargetsKeepOwnership"
    # UntagResource takes aws:TagKeys only (no request tags): any tag but the ownership ones.
    actions   = ["application-autoscaling:UntagResource"]
    resources = ["${local.arn_prefix}:application-autoscaling:${local.region}:${local.account_id}:scalable-target/*"]
    condition {
      test     = "ForAllValues:StringNotEquals"
      variable = "aws:TagKeys"
      values   = keys(var.ownership_tags)
    }
  }

  statement {
    sid = "TargetTrackingAlarms"
    # Target tracking makes Application Auto Scaling create, read and delete the alarms
    # TargetTracking-service/<cluster>/<service>-AlarmHigh|AlarmLow-<uuid> with the caller's
    # permissions (ECS developer guide: "IAM permissions required for Amazon ECS service auto
    # scaling"); they are not named <name>-*, so the alarms statement below does not cover them.
    actions   = ["cloudwatch:PutMetricAlarm", "cloudwatch:DeleteAlarms", "cloudwatch:DescribeAlarms"]
    resources = ["${local.arn_prefix}:cloudwatch:${local.region}:${local.account_id}:alarm:TargetTracking-service/${var.ecs_cluster_name}/${var.name}-*"]
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
    sid = "ManageOwnCatalogAndWorkgroup"
    # modules/analytics: the Glue database, its tables and the Athena workgroup, by name. Glue
    # checks CreateTable/UpdateTable on the catalog, the database and the table alike.
    actions = ["glue:*", "athena:*"] # create, update, tag, delete: only the resources below
    resources = [
      "${local.arn_prefix}:glue:${local.region}:${local.account_id}:catalog",
      "${local.arn_prefix}:glue:${local.region}:${local.account_id}:database/${local.glue_database}",
      "${local.arn_prefix}:glue:${local.region}:${local.account_id}:table/${local.glue_database}/*",
      "${local.arn_prefix}:glue:${local.region}:${local.account_id}:userDefinedFunction/${local.glue_database}/*",
      "${local.arn_prefix}:athena:${local.region}:${local.account_id}:workgroup/${var.name}-analytics",
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
