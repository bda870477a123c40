# Prefect Cloud's ECS push work pool submits flow runs from Prefect's side with an AWS
# Credentials block: push pools accept only an access key (no web-identity federation), so
# this is the one IAM user of the environment. It sits in a group whose policy allows just
# what the push pool calls: register the flow task definition, run it in this cluster, watch
# and stop it, and pass the flow roles to ECS. The user carries the permissions boundary.

locals {
  cluster_arn = "${local.arn_prefix}:ecs:${local.region}:${local.account_id}:cluster/${var.ecs_cluster_name}"
  # prefect-aws names the task definition family prefect_<work pool>_<deployment id>.
  push_task_definitions = "${local.arn_prefix}:ecs:${local.region}:${local.account_id}:task-definition/prefect_${var.prefect_work_pool_name}_*:*"
  push_tasks            = "${local.arn_prefix}:ecs:${local.region}:${local.account_id}:task/${var.ecs_cluster_name}/*"
}

data "aws_iam_policy_document" "prefect_push" {
  statement {
    sid = "TaskDefinitions"
    # RegisterTaskDefinition, DescribeTaskDefinition and DeregisterTaskDefinition support no
    # resource-level permissions; RunTask below is what is scoped to our cluster and family.
    actions = [
      "ecs:RegisterTaskDefinition",
      "ecs:DescribeTaskDefinition",
      "ecs:DeregisterTaskDefinition",
    ]
    resources = ["*"] # no resource-level permissions for these actions (see above)
  }

  statement {
    sid       = "RunFlowTasksInOurCluster"
    actions   = ["ecs:RunTask"]
    resources = [local.push_task_definitions]
    condition {
      test     = "ArnEquals"
      variable = "ecs:cluster"
      values   = [local.cluster_arn]
    }
  }

  statement {
    sid       = "WatchAndStopFlowTasks"
    actions   = ["ecs:DescribeTasks", "ecs:StopTask"]
    resources = [local.push_tasks]
  }

  statement {
    sid       = "TagOnCreate"
    actions   = ["ecs:TagResource"]
    resources = [local.push_tasks, local.push_task_definitions]
    condition {
      test     = "StringEquals"
      variable = "ecs:CreateAction"
      values   = ["RunTask", "RegisterTaskDefinition"]
    }
  }

  statement {
    sid       = "FindSubnets"
    actions   = ["ec2:DescribeVpcs", "ec2:DescribeSubnets"]
    resources = ["*"] # EC2 Describe* calls support no resource-level permissions
  }

  statement {
    sid     = "PassFlowRoles"
    actions = ["iam:PassRole"]
    resources = concat(
      [aws_iam_role.flows_execution.arn],
      [for r in aws_iam_role.flow_task : r.arn],
    )
    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = ["ecs-tasks.amazonaws.com"]
    }
  }

  statement {
    sid       = "ReadFlowLogs"
    actions   = ["logs:GetLogEvents", "logs:DescribeLogStreams"]
    resources = ["${local.flows_log_group_arn}:*"]
  }
}

resource "aws_iam_group" "prefect_push" {
  name = "${var.name}-prefect-push"
}

resource "aws_iam_group_policy" "prefect_push" {
  name   = "run-flow-tasks"
  group  = aws_iam_group.prefect_push.name
  policy = data.aws_iam_policy_document.prefect_push.json
}

resource "aws_iam_user" "prefect_push" {
  #checkov:skip=CKV_AWS_273:Prefect Cloud push work pools authenticate only with an access key; the user is bounded and in one narrow group (docs/security.md)
  name                 = "${var.name}-prefect-push"
  permissions_boundary = aws_iam_policy.boundary.arn
  tags                 = var.tags
}

resource "aws_iam_user_group_membership" "prefect_push" {
  user   = aws_iam_user.prefect_push.name
  groups = [aws_iam_group.prefect_push.name]
}

# Rotate with `terraform apply -replace=module.iam.aws_iam_access_key.prefect_push`: the new key
# flows into the Prefect AWS Credentials block in the same apply. The secret lives in the
# KMS-encrypted state only, which only the deploy role and admins can read.
resource "aws_iam_access_key" "prefect_push" {
  user = aws_iam_user.prefect_push.name
}
