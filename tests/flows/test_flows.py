"""Flows run in this process against the real Prefect server: what they publish in the UI,
the early exit on holidays, the freshness figure, and a resumable backfill."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from core import contracts, steps
from core.config import Settings
from tests.flows.conftest import MarketLake
from tests.fred_server import API_KEY, FakeFred, Fault, vintage_history

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("prefect_client_settings")]


@pytest.fixture
def lake_env(market_lake: MarketLake, tmp_path: Path, monkeypatch) -> Path:
    """A private copy of the prepared lake, selected the way a worker would: by environment."""
    lake = market_lake.copy(tmp_path / "lake")
    for key, value in market_lake.env(lake, market_lake.csv_dir).items():
        monkeypatch.setenv(key, value)
    return lake


def _artifact(key: str):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    with get_client(sync_client=True) as client:
        found = client.read_latest_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key]))
        )
    assert found, f"no artifact {key!r} on the server"
    return found[0]


def test_daily_on_a_holiday_exits_early_and_says_so(lake_env: Path) -> None:
    from flows.daily import daily

    state = daily(day="2022-07-04", return_state=True)  # Independence Day
    assert state.is_completed()
    assert "not an XNYS trading day" in state.message
    ctx = steps.Context.from_settings(Settings())
    assert ctx.lake.partitions(contracts.RAW_MARKET, "2022-07-04", "2022-07-04") == []


def test_train_publishes_the_gate_decision_with_figures(lake_env: Path) -> None:
    from flows.training import train

    summary = train()
    gate = _artifact("train-gate")
    assert f"`{summary['version']}`" in gate.data
    assert summary["gate"]["reason"] in gate.data
    table = _artifact("train-models")
    models = {row["model"] for row in json.loads(table.data)}
    assert models == set(summary["models"]) and {"catboost", "harx_vix"} <= models


def test_infer_publishes_the_forecast_and_drivers(lake_env: Path) -> None:
    from flows.daily import infer

    infer(day="2022-06-30")
    forecast = steps.latest_forecast(steps.Context.from_settings(Settings()), "2022-06-30")
    shown = _artifact("forecast").data
    assert f"{100 * forecast['rv_5d_hat']:.2f}%" in shown
    assert all(d["feature"] in shown for d in forecast["top_drivers"])


def test_freshness_check_emits_the_metric_and_fails_when_stale(lake_env: Path, capfd) -> None:
    from flows.monitoring import PredictionsStale, freshness_check

    # The prepared lake has no predictions at all: as stale as it gets.
    with pytest.raises(PredictionsStale, match="lags"):
        freshness_check()
    lines = [line for line in capfd.readouterr().out.splitlines() if '"_aws"' in line]
    record = json.loads(lines[-1])
    assert record["Service"] == "pipeline" and record["PredictionsStaleSessions"] > 0


def test_backfill_flow_resumes_and_matches_the_plain_backfill(tmp_path: Path, monkeypatch) -> None:
    from flows.backfill import backfill

    monkeypatch.setenv("VOLCAST_LAKE_URI", str(tmp_path / "flow"))
    window = {"start": "2021-01-04", "end": "2021-09-30"}
    first = backfill(**window, sessions_per_chunk=60)
    assert first["ingest"]["ran"] == first["ingest"]["chunks"] > 1
    again = backfill(**window, sessions_per_chunk=60)
    assert all(again[p]["ran"] == 0 for p in ("ingest", "curate", "derive"))

    plain = steps.Context.from_settings(Settings(lake_uri=str(tmp_path / "plain")))
    steps.backfill(plain, window["start"], window["end"], progress=False)
    flowed = steps.Context.from_settings(Settings())
    for table in (contracts.RAW_MARKET, contracts.CURATED_MARKET, contracts.FEATURES):
        assert flowed.lake.read(table).equals(plain.lake.read(table)), table


def test_evaluation_charts_are_stored_in_the_lake_and_linked(tmp_path: Path) -> None:
    from prefect import flow

    from flows import artifacts

    out = tmp_path / "out"
    out.mkdir()
    for i, name in enumerate(steps.EVALUATION_FILES):
        (out / name).write_bytes(f"{name}-{i}".encode())
    ctx = steps.Context.from_settings(Settings(lake_uri=str(tmp_path / "lake")))
    stored = steps.store_evaluation(ctx, out, "2026-07-22-refit21")

    @flow(name="publish-evaluation-test")
    def publish() -> None:
        report = {"start": "2012-01-03", "end": "2026-07-22", "improvement_pct": {"qlike": 3.3}}
        artifacts.publish_evaluation(report, stored)

    publish()
    link = _artifact("evaluation-forecasts-png")
    key = "artifacts/evaluation/2026-07-22-refit21/forecasts.png"
    assert f"({(tmp_path / 'lake' / key).as_uri()})" in link.data  # a clickable file:// link
    assert ctx.lake.get_bytes(key) == (out / "forecasts.png").read_bytes()
    assert "qlike: 3.3%" in _artifact("evaluation").data


# ---------------------------------------------------------------------------------------------
# Macro from FRED (a loopback server that answers like FRED).
# ---------------------------------------------------------------------------------------------
@pytest.fixture
def fred(monkeypatch) -> Iterator[FakeFred]:
    fake = FakeFred(vintage_history("2022-05-02", "2022-07-29"), pd.Timestamp("2022-07-05"))
    with fake.serve() as url:
        monkeypatch.setenv("VOLCAST_FRED_API_KEY", API_KEY)
        monkeypatch.setenv("VOLCAST_FRED_API_URL", url)
        yield fake


def test_daily_ends_with_the_macro_task(
    lake_env: Path, market_lake: MarketLake, fred: FakeFred, tmp_path: Path
) -> None:
    from flows.daily import daily

    day = market_lake.next_days[0]
    market_lake.publish(tmp_path / "csv", day)
    summaries = daily(day=day, csv_dir=str(tmp_path / "csv"))
    assert [s["step"] for s in summaries][-2:] == ["infer", "macro"]
    assert summaries[-1]["new_vintages"] > 0
    ctx = steps.Context.from_settings(Settings())
    assert ctx.lake.read(contracts.CURATED_MACRO, day, day).notna().all(axis=None)
    assert not ctx.lake.read(contracts.PREDICTIONS, day, day).empty


def test_ingest_flow_with_source_fred_backfills_the_macro_tables(
    fred: FakeFred, tmp_path: Path, monkeypatch
) -> None:
    from flows.daily import ingest

    monkeypatch.setenv("VOLCAST_LAKE_URI", str(tmp_path / "lake"))
    summary = ingest(start=dt.date(2022, 6, 1), end=dt.date(2022, 7, 1), source="fred")
    assert summary["step"] == "macro" and summary["end"] == "2022-07-01"
    ctx = steps.Context.from_settings(Settings())
    assert len(ctx.lake.partitions(contracts.CURATED_MACRO)) == 22
    assert ctx.lake.partitions(contracts.RAW_MARKET) == []  # macro only: no market bars


def test_the_macro_task_retries_a_fred_outage_but_not_a_bad_key(
    fred: FakeFred, tmp_path: Path, monkeypatch
) -> None:
    from prefect import flow

    from flows import tasks

    monkeypatch.setenv("VOLCAST_LAKE_URI", str(tmp_path / "lake"))
    quick = tasks.macro.with_options(retry_delay_seconds=0)
    assert quick.retry_condition_fn is tasks.RETRY["retry_condition_fn"]

    @flow(name="macro-retry-test")
    def one_macro_step() -> tuple[str, str]:
        ctx = steps.Context.from_settings(Settings())
        state = quick(ctx, dt.date(2022, 7, 1), dt.date(2022, 7, 1), return_state=True)
        return state.name, str(state.state_details.task_run_id)

    # FRED answers 503 to every attempt of the source's first try: the task must retry.
    fred.fail_next(*[Fault(503, retry_after="0")] * 5)
    final, task_run = one_macro_step()
    assert final == "Completed"
    history = _task_run_states(task_run, final)
    assert history.count("Running") + history.count("Retrying") == 2, history
    assert "Retrying" in history and history[-1] == "Completed", history
    # A rejected key fails the same way every time: no retry.
    monkeypatch.setenv("VOLCAST_FRED_API_KEY", "zyxwvutsrqponmlkjihgfedcba654321")
    final, task_run = one_macro_step()
    history = _task_run_states(task_run, final)
    assert final == "Failed" and "Retrying" not in history, history


def _task_run_states(task_run_id: str, final: str, timeout_s: float = 20) -> list[str]:
    """A task run's state names, oldest first, once the server has recorded ``final``."""
    import time

    from prefect.client.orchestration import get_client

    deadline = time.monotonic() + timeout_s
    with get_client(sync_client=True) as client:
        while True:
            history = client.read_task_run_states(task_run_id)
            names = [s.name for s in sorted(history, key=lambda s: s.timestamp)]
            if (names and names[-1] == final) or time.monotonic() > deadline:
                return names
            time.sleep(0.2)
