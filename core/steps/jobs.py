"""Jobs that chain steps: one evening (daily) and the main job behind `make run`."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from core import contracts
from core.calendar import DateLike, latest_trading_day, shift_trading_days, to_day
from core.models.servable import CHALLENGER_KIND
from core.models.training import MIN_REFERENCE_ROWS
from core.sources import MarketSource
from core.steps.context import Context
from core.steps.data import backfill
from core.steps.macro import macro
from core.steps.model import (
    ensure_champion,
    infer,
    latest_forecast,
    model_registry,
    serving_status,
    serving_version,
    train,
    training_table,
)


def daily(ctx: Context, day: DateLike, source: MarketSource | None = None) -> list[dict]:
    """One evening: the day's ingest -> curated -> features -> labels that became known ->
    predictions -> macro (last: optional data no model reads yet must not hold the forecast
    back). When nothing serves yet, the HAR-X(VIX) baseline is promoted first (once enough
    labelled history exists), so every evening ends with a forecast."""
    day = to_day(day)
    summaries = backfill(ctx, day, day, source=source, progress=False)
    if serving_version(ctx) is None:
        summaries.append(first_champion(ctx, day))
    if serving_version(ctx) is not None:
        summaries.append(infer(ctx, day, day))
    else:
        summaries.append({"step": "infer", "skipped": "no model serves yet"})
    summaries.append(macro(ctx, day, day))
    return summaries


def first_champion(ctx: Context, day: DateLike) -> dict:
    """Promote the HAR-X(VIX) baseline as the first champion when nothing serves, fitted on
    the labels known at ``day``; a summary of what happened (skipped when too little labelled
    history exists, or a model already serves)."""
    if len(training_table(ctx, day)) < MIN_REFERENCE_ROWS:
        return {
            "step": "champion",
            "skipped": f"fewer than {MIN_REFERENCE_ROWS} labelled sessions: backfill history",
        }
    step = ensure_champion(ctx, day)
    return {"step": "champion", **(asdict(step) if step else {"skipped": "a model serves"})}


def _compact(summary: dict) -> dict:
    """A step summary without per-day lists: what a person reads after the main job."""
    return {k: v for k, v in summary.items() if k not in ("conflict_days", "series_start")}


def run_main_job(ctx: Context, asof: DateLike | None = None) -> dict[str, Any]:
    """What `make run` does: catch the lake up to ``asof`` (default: the latest closed XNYS
    session), train (once per feature day: the champion's upkeep, the challenger and its
    gate), score ``asof`` with the serving model, and report forecast, drivers, the gate's
    figures and which model serves and why.

    ``asof`` in the past runs the job as of that session (a CSV folder that ends before
    today); data the lake already holds after it is left alone.
    """
    last = to_day(asof) if asof is not None else latest_trading_day()
    stored = ctx.lake.partitions(contracts.RAW_MARKET)
    first = shift_trading_days(stored[-1], 1) if stored else to_day(ctx.settings.history_start)
    data = [_compact(s) for s in backfill(ctx, first, last)] if first <= last else []
    feature_days = ctx.lake.partitions(contracts.FEATURES, end=last)
    if not feature_days:
        raise ValueError(f"no features on or before {last.date()}: backfill more history")
    day = feature_days[-1]
    training = _train_once(ctx, day)
    result: dict[str, Any] = {"data_steps": data, "train": training}
    if serving_status(ctx) is None:
        result["forecast"] = None
        result["serving"] = None
        result["message"] = "no model serves: " + training.get("serving_reason", "see train")
        return result
    result["infer"] = infer(ctx, day, day)
    result["forecast"] = latest_forecast(ctx, day)
    result["serving"] = serving_status(ctx)
    return result


def _train_once(ctx: Context, day: DateLike) -> dict[str, Any]:
    """Train as of ``day`` unless a challenger was already trained as of it (then only make
    sure a champion serves)."""
    iso = to_day(day).date().isoformat()
    registry = model_registry(ctx)
    done = [v for v in registry.list() if v.kind == CHALLENGER_KIND and v.asof == iso]
    if not done:
        return train(ctx, day).to_dict()
    ensure_champion(ctx, day)
    status = serving_status(ctx)
    newest = registry.show(done[-1].version)
    return {
        "step": "train",
        "skipped": f"already trained as of {iso}",
        "version": newest["version"],
        "gate": newest["gate"],
        "serving_reason": status["reason"] if status else "no model serves",
    }
