"""Model steps: train with the gate, canary, promote, infer, evaluate."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd

from core import contracts
from core.calendar import DateLike, latest_trading_day, shift_trading_days, to_day, trading_days
from core.config import SYMBOLS, Settings
from core.features import build_features
from core.labels import HORIZON_SESSIONS, build_labels
from core.market import curate
from core.mirror import mirror_from_settings
from core.models.candidate import CandidateModel
from core.models.charts import plot_forecasts, plot_importance
from core.models.inference import canary as run_canary
from core.models.inference import predictions_frame
from core.models.registry import ModelRegistry
from core.models.training import GateWindow, production_recipe, run_evaluation, train_candidate
from core.sources import MarketSource, get_source
from core.steps.context import (
    Context,
    IngestError,
    NoModelError,
    lake_source,
    session_range,
    step_summary,
)
from core.steps.data import bars_from_download, check_complete


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

    Always registers the candidate (refused ones too: their figures are the audit trail).
    Promotes only when the gate passes and then the canary passes on the registered artifact.
    """
    registry = model_registry(ctx)
    asof = to_day(asof) if asof is not None else ctx.lake.partitions(contracts.FEATURES)[-1]
    data = training_table(ctx, asof)
    source = lake_source(ctx)
    previous = registry.production()
    production = production_recipe(registry.show(previous)) if previous else None
    outcome = train_candidate(
        data,
        asof=asof,
        min_improvement=ctx.settings.gate_min_improvement,
        thread_count=ctx.settings.thread_count,
        window=GateWindow(
            sessions=ctx.settings.gate_window_sessions, refit_every=ctx.settings.gate_refit_every
        ),
        production=production,
        source=source,
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
        "synthetic_data": bool(source.get("synthetic")),
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
    registry.check_promotable(version, override)  # before the canary's cost
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
    days = session_range(start, end)
    feats = ctx.lake.read(contracts.FEATURES, days[0], days[-1])
    if feats.empty:
        raise IngestError(f"no features between {days[0].date()} and {days[-1].date()}")
    table = predictions_frame(_load(ctx, version), feats, version)
    report = ctx.lake.write_partitions(contracts.PREDICTIONS, table)
    summary = step_summary("infer", days, report, model_version=version)
    mirror = mirror_from_settings(ctx.settings)
    if mirror is not None:
        summary["dynamodb_items_written"] = mirror.upsert(table)
    return summary


def latest_forecast(ctx: Context, day: DateLike | None = None) -> dict:
    """The stored prediction for ``day`` (default: the newest), for people: value, drivers,
    model, data source; {} when there is none."""
    days = ctx.lake.partitions(contracts.PREDICTIONS, day, day)
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
    days = trading_days(raw["date"].min(), common_end)
    check_complete(raw, days, SYMBOLS)
    bars, _ = bars_from_download(Context.from_settings(settings).lake, raw, days)
    curated = curate(bars, days[0])
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


EVALUATION_FILES = ("evaluation.json", "forecasts.png", "shap_importance.png")


def store_evaluation(ctx: Context, out_dir: Path, name: str) -> dict[str, str]:
    """Copy an evaluation's files into the lake (artifacts/evaluation/<name>/) and return
    each file's address there, so a run on a short-lived container leaves them behind."""
    stored = {}
    for file in EVALUATION_FILES:
        key = f"artifacts/evaluation/{name}/{file}"
        ctx.lake.put_bytes(key, (out_dir / file).read_bytes())
        address = f"{ctx.lake.uri.rstrip('/')}/{key}"
        stored[file] = address if "://" in address else Path(address).resolve().as_uri()
    return stored
