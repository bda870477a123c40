"""What the first apply needs that plan does not check: orderings, grants for names AWS
chooses, zone IDs, conditions the IAM actions really support, alarms that reach someone.

Everything is read from terraform/ as evaluated for prod (tests/infra/terraform_eval.py); the
IAM questions are answered against the Service Authorization Reference extract in
tests/infra/data/iam_reference.json (tests/infra/iam_policies.py).
"""

from __future__ import annotations

import re

import pytest

from flows import alerting
from tests.infra.iam_policies import (
    Statement,
    allows,
    policies_in,
    reference,
    resource_types,
    statements,
    supported_keys,
)
from tests.infra.terraform_eval import Instance, parse_raw
from tests.infra.terraform_static import MODULES, TERRAFORM, blocks, directory, parse, unquote
from tests.infra.test_aws_strings import BASE, scenario

REGION, ACCOUNT = "us-east-1", "123456789012"


def _instances(kind: str, name: str = "prod-default") -> list[Instance]:
    return [i for i in scenario(name)[1] if i.type == kind]


def _deploy_policy(name: str = "prod-default", **variables: object) -> list[Statement]:
    scope = scenario(name)[0]
    if variables:
        from tests.infra.terraform_eval import root

        scope = root(scope.path, {**BASE, **variables}, f"{name}+vars")
    return statements(scope.module("iam"), "github_deploy")


# --------------------------------------------------------------------------------------------
# Orderings.
# --------------------------------------------------------------------------------------------
def _depends_on(body: dict) -> set[str]:
    return {
        str(unquote(d)).removeprefix("${").removesuffix("}") for d in body.get("depends_on", [])
    }


def test_explicit_orderings() -> None:
    """A service behind a load balancer waits for the listener that attaches its target group;
    a service with a capacity provider strategy waits for the cluster's providers."""
    services = [
        i for n in ("prod-default", "dev-default") for i in _instances("aws_ecs_service", n)
    ]
    assert services, "no ECS service found"
    for service in services:
        needs = _depends_on(service.args)
        if "load_balancer" in service.args:
            listener = [d for d in needs if d.startswith("var.") or d.startswith("aws_lb_listener")]
            assert listener, f"{service.address} does not wait for the ALB listener: {needs}"
            variable = listener[0].removeprefix("var.")
            # The variable is fed the listener that forwards to the service's target group.
            fed = service.scope.variable(variable)
            target_group = service.scope.value(service.args["load_balancer"][0]["target_group_arn"])
            listeners = [i for i in scenario(service.scope.name.split(".")[0])[1]
                         if i.type == "aws_lb_listener"]  # fmt: skip
            forwarding = [
                i for i in listeners
                if i.scope.value(i.args["default_action"][0]["target_group_arn"]) == target_group
            ]  # fmt: skip
            arns = {i.scope.value("${aws_lb_listener." + i.name + ".arn}") for i in forwarding}
            assert fed in arns, f"{service.address}: {variable} = {fed}, not the listener {arns}"
        if "capacity_provider_strategy" in service.args:
            assert "aws_ecs_cluster_capacity_providers.this" in needs, (
                f"{service.address} does not wait for the cluster's capacity providers: {needs}"
            )


# --------------------------------------------------------------------------------------------
# Grants for names AWS chooses, and the OIDC subjects.
# --------------------------------------------------------------------------------------------
def test_deploy_role_may_manage_target_tracking_alarms() -> None:
    """Application Auto Scaling creates TargetTracking-<resource id>-AlarmHigh/Low-<uuid> alarms
    with the caller's permissions: the deploy role must be allowed to write and delete them."""
    policy = _deploy_policy()
    tracking = [
        i for i in _instances("aws_appautoscaling_policy")
        if i.scope.value(i.args["policy_type"]) == "TargetTrackingScaling"
    ]  # fmt: skip
    assert len(tracking) == 2
    for instance in tracking:
        resource_id = instance.scope.value(instance.args["resource_id"])
        for suffix in ("AlarmHigh", "AlarmLow"):
            alarm = f"TargetTracking-{resource_id}-{suffix}-7c2e8a3b-5d7e-4f3f-9f7e-0a1b2c3d4e5f"
            arn = f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{alarm}"
            for action in ("PutMetricAlarm", "DeleteAlarms", "DescribeAlarms"):
                assert allows(policy, f"cloudwatch:{action}", arn), f"cloudwatch:{action} {arn}"
    other = f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:TargetTracking-service/other/other-api-x"
    assert not allows(policy, "cloudwatch:PutMetricAlarm", other), "another cluster's alarms"


