"""Prefect tasks: each calls exactly one core.steps function and retries only what is transient."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from prefect import task

from core import steps
from core.links import ObjectLink
from core.monitoring import drift_metric, print_emf
from core.steps.chunks import Chunk, Phase, run_chunk
from core.steps.reports import ForecastReport, chart_links, forecast_report
from flows.runtime import transient_retries

RETRY = transient_retries()
NO_RETRY: dict[str, Any] = {**RETRY, "retries": 0}  # training is not transient-prone, and costly


ingest = task(name="ingest", **RETRY)(steps.ingest)

#: One task per step of the chain after ingest (core.steps.DERIVED_STEPS), named like it:
#: each is called as ``task(ctx, start, end[, progress])``.
DERIVED = tuple(task(name=name, **RETRY)(step) for name, step in steps.DERIVED_STEPS)


@task(name="macro", **RETRY)
def macro(
    ctx: steps.Context, start: dt.date, end: dt.date, required: bool = False
) -> steps.Summary:
    return steps.macro(ctx, start, end, required=required)


@task(name="serving-version", **RETRY)
def serving_version(ctx: steps.Context) -> str | None:
    return steps.serving_version(ctx)


@task(name="infer", **RETRY)
def infer(
    ctx: steps.Context, start: dt.date, end: dt.date, version: str | None = None
) -> steps.StepSummary:
    """The infer step; its feature drift goes to stdout as an EMF line (the drift alarm's
    metric, like the freshness check's)."""
    summary = steps.infer(ctx, start, end, version)
    if summary.drift is not None:
        print_emf(drift_metric(summary.drift.to_dict()))
    return summary


@task(name="forecast", **RETRY)
def forecast(ctx: steps.Context, day: dt.date) -> ForecastReport | None:
    return forecast_report(ctx, day)


@task(name="train", **NO_RETRY)
def train(ctx: steps.Context, asof: dt.date | None) -> steps.TrainResult:
    return steps.train(ctx, asof)


@task(name="first-champion", **RETRY)
def first_champion(ctx: steps.Context, day: dt.date) -> steps.Summary:
    return steps.first_champion(ctx, day)


@task(name="canary", **RETRY)
def canary(ctx: steps.Context, version: str, previous: str | None) -> dict:
    return steps.canary_check(ctx, version, previous)


@task(name="evaluate", **NO_RETRY)
def evaluate(
    ctx: steps.Context, out_dir: Path, start: dt.date | None, refit_every: int | None
) -> dict:
    return steps.evaluate(ctx.settings, out_dir, start, refit_every)


@task(name="store-evaluation", **RETRY)
def store_evaluation(ctx: steps.Context, out_dir: Path, name: str) -> dict[str, str]:
    return steps.store_evaluation(ctx, out_dir, name)


@task(name="chart-links", **RETRY)
def evaluation_chart_links(ctx: steps.Context, name: str) -> dict[str, ObjectLink]:
    return chart_links(ctx, name)


@task(name="backfill-chunk", task_run_name="{phase}-{chunk.start}..{chunk.end}", **RETRY)
def backfill_chunk(
    ctx: steps.Context, phase: Phase, chunk: Chunk, known_until: dt.date | None = None
) -> dict:
    return run_chunk(ctx, phase, chunk, known_until=known_until)


@task(name="freshness", **RETRY)
def freshness(ctx: steps.Context) -> steps.PredictionFreshness:
    return steps.prediction_freshness(ctx)
