"""The model lifecycle through core.steps on a real local lake: train, gate, promote with an
override, infer, pin, rollback, and the daily run ending with predictions."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from core import contracts, steps
from core.config import Settings
from core.models.registry import GateRefused

START, END = "2019-01-02", "2022-12-30"
SMALL_GATE = {"gate_window_sessions": 60, "gate_refit_every": 30, "canary_days": 10}


@pytest.fixture(scope="module")
def built_lake(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("lake") / "lake"
    ctx = steps.Context.from_settings(Settings(lake_uri=str(root)))
    steps.backfill(ctx, START, END, progress=False)
    return root


@pytest.fixture
def ctx(built_lake: Path, tmp_path: Path) -> steps.Context:
    lake = tmp_path / "lake"
    shutil.copytree(built_lake, lake)
    return steps.Context.from_settings(Settings(lake_uri=str(lake), **SMALL_GATE))


def _force(ctx: steps.Context, version: str) -> dict:
    return steps.promote(ctx, version, override="test: promote whatever the gate said")


def test_train_registers_and_reports(ctx: steps.Context) -> None:
    summary = steps.train(ctx)
    assert summary["decision"] in {"promoted", "refused"}
    assert set(summary["models"]) == {"catboost", "har_rv", "harx_vix", "ewma_094", "vix_recal"}
    assert summary["synthetic_data"] is True
    shown = steps.model_registry(ctx).show(summary["version"])
    assert shown["gate"]["passed"] == (summary["decision"] == "promoted")
    # training used only labels known at asof: the last label is 5 sessions before it
    assert shown["training_data"]["end"] < summary["asof"]
    if summary["decision"] == "refused":
        assert steps.model_registry(ctx).production() is None
        assert "--override" in summary["hint"]


def test_refused_version_needs_an_override(ctx: steps.Context) -> None:
    strict = steps.Context(ctx.settings.model_copy(update={"gate_min_improvement": 0.9}), ctx.lake)
    summary = steps.train(strict)
    assert summary["decision"] == "refused" and "below the 90.0% bar" in summary["gate"]["reason"]
    assert "volcast models promote" in summary["hint"]
    version = summary["version"]
    registry = steps.model_registry(ctx)
    assert registry.production() is None
    with pytest.raises(GateRefused):
        steps.promote(ctx, version)
    result = _force(ctx, version)
    assert result["promoted"] and result["canary"]["passed"]
    assert registry.show(version)["override"] == "test: promote whatever the gate said"


def test_infer_is_idempotent_and_contract_checked(ctx: steps.Context) -> None:
    with pytest.raises(steps.NoModelError):
        steps.infer(ctx, "2022-12-01", "2022-12-30")
    version = steps.train(ctx)["version"]
    _force(ctx, version)
    first = steps.infer(ctx, "2022-12-01", "2022-12-30")
    assert first["predictions_daily"]["written"] == 21
    again = steps.infer(ctx, "2022-12-01", "2022-12-30")
    assert again["predictions_daily"] == {"written": 0, "unchanged": 21, "conflict": 0}
    table = ctx.lake.read(contracts.PREDICTIONS, "2022-12-01", "2022-12-30")
    assert (table["model_version"] == version).all()
    assert table["rv_5d_hat"].between(0.02, 2.5).all()
    assert all(len(d) == 10 for d in table["top_drivers"])


def test_rollback_restores_previous_and_pin_wins(ctx: steps.Context) -> None:
    v1 = steps.train(ctx, "2022-11-30")["version"]
    _force(ctx, v1)
    v2 = steps.train(ctx, "2022-12-30")["version"]
    _force(ctx, v2)
    registry = steps.model_registry(ctx)
    assert registry.production() == v2
    assert registry.rollback() == v1
    assert steps.serving_version(ctx) == v1
    steps.infer(ctx, "2022-12-30", "2022-12-30")
    stored = ctx.lake.read(contracts.PREDICTIONS, "2022-12-30", "2022-12-30")
    assert stored["model_version"].tolist() == [v1]

    pinned = steps.Context(ctx.settings.model_copy(update={"model_version": v2}), ctx.lake)
    assert steps.serving_version(pinned) == v2


def test_daily_ends_with_infer_when_a_model_serves(ctx: steps.Context) -> None:
    _force(ctx, steps.train(ctx)["version"])
    summaries = steps.daily(ctx, "2023-01-03")
    assert [s["step"] for s in summaries] == [
        *("ingest", "curate", "features", "labels", "infer", "macro")
    ]
    assert "VOLCAST_FRED_API_KEY is not set" in summaries[-1]["skipped"]
    assert ctx.lake.partitions(contracts.PREDICTIONS)[-1] == pd.Timestamp("2023-01-03")


def test_main_job_without_production_says_why(ctx: steps.Context) -> None:
    result = steps.run_main_job(ctx, today="2023-01-04")
    assert result["data_steps"][0]["start"] == "2023-01-03"  # only the missing days
    training = result["train"]
    if training["decision"] == "refused":
        assert result["forecast"] is None
        assert "volcast models promote" in result["message"]
    else:
        assert result["forecast"]["as_of"] == "2023-01-04"
        assert len(result["forecast"]["top_drivers"]) == 5
    again = steps.run_main_job(ctx, today="2023-01-04")
    assert again["data_steps"] == [] and "skipped" in again["train"]


@pytest.mark.integration
def test_infer_mirrors_to_dynamodb(ctx: steps.Context, moto_endpoint: str) -> None:
    import boto3

    boto3.client("dynamodb", endpoint_url=moto_endpoint).create_table(
        TableName="volcast-predictions",
        KeySchema=[{"AttributeName": "date", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "date", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    settings = ctx.settings.model_copy(
        update={"dynamodb_table": "volcast-predictions", "aws_endpoint_url": moto_endpoint}
    )
    mirrored = steps.Context(settings, ctx.lake)
    _force(mirrored, steps.train(mirrored)["version"])
    first = steps.infer(mirrored, "2022-12-27", "2022-12-30")
    again = steps.infer(mirrored, "2022-12-27", "2022-12-30")
    assert (first["dynamodb_items_written"], again["dynamodb_items_written"]) == (4, 0)
    item = (
        boto3.resource("dynamodb", endpoint_url=moto_endpoint)
        .Table("volcast-predictions")
        .get_item(Key={"date": "2022-12-30"})["Item"]
    )
    stored = ctx.lake.read(contracts.PREDICTIONS, "2022-12-30", "2022-12-30").iloc[0]
    assert float(item["rv_5d_hat"]) == pytest.approx(stored["rv_5d_hat"], rel=1e-12)
    assert item["model_version"] == stored["model_version"]