def _trust_subjects(name: str = "prod-default", **variables: object) -> set[str]:
    scope = scenario(name)[0]
    if variables:
        from tests.infra.terraform_eval import root

        scope = root(scope.path, {**BASE, **variables}, f"{name}+vars")
    [statement] = statements(scope.module("iam"), "github_assume")
    [subject] = [c for c in statement.conditions if c.variable.endswith(":sub")]
    assert subject.test == "StringEquals", "the subject must match exactly, not by pattern"
    return set(subject.values)


def test_deploy_role_trusts_main_and_environments_on_main_only() -> None:
    repo = BASE["github_repository"]
    assert _trust_subjects() == {
        f"repo:{repo}:ref:refs/heads/main",
        f"repo:{repo}:ref:refs/heads/main:ref:refs/heads/main",
        f"repo:{repo}:environment:production:ref:refs/heads/main",
    }
    assert f"repo:{repo}:environment:dev:ref:refs/heads/main" in _trust_subjects("dev-default")
    # An environment job's default subject names no branch: never trusted.
    assert not any(s.endswith(":environment:production") for s in _trust_subjects())
    immutable = "octo-org-123456/volcast-789012"
    assert all(
        s.startswith(f"repo:{immutable}:")
        for s in _trust_subjects(github_oidc_subject_repository=immutable)
    )


def test_api_task_can_tell_a_missing_key_from_a_forbidden_one() -> None:
    """S3 answers a GET/HEAD of a missing key with 404 only to a caller that may ListBucket on
    the bucket (no s3:prefix in that check), else 403: the API must read "no pointer yet"."""
    import botocore.session

    doc = botocore.session.get_session().get_service_model("s3").operation_model("HeadObject")
    rule = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", doc.documentation))
    assert (
        "If you have the s3:ListBucket permission on the bucket, Amazon S3 returns an HTTP "
        "status code 404 Not Found error" in rule
    ), "the S3 rule this grant answers has changed"
    policy = statements(scenario("prod-default")[0].module("iam"), "api_task")
    bucket = f"arn:aws:s3:::volcast-prod-lake-{ACCOUNT}"
    assert allows(policy, "s3:ListBucket", bucket), "HeadObject on a missing key would be 403"
    assert allows(policy, "s3:GetObject", f"{bucket}/artifacts/model/PRODUCTION")
    assert not allows(policy, "s3:GetObject", f"{bucket}/raw.market/date=2024-01-02/part.parquet")
    actions = sorted({a for s in policy for a in s.actions})
    assert actions == [
        "kms:Decrypt",
        "s3:GetObject",
        "s3:ListBucket",
        "secretsmanager:GetSecretValue",
    ]
    secret = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:volcast/prod/api-keys-AbCdEf"
    assert allows(policy, "secretsmanager:GetSecretValue", secret)
    other = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:volcast/prod/prefect-api-key-AbCdEf"
    assert not allows(policy, "secretsmanager:GetSecretValue", other)


# --------------------------------------------------------------------------------------------
# Broad grants carry conditions the actions support.
# --------------------------------------------------------------------------------------------
#: Statements that may keep an unconditioned "*" (or random-id) resource, and why.
UNCONDITIONED = {
    "ReadForPlan": "read-only calls Terraform's refresh makes",
    "EcsCallsWithoutResourceLevelPermissions": "Register/DeregisterTaskDefinition take no ARN",
    "ApiGatewayChildrenOfApis": "HTTP API children carry no tags (V2 has no tag inheritance): "
    "limited to /apis/<id>/... and API mappings by path, region-conditioned",
    "ApiGatewayAccessLogDelivery": "log deliveries have no resource-level permissions",
    "ChatbotConfigurations": "Chatbot configurations are global, with generated ARNs",
    "TargetTrackingAlarms": "named by Application Auto Scaling, limited to this cluster's prefix",
}
TAG_KEYS = ("aws:RequestTag/", "aws:ResourceTag/")


def _random_id_resource(resource: str) -> bool:
    return resource == "*" or bool(
        re.search(r":(vpc|subnet|route-table|internet-gateway|security-group|security-group-rule"
                  r"|vpc-endpoint|vpc-flow-log|scalable-target)/\*$|::/(apis|vpclinks)", resource)
    )  # fmt: skip


