"""Pipeline steps as plain functions of (settings, dates). Flows and the CLI only call these.

Each step reads what it needs from the lake, validates, and writes whole partitions; a
violation raises before anything of that step is written. Each returns a JSON-ready summary.
"""

from __future__ import annotations

import json
import logging
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from core import contracts
from core.calendar import (
    DateLike,
    latest_trading_day,
    shift_trading_days,
    to_day,
    trading_days,
)
from core.config import SYMBOLS, Settings
from core.features import LOOKBACK_SESSIONS, build_features
from core.labels import HORIZON_SESSIONS, build_labels
from core.lake import Lake, WriteReport
from core.market import curate
from core.mirror import mirror_from_settings
from core.models.candidate import CandidateModel
from core.models.charts import plot_forecasts, plot_importance
from core.models.inference import canary as run_canary
from core.models.inference import predictions_frame
from core.models.registry import ModelRegistry
from core.models.training import (
    GateWindow,
    production_recipe,
    run_evaluation,
    train_candidate,
)
from core.sources import MarketSource, get_source

log = logging.getLogger(__name__)

_SOURCE_MARKER = "_meta/source.json"


class IngestError(RuntimeError):
    """The source did not deliver complete data for the requested days; nothing was written."""


@dataclass(frozen=True)
class Context:
    """What every step needs: settings and the lake they point at."""

    settings: Settings
    lake: Lake

    @classmethod
    def from_settings(cls, settings: Settings) -> Context:
        return cls(settings, Lake(settings.lake_uri, settings.aws_endpoint_url))


def _days(start: DateLike, end: DateLike) -> pd.DatetimeIndex:
    days = trading_days(start, end)
    if days.empty:
        raise ValueError(
            f"no XNYS trading day between {to_day(start).date()} and {to_day(end).date()}"
        )
    return days


def _summary(step: str, days: pd.DatetimeIndex, *reports: WriteReport, **extra: object) -> dict:
    return {
        "step": step,
        "start": days[0].date().isoformat(),
        "end": days[-1].date().isoformat(),
        **{r.table: r.summary() for r in reports},
        **extra,
    }


def _claim_lake_for(ctx: Context, source: MarketSource) -> None:
    """One lake holds one source's data: mixing synthetic and real prices would be silent poison."""
    lake = ctx.lake
    mine = {"source": source.name, "synthetic": source.is_synthetic}
    if lake.exists(_SOURCE_MARKER):
        stored = json.loads(lake.get_bytes(_SOURCE_MARKER))
        if stored.get("source") != source.name:
            raise IngestError(
                f"lake {lake.uri} holds data from source {stored.get('source')!r}; refusing to "
                f"mix in {source.name!r}. Point VOLCAST_LAKE_URI at another lake."
            )
        return
    lake.put_bytes(_SOURCE_MARKER, json.dumps(mine).encode())


def lake_source(ctx: Context) -> dict:
    """Which source filled this lake ({} when empty): shown wherever forecasts are shown."""
    if not ctx.lake.exists(_SOURCE_MARKER):
        return {}
    return json.loads(ctx.lake.get_bytes(_SOURCE_MARKER))


def check_complete(raw: pd.DataFrame, days: pd.DatetimeIndex, symbols: Sequence[str]) -> dict:
    """Raise IngestError if a symbol lacks a requested day after its first available day.

    Days before a symbol's first row are its pre-inception history (VIX3M starts in 2009) and
    are reported, not failed; a symbol with no row at all, or a gap, is stale or broken data.
    """
    problems: list[str] = []
    inception: dict[str, str] = {}
    for symbol in symbols:
        have = pd.DatetimeIndex(raw.loc[raw["symbol"] == symbol, "date"])
        if have.empty:
            problems.append(f"{symbol}: no rows at all in {days[0].date()}..{days[-1].date()}")
            continue
        expected = days[days >= have.min()]
        missing = expected.difference(have)
        if len(missing):
            shown = ", ".join(d.date().isoformat() for d in missing[:10])
            more = f" (+{len(missing) - 10} more)" if len(missing) > 10 else ""
            latest = have.max().date().isoformat()
            problems.append(f"{symbol}: missing {shown}{more}; latest row {latest}")
        if have.min() > days[0]:
            inception[symbol] = have.min().date().isoformat()
    if problems:
        raise IngestError(
            "incomplete or stale market data, nothing written:\n  " + "\n  ".join(problems)
        )
    return inception


