"""Flows run in this process against the real Prefect server: what they publish in the UI,
the early exit on holidays, the freshness figure, and a resumable backfill."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core import contracts, steps
from core.config import Settings
from tests.flows.conftest import MarketLake

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
    lines = [json.loads(x) for x in capfd.readouterr().out.splitlines() if '"_aws"' in x]
    [record] = [x for x in lines if "PredictionsStaleSessions" in x]
    assert record["Service"] == "pipeline" and record["PredictionsStaleSessions"] > 0
    # The failed run also reports itself, for the flow-run-failed alarm.
    [failure] = [x for x in lines if x.get("log") == "flow-run-failed"]
    assert failure["FlowRunsFailed"] == 1 and failure["flow"] == "freshness-check"
    assert failure["state"] == "Failed" and "lags" in failure["message"]


def test_every_flow_reports_failures_and_crashes() -> None:
    """Each flow of each deployment module carries the hooks that feed FlowRunsFailed."""
    import importlib

    from prefect import Flow

    from flows.alerting import report_failure

    flows = [
        value
        for module in ("flows.daily", "flows.training", "flows.backfill", "flows.monitoring")
        for value in vars(importlib.import_module(module)).values()
        if isinstance(value, Flow)
    ]
    assert len(flows) >= 10, [f.name for f in flows]
    for flow in flows:
        assert report_failure in flow.on_failure_hooks, f"{flow.name} does not report failures"
        assert report_failure in flow.on_crashed_hooks, f"{flow.name} does not report crashes"


def test_a_crashed_flow_run_reports_itself(capfd) -> None:
    """A run cut short (here by an interrupt: Prefect's Crashed state) prints the line too."""
    from prefect import flow

    from flows.alerting import ALERT_HOOKS

    @flow(name="crash-probe", on_failure=ALERT_HOOKS, on_crashed=ALERT_HOOKS)
    def crash_probe() -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        crash_probe()
    lines = [json.loads(x) for x in capfd.readouterr().out.splitlines() if '"_aws"' in x]
    [failure] = [x for x in lines if x.get("flow") == "crash-probe"]
    assert failure["state"] == "Crashed" and failure["FlowRunsFailed"] == 1


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