def test_broad_deploy_grants_carry_conditions() -> None:
    problems = []
    for statement in _deploy_policy():
        if statement.effect != "Allow" or statement.sid in UNCONDITIONED:
            continue
        writes = [a for a in statement.actions if not re.search(r":(Describe|List|Get)", a)]
        if writes and any(_random_id_resource(r) for r in statement.resources):
            keys = statement.condition_keys - {"aws:RequestedRegion"}
            if not keys:
                problems.append(f"{statement.sid}: {writes} on {statement.resources} unconditioned")
    assert not problems, "\n".join(problems)


def test_conditions_are_keys_the_actions_support() -> None:
    """A tag or service condition on an action that does not support the key never matches
    (the grant is dead: the first apply fails) or always matches (no protection)."""
    problems = []
    for (module, document), policy in policies_in(scenario("prod-default")[0]).items():
        for statement in policy:
            keys = {
                k for k in statement.condition_keys
                if k.startswith(TAG_KEYS) or k.startswith(("application-autoscaling:", "ec2:"))
            }  # fmt: skip
            if not keys or statement.effect != "Allow":
                continue
            for action in statement.actions:
                assert action in reference()["actions"], f"{action}: regenerate the extract"
                types = {t for r in statement.resources for t in resource_types(action, r)}
                where = f"{module}/{document} {statement.sid}: {action}"
                if not types:
                    problems.append(f"{where} names none of its resource types")
                for resource_type in types:
                    supported = supported_keys(action, resource_type)
                    unsupported = {k for k in keys if re.sub(r"/.*", "/", k) not in supported}
                    if unsupported:
                        problems.append(f"{where} on {resource_type}: no {sorted(unsupported)}")
    assert not problems, "\n".join(problems)


def test_the_reference_check_finds_an_unsupported_key() -> None:
    """PutScalingPolicy takes no resource tag (its scalable targets have random ARNs): the
    check above must say so, or it proves nothing."""
    assert "aws:ResourceTag/" not in supported_keys("application-autoscaling:PutScalingPolicy", "*")
    assert "aws:ResourceTag/" in supported_keys("ec2:DeleteSubnet", "subnet")
    assert resource_types("ec2:CreateSubnet", f"arn:aws:ec2:{REGION}:{ACCOUNT}:vpc/*") == {"vpc"}


def test_tag_conditions_let_our_resources_through_and_stop_others() -> None:
    policy = _deploy_policy()
    ours = {"aws:ResourceTag/Project": "volcast", "aws:ResourceTag/Environment": "prod"}
    theirs = {"aws:ResourceTag/Project": "volcast", "aws:ResourceTag/Environment": "dev"}
    new = {"aws:RequestTag/Project": "volcast", "aws:RequestTag/Environment": "prod"}
    sg = f"arn:aws:ec2:{REGION}:{ACCOUNT}:security-group/sg-0123"
    vpc = f"arn:aws:ec2:{REGION}:{ACCOUNT}:vpc/vpc-0123"
    assert allows(policy, "ec2:RevokeSecurityGroupIngress", sg, ours)
    assert not allows(policy, "ec2:RevokeSecurityGroupIngress", sg, theirs)
    assert allows(policy, "ec2:CreateVpc", vpc, new)
    assert not allows(policy, "ec2:CreateVpc", vpc, {"aws:RequestTag/Project": "volcast"})
    assert allows(policy, "ec2:CreateSubnet", vpc, {**ours, **new})
    assert not allows(policy, "ec2:CreateSubnet", vpc, {**theirs, **new})
    api = f"arn:aws:apigateway:{REGION}::/apis/a1b2c3"
    assert allows(policy, "apigateway:DELETE", api, ours)
    assert not allows(policy, "apigateway:DELETE", api, theirs)
    assert not allows(policy, "apigateway:DELETE", f"arn:aws:apigateway:{REGION}::/restapis/x")
    target = f"arn:aws:application-autoscaling:{REGION}:{ACCOUNT}:scalable-target/abc"
    ecs = {"application-autoscaling:service-namespace": "ecs",
           "application-autoscaling:scalable-dimension": "ecs:service:DesiredCount"}  # fmt: skip
    assert allows(policy, "application-autoscaling:PutScalingPolicy", target, ecs)
    dynamo = {**ecs, "application-autoscaling:service-namespace": "dynamodb"}
    assert not allows(policy, "application-autoscaling:PutScalingPolicy", target, dynamo)
    # The default security group of a new VPC is untagged: it may be adopted, tagged ours only.
    assert allows(policy, "ec2:CreateTags", sg, new)
    assert not allows(policy, "ec2:CreateTags", sg, {**theirs, **new})


