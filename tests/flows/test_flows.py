"""Flows run in this process against the real Prefect server: what they publish in the UI,
the early exit on holidays, the freshness figure, and a resumable backfill."""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from core import contracts, steps
from core.config import Settings
from core.features import FEATURE_DESCRIPTIONS
from core.steps.reports import (
    CHART_FILES,
    ForecastReport,
    chart_links,
    driver_line,
    forecast_horizon,
    forecast_report,
)
from tests.conftest import create_kms_bucket
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


def _task_runs(state):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    runs = FlowRunFilter(id=FlowRunFilterId(any_=[state.state_details.flow_run_id]))
    with get_client(sync_client=True) as client:
        return client.read_task_runs(flow_run_filter=runs)


def _run_of(state):
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        return client.read_flow_run(state.state_details.flow_run_id)


def test_train_runs_say_refused_or_unchanged_with_the_reason(lake_env: Path, monkeypatch) -> None:
    from flows.training import train

    monkeypatch.setenv("VOLCAST_GATE_MIN_IMPROVEMENT", "0.9")  # a bar no challenger reaches
    run = _run_of(train(asof="2022-06-15", return_state=True))
    assert run.name == "train-2022-06-15" and run.state.is_completed()
    assert run.state.name == "Refused", run.state
    assert run.state.message.startswith("challenger refused: ")
    assert "below the 90.0% bar" in run.state.message and "HAR-X(VIX) baseline" in run.state.message
    gate = _artifact("train-gate").data
    assert gate.startswith("# Training as of 2022-06-15: REFUSED")  # the run's day: one day
    assert f"- verdict: {run.state.message}" in gate
    assert "worse than HAR-X" in gate or "better than HAR-X" in gate
    assert "production: unchanged" in gate  # the champion is as of 2022-06-30: no refit
    assert "SYNTHETIC" not in gate  # a CSV lake: its marker says market data

    # The same data and code again: nothing registered, and the run says so.
    again = _run_of(train(asof="2022-06-15", return_state=True))
    assert again.state.name == "Unchanged", again.state
    assert "nothing new registered" in again.state.message
    gate = _artifact("train-gate").data
    assert "production: unchanged" in gate and "reused: identical to an earlier run" in gate

    # Without asof: trained as of the newest feature day, named after the run's own day.
    latest = _run_of(train(return_state=True))
    run_day = latest.name.removeprefix("train-")
    assert run_day != "2022-06-30"
    assert _artifact("train-gate").data.startswith(f"# Training as of 2022-06-30 (run {run_day})")

    rows = {row["key"]: row for row in json.loads(_artifact("train-models").data)}
    assert {"catboost", "harx_vix", "production"} <= set(rows)
    assert rows["catboost"]["role"] == "candidate" and rows["production"]["role"] == "champion"
    assert rows["harx_vix"]["role"] == "reference, champion"  # the baseline serves
    assert rows["catboost"]["model"] == "CatBoost challenger"
    assert all(isinstance(row["QLIKE"], float) for row in rows.values())  # numbers, not text
    cat, ref = rows["catboost"], rows["harx_vix"]
    assert ref["QLIKE % vs HAR-X"] == 0.0
    assert cat["QLIKE % vs HAR-X"] == pytest.approx(
        100 * (1 - cat["QLIKE"] / ref["QLIKE"]), abs=0.01
    )


