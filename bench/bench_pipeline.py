"""Pipeline benchmarks: one full backfill of the real CSVs, and the incremental daily step
against lakes holding 5, 10 and 20 years of history.

Run: `python -m bench.bench_pipeline` (prints one JSON document).
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from bench.common import Timing, emit, loadavg, machine, market_dir, run_in_child
from core import steps
from core.calendar import shift_trading_days, trading_days
from core.config import Settings
from core.sources import SyntheticSource

REAL_START = "2007-04-11"
REAL_END = "2026-07-22"  # last day every real series has
FIRST_TARGET = "2026-11-02"  # first incremental day (synthetic data reaches today)
WARMUP_DAYS = 1  # first daily per lake pays cold caches: reported apart, not in the stats
TIMED_DAYS = 7
BREAKDOWN_DAYS = 3  # extra days timed step by step
HISTORY_YEARS = (5, 10, 20)
SESSIONS_PER_YEAR = 252
DATA_STEPS = ("ingest", "curate_market", "features", "labels")


def _drop_lists(summary: dict[str, Any]) -> dict[str, Any]:
    """A step summary without per-day lists (conflict days), for the JSON output."""
    out = {}
    for key, value in summary.items():
        if isinstance(value, dict):
            value = {k: v for k, v in value.items() if not isinstance(v, list)}
        out[key] = value
    return out


def backfill_real(lake: str, csv_dir: str) -> list[dict[str, Any]]:
    """The full real-data backfill into ``lake`` (runs in a child process)."""
    ctx = steps.Context.from_settings(Settings(lake_uri=lake, source="csv", csv_dir=Path(csv_dir)))
    return [
        _drop_lists(s)
        for s in steps.as_dicts(steps.backfill(ctx, REAL_START, REAL_END, progress=False))
    ]


def full_backfill(lake: Path) -> dict[str, Any]:
    """Wall time and peak RSS of one backfill 2007-04-11..2026-07-22 into a fresh lake."""
    csv_dir = market_dir()
    load_before = loadavg()
    result = run_in_child(backfill_real, str(lake), str(csv_dir))
    written = {
        table: counts
        for summary in result["value"]
        for table, counts in summary.items()
        if isinstance(counts, dict) and "written" in counts
    }
    files = sum(1 for _ in lake.glob("*/date=*/part-0.parquet"))
    size_mb = sum(p.stat().st_size for p in lake.rglob("*.parquet")) / 2**20
    return {
        "what": "steps.backfill of the real CSVs into a fresh local lake, in a child process",
        "data": "real (../shared/data/market)",
        "range": f"{REAL_START}..{REAL_END}",
        "repetitions": 1,
        "wall_s": result["seconds"],
        "peak_rss_mb": result["peak_rss_mb"],
        "rss_before_step_mb": result["rss_before_mb"],
        "partitions_by_table": written,
        "partition_files": files,
        "lake_size_mb": round(size_mb, 1),
        "steps": result["value"],
        "loadavg_before": load_before,
        "loadavg_after": loadavg(),
    }


def _trimmed_copy(src: Path, dst: Path, keep_from: str) -> int:
    """Copy lake ``src`` to ``dst`` without partitions dated before ``keep_from``."""
    shutil.copytree(src, dst)
    dropped = 0
    for part in dst.glob("*/date=*"):
        if part.name.removeprefix("date=") < keep_from:
            shutil.rmtree(part)
            dropped += 1
    return dropped


def _ctx(lake: Path) -> steps.Context:
    return steps.Context.from_settings(Settings(lake_uri=str(lake), source="synthetic"))


def incremental_daily(work: Path) -> dict[str, Any]:
    """steps.daily cost vs history length, on synthetic lakes of 5, 10 and 20 years.

    One 20-year lake is backfilled, the shorter ones are copies with early partitions
    removed. Each target day is new to every lake (never a no-op re-run); days run
    round-robin over the lakes so shared-machine load hits every history length alike.
    """
    days = trading_days(FIRST_TARGET, shift_trading_days(FIRST_TARGET, 40))
    days = days[: WARMUP_DAYS + TIMED_DAYS + BREAKDOWN_DAYS]
    history_end = shift_trading_days(days[0], -1)
    starts = {
        y: shift_trading_days(days[0], -y * SESSIONS_PER_YEAR).date().isoformat()
        for y in HISTORY_YEARS
    }
    longest = max(HISTORY_YEARS)
    lakes = {y: work / f"synthetic_{y}y" for y in HISTORY_YEARS}

    t0 = time.perf_counter()
    steps.backfill(
        _ctx(lakes[longest]),
        starts[longest],
        history_end,
        source=SyntheticSource(),
        progress=False,
    )
    build_s = time.perf_counter() - t0
    dropped = {
        y: _trimmed_copy(lakes[longest], lakes[y], starts[y]) for y in HISTORY_YEARS if y != longest
    }
    contexts = {y: _ctx(lakes[y]) for y in HISTORY_YEARS}

    load_before = loadavg()
    samples: dict[int, list[float]] = defaultdict(list)
    warmup: dict[int, float] = {}
    sample_summary: list[dict[str, Any]] = []
    for i, day in enumerate(days[: WARMUP_DAYS + TIMED_DAYS]):
        for years, ctx in contexts.items():
            t0 = time.perf_counter()
            summaries = steps.daily(ctx, day)
            seconds = time.perf_counter() - t0
            if i < WARMUP_DAYS:
                warmup[years] = round(seconds, 3)
            else:
                samples[years].append(seconds)
            sample_summary = steps.as_dicts(summaries)

    step_samples: dict[int, dict[str, list[float]]] = {y: defaultdict(list) for y in HISTORY_YEARS}
    for day in days[WARMUP_DAYS + TIMED_DAYS :]:
        for years, ctx in contexts.items():
            for name in DATA_STEPS:
                t0 = time.perf_counter()
                getattr(steps, name)(ctx, day, day)
                step_samples[years][name].append(time.perf_counter() - t0)

    return {
        "what": "steps.daily(ctx, day) on a lake already holding N years of history",
        "data": "SYNTHETIC (SyntheticSource seed 7): the real CSVs end 2026-07-22",
        "infer": "skipped (no model promoted in these lakes): data steps only",
        "target_days": f"{days[WARMUP_DAYS].date()}..{days[WARMUP_DAYS + TIMED_DAYS - 1].date()}",
        "history_start_by_years": starts,
        "build_20y_lake_s": round(build_s, 3),
        "partitions_dropped_for_shorter_lakes": dropped,
        "warmup_first_day_s": warmup,
        "daily_by_history_years": {str(y): Timing.of(samples[y]).to_dict() for y in HISTORY_YEARS},
        "step_breakdown_median_ms": {
            str(y): {
                name: Timing.of(s).to_dict("ms")["median_ms"] for name, s in step_samples[y].items()
            }
            for y in HISTORY_YEARS
        },
        "step_breakdown_days": len(days) - WARMUP_DAYS - TIMED_DAYS,
        "daily_summary_example": sample_summary,
        "loadavg_before": load_before,
        "loadavg_after": loadavg(),
    }


def run(work: Path) -> dict[str, Any]:
    """Both pipeline benchmarks; the real-data lake stays at ``work / "real_lake"``."""
    return {
        "full_backfill": full_backfill(work / "real_lake"),
        "incremental_daily": incremental_daily(work),
    }


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="volcast-bench-") as folder:
        emit({"machine": machine(), "pipeline": run(Path(folder))})


if __name__ == "__main__":
    main()
