"""Jobs that chain steps: one evening (daily) and the main job behind `make run`."""

from __future__ import annotations

from typing import Any

from core import contracts
from core.calendar import DateLike, latest_trading_day, shift_trading_days, to_day
from core.sources import MarketSource
from core.steps.context import Context
from core.steps.data import backfill
from core.steps.macro import macro
from core.steps.model import infer, latest_forecast, model_registry, serving_version, train


def daily(ctx: Context, day: DateLike, source: MarketSource | None = None) -> list[dict]:
    """One evening: the day's ingest -> curated -> features -> labels that became known ->
    predictions, when a model is promoted -> macro (last: optional data no model reads yet
    must not hold the forecast back)."""
    day = to_day(day)
    summaries = backfill(ctx, day, day, source=source, progress=False)
    if serving_version(ctx) is not None:
        summaries.append(infer(ctx, day, day))
    else:
        summaries.append({"step": "infer", "skipped": "no model promoted yet"})
    summaries.append(macro(ctx, day, day))
    return summaries


def _compact(summary: dict) -> dict:
    """A step summary without per-day lists: what a person reads after the main job."""
    return {k: v for k, v in summary.items() if k not in ("conflict_days", "series_start")}


def run_main_job(ctx: Context, today: DateLike | None = None) -> dict:
    """What `make run` does: catch the lake up to the latest session, train with the gate
    (once per feature day), score the latest day, and report forecast, drivers and gate.
    """
    last = to_day(today) if today is not None else latest_trading_day()
    stored = ctx.lake.partitions(contracts.RAW_MARKET)
    first = shift_trading_days(stored[-1], 1) if stored else to_day(ctx.settings.history_start)
    data = [_compact(s) for s in backfill(ctx, first, last)] if first <= last else []
    asof = ctx.lake.partitions(contracts.FEATURES)[-1]
    registry = model_registry(ctx)
    versions = registry.list()  # oldest first: the newest says whether today is done
    newest = registry.show(versions[-1].version) if versions else None
    if newest is not None and newest["training_data"]["asof"] == asof.date().isoformat():
        training = {
            "step": "train",
            "skipped": f"already trained for {asof.date()}",
            "version": newest["version"],
            "gate": newest["gate"],
        }
    else:
        training = train(ctx, asof)
    result: dict[str, Any] = {"data_steps": data, "train": training}
    if serving_version(ctx) is None:
        result["forecast"] = None
        result["message"] = (
            "no model in production: the candidate did not pass the gate (see train.gate); "
            "to serve it anyway: volcast models promote "
            f'{training["version"]} --override "<reason>"'
        )
        return result
    result["infer"] = infer(ctx, asof, asof)
    result["forecast"] = latest_forecast(ctx)
    return result
