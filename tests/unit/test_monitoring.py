"""Prediction freshness and its CloudWatch EMF record."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from core import contracts, steps
from core.calendar import trading_days
from core.config import Settings
from core.monitoring import emf_record, freshness_metric
from core.steps import prediction_freshness

# 07:45 New York on Wednesday 2024-07-03 (11:45 UTC): the latest closed session is 07-02.
MORNING = pd.Timestamp("2024-07-03 11:45", tz="UTC")


def _lake_with_predictions(root: Path, days: list[str]) -> steps.Context:
    ctx = steps.Context.from_settings(Settings(lake_uri=str(root)))
    rows = pd.DataFrame(
        {
            "date": pd.to_datetime(days),
            "rv_5d_hat": 0.15,
            "top_drivers": [[{"feature": "vix", "value": 13.0, "shap": 0.1}]] * len(days),
            "model_version": "v1",
            "regime": None,
            "regime_prob": None,
        }
    )
    ctx.lake.write_partitions(contracts.PREDICTIONS, rows)
    return ctx


def test_fresh_when_the_latest_session_has_its_forecast(tmp_path: Path) -> None:
    ctx = _lake_with_predictions(tmp_path, ["2024-07-01", "2024-07-02"])
    figures = prediction_freshness(ctx, MORNING)
    assert figures == {
        "latest_trading_day": "2024-07-02",
        "newest_prediction": "2024-07-02",
        "stale_sessions": 0,
        "fresh": True,
    }


def test_stale_counts_sessions_not_calendar_days(tmp_path: Path) -> None:
    # Newest forecast Friday 06-28; Monday 07-01 and Tuesday 07-02 have none: 2 sessions.
    ctx = _lake_with_predictions(tmp_path, ["2024-06-28"])
    figures = prediction_freshness(ctx, MORNING)
    assert figures["stale_sessions"] == 2 and not figures["fresh"]
    # The holiday 07-04 is not a missed session: Friday morning 07-05 lags only 07-03.
    friday = prediction_freshness(
        _lake_with_predictions(tmp_path / "b", ["2024-07-02"]),
        pd.Timestamp("2024-07-05 11:45", tz="UTC"),
    )
    assert friday["stale_sessions"] == 1


def test_empty_lake_is_as_stale_as_history(tmp_path: Path) -> None:
    ctx = steps.Context.from_settings(Settings(lake_uri=str(tmp_path), history_start="2024-06-03"))
    figures = prediction_freshness(ctx, MORNING)
    assert figures["newest_prediction"] is None
    assert figures["stale_sessions"] == len(trading_days("2024-06-03", "2024-07-02"))


def test_emf_record_is_what_cloudwatch_expects() -> None:
    record = emf_record(
        {"Service": "api", "Route": "/predict"},
        {"Latency": (12.5, "Milliseconds"), "Requests": (1.0, "Count")},
        timestamp_ms=1_700_000_000_000,
    )
    directive = record["_aws"]["CloudWatchMetrics"][0]
    assert record["_aws"]["Timestamp"] == 1_700_000_000_000
    assert directive["Namespace"] == "Volcast"
    assert directive["Dimensions"] == [["Service", "Route"]]
    assert directive["Metrics"] == [
        {"Name": "Latency", "Unit": "Milliseconds"},
        {"Name": "Requests", "Unit": "Count"},
    ]
    # Every dimension and metric named in the directive is a top-level member.
    assert (record["Service"], record["Route"], record["Latency"]) == ("api", "/predict", 12.5)
    json.dumps(record, allow_nan=False)  # a NaN would make CloudWatch drop the line


def test_freshness_metric_carries_the_lag() -> None:
    record = freshness_metric({"stale_sessions": 3})
    assert record["PredictionsStaleSessions"] == 3.0
    assert record["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["Service"]]
