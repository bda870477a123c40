"""prefect.yaml (Prefect Cloud, ECS push pool) and prefect.local.yaml (process pool), checked
offline: entrypoints, schedules, images, resources, and job variables against the ECS
worker's own base job template."""

from __future__ import annotations

import asyncio
import datetime as dt
import importlib
import re
from typing import Any
from zoneinfo import ZoneInfo

import jsonschema
import pytest
import yaml
from prefect import Flow
from prefect.server.schemas.schedules import CronSchedule

from tests.conftest import REPO

PRODUCTION = yaml.safe_load((REPO / "prefect.yaml").read_text())
LOCAL = yaml.safe_load((REPO / "prefect.local.yaml").read_text())
SERVICES = {"ingest", "features", "train", "infer"}  # the flow images; api is not a flow
TASK_ROLE_FAMILIES = {"ingest", "features", "train", "infer", "daily", "backfill", "freshness"}
#: ../shared/ARCHITECTURE.md schedules (UTC) and the freshness check before 08:00 New York.
SCHEDULES = {
    "daily": ("5 22 * * 1-5", "UTC"),
    "train": ("15 22 * * 5", "UTC"),
    "freshness-check": ("45 7 * * 2-6", "America/New_York"),
}
#: Fargate's valid (cpu units -> memory MiB) combinations.
FARGATE_MEMORY = {
    256: {512, 1024, 2048},
    512: set(range(1024, 4097, 1024)),
    1024: set(range(2048, 8193, 1024)),
    2048: set(range(4096, 16385, 1024)),
    4096: set(range(8192, 30721, 1024)),
}
IMAGE = re.compile(
    r"^\{\{ \$VOLCAST_ECR_REGISTRY \}\}/volcast/(?P<service>[a-z]+):\{\{ \$GITHUB_SHA \}\}$"
)
ROLE = re.compile(r"^\{\{ prefect\.variables\.volcast_task_role_arn_(?P<family>[a-z]+) \}\}$")


def _by_name(config: dict) -> dict[str, dict]:
    return {d["name"]: d for d in config["deployments"]}


PROD, LOC = _by_name(PRODUCTION), _by_name(LOCAL)


def _fires(deployment: dict, start: dt.datetime, n: int) -> list[dt.datetime]:
    """The next ``n`` run times, as the Prefect server's scheduler computes them."""
    (schedule,) = deployment["schedules"]
    cron = CronSchedule(cron=schedule["cron"], timezone=schedule["timezone"])
    return [d.astimezone(ZoneInfo("UTC")) for d in asyncio.run(cron.get_dates(n, start))]


@pytest.mark.parametrize("config", [PRODUCTION, LOCAL], ids=["production", "local"])
def test_every_entrypoint_imports_to_a_flow(config: dict) -> None:
    for deployment in config["deployments"]:
        path, function = deployment["entrypoint"].split(":")
        module = importlib.import_module(path.removesuffix(".py").replace("/", "."))
        assert isinstance(getattr(module, function), Flow), deployment["entrypoint"]


def test_schedules_match_the_architecture() -> None:
    scheduled = {n: d for n, d in PROD.items() if d.get("schedules")}
    assert set(scheduled) == set(SCHEDULES)
    for name, (cron, timezone) in SCHEDULES.items():
        (schedule,) = scheduled[name]["schedules"]
        assert (schedule["cron"], schedule["timezone"]) == (cron, timezone), name


def test_schedules_fire_when_the_slo_needs_them() -> None:
    monday = dt.datetime(2026, 3, 2, tzinfo=ZoneInfo("UTC"))  # the week US clocks stay on EST
    daily = _fires(PROD["daily"], monday, 5)
    assert [(d.weekday(), d.hour, d.minute) for d in daily] == [(i, 22, 5) for i in range(5)]
    (friday,) = _fires(PROD["train"], monday, 1)
    assert (friday.weekday(), friday.hour, friday.minute) == (4, 22, 15)
    # The freshness check runs at 07:45 New York on the mornings after trading days, in winter
    # and in summer time alike: before the 08:00 deadline, after the evening run.
    for start in (monday, dt.datetime(2026, 7, 6, tzinfo=ZoneInfo("UTC"))):
        checks = [
            d.astimezone(ZoneInfo("America/New_York"))
            for d in _fires(PROD["freshness-check"], start, 5)
        ]
        assert [(d.weekday(), d.hour, d.minute) for d in checks] == [
            (i, 7, 45) for i in range(1, 6)
        ]


def test_production_deployments_name_an_image_a_role_and_fargate_resources() -> None:
    for name, deployment in PROD.items():
        assert deployment["work_pool"]["name"] == "volcast-ecs", name
        variables = deployment["work_pool"]["job_variables"]
        image = IMAGE.match(variables.get("image", ""))
        assert image and image["service"] in SERVICES, f"{name}: image {variables.get('image')}"
        role = ROLE.match(variables.get("task_role_arn", ""))
        assert role and role["family"] in TASK_ROLE_FAMILIES, f"{name}: task role"
        cpu, memory = variables.get("cpu"), variables.get("memory")
        assert memory in FARGATE_MEMORY.get(cpu, set()), f"{name}: {cpu} CPU / {memory} MiB"
        assert variables["launch_type"] in {"FARGATE", "FARGATE_SPOT"}, name


def test_production_job_variables_fit_the_ecs_base_job_template() -> None:
    from prefect_aws.workers.ecs_worker import ECSWorker

    schema = ECSWorker.get_default_base_job_template()["variables"]
    for name, deployment in PROD.items():
        rendered = _render(deployment["work_pool"]["job_variables"])
        errors = [e.message for e in jsonschema.Draft7Validator(schema).iter_errors(rendered)]
        assert not errors, f"{name}: {errors}"


def _render(value: Any) -> Any:
    """Fill prefect.yaml placeholders with values of the shape they resolve to at deploy time."""
    if isinstance(value, dict):
        return {k: _render(v) for k, v in value.items()}
    if isinstance(value, str):
        value = value.replace(
            "{{ $VOLCAST_ECR_REGISTRY }}", "123456789012.dkr.ecr.us-east-1.amazonaws.com"
        )
        value = value.replace("{{ $GITHUB_SHA }}", "0" * 40)
        return re.sub(
            r"\{\{ prefect\.variables\.(\w+) \}\}", r"arn:aws:iam::123456789012:role/\1", value
        )
    return value


def test_batch_runs_of_one_kind_never_overlap() -> None:
    for name, deployment in PROD.items():
        if name == "backfill-chunk":  # the fan-out itself: chunks of one phase run side by side
            assert "concurrency_limit" not in deployment
            continue
        assert deployment["concurrency_limit"] == {"limit": 1, "collision_strategy": "ENQUEUE"}, (
            name
        )


def test_local_variant_has_the_same_deployments_on_a_process_pool() -> None:
    assert set(LOC) == set(PROD)
    for name, local in LOC.items():
        production = PROD[name]
        for key in ("entrypoint", "schedules", "concurrency_limit", "tags"):
            assert local.get(key) == production.get(key), f"{name}: {key} differs"
        # Locally a backfill's chunks run as tasks of one process: no fan-out default.
        params = {
            k: v for k, v in production.get("parameters", {}).items() if k != "fan_out_deployment"
        }
        assert local.get("parameters", {}) == params, name
        assert local["work_pool"]["name"] == "volcast-local"