def ingest(
    ctx: Context,
    start: DateLike,
    end: DateLike,
    source: MarketSource | None = None,
    progress: bool = False,
) -> dict:
    """Download raw bars for [start, end] and store them as immutable raw.market partitions."""
    days = _days(start, end)
    source = source or get_source(ctx.settings)
    raw = source.fetch(SYMBOLS, days[0], days[-1])
    inception = check_complete(raw, days, SYMBOLS)
    raw = contracts.validate(contracts.RAW_MARKET, raw)
    _claim_lake_for(ctx, source)
    report = ctx.lake.write_partitions(contracts.RAW_MARKET, raw, progress=progress)
    return _summary(
        "ingest",
        days,
        report,
        source=source.name,
        synthetic_data=source.is_synthetic,
        series_start=inception,
    )


def curate_market(ctx: Context, start: DateLike, end: DateLike, progress: bool = False) -> dict:
    """raw.market -> curated.market_daily for [start, end] (reads one extra session back)."""
    days = _days(start, end)
    raw = ctx.lake.read(contracts.RAW_MARKET, shift_trading_days(days[0], -1), days[-1])
    _require_days(raw, days, contracts.RAW_MARKET)
    curated = curate(raw, days[0])
    report = ctx.lake.write_partitions(contracts.CURATED_MARKET, curated, progress=progress)
    return _summary("curate", days, report)


def features(ctx: Context, start: DateLike, end: DateLike, progress: bool = False) -> dict:
    """curated -> features_daily for [start, end], reading only the lookback it needs."""
    days = _days(start, end)
    window_start = shift_trading_days(days[0], -(LOOKBACK_SESSIONS - 1))
    curated = ctx.lake.read(contracts.CURATED_MARKET, window_start, days[-1])
    # Rolling windows count rows: a hole in the lookback would silently stretch them.
    window = trading_days(window_start, days[-1])
    _require_days(curated, window[window >= curated["date"].min()], contracts.CURATED_MARKET)
    table = build_features(curated)
    table = table.loc[table["date"].between(days[0], days[-1])]
    report = ctx.lake.write_partitions(contracts.FEATURES, table, progress=progress)
    skipped = days.difference(pd.DatetimeIndex(table["date"]))
    return _summary("features", days, report, days_without_features=len(skipped))


def labels(ctx: Context, start: DateLike, end: DateLike, progress: bool = False) -> dict:
    """labels_daily for the label dates that became known with curated data up to ``end``.

    rv_5d at t needs returns t+1..t+5, so curating [start, end] completes labels for
    t in [start - 5, end - 5] sessions.
    """
    days = _days(start, end)
    first = shift_trading_days(days[0], -HORIZON_SESSIONS)
    last = shift_trading_days(days[-1], -HORIZON_SESSIONS)
    curated = ctx.lake.read(contracts.CURATED_MARKET, first, days[-1], columns=["symbol", "ret"])
    table = build_labels(curated)
    table = table.loc[table["date"].between(first, last)]
    report = ctx.lake.write_partitions(contracts.LABELS, table, progress=progress)
    return _summary("labels", trading_days(first, last), report)


def _require_days(frame: pd.DataFrame, days: pd.DatetimeIndex, table: str) -> None:
    missing = days.difference(pd.DatetimeIndex(frame["date"].unique()))
    if len(missing):
        shown = ", ".join(d.date().isoformat() for d in missing[:5])
        raise IngestError(f"{table} has no partition for {shown}: run the step before it first")


def backfill(
    ctx: Context,
    start: DateLike,
    end: DateLike,
    source: MarketSource | None = None,
    progress: bool = True,
) -> list[dict]:
    """The whole chain over a range, each step complete before the next starts."""
    return [
        ingest(ctx, start, end, source=source, progress=progress),
        curate_market(ctx, start, end, progress=progress),
        features(ctx, start, end, progress=progress),
        labels(ctx, start, end, progress=progress),
    ]


def daily(ctx: Context, day: DateLike, source: MarketSource | None = None) -> list[dict]:
    """One evening: the day's ingest -> curated -> features -> labels that became known ->
    predictions, when a model is promoted."""
    day = to_day(day)
    summaries = backfill(ctx, day, day, source=source, progress=False)
    if serving_version(ctx) is not None:
        summaries.append(infer(ctx, day, day))
    else:
        summaries.append({"step": "infer", "skipped": "no model promoted yet"})
    return summaries


# -- model steps --------------------------------------------------------------------------------


class NoModelError(RuntimeError):
    """No model is promoted (or pinned) yet: nothing can be scored."""


