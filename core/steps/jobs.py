"""Jobs that chain steps: one evening (daily) and the main job behind `make run`."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from core import contracts
from core.calendar import DateLike, latest_trading_day, shift_trading_days, to_day
from core.models.servable import CHALLENGER_KIND
from core.models.training import MIN_REFERENCE_ROWS
from core.sources import MarketSource
from core.steps.context import Context
from core.steps.data import DERIVED_STEPS, backfill, ingest
from core.steps.macro import macro
from core.steps.model import (
    TrainResult,
    ensure_champion,
    infer,
    latest_forecast,
    model_registry,
    serving_status,
    serving_version,
    train,
    training_table,
)
from core.steps.summaries import (
    ChampionSummary,
    InferSummary,
    JsonView,
    Skipped,
    StepSummary,
    Summary,
    as_dicts,
)

log = logging.getLogger(__name__)

#: The evening's infer when no model serves (yet): features are written, no forecast.
NO_MODEL_YET = Skipped("infer", "no model serves yet")


@dataclass(frozen=True)
class EveningSteps:
    """How ``daily`` calls each step of an evening, with core's signatures. ``CORE_STEPS``
    calls core's functions; flows/daily.py passes Prefect tasks that wrap the same functions
    (retries, one task run per step), so the chain and its decisions are written once."""

    ingest: Callable[..., Summary]  # (ctx, start, end, *, source, progress)
    derived: Sequence[Callable[[Context, DateLike, DateLike, bool], Summary]]
    serving_version: Callable[[Context], str | None]
    first_champion: Callable[[Context, DateLike], Summary]
    infer: Callable[[Context, DateLike, DateLike, str], Summary]  # (..., version)
    macro: Callable[[Context, DateLike, DateLike], Summary]


def daily(
    ctx: Context,
    day: DateLike,
    source: MarketSource | None = None,
    run: EveningSteps | None = None,
) -> list[Summary]:
    """One evening: the day's ingest -> curated -> features -> labels that became known ->
    predictions -> macro (last: optional data no model reads yet must not hold the forecast
    back). When nothing serves yet, the HAR-X(VIX) baseline is promoted first (once enough
    labelled history exists), so every evening ends with a forecast. ``run``: how the steps
    are called (default ``CORE_STEPS``). Errors are the steps' own (IngestError,
    ContractError, SourceError, ...), raised before any later step runs."""
    run = run or CORE_STEPS
    day = to_day(day)
    summaries = [run.ingest(ctx, day, day, source=source, progress=False)]
    summaries += [step(ctx, day, day, False) for step in run.derived]
    version = run.serving_version(ctx)
    if version is None:
        summaries.append(run.first_champion(ctx, day))
        version = run.serving_version(ctx)
    if version is None:
        log.warning("no model serves yet: features written, no forecast")
        summaries.append(NO_MODEL_YET)
    else:
        summaries.append(run.infer(ctx, day, day, version))
    summaries.append(run.macro(ctx, day, day))
    return summaries


def first_champion(ctx: Context, day: DateLike) -> ChampionSummary | Skipped:
    """Promote the HAR-X(VIX) baseline as the first champion when nothing serves, fitted on
    the labels known at ``day``; a summary of what happened (skipped when too little labelled
    history exists, or a model already serves)."""
    data = training_table(ctx, day)
    if len(data) < MIN_REFERENCE_ROWS:
        return Skipped(
            "champion", f"fewer than {MIN_REFERENCE_ROWS} labelled sessions: backfill history"
        )
    step = ensure_champion(ctx, day, data)
    return ChampionSummary(step) if step else Skipped("champion", "a model serves")


CORE_STEPS = EveningSteps(
    ingest=ingest,
    derived=tuple(step for _, step in DERIVED_STEPS),
    serving_version=serving_version,
    first_champion=first_champion,
    infer=infer,
    macro=macro,
)


@dataclass(frozen=True, eq=False)
class TrainSkipped(JsonView):
    """The main job's train when a challenger was already trained as of that day."""

    skipped: str
    version: str
    gate: dict[str, Any]
    serving_reason: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "step": "train",
            "skipped": self.skipped,
            "version": self.version,
            "gate": self.gate,
            "serving_reason": self.serving_reason,
        }


@dataclass(frozen=True, eq=False)
class MainJobResult(JsonView):
    """What `make run` did: the data steps that caught the lake up, the train, and the
    forecast with the model that serves (None, with ``message``, when none serves)."""

    data_steps: list[StepSummary]
    train: TrainResult | TrainSkipped
    infer: InferSummary | None = None
    forecast: dict[str, Any] | None = None
    serving: dict[str, Any] | None = None
    message: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON `volcast run` prints; the data steps without their per-symbol
        ``series_start`` (what a person reads after the main job)."""
        data = [
            {k: v for k, v in s.items() if k != "series_start"} for s in as_dicts(self.data_steps)
        ]
        out: dict[str, Any] = {"data_steps": data, "train": self.train.to_dict()}
        if self.infer is None:
            return out | {"forecast": None, "serving": None, "message": self.message}
        return out | {
            "infer": self.infer.to_dict(),
            "forecast": self.forecast,
            "serving": self.serving,
        }


def run_main_job(ctx: Context, asof: DateLike | None = None) -> MainJobResult:
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
    data = backfill(ctx, first, last) if first <= last else []
    feature_days = ctx.lake.partitions(contracts.FEATURES, end=last)
    if not feature_days:
        raise ValueError(f"no features on or before {last.date()}: backfill more history")
    day = feature_days[-1]
    training = _train_once(ctx, day)
    if serving_status(ctx) is None:
        reason = training.serving_reason or "see train"
        return MainJobResult(data, training, message="no model serves: " + reason)
    return MainJobResult(
        data,
        training,
        infer=infer(ctx, day, day),
        forecast=latest_forecast(ctx, day),
        serving=serving_status(ctx),
    )


def _train_once(ctx: Context, day: DateLike) -> TrainResult | TrainSkipped:
    """Train as of ``day`` unless a challenger was already trained as of it (then only make
    sure a champion serves)."""
    iso = to_day(day).date().isoformat()
    registry = model_registry(ctx)
    done = [v for v in registry.list() if v.kind == CHALLENGER_KIND and v.asof == iso]
    if not done:
        return train(ctx, day)
    ensure_champion(ctx, day)
    status = serving_status(ctx)
    newest = registry.show(done[-1].version)
    return TrainSkipped(
        skipped=f"already trained as of {iso}",
        version=newest["version"],
        gate=newest["gate"],
        serving_reason=status["reason"] if status else "no model serves",
    )
