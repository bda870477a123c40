"""Static checks of terraform/ (no terraform binary or AWS here): parse, fmt, references,
module contracts, alarms, IAM wildcards, and the names the rest of volcast relies on."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from tests.infra.terraform_static import (
    MODULES,
    REPO,
    ROOTS,
    TERRAFORM,
    blocks,
    directory,
    fmt_problems,
    lines_of,
    module_source,
    parse,
    strings_in,
    tf_files,
    unquote,
)

# Names fixed by the team brief.
SERVICES = ["ingest", "features", "train", "infer", "api"]
FAMILIES = {"ingest", "features", "train", "infer", "daily", "backfill", "freshness"}
WORK_POOL = "volcast-ecs"
MODULE_NAMES = {"kms", "s3", "ecr", "iam", "network", "ecs", "alb", "apigw", "dynamodb", "prefect"}
MODULE_NAMES |= {"monitoring", "analytics"}
META_ARGUMENTS = {"source", "version", "count", "for_each", "providers", "depends_on"}
PARSER_KEYS = {"__is_block__", "__comments__"}  # added by python-hcl2, not arguments

TF_FILES = tf_files()
DIRECTORIES = sorted({f.parent for f in TF_FILES})


def _rel(path: Path) -> str:
    return str(path.relative_to(REPO))


def test_terraform_tree_is_complete() -> None:
    assert {p.name for p in MODULES.iterdir() if p.is_dir()} == MODULE_NAMES
    for root in ROOTS:
        assert (root / "main.tf").is_file(), f"{_rel(root)} has no main.tf"
    assert len(TF_FILES) >= 50, f"only {len(TF_FILES)} .tf files found under terraform/"


@pytest.mark.parametrize("path", TF_FILES, ids=_rel)
def test_tf_file_parses(path: Path) -> None:
    parsed = parse(path)
    assert parsed, f"{_rel(path)} parsed to nothing"


def test_tf_files_are_terraform_fmt_clean() -> None:
    problems = [p for f in TF_FILES for p in fmt_problems(f)]
    assert not problems, "terraform fmt would change:\n" + "\n".join(problems)


@pytest.mark.parametrize("module", sorted(MODULE_NAMES))
def test_module_layout_and_typed_described_variables(module: str) -> None:
    path = MODULES / module
    for name in ("main.tf", "variables.tf", "outputs.tf", "versions.tf", "README.md"):
        assert (path / name).is_file(), f"modules/{module}/{name} is missing"
    found = directory(path)
    assert found.variables, f"modules/{module} declares no variables"
    untyped = [n for n, body in found.variables.items() if "type" not in body]
    undescribed = [n for n, body in found.variables.items() if not body.get("description")]
    assert not untyped, f"modules/{module}: variables without a type: {untyped}"
    assert not undescribed, f"modules/{module}: variables without a description: {undescribed}"
    validated = [n for n, body in found.variables.items() if body.get("validation")]
    assert validated, f"modules/{module}: no variable has a validation block"
    for (name,), body in blocks(path / "outputs.tf", "output"):
        assert body.get("description"), f"modules/{module}: output {name} has no description"
    readme = (path / "README.md").read_text()
    missing = [n for n in found.variables if f"`{n}`" not in readme]
    assert not missing, f"modules/{module}/README.md does not mention inputs {missing}"


@pytest.mark.parametrize("path", DIRECTORIES, ids=_rel)
def test_references_are_declared(path: Path) -> None:
    found = directory(path)
    problems = []
    for kind, name, attribute in sorted(found.refs, key=lambda r: (r[0], r[1], r[2] or "")):
        if kind == "var" and name not in found.variables:
            problems.append(f"var.{name} is used but not declared")
        elif kind == "local" and name not in found.locals:
            problems.append(f"local.{name} is used but not declared")
        elif kind == "module":
            if name not in found.modules:
                problems.append(f"module.{name} is used but not declared")
                continue
            target = directory(module_source(path, found.modules[name]))
            if attribute and attribute not in target.outputs:
                problems.append(f"module.{name}.{attribute}: {target.path.name} has no such output")
    unused = sorted(set(found.variables) - {n for k, n, _ in found.refs if k == "var"})
    problems += [f"variable {n} is declared but never used" for n in unused]
    assert not problems, f"{_rel(path)}:\n" + "\n".join(problems)


def _module_calls() -> list[tuple[Path, str, dict]]:
    return [
        (root, name, body) for root in DIRECTORIES for name, body in directory(root).modules.items()
    ]


@pytest.mark.parametrize(
    "root,name,body", _module_calls(), ids=lambda v: v if isinstance(v, str) else ""
)
def test_module_call_matches_module_variables(root: Path, name: str, body: dict) -> None:
    target_path = module_source(root, body)
    assert target_path.is_dir(), f"{_rel(root)}: module {name} source {body['source']} is missing"
    target = directory(target_path)
    passed = set(body) - META_ARGUMENTS - PARSER_KEYS
    unknown = sorted(passed - set(target.variables))
    missing = sorted(target.required_variables - passed)
    assert not unknown, f"{_rel(root)} module {name}: {target_path.name} has no variables {unknown}"
    assert not missing, f"{_rel(root)} module {name}: required variables not passed {missing}"


def _required_providers(path: Path) -> dict[str, dict]:
    providers: dict[str, dict] = {}
    for entry in parse(path).get("terraform", []):
        for block in entry.get("required_providers", []):
            providers.update({k: v for k, v in block.items() if k != "__is_block__"})
    return providers


@pytest.mark.parametrize("path", DIRECTORIES, ids=_rel)
def test_versions_are_pinned(path: Path) -> None:
    versions = path / "versions.tf"
    assert versions.is_file(), f"{_rel(path)} has no versions.tf"
    terraform_block = parse(versions)["terraform"][0]
    assert unquote(terraform_block["required_version"]) == ">= 1.11"
    providers = _required_providers(versions)
    assert "aws" in providers, f"{_rel(path)} does not require the aws provider"
    for name, spec in providers.items():
        constraint = str(unquote(spec.get("version", "")))
        assert constraint, f"{_rel(path)}: provider {name} has no version constraint"
        if path in ROOTS:
            assert constraint.startswith("~> "), f"{_rel(path)}: pin {name} with ~> ({constraint})"
    if path in ROOTS:
        assert str(unquote(providers["aws"]["version"])).startswith("~> 6.")


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_env_backend_is_s3_with_locking(env: str) -> None:
    terraform_block = parse(TERRAFORM / "envs" / env / "versions.tf")["terraform"][0]
    backend = terraform_block["backend"][0]['"s3"']
    assert unquote(backend["key"]) == f"volcast/{env}/terraform.tfstate"
    assert backend["use_lockfile"] is True
    assert backend["encrypt"] is True


def test_dev_and_prod_share_one_composition() -> None:
    dev, prod = TERRAFORM / "envs" / "dev", TERRAFORM / "envs" / "prod"
    for name in ("main.tf", "variables.tf", "outputs.tf", "providers.tf"):
        assert (dev / name).read_text() == (prod / name).read_text(), f"envs differ in {name}"
    dev_env = parse(dev / "env.tf")["locals"][0]
    prod_env = parse(prod / "env.tf")["locals"][0]
    assert dev_env["api_schedule"] is not None, "dev must park the API at night"
    assert unquote(dev_env["api_schedule"]["timezone"]) == "America/New_York"
    assert prod_env["api_schedule"] is None


def test_outputs_the_workflows_use_exist() -> None:
    outputs = directory(TERRAFORM / "envs" / "prod").outputs
    expected = {
        "api_url", "ecr_registry", "ecr_repository_urls", "ecs_cluster_name", "api_service_name",
        "lake_bucket_name", "lake_uri", "github_deploy_role_arn", "prefect_work_pool_name",
        "task_role_arns", "sns_topic_arn", "kms_key_arn", "dynamodb_table_name",
    }  # fmt: skip
    assert expected <= outputs, f"missing outputs: {sorted(expected - outputs)}"
    readme = (TERRAFORM / "README.md").read_text()
    assert not [o for o in expected if f"`{o}`" not in readme], "terraform/README.md lists outputs"


# --------------------------------------------------------------------------------------------
# Names shared with the rest of volcast.
# --------------------------------------------------------------------------------------------
def _env_module_args(module: str) -> dict:
    return directory(TERRAFORM / "envs" / "prod").modules[module]


def test_ecr_repositories_are_the_brief_services() -> None:
    assert [unquote(s) for s in _env_module_args("ecr")["services"]] == SERVICES
    main = (MODULES / "ecr" / "main.tf").read_text()
    assert 'image_tag_mutability = "IMMUTABLE"' in main
    assert "scan_on_push = true" in main
    assert '"imageCountMoreThan"' in main


def test_task_role_families_and_prefect_variables() -> None:
    iam_locals = parse(MODULES / "iam" / "main.tf")["locals"][0]
    assert set(iam_locals["family_writers"]) == FAMILIES
    assert iam_locals["family_writers"]["freshness"] == [], "freshness must be read-only"
    prefect_main = (MODULES / "prefect" / "main.tf").read_text()
    assert 'name  = "volcast_task_role_arn_${each.key}"' in prefect_main
    assert 'type              = "ecs:push"' in prefect_main
    locals_ = parse(TERRAFORM / "envs" / "prod" / "main.tf")["locals"][0]
    assert unquote(locals_["work_pool_name"]) == "${var.project}-ecs"
    assert unquote(directory(TERRAFORM / "envs" / "prod").variables["project"]["default"]) == (
        WORK_POOL.removesuffix("-ecs")
    )


def test_base_job_template_is_prefect_aws_default() -> None:
    from prefect_aws.workers.ecs_worker import ECSWorker

    committed = json.loads(
        (MODULES / "prefect" / "ecs-push-default-base-job-template.json").read_text()
    )
    assert committed == ECSWorker.get_default_base_job_template(), (
        "modules/prefect/ecs-push-default-base-job-template.json differs from the installed "
        "prefect-aws default: regenerate it with `prefect work-pool get-default-base-job-template "
        "--type ecs`"
    )
    defaults = parse(MODULES / "prefect" / "main.tf")["locals"][0]["job_variable_defaults"]
    unknown = set(defaults) - set(committed["variables"]["properties"])
    assert not unknown, f"job variable defaults not in the ECS template: {sorted(unknown)}"


PREFECT_YAML = REPO / "prefect.yaml"
IMAGE = re.compile(
    r"^\{\{ \$VOLCAST_ECR_REGISTRY \}\}/volcast/(?P<service>[a-z]+):\{\{ \$GITHUB_SHA \}\}$"
)


def test_prefect_yaml_images_and_roles_match_terraform() -> None:
    if not PREFECT_YAML.is_file():
        pytest.skip("prefect.yaml does not exist yet (written by the orchestration engineer)")
    deployments = yaml.safe_load(PREFECT_YAML.read_text())["deployments"]
    assert deployments, "prefect.yaml has no deployments"
    ecr_services = [unquote(s) for s in _env_module_args("ecr")["services"]]
    problems = []
    for deployment in deployments:
        name = deployment["name"]
        pool = deployment.get("work_pool", {})
        variables = pool.get("job_variables", {})
        if pool.get("name") != WORK_POOL:
            problems.append(
                f"{name}: work pool {pool.get('name')!r}, Terraform creates {WORK_POOL}"
            )
        match = IMAGE.match(str(variables.get("image", "")))
        if match is None:
            problems.append(
                f"{name}: image {variables.get('image')!r} is not an ECR image of the SHA"
            )
        elif match["service"] not in ecr_services or match["service"] == "api":
            problems.append(f"{name}: image service {match['service']!r} has no flow repository")
        role = re.fullmatch(
            r"\{\{ prefect\.variables\.volcast_task_role_arn_(\w+) \}\}",
            str(variables.get("task_role_arn", "")),
        )
        if role is None or role.group(1) not in FAMILIES:
            problems.append(f"{name}: task_role_arn {variables.get('task_role_arn')!r}")
    assert not problems, "prefect.yaml vs terraform:\n" + "\n".join(problems)


# --------------------------------------------------------------------------------------------
# Alarms and alerting.
# --------------------------------------------------------------------------------------------
MONITORING = MODULES / "monitoring" / "main.tf"


def _resources(path: Path, kind: str, block: str = "resource") -> dict[str, dict]:
    """name -> body of every `<block> "<kind>" "<name>"` in a file."""
    return {labels[1]: body for labels, body in blocks(path, block) if labels[0] == kind}


def _alarms() -> dict[str, dict]:
    return _resources(MONITORING, "aws_cloudwatch_metric_alarm")


def _metric_queries(alarm: dict) -> list[dict]:
    queries = list(alarm.get("metric_query", []))
    for dynamic in alarm.get("dynamic", []):
        for body in dynamic.values():
            queries += body["content"]
    return queries


def test_predict_latency_p95_alarm() -> None:
    alarm = _alarms()["predict_latency_p95"]
    assert unquote(alarm["namespace"]) == "${var.metrics_namespace}"
    assert unquote(alarm["metric_name"]) == "Latency"
    dimensions = {k: unquote(v) for k, v in alarm["dimensions"].items()}
    assert dimensions == {"Service": "api", "Route": "/predict"}
    assert unquote(alarm["extended_statistic"]) == "p95"
    assert alarm["threshold"] == "${var.predict_p95_threshold_ms}"
    variables = directory(MODULES / "monitoring").variables
    assert variables["predict_p95_threshold_ms"]["default"] == 2000
    assert variables["metrics_namespace"]["default"] == '"Volcast"'
    assert unquote(alarm["comparison_operator"]) == "GreaterThanThreshold"


def test_api_5xx_rate_alarm_is_metric_math() -> None:
    alarm = _alarms()["api_5xx_rate"]
    queries = _metric_queries(alarm)
    returned = [q for q in queries if q.get("return_data") is True]
    assert len(returned) == 1 and "100 * errors / requests" in unquote(returned[0]["expression"])
    metrics = {unquote(m["metric_name"]) for q in queries for m in q.get("metric", [])}
    assert metrics == {"ServerErrors", "Requests"}
    assert alarm["threshold"] == "${var.server_error_rate_threshold_percent}"
    default = directory(MODULES / "monitoring").variables["server_error_rate_threshold_percent"]
    assert default["default"] == 1


def test_predictions_stale_alarm_breaches_on_missing_data() -> None:
    alarm = _alarms()["predictions_stale"]
    assert unquote(alarm["metric_name"]) == "PredictionsStaleSessions"
    assert {k: unquote(v) for k, v in alarm["dimensions"].items()} == {"Service": "pipeline"}
    assert unquote(alarm["statistic"]) == "Maximum"
    assert alarm["threshold"] == 0
    assert unquote(alarm["comparison_operator"]) == "GreaterThanThreshold"
    assert unquote(alarm["treat_missing_data"]) == "breaching"


def test_failed_batch_task_rule_and_alarm() -> None:
    rule = _resources(MONITORING, "aws_cloudwatch_event_rule")["batch_task_failed"]
    pattern = str(unquote(rule["event_pattern"]))
    needles = ['"ECS Task State Change"', '"STOPPED"', 'prefix = "family:"', '"anything-but" = 0']
    for needle in [*needles, '"TaskFailedToStart"']:
        assert needle in pattern, f"failed-task rule pattern lacks {needle}"
    target = _resources(MONITORING, "aws_cloudwatch_event_target")["batch_task_failed"]
    assert target["arn"] == "${aws_sns_topic.alerts.arn}", "the failed-task rule must notify SNS"
    alarm = _alarms()["batch_task_failed"]
    assert unquote(alarm["metric_name"]) == "TriggeredRules"


def test_every_alarm_notifies_the_topic() -> None:
    for name, alarm in _alarms().items():
        assert alarm.get("alarm_actions") == "${local.actions}", f"{name} notifies nobody"
    topic = _resources(MONITORING, "aws_sns_topic")["alerts"]
    assert topic["kms_master_key_id"] == "${var.kms_key_arn}"
    assert 'resource "aws_cloudwatch_dashboard"' in MONITORING.read_text()


def test_prefect_notifies_failed_flow_runs() -> None:
    text = (MODULES / "prefect" / "main.tf").read_text()
    assert 'resource "prefect_automation" "flow_run_failed"' in text
    for state in ("Failed", "Crashed"):
        assert f'"prefect.flow-run.{state}"' in text


# --------------------------------------------------------------------------------------------
# Least privilege: every wildcard says why.
# --------------------------------------------------------------------------------------------
def _statements(path: Path) -> list[tuple[int, list[str]]]:
    """(first line, raw lines) of every `statement {` block, brackets counted on code only."""
    lines = lines_of(path)
    found, depth, start = [], 0, None
    for index, line in enumerate(lines):
        if start is None and re.match(r"^\s*statement\s*\{", line.code):
            start, depth = index, 0
        if start is not None:
            depth += line.code.count("{") - line.code.count("}")
            if depth == 0:
                found.append((lines[start].number, [ln.text for ln in lines[start : index + 1]]))
                start = None
    return found


def _wildcards(statement: list[str]) -> list[str]:
    body = "\n".join(statement)
    wild = []
    for key in ("actions", "resources"):
        for match in re.finditer(rf"\b{key}\s*=\s*\[(.*?)\]", body, re.S):
            items = re.findall(r'"([^"]*)"', match.group(1))
            wild += [i for i in items if i == "*" or (key == "actions" and "*" in i)]
    return wild


def test_iam_wildcards_have_a_comment_saying_why() -> None:
    problems = []
    for path in TF_FILES:
        for first_line, statement in _statements(path):
            body = "\n".join(statement)
            if 'effect    = "Deny"' in body or 'effect = "Deny"' in body:
                continue
            if _wildcards(statement) and "#" not in body:
                problems.append(
                    f"{_rel(path)}:{first_line}: {_wildcards(statement)} without a comment"
                )
    assert not problems, "\n".join(problems)


def test_wildcard_check_sees_wildcards() -> None:
    """The check above must find the wildcards that exist (else it would pass vacuously)."""
    statements = [s for p in TF_FILES for _, s in _statements(p)]
    assert sum(bool(_wildcards(s)) for s in statements) >= 5


def test_api_task_role_reads_only_what_it_serves() -> None:
    """The served prefixes (the grants themselves: tests/infra/test_terraform_apply.py)."""
    served = parse(MODULES / "iam" / "main.tf")["locals"][0]["api_read_prefixes"]
    assert [unquote(p) for p in served] == [
        "artifacts/model",
        "features_daily",
        "predictions_daily",
    ]


def test_every_string_value_is_free_of_account_ids_and_regions() -> None:
    problems = []
    for path in TF_FILES:
        for text in strings_in(parse(path)):
            if re.search(r"\b\d{12}\b", text):
                problems.append(f"{_rel(path)}: hard-coded account id in {text!r}")
            region = re.search(
                r"\b(us|eu|ap|sa|ca|me|af)-(east|west|north|south|central)-\d\b", text
            )
            if region and path.name != "variables.tf":  # a default region is a variable's job
                problems.append(f"{_rel(path)}: hard-coded region in {text!r}")
    assert not problems, "\n".join(problems)


def _task_definition_for(container_secrets: list[dict]) -> dict:
    """The task definition prefect-aws registers for a flow run, from the job configuration
    modules/prefect gives the pool: the default one with these secrets on the flow container."""
    import uuid

    from prefect.client.schemas.objects import FlowRun
    from prefect.utilities.templating import apply_values
    from prefect_aws.workers.ecs_worker import ECSJobConfiguration, ECSWorker

    template = ECSWorker.get_default_base_job_template()
    for container in template["job_configuration"]["task_definition"]["containerDefinitions"]:
        container["secrets"] = container_secrets
    values = {
        "image": "volcast/infer:sha",
        "container_name": "prefect",
        "launch_type": "FARGATE",
        "prefect_api_key_secret_arn": "arn:aws:secretsmanager:region:account:secret:prefect-Ab12Cd",
    }
    defaults = {k: v.get("default") for k, v in template["variables"]["properties"].items()}
    # What from_template_and_values does, minus resolving block references through an API.
    populated = apply_values(template["job_configuration"], defaults | values)
    config = ECSJobConfiguration(**{k: v for k, v in populated.items() if v is not None})
    worker = ECSWorker(work_pool_name=WORK_POOL)
    run = FlowRun(flow_id=uuid.uuid4(), name="daily-2026-11-25")
    return worker._prepare_task_definition(config, "us-east-1", run)


def test_the_fred_key_reaches_flow_containers_beside_the_prefect_key() -> None:
    """What plan cannot show: prefect-aws (the code Prefect Cloud's push pool runs) adds its
    PREFECT_API_KEY secret to the container's secrets instead of replacing them."""
    main = (MODULES / "prefect" / "main.tf").read_text()
    assert "merge(container, { secrets = local.container_secrets })" in main
    assert '{ name = "VOLCAST_FRED_API_KEY", valueFrom = arn }' in main
    fred = "arn:aws:secretsmanager:region:account:secret:volcast/prod/fred-api-key-Xy12Zw"
    enabled = _task_definition_for([{"name": "VOLCAST_FRED_API_KEY", "valueFrom": fred}])
    secrets = {s["name"]: s["valueFrom"] for s in enabled["containerDefinitions"][0]["secrets"]}
    assert secrets["VOLCAST_FRED_API_KEY"] == fred and set(secrets) == {
        "PREFECT_API_KEY",
        "VOLCAST_FRED_API_KEY",
    }
    disabled = _task_definition_for([])  # enable_fred = false: an empty list
    names = [s["name"] for s in disabled["containerDefinitions"][0]["secrets"]]
    assert names == ["PREFECT_API_KEY"]


def test_only_the_flows_execution_role_reads_the_fred_key_and_only_when_enabled() -> None:
    """The IAM documents as evaluated for prod with the macro step on and off."""
    from tests.infra.iam_policies import allows, statements
    from tests.infra.terraform_eval import ACCOUNT_ID
    from tests.infra.test_aws_strings import scenario

    read = "secretsmanager:GetSecretValue"
    secret = f"arn:aws:secretsmanager:us-east-1:{ACCOUNT_ID}:secret:volcast/prod/"
    fred, prefect = secret + "fred-api-key-AbCdEf", secret + "prefect-api-key-AbCdEf"
    on, off = scenario("prod-fred")[0].module("iam"), scenario("prod-default")[0].module("iam")
    for document in ("boundary", "flows_execution"):
        assert allows(statements(on, document), read, fred), document
        assert not allows(statements(off, document), read, fred), document
        for iam in (on, off):  # the flows' Prefect key stays readable either way
            assert allows(statements(iam, document), read, prefect), document
    for document in ("api_task", "api_execution", "flow_task"):  # code never reads it itself
        assert not allows(statements(on, document), read, fred), document
    assert not allows(statements(on, "flows_execution"), read, secret + "fred-api-key2-AbCdEf")