def training_table(ctx: Context, asof: DateLike) -> pd.DataFrame:
    """Features joined with the labels that were already known at the close of ``asof``.

    rv_5d at t is known at t+5, so only label dates <= asof - 5 sessions may train a model
    used at ``asof``: later labels would be the future leaking into the past.
    """
    last_label = shift_trading_days(asof, -HORIZON_SESSIONS)
    feats = ctx.lake.read(contracts.FEATURES, end=last_label)
    labs = ctx.lake.read(contracts.LABELS, end=last_label)
    return feats.merge(labs, on="date", how="inner", validate="one_to_one")


def model_registry(ctx: Context) -> ModelRegistry:
    return ModelRegistry(ctx.lake)


def _load(ctx: Context, version: str) -> CandidateModel:
    with tempfile.TemporaryDirectory() as folder:
        model_registry(ctx).materialize(version, folder)
        return CandidateModel.load(folder, thread_count=ctx.settings.thread_count)


def serving_version(ctx: Context) -> str | None:
    """The version to score with: VOLCAST_MODEL_VERSION if pinned, else PRODUCTION."""
    return model_registry(ctx).resolve(ctx.settings.model_version)


def train(ctx: Context, asof: DateLike | None = None) -> dict:
    """Fit a candidate, gate it against HAR-X(VIX) and production, register, maybe promote.

    Always registers the candidate (refused ones too: their figures are the audit trail);
    promotes only when the gate passes, then runs the canary, which rolls back on failure.
    """
    registry = model_registry(ctx)
    asof = to_day(asof) if asof is not None else ctx.lake.partitions(contracts.FEATURES)[-1]
    data = training_table(ctx, asof)
    previous = registry.production()
    production = production_recipe(registry.show(previous)) if previous else None
    outcome = train_candidate(
        data,
        asof=asof,
        min_improvement=ctx.settings.gate_min_improvement,
        thread_count=ctx.settings.thread_count,
        window=GateWindow(
            ctx.settings.gate_window_sessions, ctx.settings.gate_refit_every, GateWindow.min_train
        ),
        production=production,
        source=lake_source(ctx),
    )
    version = registry.register(outcome.files, outcome.metadata)
    summary: dict[str, Any] = {
        "step": "train",
        "asof": asof.date().isoformat(),
        "version": version,
        "training_rows": len(data),
        "gate_window": outcome.evaluation["start"] + ".." + outcome.evaluation["end"],
        "models": outcome.evaluation["models"],
        "improvement_vs_harx_pct": outcome.evaluation["improvement_pct"],
        "gate": outcome.decision.to_dict(),
        "production_before": previous,
        "synthetic_data": bool(lake_source(ctx).get("synthetic")),
    }
    if not outcome.decision.passed:
        summary["decision"] = "refused"
        summary["production_after"] = previous
        if previous is None:
            summary["hint"] = (
                "nothing is in production; to serve this model anyway: "
                f'volcast models promote {version} --override "<reason>"'
            )
        return summary
    summary["canary"] = canary_check(ctx, version, previous)
    if not summary["canary"]["passed"]:
        summary["decision"] = "refused"
        summary["gate"]["reason"] += f"; canary failed: {summary['canary']['reason']}"
    else:
        registry.promote(version)
        summary["decision"] = "promoted"
    summary["production_after"] = registry.production()
    return summary


def canary_check(ctx: Context, version: str, previous: str | None) -> dict:
    """Re-score the last N feature days with ``version`` as it will be served.

    It runs on the registered artifact (loaded back from the lake, the serving path) before
    the PRODUCTION pointer moves, so a model that fails it never serves a request.
    """
    days = ctx.lake.partitions(contracts.FEATURES)[-ctx.settings.canary_days :]
    feats = ctx.lake.read(contracts.FEATURES, days[0], days[-1])
    try:
        new = _load(ctx, version).predict_vol(feats)
        old = _load(ctx, previous).predict_vol(feats) if previous else None
        return run_canary(new, old, ctx.settings.canary_max_jump).to_dict()
    except Exception as exc:  # an error while scoring is a failed canary, not a crashed job
        return {"passed": False, "days": len(days), "reason": f"error while scoring: {exc}"}


def promote(ctx: Context, version: str, override: str | None = None) -> dict:
    """Manual promotion: the canary still runs; a gate-failed version needs ``override``."""
    registry = model_registry(ctx)
    if not registry.show(version)["gate"]["passed"] and not (override or "").strip():
        registry.promote(version)  # raises GateRefused with the gate's reason
    previous = registry.production()
    result = canary_check(ctx, version, previous)
    if not result["passed"]:
        return {"step": "promote", "version": version, "promoted": False, "canary": result}
    registry.promote(version, override=override)
    return {
        "step": "promote",
        "version": version,
        "promoted": True,
        "canary": result,
        "production_before": previous,
        "override": override,
    }


