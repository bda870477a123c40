"""Scoring feature rows into predictions_daily rows, and the canary that guards a promotion."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from core.explain import top_drivers
from core.models.bands import Band
from core.models.servable import ServableModel

#: Drivers stored per prediction: the API serves top_k <= this without recomputing SHAP.
STORED_DRIVERS = 10

#: Plausible annualized SPY vol: outside this a forecast is a bug, not a view of the market.
VOL_RANGE = (0.02, 2.5)


def predictions_frame(
    model: ServableModel, features: pd.DataFrame, version: str, band: Band | None = None
) -> pd.DataFrame:
    """predictions_daily rows for every row of ``features`` (date + feature columns), scored
    by ``model`` of either kind (core.models.servable), with the version's forecast band
    (core.models.bands; null bounds without one)."""
    names = list(model.feature_names or ())
    missing = [c for c in names if c not in features.columns]
    if missing:
        raise KeyError(f"model {version} needs features the table lacks: {missing}")
    vol = model.predict_vol(features.loc[:, names])
    lo, hi = band.interval(vol) if band is not None else (np.full(vol.shape, np.nan),) * 2
    return pd.DataFrame(
        {
            "date": features["date"].to_numpy(),
            "rv_5d_hat": vol,
            "top_drivers": top_drivers(model, features, k=STORED_DRIVERS),
            "model_version": version,
            "regime": None,
            "regime_prob": np.nan,
            "rv_5d_lo": lo,
            "rv_5d_hi": hi,
        }
    )


@dataclass(frozen=True)
class CanaryResult:
    """A promotion's first re-score of recent days: what the alarms read."""

    passed: bool
    days: int
    non_finite: int
    out_of_range: int
    max_relative_jump: float | None
    median_relative_jump: float | None
    max_jump_allowed: float
    reason: str

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def canary(new: np.ndarray, previous: np.ndarray | None, max_jump: float) -> CanaryResult:
    """Judge a new model's forecasts of the last N days (and the previous model's, if any).

    Fails on any non-finite or implausible forecast, or when the median relative change
    against the previous model exceeds ``max_jump``: a new model may disagree on some days,
    but one that moves the typical forecast by half is more likely broken than better.
    """
    new = np.asarray(new, dtype=np.float64)
    finite = np.isfinite(new)
    out_of_range = int(np.sum(finite & ((new < VOL_RANGE[0]) | (new > VOL_RANGE[1]))))
    problems = []
    if not finite.all():
        problems.append(f"{int((~finite).sum())} non-finite forecasts")
    if out_of_range:
        problems.append(f"{out_of_range} forecasts outside {VOL_RANGE}")
    max_jump_seen = median_jump = None
    if previous is not None and finite.all():
        jump = np.abs(new / np.asarray(previous, dtype=np.float64) - 1.0)
        max_jump_seen, median_jump = float(jump.max()), float(np.median(jump))
        if not median_jump <= max_jump:
            problems.append(f"median change vs previous model {median_jump:.1%} > {max_jump:.0%}")
    reason = "; ".join(problems) if problems else "all forecasts finite, in range and consistent"
    return CanaryResult(
        passed=not problems,
        days=int(new.size),
        non_finite=int((~finite).sum()),
        out_of_range=out_of_range,
        max_relative_jump=max_jump_seen,
        median_relative_jump=median_jump,
        max_jump_allowed=max_jump,
        reason=reason,
    )