def test_infer_publishes_the_forecast_in_context(lake_env: Path) -> None:
    from flows.daily import infer

    infer(day="2022-06-29")
    run = _run_of(infer(day="2022-06-30", return_state=True))
    ctx = steps.Context.from_settings(Settings())
    report = forecast_report(ctx, "2022-06-30")
    shown = _artifact("forecast").data
    assert run.name == "infer-2022-06-30"
    assert shown.startswith("# Forecast as of 2022-06-30\n")  # the run's day is the same
    assert "SYNTHETIC" not in shown and "- data: csv" in shown
    assert f"**{100 * report.rv_5d_hat:.2f}% annualized**" in shown
    # t+1..t+5 as dates: 2022-07-04 is a holiday, so the week ends on 2022-07-08
    assert "sessions covered: 2022-07-01, 2022-07-05, 2022-07-06, 2022-07-07, 2022-07-08" in shown
    previous = steps.latest_forecast(ctx, "2022-06-29")["rv_5d_hat"]
    change = 100 * (report.rv_5d_hat - previous)
    assert f"previous forecast (as of 2022-06-29): {100 * previous:.2f}%, change {change:+.2f}" in (
        shown
    )
    row = ctx.lake.read(contracts.FEATURES, "2022-06-30", "2022-06-30").iloc[0]
    assert f"realized vol, last 22 sessions: {100 * row['rv_cc_22d']:.2f}%" in shown
    assert f"VIX: {100 * row['vix']:.2f}%" in shown
    for driver in report.drivers:
        line = (
            f"| {driver.feature} | {FEATURE_DESCRIPTIONS[driver.feature]} | {driver.value_text} |"
        )
        assert line in shown and driver.sentence in shown
    assert "pushes the forecast" in shown and "SHAP" not in shown
    assert "**HAR-X(VIX) baseline**" in shown and "kind `harx_vix`, serves now" in shown
    assert "first champion" in shown  # how it got there: the pointer's reason


def test_a_forecast_of_synthetic_data_says_so_and_both_days() -> None:
    from prefect import flow

    from flows import artifacts

    report = ForecastReport(
        as_of="2022-06-30",
        rv_5d_hat=0.1238,
        horizon=forecast_horizon("2022-06-30"),
        previous_as_of=None,
        previous_rv_5d_hat=None,
        realized_vol_22d=None,
        vix=None,
        drivers=(driver_line({"feature": "vix", "value": 0.2131, "shap": 0.12}),),
        model_version="V1",
        model_kind="harx_vix",
        model_label="HAR-X(VIX) baseline",
        how_it_serves="first champion",
        serving_now=True,
        data_source="synthetic",
        synthetic=True,
        rv_5d_lo=0.0915,
        rv_5d_hi=0.1711,
        drift={
            "start": "2022-06-02",
            "end": "2022-06-30",
            "sessions": 20,
            "max_psi": 2.4,
            "max_psi_feature": "rv_cc_22d",
            "max_excess_psi": 0.41,
            "max_excess_feature": "vix",
            "threshold": 0.25,
            "drifting": True,
            "top": [{"feature": "vix", "psi": 1.9, "null_psi": 1.49, "excess": 0.41}],
        },
    )

    @flow(name="publish-forecast-test")
    def publish() -> None:
        artifacts.publish_forecast(report, run_day="2022-07-01")

    publish()
    shown = _artifact("forecast").data
    assert shown.startswith("# Forecast as of 2022-06-30 (run 2022-07-01) (SYNTHETIC DATA)")
    assert "**SYNTHETIC DATA**: simulated prices" in shown
    assert "**12.38% annualized** (one standard deviation of the 5-session move: about 1.74%)" in (
        shown
    )
    assert "previous forecast: none stored" in shown
    row = "| vix | VIX close / 100 (30-day implied vol) | 21.31% | pushes the forecast up by 6.2% |"
    assert row in shown
    assert "- 80% band: **9.15% to 17.11%**" in shown
    assert "**DRIFTING** (max excess PSI 0.410 on vix, alarm above 0.25" in shown
    assert "| vix | 1.900 | 1.490 | 0.410 |" in shown


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


def _publish_evaluation(ctx: steps.Context, out: Path, synthetic: bool) -> None:
    from prefect import flow

    from flows import artifacts

    name = "2026-07-22-refit21"
    stored = steps.store_evaluation(ctx, out, name)
    links = chart_links(ctx, name)

    @flow(name="publish-evaluation-test")
    def publish() -> None:
        report = {
            "start": "2012-01-03",
            "end": "2026-07-22",
            "improvement_pct": {"qlike": 3.8981, "rmse_variance": -1.25},
            "data": {"synthetic": synthetic},
        }
        artifacts.publish_evaluation(report, stored, links)

    publish()


