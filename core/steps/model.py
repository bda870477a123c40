"""Model steps: train with the gate, canary, promote, infer, evaluate."""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from core import contracts
from core.calendar import DateLike, latest_trading_day, shift_trading_days, to_day, trading_days
from core.config import Settings
from core.definitions import HORIZON_SESSIONS, SYMBOLS
from core.errors import IngestError, NoModelError
from core.features import build_features
from core.labels import build_labels
from core.market import curate
from core.mirror import mirror_from_settings
from core.models.bands import Band, rolling_bands
from core.models.charts import (
    plot_bands,
    plot_cumulative_loss_difference,
    plot_forecasts,
    plot_importance,
)
from core.models.drift import DriftReport, feature_drift
from core.models.inference import canary as run_canary
from core.models.inference import predictions_frame
from core.models.registry import PROMOTE_HINT, ModelRegistry
from core.models.servable import (
    CHALLENGER_KIND,
    REFERENCE_KIND,
    ServableModel,
    load_version,
    model_kind,
)
from core.models.training import (
    BAND_WINDOWS,
    FittedVersion,
    GateWindow,
    fit_reference,
    production_recipe,
    run_evaluation,
    train_candidate,
)
from core.models.walkforward import cumulative_loss_difference
from core.sources import get_source
from core.steps.context import Context, lake_source, session_range
from core.steps.data import bars_from_download, check_complete
from core.steps.summaries import InferSummary, JsonView, span

log = logging.getLogger(__name__)


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


def _load(ctx: Context, version: str) -> ServableModel:
    return load_version(model_registry(ctx), version, ctx.settings.thread_count)[0]


def serving_version(ctx: Context) -> str | None:
    """The version to score with: VOLCAST_MODEL_VERSION if pinned, else PRODUCTION."""
    return model_registry(ctx).resolve(ctx.settings.model_version)


@dataclass(frozen=True)
class VersionStep:
    """What a train run did with one version it registered."""

    version: str
    kind: str
    canary: dict[str, Any] | None  # None when it was not a promotion candidate
    promoted: bool
    reason: str  # why it was fitted, or the gate's verdict
    #: An identical version (same data, code and verdict) existed: it was reused, not
    #: registered again (ModelRegistry.find_identical).
    reused: bool = False


@dataclass(frozen=True)
class TrainResult:
    """One train run: the gate's verdict on the challenger, the champion's upkeep, and which
    model serves afterwards and why. ``to_dict`` is the CLI's JSON (``version``, ``decision``
    and ``canary`` are the challenger's)."""

    asof: str
    training_rows: int
    gate_window: str
    models: dict[str, Any]
    improvement_vs_harx_pct: dict[str, float]
    gate: dict[str, Any]
    challenger: VersionStep
    baseline: VersionStep | None
    production_before: str | None
    production_after: str | None
    serving_kind: str | None
    serving_reason: str
    synthetic_data: bool

    @property
    def decision(self) -> str:
        return "promoted" if self.challenger.promoted else "refused"

    @property
    def unchanged(self) -> bool:
        """A re-train on the same data and code: nothing registered, production untouched."""
        steps = (self.challenger, self.baseline)
        same = all(s is None or s.reused for s in steps)
        return same and self.production_before == self.production_after

    @property
    def canary_failed(self) -> bool:
        """A version that was to serve failed its canary: a broken model, which alarms see."""
        steps = (self.challenger, self.baseline)
        return any(s is not None and s.canary is not None and not s.canary["passed"] for s in steps)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "step": "train",
            "asof": self.asof,
            "version": self.challenger.version,
            "decision": self.decision,
            "unchanged": self.unchanged,
            "training_rows": self.training_rows,
            "gate_window": self.gate_window,
            "models": self.models,
            "improvement_vs_harx_pct": self.improvement_vs_harx_pct,
            "gate": self.gate,
        }
        if self.challenger.canary is not None:
            out["canary"] = self.challenger.canary
        out |= {
            "challenger": asdict(self.challenger),
            "baseline": asdict(self.baseline) if self.baseline is not None else None,
            "production_before": self.production_before,
            "production_after": self.production_after,
            "serving_kind": self.serving_kind,
            "serving_reason": self.serving_reason,
            "synthetic_data": self.synthetic_data,
        }
        return out


