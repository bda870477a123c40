"""What a person reads about a run: the day's forecast in context, and a train run's verdict.

The figures only, as typed results; flows/ renders them (Prefect artifacts, state names) and
the CLI prints them. Everything here reads the lake and the registry; nothing is written.

Units: forecasts and vols are annualized decimals (0.1238 = 12.38% a year, not a 12% move in
a week); a driver's effect is in percent of the forecast vol (core.explain.vol_effect_pct).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from core import contracts
from core.calendar import DateLike, shift_trading_days, to_day
from core.explain import vol_effect_pct
from core.features import FEATURE_DESCRIPTIONS, format_feature
from core.labels import HORIZON_SESSIONS
from core.links import ObjectLink, object_link
from core.models.bands import BAND_LEVEL
from core.models.gate import METRICS
from core.steps.context import Context
from core.steps.model import (
    EVALUATION_FILES,
    TrainResult,
    feature_drift_at,
    latest_forecast,
    model_registry,
    serving_status,
)

log = logging.getLogger(__name__)

#: Readable names of the models a train run compares (core.models.training's columns).
MODEL_NAMES: dict[str, str] = {
    "catboost": "CatBoost challenger",
    "harx_vix": "HAR-X(VIX) baseline",
    "har_rv": "HAR-RV",
    "ewma_094": "EWMA (lambda 0.94)",
    "vix_recal": "VIX recalibrated",
    "production": "Champion (serving before this run)",
}
#: The role of a model in the gate's comparison.
MODEL_ROLES: dict[str, str] = {
    "catboost": "candidate",
    "harx_vix": "reference",
    "production": "champion",
}
#: Columns of the models table: metric key -> header.
TABLE_METRICS: dict[str, str] = {
    "qlike": "QLIKE",
    "rmse_variance": "RMSE(var)",
    "rmse_vol": "RMSE(vol)",
    "mz_slope": "MZ slope",
}


@dataclass(frozen=True)
class DriverLine:
    """One driver of a forecast, for people."""

    feature: str
    description: str  # core.features.FEATURE_DESCRIPTIONS
    value: float  # as the model read it
    value_text: str  # in its natural unit (core.features.format_feature)
    shap: float  # contribution to log variance
    effect_pct: float  # how much it moves the forecast vol, in % of it

    @property
    def sentence(self) -> str:
        """ "pushes the forecast up by 4.1%"."""
        way = "up" if self.effect_pct >= 0 else "down"
        return f"pushes the forecast {way} by {abs(self.effect_pct):.1f}%"


@dataclass(frozen=True)
class ForecastReport:
    """The forecast of one day with the context a risk person looks for."""

    as_of: str
    rv_5d_hat: float  # annualized vol of sessions t+1..t+5, decimal
    horizon: tuple[str, ...]  # the sessions t+1..t+5 it covers
    previous_as_of: str | None
    previous_rv_5d_hat: float | None
    realized_vol_22d: float | None  # rv_cc_22d at as_of, decimal
    vix: float | None  # VIX / 100 at as_of
    drivers: tuple[DriverLine, ...]
    model_version: str
    model_kind: str
    model_label: str  # "HAR-X(VIX) baseline" or "CatBoost challenger"
    how_it_serves: str  # the gate's verdict, a first champion, an override with its reason...
    serving_now: bool  # the forecast's model is the one serving now
    data_source: str
    synthetic: bool
    #: Feature drift of the serving version's features over the last sessions
    #: (core.models.drift.DriftReport.to_dict); None for versions without a drift reference.
    drift: dict[str, Any] | None = None
    #: The forecast's band (core.models.bands, annualized vol); None without one.
    rv_5d_lo: float | None = None
    rv_5d_hi: float | None = None
    band_level: float = BAND_LEVEL

    @property
    def change_vol_points(self) -> float | None:
        """Change from the previous forecast in vol points (percentage points)."""
        if self.previous_rv_5d_hat is None:
            return None
        return 100.0 * (self.rv_5d_hat - self.previous_rv_5d_hat)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["drivers"] = [{**asdict(d), "sentence": d.sentence} for d in self.drivers]
        out["change_vol_points"] = self.change_vol_points
        return out

    @property
    def headline(self) -> str:
        """One line: the forecast, its horizon, its model."""
        synthetic = "SYNTHETIC DATA: " if self.synthetic else ""
        return (
            f"{synthetic}forecast as of {self.as_of}: {100 * self.rv_5d_hat:.2f}% annualized vol "
            f"over the next {len(self.horizon)} sessions ({self.horizon[0]}..{self.horizon[-1]}); "
            f"{self.model_label} {self.model_version}"
        )


def driver_line(driver: Mapping[str, Any]) -> DriverLine:
    """A stored driver ({feature, value, shap}) in words and natural units."""
    name, value, shap = str(driver["feature"]), float(driver["value"]), float(driver["shap"])
    return DriverLine(
        feature=name,
        description=FEATURE_DESCRIPTIONS.get(name, name),
        value=value,
        value_text=format_feature(name, value),
        shap=shap,
        effect_pct=vol_effect_pct(shap),
    )


def forecast_horizon(day: DateLike) -> tuple[str, ...]:
    """The XNYS sessions t+1..t+5 a forecast made at the close of ``day`` covers."""
    return tuple(
        shift_trading_days(day, k).date().isoformat() for k in range(1, HORIZON_SESSIONS + 1)
    )


def forecast_report(ctx: Context, day: DateLike | None = None) -> ForecastReport | None:
    """The stored forecast of ``day`` (default: the newest) in context; None when there is none.

    Logs its headline (one line, for the run's log).
    """
    forecast = latest_forecast(ctx, day)
    if not forecast:
        return None
    as_of = to_day(forecast["as_of"])
    earlier = ctx.lake.partitions(contracts.PREDICTIONS, end=shift_trading_days(as_of, -1))
    previous = None
    if earlier:
        previous = ctx.lake.read(contracts.PREDICTIONS, earlier[-1], earlier[-1]).iloc[0]
    row = ctx.lake.read(contracts.FEATURES, as_of, as_of)
    context = row.iloc[0] if not row.empty else None
    drivers = tuple(driver_line(d) for d in forecast["top_drivers"])
    version, kind = forecast["model_version"], forecast["model_kind"]
    how, now = _how_it_serves(ctx, version)
    source = forecast.get("data_source") or {}
    drift = feature_drift_at(ctx, model_registry(ctx).show(version), as_of)
    report = ForecastReport(
        as_of=forecast["as_of"],
        rv_5d_hat=forecast["rv_5d_hat"],
        rv_5d_lo=forecast.get("rv_5d_lo"),
        rv_5d_hi=forecast.get("rv_5d_hi"),
        horizon=forecast_horizon(as_of),
        previous_as_of=earlier[-1].date().isoformat() if earlier else None,
        previous_rv_5d_hat=float(previous["rv_5d_hat"]) if previous is not None else None,
        realized_vol_22d=_column(context, "rv_cc_22d"),
        vix=_column(context, "vix"),
        drivers=drivers,
        model_version=version,
        model_kind=kind,
        model_label=MODEL_NAMES.get(kind, kind),
        how_it_serves=how,
        serving_now=now,
        data_source=str(source.get("source", "unknown")),
        synthetic=bool(source.get("synthetic")),
        drift=drift.to_dict() if drift is not None else None,
    )
    log.info("%s", report.headline)
    return report


def _column(row: Any, name: str) -> float | None:
    return float(row[name]) if row is not None and name in row.index else None


def _how_it_serves(ctx: Context, version: str) -> tuple[str, bool]:
    """Why ``version`` serves (the pin or the pointer's reason, override included) while it
    does; otherwise the reason of its latest promotion. And whether it serves now."""
    status = serving_status(ctx)
    if status is not None and status["version"] == version:
        since = f" (since {status['since']})" if status.get("since") else ""
        return f"{status['reason']}{since}", True
    promotions = model_registry(ctx).show(version).get("promoted") or []
    if not promotions:
        return "never promoted (scored while pinned, or before the pointer moved)", False
    last = promotions[-1]
    reason = last.get("reason") or (f"override: {last['override']}" if last.get("override") else "")
    return f"{reason or 'promoted'} (no longer serving)", False


# -- train runs -------------------------------------------------------------------------------
def train_verdict(result: TrainResult) -> tuple[str, str]:
    """(state name, one-line message) of a train run for the runs list: Promoted, Refused or
    Unchanged (a re-train on the same data and code), with the reason."""
    serving = _serving_phrase(result)
    if result.unchanged:
        return (
            "Unchanged",
            f"same data and code as {result.challenger.version}: nothing new registered, "
            f"production unchanged; {serving}",
        )
    if result.challenger.promoted:
        reason = result.gate["reason"].removeprefix("promoted: ")
        return "Promoted", f"challenger {result.challenger.version} promoted: {reason}"
    reason = result.gate["reason"].removeprefix("not promoted: ").removesuffix("; production stays")
    return "Refused", f"challenger refused: {reason}; {serving}"


def _serving_phrase(result: TrainResult) -> str:
    if result.production_after is None:
        return "no model serves"
    label = MODEL_NAMES.get(result.serving_kind or "", result.serving_kind or "model")
    return f"{label} {result.production_after} serves"


def models_table(result: TrainResult) -> list[dict[str, Any]]:
    """One row per model of the gate window: readable name, role, losses as numbers, and the
    improvement over HAR-X(VIX) in percent (100 * (1 - model / HAR-X); positive = better)."""
    models = result.models
    reference = models.get("harx_vix", {})
    # While the HAR-X(VIX) baseline was the champion, the champion's row is the reference's.
    baseline_champion = result.baseline is not None and result.production_before is not None
    rows = []
    for name, losses in models.items():
        role = MODEL_ROLES.get(name, "baseline")
        label = MODEL_NAMES.get(name, name)
        if baseline_champion and name == "harx_vix":
            role = "reference, champion"
        if baseline_champion and name == "production":
            label = "Champion: the HAR-X(VIX) baseline (same figures as the reference)"
        row: dict[str, Any] = {"model": label, "key": name, "role": role}
        for key, header in TABLE_METRICS.items():
            row[header] = _number(losses.get(key))
        for key, label in METRICS.items():
            row[f"{label} % vs HAR-X"] = _improvement(losses.get(key), reference.get(key))
        rows.append(row)
    return rows


def _number(value: Any) -> float | None:
    return round(float(value), 6) if isinstance(value, int | float) else None


def _improvement(value: Any, reference: Any) -> float | None:
    if not isinstance(value, int | float) or not isinstance(reference, int | float):
        return None
    if reference == 0:
        return None
    return round(100.0 * (1.0 - float(value) / float(reference)), 2)


# -- evaluation charts ------------------------------------------------------------------------
CHART_FILES = tuple(f for f in EVALUATION_FILES if f.endswith(".png"))


def chart_links(ctx: Context, name: str) -> dict[str, ObjectLink]:
    """Browser-openable links to the charts of the stored evaluation ``name``
    (artifacts/evaluation/<name>/, core.steps.store_evaluation): presigned HTTPS on S3 for
    ``settings.link_expiry_seconds`` at most, the image itself (a data: URL) locally."""
    return {
        file: object_link(
            ctx.lake,
            f"artifacts/evaluation/{name}/{file}",
            expires_s=ctx.settings.link_expiry_seconds,
            endpoint_url=ctx.settings.aws_endpoint_url,
        )
        for file in CHART_FILES
    }
