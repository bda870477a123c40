"""End to end on a real Prefect server: deploy prefect.local.yaml to a process pool, trigger
`daily` through the API, let a real worker run it, and check the lake it leaves behind."""

from __future__ import annotations

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


def _prefect(server: PrefectServer, *args: str) -> str:
    done = subprocess.run(
        [BIN / "prefect", *args],
        cwd=REPO,
        env={**os.environ, **server.env},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, f"prefect {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def deployed(prefect_server: PrefectServer, prefect_client_settings) -> PrefectServer:
    _prefect(prefect_server, "work-pool", "create", POOL, "--type", "process", "--overwrite")
    _prefect(
        prefect_server, "--no-prompt", "deploy", "--all", "--prefect-file", "prefect.local.yaml"
    )
    return prefect_server


@pytest.fixture(scope="module")
def lake(market_lake: MarketLake, tmp_path_factory) -> Path:
    return market_lake.copy(tmp_path_factory.mktemp("e2e") / "lake")


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