def train(ctx: Context, asof: DateLike | None = None) -> TrainResult:
    """The weekly train: keep the champion fresh, fit the challenger, gate it, maybe promote.

    1. The gate's walk-forward over the last ``gate_window_sessions`` labelled sessions fits
       the challenger (CatBoost), every baseline and the champion's recipe on identical rows.
    2. While the champion is the HAR-X(VIX) baseline, or nothing serves yet, a fresh baseline
       fitted on every labelled row is registered and, after its canary, promoted: there is
       always a forecast, and the baseline never goes stale.
    3. The challenger fitted on every labelled row is always registered (refused ones too:
       their figures are the audit trail) and promoted only when the gate passes and then its
       canary passes on the registered artifact, against the champion of step 2.
    """
    registry = model_registry(ctx)
    asof = to_day(asof) if asof is not None else ctx.lake.partitions(contracts.FEATURES)[-1]
    data = training_table(ctx, asof)
    source = lake_source(ctx)
    previous = registry.production()
    previous_meta = registry.show(previous) if previous else None
    outcome = train_candidate(
        data,
        asof=asof,
        min_improvement=ctx.settings.gate_min_improvement,
        thread_count=ctx.settings.thread_count,
        window=GateWindow(
            sessions=ctx.settings.gate_window_sessions, refit_every=ctx.settings.gate_refit_every
        ),
        production=production_recipe(previous_meta) if previous_meta else None,
        source=source,
    )
    # A train as of an earlier session than the champion's (a re-run, `run --asof` on a lake
    # that is further on) registers its versions but replaces nothing: a champion is never
    # swapped for one trained on less data.
    champion_asof = (previous_meta or {}).get("training_data", {}).get("asof")
    behind = champion_asof is not None and pd.Timestamp(champion_asof) > asof
    baseline = None
    if previous_meta is None or (model_kind(previous_meta) == REFERENCE_KIND and not behind):
        why = "weekly refit of the HAR-X(VIX) champion" if previous else "first champion"
        fitted = fit_reference(
            data, asof=asof, reason=why, evaluation=outcome.evaluation, source=source
        )
        baseline = _register_and_promote(ctx, fitted, why, asof)
    champion = registry.production()
    reused = registry.find_identical(outcome.metadata)
    version = reused or registry.register(outcome.files, outcome.metadata)
    gate_dict = outcome.decision.to_dict()
    canary = None
    if outcome.decision.passed and version != champion and behind:
        gate_dict["reason"] += f"; not promoted: the champion is trained as of {champion_asof}"
    elif outcome.decision.passed and version != champion:
        canary = canary_check(ctx, version, champion, asof)
        if canary["passed"]:
            registry.promote(version, reason=f"challenger {outcome.decision.reason}")
        else:
            gate_dict["reason"] += f"; canary failed: {canary['reason']}"
    after = registry.production()
    challenger = VersionStep(
        version,
        CHALLENGER_KIND,
        canary,
        promoted=after == version,
        reason=gate_dict["reason"],
        reused=reused is not None,
    )
    return TrainResult(
        asof=asof.date().isoformat(),
        training_rows=len(data),
        gate_window=outcome.evaluation["start"] + ".." + outcome.evaluation["end"],
        models=outcome.evaluation["models"],
        improvement_vs_harx_pct=outcome.evaluation["improvement_pct"],
        gate=gate_dict,
        challenger=challenger,
        baseline=baseline,
        production_before=previous,
        production_after=after,
        serving_kind=model_kind(registry.show(after)) if after else None,
        serving_reason=_serving_sentence(challenger, baseline, after, gate_dict["reason"]),
        synthetic_data=bool(source.get("synthetic")),
    )


