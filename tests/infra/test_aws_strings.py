"""AWS-side string rules that plan never sees, checked on every such string of terraform/.

An apostrophe in a security group rule description passed fmt, validate, checkov and plan,
and failed the first apply (EC2 accepts a-zA-Z0-9, space and ._-:/()#,@[]+=;{}!$* there).
Each rule below comes from the API's own model in botocore (min/max/pattern), or, where the
model carries the rule only as prose, from that prose, which the test reads back from botocore
so the rule cannot drift from its source. Every name, description and tag of every resource
instance is evaluated (tests/infra/terraform_eval.py) for the default variables and for the
longest values the variables' validations admit.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import botocore.session
import pytest

from tests.infra.terraform_eval import Instance, Scope, Unresolved, instances, root
from tests.infra.terraform_static import TERRAFORM, blocks, tf_files


# --------------------------------------------------------------------------------------------
# Rules.
# --------------------------------------------------------------------------------------------
@cache
def _model(service: str):
    return botocore.session.get_session().get_service_model(service)


def _member(service: str, operation: str, member: str):
    shape = _model(service).operation_model(operation).input_shape
    return shape.members[member]


def _shape_member(service: str, shape: str, member: str):
    return _model(service).shape_for(shape).members[member]


def _doc(shape: Any) -> str:
    return re.sub(r"<[^>]+>", "", shape.documentation).replace("&amp;", "&")


def _java_class(body: str) -> Callable[[str], bool]:
    """One Java character class (the part between [ and ]) as a per-character predicate.

    Handles what AWS models use: \\p{L} \\p{Z} \\p{N} \\p{Print}, \\uXXXX, \\w, escapes, ranges.
    """
    tests: list[Callable[[str], bool]] = []
    items: list[tuple[str, bool]] = []  # (character, is a literal that cannot form a range)
    i = 0
    while i < len(body):
        if body.startswith("\\p{", i):
            close = body.index("}", i)
            name = body[i + 3 : close]
            i = close + 1
            if name == "Print":
                tests.append(lambda c: " " <= c <= "~")
            else:
                tests.append(lambda c, n=name: unicodedata.category(c).startswith(n))
        elif body.startswith("\\w", i):
            tests.append(lambda c: c.isascii() and (c.isalnum() or c == "_"))
            i += 2
        elif body.startswith("\\u", i):
            items.append((chr(int(body[i + 2 : i + 6], 16)), False))
            i += 6
        elif body[i] == "\\":
            items.append((body[i + 1], True))
            i += 2
        else:
            items.append((body[i], body[i] != "-"))
            i += 1
    allowed: set[str] = set()
    j = 0
    while j < len(items):
        is_range = j + 2 < len(items) and items[j + 1] == ("-", False)
        if is_range:
            low, high = items[j][0], items[j + 2][0]
            tests.append(lambda c, lo=low, hi=high: lo <= c <= hi)
            j += 3
        else:
            allowed.add(items[j][0])
            j += 1
    return lambda c: c in allowed or any(test(c) for test in tests)


def java_pattern(pattern: str) -> Callable[[str], bool]:
    """A whole-string matcher for an AWS model pattern."""
    single = re.fullmatch(r"\(?\[(.*)\]([+*])\)?", pattern) or re.fullmatch(
        r"(\\p\{\w+\})([+*])", pattern
    )
    if single:
        char_ok = _java_class(single.group(1))
        return lambda text: all(map(char_ok, text))
    compiled = re.compile(pattern.removeprefix("^").removesuffix("$"), re.ASCII)
    return lambda text: compiled.fullmatch(text) is not None


@dataclass(frozen=True)
class Rule:
    """Length bounds and allowed characters of one AWS string, with where they come from."""

    what: str
    source: str
    max_len: int
    min_len: int = 1
    matches: Callable[[str], bool] = lambda _: True
    extra: Callable[[str], str | None] = lambda _: None

    def problems(self, text: str) -> list[str]:
        found = []
        if not self.min_len <= len(text) <= self.max_len:
            found.append(f"length {len(text)} outside {self.min_len}..{self.max_len}")
        if not self.matches(text):
            bad = sorted({c for c in text if not self.matches(c)}) or ["(pattern)"]
            found.append(f"characters not allowed: {bad}")
        if extra := self.extra(text):
            found.append(extra)
        return found


def modelled(what: str, service: str, operation: str, member: str) -> Rule:
    """A rule from botocore's model: min, max and pattern of an operation's input member."""
    shape = _member(service, operation, member)
    meta = shape.metadata
    assert "max" in meta, f"{service}.{operation}.{member} has no max in botocore: use documented"
    pattern = meta.get("pattern")
    return Rule(
        what,
        f"botocore {service}.{operation}.{member}",
        max_len=meta["max"],
        min_len=meta.get("min", 0) or 0,
        matches=java_pattern(pattern) if pattern else (lambda _: True),
    )


def _athena_name(text: str) -> bool:
    return re.fullmatch(r"[a-z0-9_]+", text) is not None


def _shape_rule(what: str, service: str, shape: str, member: str) -> Rule:
    """A rule from botocore's model of a structure member: max, and printable characters
    (Glue's patterns are Unicode ranges of printable text: no control characters)."""
    meta = _shape_member(service, shape, member).metadata
    return Rule(
        what, f"botocore {service} {shape}.{member}", max_len=meta["max"],
        min_len=meta.get("min", 0) or 0,
        matches=lambda s: all(c.isprintable() or c in "\r\n\t" for c in s),
    )  # fmt: skip


def documented(
    what: str, shape: Any, source: str, quote: str, max_len: int, allowed: str, **extra: Any
) -> Rule:
    """A rule the model states only in prose: ``quote`` must still be in that prose."""
    text = _doc(shape)
    assert quote in text, f"{source}: botocore's documentation no longer says {quote!r}: {text}"
    charset = set(allowed)
    return Rule(
        what, f"{source} (documented: {quote!r})", max_len=max_len,
        matches=lambda s: all(c.isascii() and (c.isalnum() or c in charset) for c in s), **extra,
    )  # fmt: skip


SG_CHARS = " ._-:/()#,@[]+=&;{}!$*"
#: Rule descriptions: the strictest of the rule kinds (IpRange allows &, UserIdGroupPair not).
SG_RULE_CHARS = " ._-:/()#,@[]+=;{}!$*"


def _not_sg_prefix(text: str) -> str | None:
    return "starts with sg-" if text.lower().startswith("sg-") else None


def _elb_name(text: str) -> str | None:
    if text.startswith("-") or text.endswith("-"):
        return "begins or ends with a hyphen"
    return "begins with internal-" if text.startswith("internal-") else None


def _bucket_name(text: str) -> str | None:
    if not re.fullmatch(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", text):
        return "not 3-63 lowercase letters, digits, dots, hyphens, alphanumeric at both ends"
    if ".." in text or re.fullmatch(r"\d+\.\d+\.\d+\.\d+", text) or text.startswith("xn--"):
        return "breaks the S3 bucket naming rules"
    return None


@cache
def rules() -> dict[tuple[str, str], Rule]:
    ec2_sg = _member("ec2", "CreateSecurityGroup", "GroupName")
    ec2_sg_desc = _member("ec2", "CreateSecurityGroup", "Description")
    ec2_rule = _shape_member("ec2", "UserIdGroupPair", "Description")
    elb = _member("elbv2", "CreateLoadBalancer", "Name")
    tg = _member("elbv2", "CreateTargetGroup", "Name")
    ecs_doc = "Up to 255 letters (uppercase and lowercase), numbers, underscores, and hyphens"
    sg_rule = documented(
        "security group rule description", ec2_rule, "EC2 UserIdGroupPair.Description",
        "Allowed characters are a-z, A-Z, 0-9, spaces, and ._-:/()#,@[]+=;{}!$*", 255,
        SG_RULE_CHARS,
    )  # fmt: skip
    table = {
        ("aws_security_group", "name"): documented(
            "security group name", ec2_sg, "EC2 CreateSecurityGroup.GroupName",
            "Valid characters: a-z, A-Z, 0-9, spaces, and ._-:/()#,@[]+=&;{}!$*", 255, SG_CHARS,
            extra=_not_sg_prefix,
        ),
        ("aws_security_group", "description"): documented(
            "security group description", ec2_sg_desc, "EC2 CreateSecurityGroup.Description",
            "Valid characters: a-z, A-Z, 0-9, spaces, and ._-:/()#,@[]+=&;{}!$*", 255, SG_CHARS,
        ),
        ("aws_vpc_security_group_ingress_rule", "description"): sg_rule,
        ("aws_vpc_security_group_egress_rule", "description"): sg_rule,
        ("aws_lb", "name"): documented(
            "load balancer name", elb, "ELBv2 CreateLoadBalancer.Name",
            "can have a maximum of 32 characters, must contain only alphanumeric characters or "
            "hyphens", 32, "-", extra=_elb_name,
        ),
        ("aws_lb_target_group", "name"): documented(
            "target group name", tg, "ELBv2 CreateTargetGroup.Name",
            "can have a maximum of 32 characters, must contain only alphanumeric characters or "
            "hyphens", 32, "-", extra=_elb_name,
        ),
        ("aws_iam_role", "name"): modelled("IAM role name", "iam", "CreateRole", "RoleName"),
        ("aws_iam_role", "description"): modelled(
            "IAM role description", "iam", "CreateRole", "Description"
        ),
        ("aws_iam_role_policy", "name"): modelled(
            "IAM inline policy name", "iam", "PutRolePolicy", "PolicyName"
        ),
        ("aws_iam_policy", "name"): modelled(
            "IAM policy name", "iam", "CreatePolicy", "PolicyName"
        ),
        ("aws_iam_policy", "description"): modelled(
            "IAM policy description", "iam", "CreatePolicy", "Description"
        ),
        ("aws_iam_user", "name"): modelled("IAM user name", "iam", "CreateUser", "UserName"),
        ("aws_iam_group", "name"): modelled("IAM group name", "iam", "CreateGroup", "GroupName"),
        ("aws_iam_group_policy", "name"): modelled(
            "IAM group policy name", "iam", "PutGroupPolicy", "PolicyName"
        ),
        ("aws_cloudwatch_log_group", "name"): modelled(
            "log group name", "logs", "CreateLogGroup", "logGroupName"
        ),
        ("aws_cloudwatch_metric_alarm", "alarm_name"): documented(
            "alarm name", _member("cloudwatch", "PutMetricAlarm", "AlarmName"),
            "CloudWatch PutMetricAlarm.AlarmName", "can't contain ASCII control characters",
            255, " !\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~",
        ),
        ("aws_cloudwatch_metric_alarm", "alarm_description"): modelled(
            "alarm description", "cloudwatch", "PutMetricAlarm", "AlarmDescription"
        ),
        ("aws_cloudwatch_event_rule", "name"): modelled("rule name", "events", "PutRule", "Name"),
        ("aws_cloudwatch_event_rule", "description"): modelled(
            "rule description", "events", "PutRule", "Description"
        ),
        ("aws_cloudwatch_event_target", "target_id"): Rule(
            "rule target id", "botocore events.Target.Id", 64,
            matches=java_pattern(_shape_member("events", "Target", "Id").metadata["pattern"]),
        ),
        ("aws_cloudwatch_dashboard", "dashboard_name"): documented(
            "dashboard name", _member("cloudwatch", "PutDashboard", "DashboardName"),
            "CloudWatch PutDashboard.DashboardName",
            'The maximum length is 255, and valid characters are A-Z, a-z, 0-9, "-", and "_"',
            255, "-_",
        ),
        ("aws_sns_topic", "name"): documented(
            "SNS topic name", _member("sns", "CreateTopic", "Name"), "SNS CreateTopic.Name",
            "Topic names must be made up of only uppercase and lowercase ASCII letters, "
            "numbers, underscores, and hyphens, and must be between 1 and 256 characters long",
            256, "-_",
        ),
        ("aws_ecs_cluster", "name"): documented(
            "ECS cluster name", _member("ecs", "CreateCluster", "clusterName"),
            "ECS CreateCluster.clusterName", ecs_doc, 255, "-_",
        ),
        ("aws_ecs_service", "name"): documented(
            "ECS service name", _member("ecs", "CreateService", "serviceName"),
            "ECS CreateService.serviceName", ecs_doc, 255, "-_",
        ),
        ("aws_ecs_task_definition", "family"): documented(
            "task definition family", _member("ecs", "RegisterTaskDefinition", "family"),
            "ECS RegisterTaskDefinition.family", ecs_doc, 255, "-_",
        ),
        ("aws_appautoscaling_policy", "name"): modelled(
            "scaling policy name", "application-autoscaling", "PutScalingPolicy", "PolicyName"
        ),
        ("aws_appautoscaling_scheduled_action", "name"): modelled(
            "scheduled action name", "application-autoscaling", "PutScheduledAction",
            "ScheduledActionName",
        ),
        ("aws_apigatewayv2_api", "name"): Rule(
            "HTTP API name", "botocore apigatewayv2 StringWithLengthBetween1And128", 128
        ),
        ("aws_apigatewayv2_vpc_link", "name"): Rule(
            "VPC link name", "botocore apigatewayv2 StringWithLengthBetween1And128", 128
        ),
        ("aws_apigatewayv2_api", "description"): Rule(
            "HTTP API description", "botocore apigatewayv2 StringWithLengthBetween0And1024", 1024,
            min_len=0,
        ),
        ("aws_secretsmanager_secret", "name"): documented(
            "secret name", _member("secretsmanager", "CreateSecret", "Name"),
            "Secrets Manager CreateSecret.Name",
            "The secret name can contain ASCII letters, numbers, and the following characters: "
            "/_+=.@-", 512, "/_+=.@-",
            extra=lambda s: "ends like a -XXXXXX ARN suffix"
            if re.search(r"-[A-Za-z0-9]{6}$", s) else None,
        ),
        ("aws_secretsmanager_secret", "description"): modelled(
            "secret description", "secretsmanager", "CreateSecret", "Description"
        ),
        ("aws_kms_alias", "name"): modelled("KMS alias", "kms", "CreateAlias", "AliasName"),
        ("aws_kms_key", "description"): modelled(
            "KMS key description", "kms", "CreateKey", "Description"
        ),
        ("aws_dynamodb_table", "name"): Rule(
            "DynamoDB table name",
            "DynamoDB developer guide, naming rules: 3-255 of a-z A-Z 0-9 _ - .",
            255, min_len=3, matches=java_pattern("[a-zA-Z0-9_.-]+"),
        ),
        ("aws_ecr_repository", "name"): modelled(
            "ECR repository name", "ecr", "CreateRepository", "repositoryName"
        ),
        ("aws_chatbot_slack_channel_configuration", "configuration_name"): modelled(
            "Chatbot configuration name", "chatbot", "CreateSlackChannelConfiguration",
            "ConfigurationName",
        ),
        ("aws_s3_bucket", "bucket"): Rule(
            "S3 bucket name", "S3 user guide, general purpose bucket naming rules", 63, min_len=3,
            extra=_bucket_name,
        ),
        # Glue's model allows any printable name up to 255; Athena reads only lower-case
        # letters, digits and underscores (Athena user guide, "Name databases, tables, and
        # columns"), and Glue folds names to lowercase (botocore glue DatabaseInput.Name).
        ("aws_glue_catalog_database", "name"): Rule(
            "Glue database name", "Athena user guide, names of databases and tables",
            _shape_member("glue", "DatabaseInput", "Name").metadata["max"],
            matches=_athena_name,
        ),
        ("aws_glue_catalog_table", "name"): Rule(
            "Glue table name", "Athena user guide, names of databases and tables",
            _shape_member("glue", "TableInput", "Name").metadata["max"],
            matches=_athena_name,
        ),
        ("aws_glue_catalog_database", "description"): _shape_rule(
            "Glue database description", "glue", "DatabaseInput", "Description"
        ),
        ("aws_glue_catalog_table", "description"): _shape_rule(
            "Glue table description", "glue", "TableInput", "Description"
        ),
        ("aws_athena_workgroup", "name"): Rule(
            "Athena workgroup name", "botocore athena.CreateWorkGroup.Name (pattern)", 128,
            matches=java_pattern(_member("athena", "CreateWorkGroup", "Name").metadata["pattern"]),
        ),
        ("aws_athena_workgroup", "description"): modelled(
            "Athena workgroup description", "athena", "CreateWorkGroup", "Description"
        ),
    }  # fmt: skip
    return table


@cache
def tag_rules() -> tuple[Rule, Rule]:
    """The common AWS tag rules (IAM's, the strictest model: keys <= 128, values <= 256)."""
    key = _shape_member("iam", "Tag", "Key").metadata
    value = _shape_member("iam", "Tag", "Value").metadata
    return (
        Rule("tag key", "botocore iam Tag.Key", key["max"], key["min"],
             java_pattern(key["pattern"]),
             extra=lambda k: "starts with aws:" if k.lower().startswith("aws:") else None),
        Rule("tag value", "botocore iam Tag.Value", value["max"], value["min"],
             java_pattern(value["pattern"])),
    )  # fmt: skip


#: Arguments that are names or free text AWS checks, and why these carry no rule here.
NAMING_ARGUMENTS = {
    "name", "name_prefix", "description", "alarm_name", "alarm_description", "dashboard_name",
    "configuration_name", "family", "bucket", "target_id", "table_name",
}  # fmt: skip
EXEMPT = {
    ("aws_apigatewayv2_stage", "name"): "the literal $default (the HTTP API's default stage)",
    ("aws_iam_openid_connect_provider", "url"): "a URL, not a name",
}


# --------------------------------------------------------------------------------------------
# The instantiated roots.
# --------------------------------------------------------------------------------------------
UUID = "0123abcd-0000-4000-8000-0123456789ab"
BASE = {
    "image_tag": "0" * 40,
    "github_repository": "octo-org/volcast",
    "state_bucket_name": "volcast-tfstate-123456789012",
    "state_kms_key_arn": "arn:aws:kms:us-east-1:123456789012:key/abcd",
    "prefect_account_id": UUID,
    "prefect_workspace_id": UUID,
    "prefect_api_key": "pnu_" + "x" * 36,
    "prefect_flow_api_key": "pnu_" + "y" * 36,
    "alarm_emails": ["ops@example.com"],
}
#: The longest values the root variables' validations admit (GitHub: owner <= 39, name <= 100).
LONGEST = {
    **BASE,
    "project": "p" + "x" * 15,
    "github_repository": "o" * 39 + "/" + "r" * 100,
    "aws_region": "ap-southeast-4",
}
SCENARIOS = {
    "prod-default": (TERRAFORM / "envs" / "prod", BASE),
    "prod-longest": (TERRAFORM / "envs" / "prod", LONGEST),
    "dev-default": (TERRAFORM / "envs" / "dev", BASE),
    "dev-longest": (TERRAFORM / "envs" / "dev", LONGEST),
    # the optional macro step on: its FRED key secret and the grants to read it
    "prod-fred": (TERRAFORM / "envs" / "prod", {**BASE, "enable_fred": True}),
    "bootstrap-default": (TERRAFORM / "bootstrap", {}),
    "bootstrap-longest": (TERRAFORM / "bootstrap", {"project": "p" + "x" * 15}),
}


@cache
def scenario(name: str) -> tuple[Scope, tuple[Instance, ...]]:
    path, variables = SCENARIOS[name]
    scope = root(path, variables, name)
    return scope, tuple(instances(scope))


def checked_strings(name: str) -> Iterator[tuple[str, Rule, str]]:
    """(where, rule, value) for every ruled argument of every instance, tags included."""
    scope, found = scenario(name)
    key_rule, value_rule = tag_rules()
    for provider_labels, body in _providers(scope.path):
        for default_tags in body.get("default_tags", []):
            for key, value in scope.value(default_tags["tags"]).items():
                where = f"{name}: provider {provider_labels} default_tags"
                yield where, key_rule, key
                yield where, value_rule, value
    for instance in found:
        for (kind, argument), rule in rules().items():
            if instance.type == kind and argument in instance.args:
                value = _evaluate(instance, argument)
                if value is not None:
                    yield f"{instance.address}.{argument}", rule, value
        if "tags" in instance.args and instance.type.startswith("aws_"):
            for key, value in (_evaluate(instance, "tags") or {}).items():
                yield f"{instance.address}.tags", key_rule, key
                yield f"{instance.address}.tags", value_rule, value


def _evaluate(instance: Instance, argument: str) -> Any:
    try:
        return instance.scope.value(instance.args[argument])
    except Unresolved as exc:
        pytest.fail(
            f"{instance.address}.{argument}: cannot evaluate ({exc}); extend terraform_eval"
        )


def _providers(path: Path) -> Iterator[tuple[str, dict]]:
    for file in sorted(path.glob("*.tf")):
        for labels, body in blocks(file, "provider"):
            yield labels[0], body


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_every_aws_string_meets_its_rule(name: str) -> None:
    problems = [
        f"{where}: {rule.what} {value!r}: {'; '.join(found)} (rule: {rule.source})"
        for where, rule, value in checked_strings(name)
        if (found := rule.problems(value))
    ]
    assert not problems, "AWS would refuse at apply:\n" + "\n".join(problems)


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_the_check_covers_the_resources(name: str) -> None:
    """The walk reaches every kind of named resource (else the check above proves little)."""
    strings = list(checked_strings(name))
    kinds = {where.split(".")[-2] if where.endswith(".tags") else "" for where, _, _ in strings}
    assert len(strings) >= (150 if "bootstrap" not in name else 8), len(strings)
    assert kinds, "no tags were checked"
    whats = {rule.what for _, rule, _ in strings}
    if "bootstrap" not in name:
        for expected in ("security group rule description", "load balancer name", "IAM role name",
                         "alarm name", "tag value", "secret name", "S3 bucket name"):  # fmt: skip
            assert expected in whats, f"{name}: no {expected} was checked"


def test_every_naming_argument_has_a_rule_or_a_reason() -> None:
    """A new resource type with a name or description gets a rule here, or a stated reason."""
    missing = set()
    for path in tf_files():
        for labels, body in blocks(path, "resource"):
            kind = labels[0]
            if not kind.startswith("aws_"):
                continue
            for argument in NAMING_ARGUMENTS & set(body):
                key = (kind, argument)
                ruled = key in rules() or key in EXEMPT
                child_of_bucket = argument == "bucket" and kind.startswith("aws_s3_bucket_")
                if not ruled and not child_of_bucket:  # bucket = the bucket's id: ruled above
                    missing.add(key)
    assert not missing, f"add an AWS rule (or a reason in EXEMPT) for: {sorted(missing)}"


@pytest.mark.parametrize(
    ("kind", "argument", "value", "ok"),
    [
        ("aws_vpc_security_group_egress_rule", "description",
         "To the API tasks' container port inside the VPC", False),
        ("aws_vpc_security_group_egress_rule", "description",
         "To the container port of the API tasks inside the VPC", True),
        ("aws_vpc_security_group_ingress_rule", "description", "x" * 256, False),
        ("aws_security_group", "name", "sg-api", False),
        ("aws_lb", "name", "volcast-prod-api", True),
        ("aws_lb", "name", "internal-volcast", False),
        ("aws_lb", "name", "a" * 33, False),
        ("aws_lb_target_group", "name", "volcast_prod", False),
        ("aws_iam_role", "name", "volcast-prod-task-ingest", True),
        ("aws_iam_role", "name", "volcast prod", False),
        ("aws_iam_role", "description", "GitHub Actions (o/r: main) deploys volcast-prod.", True),
        ("aws_iam_role", "description", "emoji \U0001f600", False),
        ("aws_cloudwatch_log_group", "name", "/volcast/prod/api", True),
        ("aws_cloudwatch_log_group", "name", "/volcast/prod/api:x", False),
        ("aws_cloudwatch_event_rule", "name", "volcast-prod-batch-task-failed", True),
        ("aws_cloudwatch_event_rule", "name", "r" * 65, False),
        ("aws_cloudwatch_metric_alarm", "alarm_name", "volcast-prod-x\n", False),
        ("aws_sns_topic", "name", "volcast-prod.alerts", False),
        ("aws_secretsmanager_secret", "name", "volcast/prod/api-keys", True),
        ("aws_secretsmanager_secret", "name", "volcast/prod/keys-abcdef", False),
        ("aws_appautoscaling_scheduled_action", "name", "a:b", False),
        ("aws_ecr_repository", "name", "volcast/api", True),
        ("aws_ecr_repository", "name", "Volcast/API", False),
        ("aws_s3_bucket", "bucket", "volcast-prod-lake-123456789012", True),
        ("aws_s3_bucket", "bucket", "Volcast_Lake", False),
        ("aws_kms_alias", "name", "alias/volcast-prod", True),
        ("aws_kms_alias", "name", "alias/volcast prod", False),
    ],
)  # fmt: skip
def test_rules_accept_and_refuse(kind: str, argument: str, value: str, ok: bool) -> None:
    """Each rule refuses what AWS refuses (the listed fault included) and accepts our names."""
    assert (not rules()[(kind, argument)].problems(value)) is ok


@pytest.mark.parametrize(
    ("key", "value", "ok"),
    [("Repository", "octo-org/volcast", True), ("Name", "volcast-prod-public-use1-az1", True),
     ("Note", "it's", False), ("aws:owner", "x", False), ("Environment", "v" * 257, False)],
)  # fmt: skip
def test_tag_rules(key: str, value: str, ok: bool) -> None:
    key_rule, value_rule = tag_rules()
    assert (not key_rule.problems(key) and not value_rule.problems(value)) is ok
