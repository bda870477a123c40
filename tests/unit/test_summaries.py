"""Step summaries: typed attributes, and to_dict() in the JSON shape the CLI has always printed."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from core.lake import WriteOutcome, WriteReport
from core.steps.jobs import NO_MODEL_YET
from core.steps.summaries import InferSummary, IngestSummary, StepSummary, as_dicts, span


def _report(table: str, written: int, unchanged: int = 0) -> WriteReport:
    report = WriteReport(table)
    for i in range(written):
        report.add(WriteOutcome.WRITTEN, pd.Timestamp("2024-03-01") + pd.Timedelta(days=i))
    for i in range(unchanged):
        report.add(WriteOutcome.UNCHANGED, pd.Timestamp("2024-02-01") + pd.Timedelta(days=i))
    return report


def test_ingest_summary_keeps_the_cli_json_shape() -> None:
    days = pd.DatetimeIndex(["2024-03-01", "2024-03-04"])
    summary = IngestSummary(
        "ingest",
        **span(days),
        writes=(_report("raw.market", 2),),
        source="csv",
        synthetic_data=False,
        series_start={"VIX3M": "2024-03-04"},
    )
    assert summary.to_dict() == {
        "step": "ingest",
        "start": "2024-03-01",
        "end": "2024-03-04",
        "raw.market": {"written": 2, "unchanged": 0, "conflict": 0},
        "source": "csv",
        "synthetic_data": False,
        "series_start": {"VIX3M": "2024-03-04"},
    }
    assert list(summary.to_dict()) == list(summary)  # the JSON's key order, as it was printed
    assert "accepted_bars" not in summary  # present only when a recorded acceptance was used
    flagged = IngestSummary("ingest", "2024-03-01", "2024-03-01", accepted_bars=[{"symbol": "HYG"}])
    assert flagged["accepted_bars"] == [{"symbol": "HYG"}]


def test_a_summary_reads_like_its_json_and_dumps_through_to_dict() -> None:
    summary = StepSummary("labels", "2024-02-23", "2024-02-26", (_report("labels_daily", 0, 2),))
    assert summary["labels_daily"] == {"written": 0, "unchanged": 2, "conflict": 0}
    assert summary == summary.to_dict() and summary != {**summary.to_dict(), "step": "features"}
    with pytest.raises(TypeError):  # not a dict: JSON goes through to_dict / as_dicts
        json.dumps(summary)
    assert json.loads(json.dumps(as_dicts([summary, NO_MODEL_YET]))) == [
        summary.to_dict(),
        {"step": "infer", "skipped": "no model serves yet"},
    ]


def test_infer_summary_says_drift_always_and_the_mirror_only_when_there_is_one() -> None:
    plain = InferSummary("infer", "2024-03-01", "2024-03-01", model_version="v1")
    assert plain.to_dict()["drift"] is None and "dynamodb_items_written" not in plain
    mirrored = InferSummary("infer", "2024-03-01", "2024-03-01", dynamodb_items_written=0)
    assert mirrored["dynamodb_items_written"] == 0  # zero items is said, not dropped