def _serving_sentence(
    challenger: VersionStep, baseline: VersionStep | None, after: str | None, gate_reason: str
) -> str:
    """One line for a person: which model serves after this run, and why."""
    if after is None:
        return "no model serves: the HAR-X(VIX) champion failed its canary (see baseline.canary)"
    if challenger.promoted:
        return f"the CatBoost challenger {after} now serves: it passed the gate and its canary"
    if baseline is not None and baseline.promoted:
        return (
            f"the HAR-X(VIX) baseline {after} serves ({baseline.reason}); "
            f"the challenger was refused: {gate_reason}"
        )
    return f"the champion {after} stays; the challenger was refused: {gate_reason}"


def _register_and_promote(
    ctx: Context, fitted: FittedVersion, reason: str, asof: pd.Timestamp
) -> VersionStep:
    """Register a model, run its canary (up to ``asof``) against production, promote it if
    that passes."""
    registry = model_registry(ctx)
    reused = registry.find_identical(fitted.metadata)
    version = reused or registry.register(fitted.files, fitted.metadata)
    canary = canary_check(ctx, version, registry.production(), asof)
    if canary["passed"]:
        registry.promote(version, reason=f"{reason}: the HAR-X(VIX) baseline, the gate's reference")
    else:
        log.error("model version %s failed its canary: %s", version, canary["reason"])
    kind = model_kind(fitted.metadata)
    return VersionStep(
        version, kind, canary, promoted=canary["passed"], reason=reason, reused=bool(reused)
    )


def ensure_champion(
    ctx: Context, asof: DateLike | None = None, data: pd.DataFrame | None = None
) -> VersionStep | None:
    """Promote the HAR-X(VIX) baseline as the first champion when nothing serves yet.

    The daily path calls this, so a new deployment forecasts from its first evening with
    labels, before any weekly train. ``data``: ``training_table(ctx, asof)`` when the caller
    has read it already (the whole history: read once). Returns None when a model already
    serves (pinned or promoted). Raises ValueError when fewer than MIN_REFERENCE_ROWS
    labelled sessions exist.
    """
    if serving_version(ctx) is not None:
        return None
    asof = to_day(asof) if asof is not None else ctx.lake.partitions(contracts.FEATURES)[-1]
    data = training_table(ctx, asof) if data is None else data
    fitted = fit_reference(
        data,
        asof=asof,
        reason="first champion (no model served): out-of-sample figures come with the train",
        source=lake_source(ctx),
    )
    return _register_and_promote(ctx, fitted, "first champion", asof)


def canary_check(
    ctx: Context, version: str, previous: str | None, since: DateLike | None = None
) -> dict:
    """Re-score the lake's last N feature days with ``version`` as it will be served.

    It runs on the registered artifact (loaded back from the lake, the serving path) before
    the PRODUCTION pointer moves, so a model that fails it never serves a request. ``since``
    (a session the newest feature days are known to follow, e.g. a train's asof) bounds the
    listing to the partitions from 3N sessions before it on; without it, or when fewer than
    N are found there, the whole table is listed.
    """
    n = ctx.settings.canary_days
    start = shift_trading_days(since, -3 * n) if since is not None else None
    days = ctx.lake.partitions(contracts.FEATURES, start) if start is not None else []
    if len(days) < n:
        days = ctx.lake.partitions(contracts.FEATURES)
    days = days[-n:]
    feats = ctx.lake.read(contracts.FEATURES, days[0], days[-1])
    try:
        new = _load(ctx, version).predict_vol(feats)
        old = _load(ctx, previous).predict_vol(feats) if previous else None
        return run_canary(new, old, ctx.settings.canary_max_jump).to_dict()
    except Exception as exc:  # an error while scoring is a failed canary, not a crashed job
        return {"passed": False, "days": len(days), "reason": f"error while scoring: {exc}"}


