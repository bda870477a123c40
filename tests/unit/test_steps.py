"""Pipeline steps on a local lake: bad input stops the line, re-runs are idempotent, and an
incremental day produces exactly what a backfill does."""

from __future__ import annotations

import os
from dataclasses import dataclass

import pandas as pd
import pytest

from core import contracts, steps
from core.calendar import latest_trading_day, shift_trading_days, trading_days
from core.config import Settings
from core.contracts import ContractError
from core.lake import Lake
from core.sources import SyntheticSource

START, END = "2021-01-04", "2022-03-31"


@dataclass
class FrameSource:
    """A source that serves a fixed raw frame: lets a test hand the pipeline bad vendor data."""

    frame: pd.DataFrame
    name: str = "synthetic"
    is_synthetic: bool = True

    def fetch(self, symbols, start, end) -> pd.DataFrame:
        d = self.frame["date"]
        return self.frame.loc[(d >= pd.Timestamp(start)) & (d <= pd.Timestamp(end))].copy()


@pytest.fixture
def ctx(tmp_path) -> steps.Context:
    return steps.Context.from_settings(Settings(lake_uri=str(tmp_path / "lake")))


@pytest.fixture(scope="module")
def synthetic() -> pd.DataFrame:
    return SyntheticSource(seed=7).fetch(["SPY", "VIX", "VIX3M", "TLT", "HYG"], START, END)


def _stored(lake: Lake) -> dict[str, int]:
    tables = [contracts.RAW_MARKET, contracts.CURATED_MARKET, contracts.FEATURES, contracts.LABELS]
    return {t: len(lake.partitions(t)) for t in tables}


def test_backfill_fills_every_table(ctx: steps.Context) -> None:
    summaries = steps.backfill(ctx, START, END, progress=False)
    counts = _stored(ctx.lake)
    sessions = len(trading_days(START, END))
    assert counts[contracts.RAW_MARKET] == counts[contracts.CURATED_MARKET] == sessions
    # features need a 252-session lookback; labels need 5 sessions ahead
    assert counts[contracts.FEATURES] == sessions - 251
    assert counts[contracts.LABELS] == sessions - 5  # the last 5 days wait for their future
    assert summaries[0]["synthetic_data"] is True


def test_rerun_is_idempotent(ctx: steps.Context) -> None:
    steps.backfill(ctx, START, "2021-03-31", progress=False)
    before = ctx.lake.read(contracts.LABELS)
    again = steps.backfill(ctx, START, "2021-03-31", progress=False)
    for summary in again:
        written = [
            v["written"] for k, v in summary.items() if isinstance(v, dict) and "written" in v
        ]
        assert written == [0], summary
    pd.testing.assert_frame_equal(ctx.lake.read(contracts.LABELS), before)


def test_daily_equals_backfill(tmp_path, ctx: steps.Context) -> None:
    """The incremental path (one day, lookback read from the lake) gives the backfill's rows."""
    steps.backfill(ctx, START, "2022-03-30", progress=False)
    steps.daily(ctx, "2022-03-31")
    full = steps.Context.from_settings(Settings(lake_uri=str(tmp_path / "full")))
    steps.backfill(full, START, END, progress=False)
    for table in (contracts.CURATED_MARKET, contracts.FEATURES, contracts.LABELS):
        pd.testing.assert_frame_equal(
            ctx.lake.read(table, "2022-03-01", END), full.lake.read(table, "2022-03-01", END)
        )


def test_negative_price_stops_everything(ctx: steps.Context, synthetic: pd.DataFrame) -> None:
    bad = synthetic.copy()
    hit = (bad["symbol"] == "VIX") & (bad["date"] == "2021-06-15")
    bad.loc[hit, ["open", "low"]] = -1.0
    with pytest.raises(ContractError) as info:
        steps.backfill(ctx, START, END, source=FrameSource(bad), progress=False)
    failures = info.value.failures
    assert set(failures.loc[failures["column"].isin(["open", "low"]), "date"]) == {"2021-06-15"}
    assert _stored(ctx.lake) == dict.fromkeys(_stored(ctx.lake), 0)