def _chart_files(out: Path) -> Path:
    out.mkdir()
    for i, name in enumerate(steps.EVALUATION_FILES):
        (out / name).write_bytes(f"{name}-{i}".encode())
    return out


def test_evaluation_charts_show_inline_from_a_local_lake(tmp_path: Path) -> None:
    out = _chart_files(tmp_path / "out")
    ctx = steps.Context.from_settings(Settings(lake_uri=str(tmp_path / "lake")))
    _publish_evaluation(ctx, out, synthetic=True)
    shown = _artifact("evaluation").data
    assert shown.startswith("# Walk-forward evaluation 2012-01-03..2026-07-22 (SYNTHETIC DATA)")
    assert "- QLIKE: the challenger is 3.90% better than HAR-X(VIX)" in shown
    assert "- RMSE(var): the challenger is 1.25% worse than HAR-X(VIX)" in shown
    for file in CHART_FILES:  # the image itself, embedded: shown with the summary, no click
        embedded = re.search(rf"!\[{re.escape(file)}\]\(data:image/png;base64,([^)]+)\)", shown)
        assert embedded, file
        assert base64.b64decode(embedded[1]) == (out / file).read_bytes()
    key = "artifacts/evaluation/2026-07-22-refit21/evaluation.json"
    assert f"`{(tmp_path / 'lake' / key).as_uri()}`" in shown  # where it is stored
    assert ctx.lake.get_bytes(key) == (out / "evaluation.json").read_bytes()


def test_evaluation_charts_on_s3_are_presigned_https_links(tmp_path: Path, moto_endpoint) -> None:
    bucket, _ = create_kms_bucket(moto_endpoint)
    out = _chart_files(tmp_path / "out")
    settings = Settings(
        lake_uri=f"s3://{bucket}/lake", aws_endpoint_url=moto_endpoint, link_expiry_seconds=3600
    )
    ctx = steps.Context.from_settings(settings)
    before = dt.datetime.now(dt.UTC)
    _publish_evaluation(ctx, out, synthetic=False)
    link = _artifact("evaluation-forecasts-png")
    url = re.search(r"\((http[^)]+)\)", link.data)[1]
    assert "X-Amz-Expires=3600" in url and "X-Amz-Signature=" in url
    with urllib.request.urlopen(url, timeout=10) as answer:  # one click: a plain GET opens it
        assert answer.read() == (out / "forecasts.png").read_bytes()
    assert "link valid until" in link.data
    image = _artifact("evaluation-forecasts-png-image")
    assert image.data.startswith(moto_endpoint) and image.type == "image"
    shown = _artifact("evaluation").data
    assert "SYNTHETIC" not in shown
    until = re.search(r"valid until (\d{4}-\d\d-\d\d \d\d:\d\d) UTC", shown)[1]
    expires = dt.datetime.strptime(until, "%Y-%m-%d %H:%M").replace(tzinfo=dt.UTC)
    assert dt.timedelta(minutes=58) < expires - before <= dt.timedelta(hours=1)
    assert f"`s3://{bucket}/lake/artifacts/evaluation/2026-07-22-refit21/evaluation.json`" in shown


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
    state = daily(day=day, csv_dir=str(tmp_path / "csv"), return_state=True)
    summaries = state.result()
    assert [s["step"] for s in summaries][-2:] == ["infer", "macro"]
    assert summaries[-1]["new_vintages"] > 0
    # core.steps.daily composes the chain; each step ran as this flow's task, in order, and the
    # forecast artifact was published before the macro task started
    runs = sorted(_task_runs(state), key=lambda r: r.start_time)
    names = [r.name.rsplit("-", 1)[0] for r in runs]
    assert names == [
        "ingest", "curate", "features", "labels", "serving-version", "infer", "forecast", "macro"
    ]  # fmt: skip
    forecast = _artifact("forecast")
    assert forecast.flow_run_id == state.state_details.flow_run_id
    assert forecast.created < runs[-1].start_time
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
