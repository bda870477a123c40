"""The model lifecycle through core.steps on a real local lake: the HAR-X(VIX) baseline as the
first champion, a challenger that beats it or not, refits, overrides, infer, pin, rollback
across kinds, and the daily run and main job ending with a forecast."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from core import contracts, steps
from core.config import Settings
from core.models.registry import GateRefused
from core.steps.reports import train_verdict

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


def _strict(ctx: steps.Context) -> steps.Context:
    """A bar no challenger reaches: the challenger is always refused."""
    return steps.Context(ctx.settings.model_copy(update={"gate_min_improvement": 0.9}), ctx.lake)


def _kind(ctx: steps.Context, version: str | None) -> str | None:
    return None if version is None else steps.model_registry(ctx).show(version)["kind"]


def _reward_trees(ctx: steps.Context) -> None:
    """Labels whose next-week vol doubles after a TLT rally: a regime trees see and a HAR-X
    line cannot, so the CatBoost challenger beats HAR-X(VIX) by far (written over the lake's
    labels, which derived tables allow)."""
    feats = ctx.lake.read(contracts.FEATURES)
    labels = ctx.lake.read(contracts.LABELS)
    table = labels.merge(feats[["date", "tlt_ret_5d", "rv_cc_22d"]], on="date")
    noise = np.exp(np.random.default_rng(0).normal(0, 0.05, len(table)))
    scale = np.where(table["tlt_ret_5d"] > 0, 2.0, 0.7)
    ctx.lake.write_partitions(
        contracts.LABELS,
        table.assign(rv_5d=table["rv_cc_22d"] * scale * noise)[["date", "rv_5d"]],
    )


def test_first_train_promotes_the_baseline_and_infers(ctx: steps.Context) -> None:
    registry = steps.model_registry(ctx)
    assert registry.production() is None
    result = steps.train(_strict(ctx))
    assert result.decision == "refused" and "below the 90.0% bar" in result.gate["reason"]
    assert result.baseline is not None and result.baseline.promoted
    assert result.baseline.canary["passed"]
    assert registry.production() == result.baseline.version == result.production_after
    assert _kind(ctx, result.production_after) == "harx_vix" == result.serving_kind
    assert "first champion" in registry.pointer()["reason"]
    assert "first champion" in result.serving_reason and "refused" in result.serving_reason
    shown = registry.show(result.baseline.version)
    assert shown["features"] == ["rv_cc_1d", "rv_cc_5d", "rv_cc_22d", "vix"]
    assert shown["gate"]["passed"] is True and shown["metrics"] == result.models["harx_vix"]
    # the challenger is registered as the audit trail, not promoted
    assert registry.show(result.challenger.version)["gate"]["passed"] is False

    summary = steps.infer(ctx, "2022-12-01", "2022-12-30")
    table = ctx.lake.read(contracts.PREDICTIONS, "2022-12-01", "2022-12-30")
    assert (table["model_version"] == result.baseline.version).all()
    drivers = table["top_drivers"].iloc[-1]
    assert {d["feature"] for d in drivers} == set(shown["features"])  # named by their feature
    # the gate window (60 sessions) is too short for a band: the champion's own HAR-X
    # walk-forward gives it one, and every prediction carries it
    band = shown["band"]
    assert band["n_errors"] >= 100 and band["q_lo"] < 0 < band["q_hi"]
    assert (table["rv_5d_lo"] < table["rv_5d_hat"]).all()
    assert (table["rv_5d_hat"] < table["rv_5d_hi"]).all()
    # drift of the champion's four features over the last 20 sessions, against its bins
    drift = summary["drift"]
    assert drift["end"] == "2022-12-30" and drift["sessions"] == 20
    assert {f["feature"] for f in drift["top"]} == set(shown["features"])
    assert set(shown["drift"]["features"]) == set(shown["features"])


def test_a_better_challenger_replaces_the_baseline_and_rolls_back(ctx: steps.Context) -> None:
    _reward_trees(ctx)
    result = steps.train(ctx)
    assert result.baseline is not None and result.baseline.promoted  # first champion first
    assert result.decision == "promoted", result.gate["reason"]
    assert result.challenger.canary["passed"]
    registry = steps.model_registry(ctx)
    assert registry.production() == result.challenger.version
    assert result.serving_kind == "catboost" and "challenger" in registry.pointer()["reason"]
    assert result.gate["figures"]["metrics"]["qlike"]["dm_p_value"] < 0.05

    # across kinds: back to the baseline, and a pin forward again
    assert registry.rollback() == result.baseline.version
    assert steps.serving_status(ctx)["kind"] == "harx_vix"
    steps.infer(ctx, "2022-12-30", "2022-12-30")
    stored = ctx.lake.read(contracts.PREDICTIONS, "2022-12-30", "2022-12-30")
    assert stored["model_version"].tolist() == [result.baseline.version]
    pinned = steps.Context(
        ctx.settings.model_copy(update={"model_version": result.challenger.version}), ctx.lake
    )
    assert steps.serving_status(pinned) == {
        "version": result.challenger.version,
        "kind": "catboost",
        "reason": "pinned by VOLCAST_MODEL_VERSION",
        "since": None,
    }


def test_a_worse_challenger_leaves_the_baseline_which_is_refitted(ctx: steps.Context) -> None:
    first = steps.train(_strict(ctx), "2022-11-30")
    second = steps.train(_strict(ctx), "2022-12-30")
    assert first.baseline and second.baseline and second.baseline.promoted
    assert second.baseline.version != first.baseline.version  # refitted on the new data
    registry = steps.model_registry(ctx)
    assert registry.production() == second.baseline.version
    assert registry.show(second.baseline.version)["training_data"]["asof"] == "2022-12-30"
    assert "weekly refit" in registry.pointer()["reason"]
    assert second.production_before == first.baseline.version
    assert registry.rollback() == first.baseline.version


def test_a_retrain_on_the_same_data_and_code_registers_nothing(ctx: steps.Context) -> None:
    registry = steps.model_registry(ctx)
    first = steps.train(_strict(ctx), "2022-12-30")  # promotes the first champion
    versions = [i.version for i in registry.list()]
    pointer = registry.pointer()
    again = steps.train(_strict(ctx), "2022-12-30")
    assert not first.unchanged and again.unchanged
    assert again.challenger.reused and again.baseline is not None and again.baseline.reused
    assert again.challenger.version == first.challenger.version
    assert again.baseline.version == first.baseline.version == again.production_after
    assert [i.version for i in registry.list()] == versions  # no duplicate version
    assert registry.pointer() == pointer  # the pointer was not even rewritten
    assert again.to_dict()["unchanged"] is True
    name, message = train_verdict(again)
    assert name == "Unchanged" and "nothing new registered" in message
    # other data is another model
    earlier = steps.train(_strict(ctx), "2022-11-30")
    assert not earlier.unchanged and earlier.challenger.version not in versions
    # ... registered, but the champion trained on more data (as of 2022-12-30) stays
    assert earlier.baseline is None and earlier.production_after == first.production_after


def test_a_catboost_champion_stays_when_the_challenger_is_refused(ctx: steps.Context) -> None:
    _reward_trees(ctx)
    first = steps.train(ctx, "2022-11-30")
    assert first.decision == "promoted"
    second = steps.train(_strict(ctx), "2022-12-30")
    assert second.baseline is None  # only a baseline champion is refitted
    assert second.decision == "refused"
    assert steps.model_registry(ctx).production() == first.challenger.version
    assert f"champion {first.challenger.version} stays" in second.serving_reason


def test_refused_version_can_be_forced_with_an_override(ctx: steps.Context) -> None:
    result = steps.train(_strict(ctx))
    version = result.challenger.version
    registry = steps.model_registry(ctx)
    with pytest.raises(GateRefused):
        steps.promote(ctx, version)
    forced = _force(ctx, version)
    assert forced["promoted"] and forced["canary"]["passed"]
    assert registry.show(version)["override"] == "test: promote whatever the gate said"
    assert registry.pointer()["reason"] == "override: test: promote whatever the gate said"


def test_infer_is_idempotent_and_contract_checked(ctx: steps.Context) -> None:
    with pytest.raises(steps.NoModelError):
        steps.infer(ctx, "2022-12-01", "2022-12-30")
    version = steps.train(ctx).challenger.version
    _force(ctx, version)
    first = steps.infer(ctx, "2022-12-01", "2022-12-30")
    assert first["predictions_daily"]["written"] == 21
    again = steps.infer(ctx, "2022-12-01", "2022-12-30")
    assert again["predictions_daily"] == {"written": 0, "unchanged": 21, "conflict": 0}
    table = ctx.lake.read(contracts.PREDICTIONS, "2022-12-01", "2022-12-30")
    assert (table["model_version"] == version).all()
    assert table["rv_5d_hat"].between(0.02, 2.5).all()
    assert all(len(d) == 10 for d in table["top_drivers"])


def test_daily_promotes_a_first_champion_and_forecasts(ctx: steps.Context) -> None:
    summaries = steps.daily(ctx, "2023-01-03")
    assert [s["step"] for s in summaries] == [
        "ingest", "curate", "features", "labels", "champion", "infer", "macro"
    ]  # fmt: skip
    champion = summaries[4]
    assert champion["promoted"] and champion["kind"] == "harx_vix"
    stored = ctx.lake.read(contracts.PREDICTIONS, "2023-01-03", "2023-01-03")
    assert stored["model_version"].tolist() == [champion["version"]]
    assert "VOLCAST_FRED_API_KEY is not set" in summaries[-1]["skipped"]  # macro: last, optional
    # the next evening: a model serves, no champion step
    following = steps.daily(ctx, "2023-01-04")
    assert [s["step"] for s in following][-2:] == ["infer", "macro"] and len(following) == 6


def test_main_job_serves_the_baseline_and_says_why(ctx: steps.Context) -> None:
    result = steps.run_main_job(_strict(ctx), asof="2023-01-04")
    assert result["data_steps"][0]["start"] == "2023-01-03"  # only the missing days
    assert result["train"]["decision"] == "refused"
    forecast = result["forecast"]
    assert forecast["as_of"] == "2023-01-04" and forecast["model_kind"] == "harx_vix"
    assert 0.02 < forecast["rv_5d_hat"] < 2.5
    assert len(forecast["top_drivers"]) == 4  # HAR-X(VIX) has four regressors
    assert result["serving"]["kind"] == "harx_vix"
    assert "first champion" in result["serving"]["reason"]
    again = steps.run_main_job(_strict(ctx), asof="2023-01-04")
    assert again["data_steps"] == [] and "skipped" in again["train"]
    assert again["forecast"] == forecast


def test_main_job_as_of_a_past_session_leaves_later_data(ctx: steps.Context) -> None:
    last_before = ctx.lake.partitions(contracts.RAW_MARKET)[-1]
    result = steps.run_main_job(_strict(ctx), asof="2022-12-15")
    assert result["data_steps"] == []
    assert result["forecast"]["as_of"] == "2022-12-15"
    assert result["train"]["asof"] == "2022-12-15"
    assert ctx.lake.partitions(contracts.RAW_MARKET)[-1] == last_before


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
    _force(mirrored, steps.train(mirrored).challenger.version)
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