@dataclass(frozen=True, eq=False)
class PromoteResult(JsonView):
    """A promotion by hand: whether ``version`` now serves, and its canary."""

    version: str
    promoted: bool
    canary: dict[str, Any]
    production_before: str | None = None
    override: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out = {
            "step": "promote",
            "version": self.version,
            "promoted": self.promoted,
            "canary": self.canary,
        }
        if self.promoted:
            out |= {"production_before": self.production_before, "override": self.override}
        return out


def promote(ctx: Context, version: str, override: str | None = None) -> PromoteResult:
    """Manual promotion: the canary still runs; a gate-failed version needs ``override``."""
    registry = model_registry(ctx)
    registry.check_promotable(version, override)  # before the canary's cost
    previous = registry.production()
    result = canary_check(ctx, version, previous)
    if not result["passed"]:
        return PromoteResult(version, promoted=False, canary=result)
    registry.promote(version, override=override, reason=None if override else "promoted by hand")
    return PromoteResult(version, True, result, production_before=previous, override=override)


def infer(ctx: Context, start: DateLike, end: DateLike, version: str | None = None) -> InferSummary:
    """predictions_daily for the feature days in [start, end] with the serving model
    (``version``: the serving version when the caller resolved it already), and the feature
    drift of the window up to the last of them.

    The features are read once, from the drift window's first session (or ``start``, when
    earlier) to ``end``. Raises NoModelError when nothing serves, IngestError when [start,
    end] has no features.
    """
    version = version or serving_version(ctx)
    if version is None:
        raise NoModelError(
            f"no model is promoted yet: run `volcast train` (or promote a version: {PROMOTE_HINT})"
        )
    days = session_range(start, end)
    model, metadata = load_version(model_registry(ctx), version, ctx.settings.thread_count)
    window_start = drift_window_start(metadata, days[-1])
    first = days[0] if window_start is None else min(days[0], window_start)
    read = ctx.lake.read(contracts.FEATURES, first, days[-1])
    feats = read[read["date"] >= days[0]].reset_index(drop=True)
    if feats.empty:
        raise IngestError(f"no features between {days[0].date()} and {days[-1].date()}")
    table = predictions_frame(model, feats, version, Band.from_metadata(metadata))
    report = ctx.lake.write_partitions(contracts.PREDICTIONS, table)
    last = feats["date"].max()
    if window_start is None:
        drift = None
    elif last == days[-1]:  # the window is in what was read
        drift = feature_drift(read[read["date"] >= window_start], metadata["drift"])
    else:  # the window ends at an earlier session: it starts earlier than what was read
        drift = feature_drift_at(ctx, metadata, last)
    mirror = mirror_from_settings(ctx.settings)
    return InferSummary(
        "infer",
        **span(days),
        writes=(report,),
        model_version=version,
        drift=drift,
        dynamodb_items_written=mirror.upsert(table) if mirror is not None else None,
    ).logged()


def feature_drift_at(ctx: Context, metadata: dict[str, Any], day: DateLike) -> DriftReport | None:
    """PSI of each model feature over the ``window`` sessions up to ``day`` against the
    training bins a version's metadata stores (core.models.drift); None for versions
    registered before drift references existed."""
    first = drift_window_start(metadata, day)
    if first is None:
        return None
    reference = metadata["drift"]
    recent = ctx.lake.read(contracts.FEATURES, first, day, columns=list(reference["features"]))
    return feature_drift(recent, reference)


def drift_window_start(metadata: dict[str, Any], day: DateLike) -> pd.Timestamp | None:
    """The first session of the drift window ending at ``day`` (the ``window`` sessions a
    version's drift reference compares); None for versions without a drift reference."""
    reference = metadata.get("drift")
    if not reference:
        return None
    return shift_trading_days(day, -(int(reference["window"]) - 1))


