"""End to end on a real Prefect server: deploy prefect.local.yaml to a process pool, trigger
`daily` through the API, let a real worker run it, and check the lake it leaves behind."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from uuid import UUID

import pandas as pd
import pytest

from core import contracts, steps
from core.config import Settings
from core.steps.chunks import plan_chunks
from core.steps.macro import SKIPPED as MACRO_SKIPPED
from tests.flows.conftest import BIN, REPO, MarketLake, PrefectServer, stop_group

pytestmark = pytest.mark.integration

RUN_TIMEOUT_S = 240
POOL = "volcast-local"
DAY_TABLES = (
    contracts.RAW_MARKET,
    contracts.CURATED_MARKET,
    contracts.FEATURES,
    contracts.PREDICTIONS,
)


def _prefect(server: PrefectServer, *args: str, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        [BIN / "prefect", *args],
        cwd=REPO,
        env={**os.environ, **server.env, **(env or {})},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, f"prefect {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def lake(market_lake: MarketLake, tmp_path_factory) -> Path:
    return market_lake.copy(tmp_path_factory.mktemp("e2e") / "lake")


@pytest.fixture(scope="module")
def deployed(prefect_server: PrefectServer, prefect_client_settings, lake: Path) -> PrefectServer:
    _prefect(prefect_server, "work-pool", "create", POOL, "--type", "process", "--overwrite")
    _prefect(
        prefect_server,
        "--no-prompt",
        "deploy",
        "--all",
        "--prefect-file",
        "prefect.local.yaml",
        env={"VOLCAST_LAKE_URI": str(lake)},  # as `make up` deploys: the lake is fixed here
    )
    return prefect_server


@pytest.fixture(scope="module")
def worker(
    deployed: PrefectServer, market_lake: MarketLake, lake: Path, tmp_path_factory
) -> Iterator[Path]:
    """A real process worker for the whole module; flow runs inherit its environment."""
    log_path = tmp_path_factory.mktemp("worker") / "worker.log"
    env = {
        **os.environ,
        **deployed.env,
        **market_lake.env(lake, market_lake.csv_dir),
        "VOLCAST_RETRY_BACKOFF_SECONDS": "4",
    }
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [BIN / "prefect", "worker", "start", "--pool", POOL, "--type", "process"],
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            yield log_path
        finally:
            stop_group(process)


def _trigger(day: str, csv_dir: Path) -> UUID:
    from prefect.deployments import run_deployment

    run = run_deployment("daily/daily", parameters={"day": day, "csv_dir": str(csv_dir)}, timeout=0)
    return run.id


def _wait_final(run_id: UUID, worker_log: Path, on_poll=None):
    from prefect.client.orchestration import get_client

    deadline = time.monotonic() + RUN_TIMEOUT_S
    with get_client(sync_client=True) as client:
        while time.monotonic() < deadline:
            run = client.read_flow_run(run_id)
            if run.state is not None and run.state.is_final():
                return run
            if on_poll is not None:
                on_poll(client)
            time.sleep(0.3)
    pytest.fail(
        f"flow run {run_id} not final after {RUN_TIMEOUT_S} s:\n{worker_log.read_text()[-4000:]}"
    )


def _failure_line(worker_log: Path, run_id: UUID, timeout_s: float = 30.0) -> dict:
    """The flow-run-failed EMF line of ``run_id`` in the worker's output (the hook runs right
    after the Failed state is set, so it may land a moment after the state is read)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for line in worker_log.read_text().splitlines():
            start = line.find('{"_aws"')
            if start >= 0 and str(run_id) in line:
                return json.loads(line[start:])
        time.sleep(0.3)
    pytest.fail(f"no flow-run-failed line for {run_id}:\n{worker_log.read_text()[-3000:]}")


def _task_runs(run_id: UUID) -> dict:
    """Task runs by task name ("ingest-7d8" -> "ingest")."""
    return {r.name.rsplit("-", 1)[0]: r for r in _all_task_runs(run_id)}


def _all_task_runs(run_id: UUID) -> list:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    with get_client(sync_client=True) as client:
        return client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[run_id]))
        )


def _state_names(task_run_id: UUID) -> list[str]:
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        states = client.read_task_run_states(task_run_id)
    return [s.name for s in sorted(states, key=lambda s: s.timestamp)]


