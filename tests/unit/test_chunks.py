"""Chunked backfill: same lake as one backfill, resumable, and pre-inception series allowed."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from core import contracts, steps
from core.calendar import trading_days
from core.config import Settings
from core.steps.chunks import PHASES, Chunk, marker_key, plan_chunks, run_chunk
from tests.raw_frames import download_frame, write_csv_folder

START, END = "2019-01-02", "2020-03-31"
TABLES = (contracts.RAW_MARKET, contracts.CURATED_MARKET, contracts.FEATURES, contracts.LABELS)


def _ctx(root: Path, **settings) -> steps.Context:
    return steps.Context.from_settings(Settings(lake_uri=str(root), **settings))


def _chunked(ctx: steps.Context, chunks: list[Chunk], known_until=END) -> list[dict]:
    return [run_chunk(ctx, p, c, known_until=known_until) for p in PHASES for c in chunks]


def test_plan_covers_every_session_once() -> None:
    chunks = plan_chunks(START, END, 100)
    covered = [d for c in chunks for d in trading_days(c.start, c.end)]
    assert covered == list(trading_days(START, END))
    assert all(len(trading_days(c.start, c.end)) == 100 for c in chunks[:-1])
    with pytest.raises(ValueError, match="sessions_per_chunk"):
        plan_chunks(START, END, 0)


def test_chunked_backfill_equals_one_backfill(tmp_path: Path) -> None:
    whole, chunked = _ctx(tmp_path / "whole"), _ctx(tmp_path / "chunked")
    steps.backfill(whole, START, END, progress=False)
    _chunked(chunked, plan_chunks(START, END, 90))
    for table in TABLES:
        assert whole.lake.partitions(table) == chunked.lake.partitions(table), table
        pd.testing.assert_frame_equal(whole.lake.read(table), chunked.lake.read(table))


def test_rerun_skips_finished_chunks_and_redoes_a_missing_one(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path / "lake")
    chunks = plan_chunks(START, END, 120)
    first = _chunked(ctx, chunks)
    assert not any("skipped" in r for r in first)
    again = _chunked(ctx, chunks)
    assert all(r.get("skipped") == "done in an earlier run" for r in again)
    # A chunk whose run died before its marker was written runs again, and only that one.
    (tmp_path / "lake" / marker_key("derive", chunks[2])).unlink()
    third = _chunked(ctx, chunks)
    ran = [(r["phase"], r["start"]) for r in third if "skipped" not in r]
    assert ran == [("derive", chunks[2].start)]


def test_chunk_before_a_series_starts_is_not_a_gap(tmp_path: Path) -> None:
    raw = download_frame(START, END)
    late = pd.Timestamp("2019-09-03")
    raw = raw.loc[(raw["symbol"] != "VIX3M") | (raw["date"] >= late)]
    write_csv_folder(raw, tmp_path / "csv")
    ctx = _ctx(tmp_path / "lake", source="csv", csv_dir=tmp_path / "csv")
    early = plan_chunks(START, END, 100)[0]  # ends before VIX3M's first row
    assert pd.Timestamp(early.end) < late
    with pytest.raises(steps.StaleDataError, match="VIX3M: no rows at all"):
        run_chunk(ctx, "ingest", early)
    summary = run_chunk(ctx, "ingest", early, known_until=END)["steps"][0]
    assert summary["series_start"] == {"VIX3M": "2019-09-03"}
    stored = ctx.lake.read(contracts.RAW_MARKET)
    assert stored["date"].max() == pd.Timestamp(early.end)  # the wider download is not written
    assert "VIX3M" not in set(stored["symbol"])