def serving_status(ctx: Context) -> dict[str, Any] | None:
    """Which version serves, its kind, and why (the pin, or the PRODUCTION pointer's reason);
    None while nothing serves."""
    registry = model_registry(ctx)
    version = serving_version(ctx)
    if version is None:
        return None
    if ctx.settings.model_version:
        reason, since = "pinned by VOLCAST_MODEL_VERSION", None
    else:
        pointer = registry.pointer() or {}
        reason, since = pointer.get("reason"), pointer.get("promoted_at")
    return {
        "version": version,
        "kind": model_kind(registry.show(version)),
        "reason": reason or "no reason recorded",
        "since": since,
    }


def latest_forecast(ctx: Context, day: DateLike | None = None) -> dict:
    """The stored prediction for ``day`` (default: the newest), for people: value, drivers,
    model and its kind, data source; {} when there is none."""
    days = ctx.lake.partitions(contracts.PREDICTIONS, day, day)
    if not days:
        return {}
    row = ctx.lake.read(contracts.PREDICTIONS, days[-1], days[-1]).iloc[0]
    version = str(row["model_version"])
    return {
        "as_of": days[-1].date().isoformat(),
        "rv_5d_hat": float(row["rv_5d_hat"]),
        "rv_5d_lo": _optional(row.get("rv_5d_lo")),
        "rv_5d_hi": _optional(row.get("rv_5d_hi")),
        "top_drivers": row["top_drivers"][:5],
        "model_version": version,
        "model_kind": model_kind(model_registry(ctx).show(version)),
        "data_source": lake_source(ctx),
    }


def _optional(value: Any) -> float | None:
    """A nullable float column's value (NaN or absent: None)."""
    return None if value is None or pd.isna(value) else float(value)


def evaluate(
    settings: Settings,
    out_dir: Path,
    start: DateLike | None = None,
    refit_every: int | None = None,
) -> dict:
    """Walk-forward backtest of the candidate against every baseline, straight from a source.

    ``start`` (first out-of-sample session) and ``refit_every`` default to the settings'
    ``evaluate_start`` and ``evaluate_refit_every`` (VOLCAST_EVALUATE_*).

    Research, not production: it reads the source into memory (through the same contracts,
    curation, features and labels as the pipeline) and writes nothing to the lake, so a real
    data evaluation never mixes into a synthetic lake or vice versa. Writes evaluation.json,
    forecasts.png, loss_difference.png, shap_importance.png and bands.png (the 80% bands of
    both servable kinds, calibrated on past out-of-sample errors only) into ``out_dir``.
    """
    start = start if start is not None else settings.evaluate_start
    refit_every = refit_every if refit_every is not None else settings.evaluate_refit_every
    source = get_source(settings)
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
    synthetic = source.is_synthetic
    forecasts = report.pop("forecasts")
    plot_forecasts(forecasts, out_dir / "forecasts.png", synthetic=synthetic)
    plot_cumulative_loss_difference(
        cumulative_loss_difference(forecasts), out_dir / "loss_difference.png", synthetic=synthetic
    )
    served = {
        kind: rolling_bands(forecasts, kind, window=BAND_WINDOWS["served"])
        for kind in (CHALLENGER_KIND, REFERENCE_KIND)
    }
    plot_bands(served, out_dir / "bands.png", synthetic=synthetic)
    importance = report.pop("importance")
    names, values = list(importance.index), importance.to_numpy()
    plot_importance(names, values, out_dir / "shap_importance.png", synthetic=synthetic)
    report["shap_importance_top10"] = importance.head(10).round(6).to_dict()
    (out_dir / "evaluation.json").write_text(json.dumps(report, indent=2, default=str))
    return report


EVALUATION_FILES = (
    "evaluation.json",
    "forecasts.png",
    "loss_difference.png",
    "shap_importance.png",
    "bands.png",
)


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