def _ctx(lake: Path) -> steps.Context:
    return steps.Context.from_settings(Settings(lake_uri=str(lake)))


def test_daily_runs_on_a_worker_and_writes_the_day(
    market_lake: MarketLake, lake: Path, worker: Path, tmp_path: Path
) -> None:
    day = market_lake.next_days[0]
    csv_dir = tmp_path / "csv"
    market_lake.publish(csv_dir, day)
    run = _wait_final(_trigger(day, csv_dir), worker)
    assert run.state.is_completed(), run.state
    assert run.name == f"daily-{day}"
    ctx = _ctx(lake)
    for table in DAY_TABLES:
        rows = ctx.lake.read(table, day, day)  # every read passes the table's contract
        assert not rows.empty, f"{table} has no rows for {day}"
    prediction = ctx.lake.read(contracts.PREDICTIONS, day, day).iloc[0]
    assert prediction["model_version"] == steps.serving_version(ctx)
    names = {"ingest", "curate", "features", "labels", "infer", "macro"}  # macro: no key, skips
    assert set(_task_runs(run.id)) >= names
    # The run's log, read back through the Prefect API: one line per step from core's loggers.
    lines = _log_lines(run.id, expect=MACRO_SKIPPED)  # the chain's last line
    expected = [
        f"ingest {day}: raw.market 1 partition written, 0 unchanged; source csv",
        f"curate {day}: curated.market_daily 1 partition written, 0 unchanged",
        f"features {day}: features_daily 1 partition written, 0 unchanged",
        f"infer {day}: predictions_daily 1 partition written, 0 unchanged; "
        f"model {prediction['model_version']}",
        f"forecast as of {day}: {100 * prediction['rv_5d_hat']:.2f}% annualized vol "
        "over the next 5 sessions",
        MACRO_SKIPPED,
    ]
    for text in expected:
        assert any(text in line for line in lines), f"{text!r} not in the run's log:\n{lines}"
    assert any(
        line.startswith("labels ") and "labels_daily 1 partition written" in line for line in lines
    )