# --------------------------------------------------------------------------------------------
# Zones by ID.
# --------------------------------------------------------------------------------------------
def test_subnets_are_placed_by_zone_id() -> None:
    subnets = _instances("aws_subnet")
    assert len(subnets) == 4
    for subnet in subnets:
        assert "availability_zone" not in subnet.args, f"{subnet.address} uses a zone name"
        zone = subnet.scope.value(subnet.args["availability_zone_id"])
        assert re.fullmatch(r"use1-az\d", zone), zone
        assert zone != "use1-az3", "API Gateway VPC links are not offered in use1-az3"
    ids = directory(MODULES / "network").variables["availability_zone_ids"]
    conditions = " ".join(str(v["condition"]) for v in ids["validation"])
    assert "use1-az3" in conditions, "the network module must refuse use1-az3"
    for env in ("dev", "prod"):
        default = directory(TERRAFORM / "envs" / env).variables["availability_zone_ids"]["default"]
        assert [unquote(z) for z in default] == ["use1-az1", "use1-az2"]


# --------------------------------------------------------------------------------------------
# Alarms that reach someone.
# --------------------------------------------------------------------------------------------
def _precondition(kind: str, name: str) -> str:
    [body] = [b for labels, b in blocks(MODULES / "monitoring" / "main.tf", "resource")
              if labels == (kind, name)]  # fmt: skip
    return body["lifecycle"][0]["precondition"][0]["condition"]


@pytest.mark.parametrize(
    ("env", "emails", "slack", "plans"),
    [("prod", [], False, False), ("prod", ["ops@example.com"], False, True),
     ("prod", [], True, True), ("dev", [], False, True)],
)  # fmt: skip
def test_prod_plan_stops_without_an_alarm_destination(
    env: str, emails: list[str], slack: bool, plans: bool
) -> None:
    from tests.infra.terraform_eval import root

    variables = {**BASE, "alarm_emails": emails}
    if slack:
        variables |= {"slack_team_id": "T07EA123LEP", "slack_channel_id": "C07EZ1ABC23"}
    scope = root(TERRAFORM / "envs" / env, variables, f"{env}-alarm-destination")
    monitoring = scope.module("monitoring")
    holds = monitoring.eval(parse_raw(_precondition("aws_sns_topic", "alerts")))
    assert holds is plans


def test_failed_flow_runs_raise_an_alarm_on_what_the_flows_emit() -> None:
    [alarm] = [i for i in _instances("aws_cloudwatch_metric_alarm") if i.name == "flow_run_failed"]
    value = alarm.scope.value
    assert value(alarm.args["metric_name"]) == alerting.FAILURE_METRIC
    assert value(alarm.args["namespace"]) == "Volcast"
    assert value(alarm.args["dimensions"]) == alerting.DIMENSIONS
    assert value(alarm.args["comparison_operator"]) == "GreaterThanThreshold"
    assert value(alarm.args["threshold"]) == 0
    assert alarm.args["alarm_actions"] == "${local.actions}"


def test_flows_get_their_own_prefect_key_not_the_ci_key() -> None:
    prefect_call = directory(TERRAFORM / "envs" / "prod").modules["prefect"]
    assert prefect_call["flow_api_key"] == "${var.prefect_flow_api_key}"
    providers = parse(TERRAFORM / "envs" / "prod" / "providers.tf")["provider"]
    [prefect] = [p['"prefect"'] for p in providers if '"prefect"' in p]
    assert prefect["api_key"] == "${var.prefect_api_key}"
    [version] = [b for labels, b in blocks(MODULES / "prefect" / "main.tf", "resource")
                 if labels == ("aws_secretsmanager_secret_version", "prefect_api_key")]  # fmt: skip
    assert version["secret_string_wo"] == "${var.flow_api_key}"


def test_flows_ingest_market_data_in_the_cloud() -> None:
    """The code's default source is synthetic (laptops, tests); the cloud flows must not be."""
    for name in ("prod-default", "dev-default"):
        environment = scenario(name)[0].local("flow_environment")
        assert environment["VOLCAST_SOURCE"] == "yahoo", name
        assert environment["VOLCAST_LAKE_URI"].startswith("s3://")