def infer(ctx: Context, start: DateLike, end: DateLike) -> dict:
    """predictions_daily for the feature days in [start, end] with the serving model."""
    version = serving_version(ctx)
    if version is None:
        raise NoModelError(
            "no model is promoted yet: run `volcast train` (or promote a version with "
            "`volcast models promote V --override REASON`)"
        )
    days = _days(start, end)
    feats = ctx.lake.read(contracts.FEATURES, days[0], days[-1])
    if feats.empty:
        raise IngestError(f"no features between {days[0].date()} and {days[-1].date()}")
    table = predictions_frame(_load(ctx, version), feats, version)
    report = ctx.lake.write_partitions(contracts.PREDICTIONS, table)
    summary = _summary("infer", days, report, model_version=version)
    mirror = mirror_from_settings(ctx.settings)
    if mirror is not None:
        summary["dynamodb_items_written"] = mirror.upsert(table)
    return summary


def latest_forecast(ctx: Context) -> dict:
    """The newest stored prediction, for people: value, drivers, model, data source."""
    days = ctx.lake.partitions(contracts.PREDICTIONS)
    if not days:
        return {}
    row = ctx.lake.read(contracts.PREDICTIONS, days[-1], days[-1]).iloc[0]
    return {
        "as_of": days[-1].date().isoformat(),
        "rv_5d_hat": float(row["rv_5d_hat"]),
        "top_drivers": row["top_drivers"][:5],
        "model_version": row["model_version"],
        "data_source": lake_source(ctx),
    }


def evaluate(
    settings: Settings,
    out_dir: Path,
    start: DateLike = "2012-01-03",
    refit_every: int = 21,
    source: MarketSource | None = None,
) -> dict:
    """Walk-forward backtest of the candidate against every baseline, straight from a source.

    Research, not production: it reads the source into memory (through the same contracts,
    curation, features and labels as the pipeline) and writes nothing to the lake, so a real
    data evaluation never mixes into a synthetic lake or vice versa. Writes evaluation.json,
    forecasts.png and shap_importance.png into ``out_dir``.
    """
    source = source or get_source(settings)
    raw = source.fetch(SYMBOLS, settings.history_start, latest_trading_day())
    if raw.empty:
        raise IngestError(f"source {source.name} returned no data")
    common_end = raw.groupby("symbol")["date"].max().min()  # last day every series has
    raw = raw.loc[raw["date"] <= common_end]
    check_complete(raw, trading_days(raw["date"].min(), common_end), SYMBOLS)
    curated = curate(contracts.validate(contracts.RAW_MARKET, raw), raw["date"].min())
    curated = contracts.validate(contracts.CURATED_MARKET, curated)
    data = build_features(curated).merge(build_labels(curated), on="date", validate="one_to_one")
    report = run_evaluation(
        data, start=start, refit_every=refit_every, thread_count=settings.thread_count
    )
    report["data"] = {
        "source": source.name,
        "synthetic": source.is_synthetic,
        "features_from": data["date"].min().date().isoformat(),
        "labels_to": data["date"].max().date().isoformat(),
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    plot_forecasts(report.pop("forecasts"), out_dir / "forecasts.png")
    importance = report.pop("importance")
    plot_importance(list(importance.index), importance.to_numpy(), out_dir / "shap_importance.png")
    report["shap_importance_top10"] = importance.head(10).round(6).to_dict()
    (out_dir / "evaluation.json").write_text(json.dumps(report, indent=2, default=str))
    return report


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
    trained = [
        v
        for v in registry.list()
        if registry.show(v.version)["training_data"]["asof"] == asof.date().isoformat()
    ]
    if trained:
        training = {
            "step": "train",
            "skipped": f"already trained for {asof.date()}",
            "version": trained[-1].version,
            "gate": registry.show(trained[-1].version)["gate"],
        }
    else:
        training = train(ctx, asof)
    result: dict[str, Any] = {"data_steps": data, "train": training}
    if serving_version(ctx) is None:
        result["forecast"] = None
        result["message"] = (
            "no model in production: the candidate did not pass the gate (see train.gate). "
            + training.get("hint", "")
        )
        return result
    result["infer"] = infer(ctx, asof, asof)
    result["forecast"] = latest_forecast(ctx)
    return result