def _log_lines(run_id: UUID, expect: str, timeout_s: float = 30) -> list[str]:
    """The flow run's log messages as the UI shows them (the API), waiting for ``expect``:
    the run's process sends its last lines as it exits."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId

    deadline = time.monotonic() + timeout_s
    with get_client(sync_client=True) as client:
        while True:
            logs = client.read_logs(
                log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run_id]))
            )
            lines = [log.message for log in logs]
            if any(expect in line for line in lines) or time.monotonic() > deadline:
                return lines
            time.sleep(0.5)


def test_deployments_describe_their_parameters_schedules_and_lake(deployed, lake: Path) -> None:
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        daily = client.read_deployment_by_name("daily/daily")
        freshness = client.read_deployment_by_name("freshness-check/freshness-check")
        train = client.read_deployment_by_name("train/train")
    properties = daily.parameter_openapi_schema["properties"]
    for name in ("day", "source", "csv_dir"):
        assert properties[name].get("description"), f"daily parameter {name} has no description"

    def described(schema: dict, name: str) -> str:  # docstring lines joined as the UI wraps them
        return " ".join(schema["properties"][name]["description"].split())

    assert "null = the latest closed session" in described(daily.parameter_openapi_schema, "day")
    assert {"type": "string", "format": "date"} in properties["day"]["anyOf"]
    assert "synthetic | csv | yahoo" in described(daily.parameter_openapi_schema, "source")
    assert "null = the newest day with features" in described(
        train.parameter_openapi_schema, "asof"
    )
    # each schedule says its time zone; the SLO check keeps New York time
    assert [s.slug for s in daily.schedules] == ["mon-fri-22-05-utc"]
    assert daily.schedules[0].schedule.timezone == "UTC" and "22:05 UTC" in daily.description
    assert [s.slug for s in freshness.schedules] == ["tue-sat-07-45-new-york"]
    assert freshness.schedules[0].schedule.timezone == "America/New_York"
    assert "07:45 America/New_York" in freshness.description
    # and which lake their runs write, the lake fixed in their job variables
    for deployment in (daily, freshness, train):
        assert f"Lake: {lake}." in deployment.description
        assert deployment.job_variables["env"]["VOLCAST_LAKE_URI"] == str(lake)


def test_late_source_is_retried_and_the_run_completes(
    market_lake: MarketLake, lake: Path, worker: Path, tmp_path: Path
) -> None:
    day = market_lake.next_days[1]
    csv_dir = tmp_path / "csv"
    market_lake.publish(csv_dir, market_lake.next_days[0])  # the vendor has not published `day`
    run_id = _trigger(day, csv_dir)
    published = []

    def publish_once_a_retry_is_waiting(client) -> None:
        ingest = _task_runs(run_id).get("ingest")
        if not published and ingest is not None and ingest.state_name == "AwaitingRetry":
            market_lake.publish(csv_dir, day)
            published.append(True)

    run = _wait_final(run_id, worker, on_poll=publish_once_a_retry_is_waiting)
    assert published, "the ingest task never waited for a retry"
    assert run.state.is_completed(), run.state
    ingest = _task_runs(run_id)["ingest"]
    history = _state_names(ingest.id)
    assert "AwaitingRetry" in history and "Retrying" in history, history
    assert history[-1] == "Completed" and ingest.run_count >= 2
    assert not _ctx(lake).lake.read(contracts.PREDICTIONS, day, day).empty


def test_contract_violation_fails_at_once_and_writes_nothing(
    market_lake: MarketLake, lake: Path, worker: Path, tmp_path: Path
) -> None:
    day = market_lake.next_days[2]
    csv_dir = tmp_path / "csv"
    market_lake.publish(csv_dir, day)
    spy = pd.read_csv(csv_dir / "SPY.csv")
    spy.loc[spy["Date"] == day, "Close"] = -1.0  # a negative price: the raw contract refuses it
    spy.to_csv(csv_dir / "SPY.csv", index=False)

    run = _wait_final(_trigger(day, csv_dir), worker)
    assert run.state.is_failed(), run.state
    # The failure reaches the alarm path too: the run's own EMF line (flows/alerting.py), in
    # the output the worker collects from it (a container's log stream in AWS).
    record = _failure_line(worker, run.id)
    assert record["FlowRunsFailed"] == 1 and record["flow"] == "daily"
    assert record["state"] == "Failed" and record["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [
        ["Service"]
    ]
    task_runs = _task_runs(run.id)
    ingest = task_runs["ingest"]
    assert ingest.state_name == "Failed" and ingest.run_count == 1  # no retry on bad data
    assert "violates its contract" in (ingest.state.message or "")
    assert set(task_runs) == {"ingest"}  # nothing after it ran
    ctx = _ctx(lake)
    for table in DAY_TABLES:
        assert ctx.lake.partitions(table, day, day) == [], f"{table} was written for {day}"


def test_backfill_fans_out_chunks_as_flow_runs_and_resumes(
    market_lake: MarketLake, lake: Path, worker: Path
) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterParentTaskRunId
    from prefect.deployments import run_deployment

    window = {"start": "2022-04-01", "end": "2022-06-30", "sessions_per_chunk": 32}
    chunks = len(plan_chunks(window["start"], window["end"], window["sessions_per_chunk"]))
    params = {**window, "fan_out_deployment": "backfill-chunk/backfill-chunk"}

    def chunk_runs(parent_id: UUID) -> list:
        launches = [t.id for t in _all_task_runs(parent_id)]
        if not launches:
            return []
        flow_runs = FlowRunFilter(parent_task_run_id=FlowRunFilterParentTaskRunId(any_=launches))
        with get_client(sync_client=True) as client:
            return client.read_flow_runs(flow_run_filter=flow_runs)

    first = _wait_final(
        run_deployment("backfill/backfill", parameters=params, timeout=0).id, worker
    )
    assert first.state.is_completed(), first.state
    runs = chunk_runs(first.id)
    assert chunks > 1 and len(runs) == 3 * chunks  # one flow run per chunk and phase
    assert {r.name.split("-")[1] for r in runs} == {"ingest", "curate", "derive"}
    assert all(r.state.is_completed() for r in runs)
    # Every chunk left its marker: a second run starts no chunk at all.
    again = _wait_final(
        run_deployment("backfill/backfill", parameters=params, timeout=0).id, worker
    )
    assert again.state.is_completed(), again.state
    assert chunk_runs(again.id) == []