# --------------------------------------------------------------------------------------------
# Feature drift and SQL on the lake.
# --------------------------------------------------------------------------------------------
def test_the_drift_alarm_reads_what_the_infer_step_emits() -> None:
    from core.models import drift
    from core.monitoring import MODEL_DIMENSIONS, drift_metric

    [alarm] = [i for i in _instances("aws_cloudwatch_metric_alarm") if i.name == "feature_drift"]
    value = alarm.scope.value
    emitted = drift_metric(
        {"max_psi": 3.0, "max_psi_feature": "vix", "max_excess_psi": 0.3,
         "max_excess_feature": "vix", "start": "2026-01-02", "end": "2026-01-30"}
    )  # fmt: skip
    [directive] = emitted["_aws"]["CloudWatchMetrics"]
    assert value(alarm.args["metric_name"]) == "FeatureDriftMaxExcessPSI"
    assert value(alarm.args["metric_name"]) in {m["Name"] for m in directive["Metrics"]}
    assert value(alarm.args["namespace"]) == directive["Namespace"]
    assert value(alarm.args["dimensions"]) == MODEL_DIMENSIONS
    assert value(alarm.args["threshold"]) == drift.THRESHOLD == 0.25
    assert value(alarm.args["comparison_operator"]) == "GreaterThanThreshold"
    # one datapoint per evening: 3 breaching days out of 5 = three sessions across a weekend
    assert value(alarm.args["period"]) == 86400
    assert (value(alarm.args["datapoints_to_alarm"]), value(alarm.args["evaluation_periods"])) == (
        3,
        5,
    )
    assert alarm.args["alarm_actions"] == "${local.actions}"


def test_glue_tables_project_date_partitions_of_every_catalogued_table() -> None:
    from core.catalog import catalog_tables

    tables = _instances("aws_glue_catalog_table")
    assert {i.scope.value(i.args["name"]) for i in tables} == {t.name for t in catalog_tables()}
    # The arguments as written ($${date} is Terraform's escape for Athena's own ${date}).
    [(_, body)] = [
        (labels, b) for labels, b in blocks(MODULES / "analytics" / "main.tf", "resource")
        if labels == ("aws_glue_catalog_table", "this")
    ]  # fmt: skip
    parameters = {unquote(k): unquote(v) for k, v in body["parameters"].items()}
    assert parameters["projection.enabled"] == "true"
    assert parameters["projection.date.type"] == "date"
    assert parameters["projection.date.format"] == "yyyy-MM-dd"
    assert parameters["projection.date.range"] == "${var.projection_start},NOW"
    template = "${local.lake_root}/${each.value.lake_table}/date=$${date}/"
    assert parameters["storage.location.template"] == template
    assert "partition_keys" in body and "storage_descriptor" in body


def test_athena_results_are_encrypted_in_their_own_expiring_prefix() -> None:
    [workgroup] = _instances("aws_athena_workgroup")
    configuration = workgroup.scope.value(workgroup.args["configuration"])[0]
    assert configuration["enforce_workgroup_configuration"] is True
    result = configuration["result_configuration"][0]
    assert result["output_location"].endswith("/athena-results/")
    encryption = result["encryption_configuration"][0]
    assert encryption["encryption_option"] == "SSE_KMS"
    assert encryption["kms_key_arn"]
    lake_call = directory(TERRAFORM / "envs" / "prod").modules["lake"]
    assert "athena_results_prefix" in str(lake_call["expirations"])


def test_the_analyst_role_reads_and_queries_only() -> None:
    scope = scenario("prod-default")[0]
    policy = statements(scope.module("analytics"), "analyst")
    lake = f"arn:aws:s3:::volcast-prod-lake-{ACCOUNT}"
    workgroup = f"arn:aws:athena:{REGION}:{ACCOUNT}:workgroup/volcast-prod-analytics"
    assert allows(policy, "athena:StartQueryExecution", workgroup)
    assert not allows(policy, "athena:StartQueryExecution", workgroup.replace("prod", "dev"))
    table = f"arn:aws:glue:{REGION}:{ACCOUNT}:table/volcast_prod/predictions_daily"
    assert allows(policy, "glue:GetTable", table)
    assert not allows(policy, "glue:UpdateTable", table)
    assert allows(
        policy, "s3:GetObject", f"{lake}/predictions_daily/date=2026-01-02/part-0.parquet"
    )
    assert allows(policy, "s3:PutObject", f"{lake}/athena-results/abc.csv")
    for forbidden in (
        "predictions_daily/date=2026-01-02/part-0.parquet",
        "artifacts/model/PRODUCTION",
    ):
        assert not allows(policy, "s3:PutObject", f"{lake}/{forbidden}")
    assert not allows(policy, "s3:GetObject", f"{lake}/artifacts/model/PRODUCTION")
    assert not allows(policy, "s3:DeleteObject", f"{lake}/athena-results/abc.csv")