def test_nan_price_stops_everything(ctx: steps.Context, synthetic: pd.DataFrame) -> None:
    bad = synthetic.copy()
    bad.loc[(bad["symbol"] == "TLT") & (bad["date"] == "2021-02-02"), "close"] = float("nan")
    with pytest.raises(ContractError, match="close"):
        steps.backfill(ctx, START, END, source=FrameSource(bad), progress=False)
    assert sum(_stored(ctx.lake).values()) == 0


def test_duplicate_date_stops_everything(ctx: steps.Context, synthetic: pd.DataFrame) -> None:
    bad = pd.concat([synthetic, synthetic.iloc[[10]]], ignore_index=True)
    with pytest.raises(ContractError, match="uniqueness"):
        steps.backfill(ctx, START, END, source=FrameSource(bad), progress=False)
    assert sum(_stored(ctx.lake).values()) == 0


def test_missing_symbol_is_a_clear_error(ctx: steps.Context, synthetic: pd.DataFrame) -> None:
    steps.backfill(ctx, START, "2022-03-30", progress=False)
    before = _stored(ctx.lake)
    day = synthetic.loc[synthetic["date"] == "2022-03-31"]
    with pytest.raises(steps.IngestError, match=r"HYG: no rows at all in 2022-03-30..2022-03-31"):
        steps.daily(ctx, "2022-03-31", source=FrameSource(day.loc[day["symbol"] != "HYG"]))
    assert _stored(ctx.lake) == before


def test_gap_inside_history_is_an_error(ctx: steps.Context, synthetic: pd.DataFrame) -> None:
    gap = ~((synthetic["symbol"] == "SPY") & (synthetic["date"] == "2021-09-08"))
    with pytest.raises(steps.IngestError, match="SPY: missing 2021-09-08"):
        steps.backfill(ctx, START, END, source=FrameSource(synthetic.loc[gap]), progress=False)
    assert sum(_stored(ctx.lake).values()) == 0


def test_stale_source_is_an_error(ctx: steps.Context, synthetic: pd.DataFrame) -> None:
    """A vendor that has not published today's bar yet must not produce a forecast for today."""
    steps.backfill(ctx, START, "2022-03-30", progress=False)
    stale = FrameSource(synthetic.loc[synthetic["date"] <= "2022-03-30"])
    with pytest.raises(steps.IngestError, match="SPY: missing 2022-03-31; latest row 2022-03-30"):
        steps.daily(ctx, "2022-03-31", source=stale)
    assert ctx.lake.partitions(contracts.FEATURES)[-1] == pd.Timestamp("2022-03-30")


def test_non_trading_day_is_refused(ctx: steps.Context) -> None:
    with pytest.raises(ValueError, match="no XNYS trading day"):
        steps.daily(ctx, "2021-12-25")


def test_a_session_that_has_not_closed_is_refused(ctx: steps.Context) -> None:
    """A future day (the synthetic source would invent its bars) stops every entry point
    before anything is written, with the latest closed session in the message."""
    latest = latest_trading_day()
    future = shift_trading_days(latest, 3)
    calls = (
        lambda: steps.ingest(ctx, future, future),
        lambda: steps.daily(ctx, future),
        lambda: steps.backfill(ctx, shift_trading_days(latest, -10), future, progress=False),
        lambda: steps.run_main_job(ctx, future),
    )
    for call in calls:
        with pytest.raises(
            ValueError, match=f"after the latest closed XNYS session \\({latest.date()}\\)"
        ):
            call()
    assert ctx.lake.partitions(contracts.RAW_MARKET) == []


def test_features_refuse_a_hole_in_the_lookback(ctx: steps.Context) -> None:
    steps.backfill(ctx, START, "2022-03-30", progress=False)
    hole = shift_trading_days("2022-03-30", -30)
    os.remove(ctx.lake.partition_path(contracts.CURATED_MARKET, hole))
    with pytest.raises(steps.IngestError, match=hole.date().isoformat()):
        steps.features(ctx, "2022-03-30", "2022-03-30")


def test_one_lake_one_source(ctx: steps.Context, synthetic: pd.DataFrame) -> None:
    steps.ingest(ctx, START, "2021-01-08")
    other = FrameSource(synthetic, name="csv", is_synthetic=False)
    with pytest.raises(steps.IngestError, match="refusing to mix"):
        steps.ingest(ctx, "2021-01-11", "2021-01-15", source=other)
    assert steps.lake_source(ctx) == {"source": "synthetic", "synthetic": True}
