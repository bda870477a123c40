"""Forecast bands: a calibrated 80% interval for rv_5d from the model's own out-of-sample errors.

Method: split conformal prediction (Vovk, Gammerman & Shafer 2005; Lei, G'Sell, Rinaldo,
Tibshirani & Wasserman 2018, "Distribution-free predictive inference for regression", JASA
113(523), section 2.2) on the log error of annualized vol,

    e = log(rv_5d / rv_5d_hat),

of the served model's walk-forward out-of-sample forecasts: the gate window's (756 sessions,
refits every 63) at train time, known before the model serves. The two tails are calibrated
separately, each at (1 - level) / 2 with the finite-sample rank of split conformal:

    q_lo = e_(k_lo), k_lo = floor((n + 1) * (1 - level) / 2)       (the k-th smallest)
    q_hi = e_(k_hi), k_hi = ceil((n + 1) * (1 + level) / 2)
    band = [rv_5d_hat * exp(q_lo), rv_5d_hat * exp(q_hi)]

An error in logs is relative, so the band scales with the forecast's level (the "normalized"
variant of conformal regression with the forecast itself as the scale; Papadopoulos et al. 2008)
and is asymmetric like the distribution of realized vol.

Caveat: conformal coverage is guaranteed for exchangeable errors; 5-day labels overlap and
volatility clusters, so coverage is *measured* (``band_report`` in ``volcast evaluate``, on a
rolling calibration that only uses errors whose labels were known), not assumed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from core.models.walkforward import LABEL, LABEL_HORIZON, PERIODS

#: The band's nominal coverage.
BAND_LEVEL = 0.8
#: Fewest out-of-sample errors a band is calibrated on: below, a tail quantile at 10% rests on
#: fewer than ~25 errors (and ~5 independent 5-day labels): no band rather than a wild one.
MIN_ERRORS = 100
#: How the version's band was calibrated (metadata ``band.method``).
METHOD = "split conformal on out-of-sample log errors log(rv_5d / rv_5d_hat)"


@dataclass(frozen=True)
class Band:
    """Calibrated log-error quantiles: the band of a forecast h is [h e^q_lo, h e^q_hi]."""

    level: float
    q_lo: float
    q_hi: float
    n_errors: int
    errors_from: str | None = None
    errors_to: str | None = None
    source: str | None = None
    method: str = METHOD

    def interval(self, vol: NDArray[np.float64] | float) -> tuple[NDArray[np.float64], ...]:
        """(lo, hi) annualized vols around forecast(s) ``vol``."""
        v = np.asarray(vol, dtype=np.float64)
        return v * math.exp(self.q_lo), v * math.exp(self.q_hi)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_metadata(cls, metadata: Mapping[str, Any]) -> Band | None:
        """The band a version's metadata.json records (``band``), or None (older versions, or
        a first champion fitted without out-of-sample errors)."""
        entry = metadata.get("band")
        if not isinstance(entry, Mapping):
            return None
        fields = {k: entry[k] for k in cls.__dataclass_fields__ if k in entry}
        return cls(**fields)


def log_errors(realized: NDArray[np.float64], forecast: NDArray[np.float64]) -> NDArray[np.float64]:
    """log(realized / forecast), element-wise: > 0 where vol came out higher than forecast."""
    return np.log(np.asarray(realized, np.float64) / np.asarray(forecast, np.float64))


def conformal_quantiles(
    errors: NDArray[np.float64], level: float = BAND_LEVEL
) -> tuple[float, float]:
    """(q_lo, q_hi): split-conformal quantiles of ``errors`` for a two-sided ``level`` band,
    each tail at (1 - level) / 2 (ranks in the module docstring). Raises ValueError when there
    are too few errors for the ranks to exist (n < 2 / (1 - level) - 1)."""
    e = np.sort(np.asarray(errors, dtype=np.float64))
    n = e.size
    alpha = (1.0 - level) / 2.0
    # The ranks' products are integers on round levels (20 * 0.1 = 2): a tolerance keeps float
    # error (0.1 is 0.09999999999999998 as (1 - 0.8) / 2) from moving them by one.
    k_lo = math.floor((n + 1) * alpha + 1e-9)
    k_hi = math.ceil((n + 1) * (1.0 - alpha) - 1e-9)
    if not 0.0 < level < 1.0 or k_lo < 1 or k_hi > n:
        raise ValueError(f"{n} errors are too few for a {level:.0%} conformal band")
    return float(e[k_lo - 1]), float(e[k_hi - 1])


def calibrate(
    forecasts: pd.DataFrame, model: str, level: float = BAND_LEVEL, source: str | None = None
) -> Band | None:
    """The band of ``model`` from a walk-forward frame (date, rv_5d, one column per model):
    every row is an out-of-sample forecast. None when fewer than MIN_ERRORS rows."""
    if len(forecasts) < MIN_ERRORS:
        return None
    errors = log_errors(
        forecasts[LABEL].to_numpy(np.float64), forecasts[model].to_numpy(np.float64)
    )
    q_lo, q_hi = conformal_quantiles(errors, level)
    dates = pd.to_datetime(forecasts["date"])
    return Band(
        level=level,
        q_lo=q_lo,
        q_hi=q_hi,
        n_errors=int(errors.size),
        errors_from=dates.min().date().isoformat(),
        errors_to=dates.max().date().isoformat(),
        source=source or f"walk-forward out-of-sample forecasts of {model}",
    )


def rolling_bands(
    forecasts: pd.DataFrame,
    model: str,
    *,
    level: float = BAND_LEVEL,
    window: int | None = 756,
    min_errors: int = MIN_ERRORS,
    horizon: int = LABEL_HORIZON,
) -> pd.DataFrame:
    """Bands for every row of a walk-forward frame from earlier rows' errors only.

    Row i (sorted by date, one row per session: the row clock of core.models.walkforward) is
    calibrated on the errors of rows j <= i - horizon, whose labels were known at i's close,
    the last ``window`` of them (every one when None), as a train on that day would store
    them. Rows with fewer than ``min_errors`` such errors get no band (NaN).
    Returns date, rv_5d, rv_5d_hat, rv_5d_lo, rv_5d_hi, n_errors.
    """
    frame = forecasts.sort_values("date").reset_index(drop=True)
    hat = frame[model].to_numpy(np.float64)
    errors = log_errors(frame[LABEL].to_numpy(np.float64), hat)
    n = len(frame)
    q_lo = np.full(n, np.nan)
    q_hi = np.full(n, np.nan)
    used = np.zeros(n, dtype=int)
    for i in range(n):  # one quantile pair per day; n ~ 3,700: cheap
        stop = i - horizon + 1
        start = 0 if window is None else max(0, stop - window)
        if stop - start < min_errors:
            continue
        q_lo[i], q_hi[i] = conformal_quantiles(errors[start:stop], level)
        used[i] = stop - start
    return pd.DataFrame(
        {
            "date": pd.to_datetime(frame["date"]).to_numpy(),
            LABEL: frame[LABEL].to_numpy(np.float64),
            "rv_5d_hat": hat,
            "rv_5d_lo": hat * np.exp(q_lo),
            "rv_5d_hi": hat * np.exp(q_hi),
            "n_errors": used,
        }
    )


def coverage(bands: pd.DataFrame) -> dict[str, Any]:
    """Share of rows whose realized rv_5d lies in [lo, hi], the mean width (annualized vol)
    and mean relative width (width / forecast), over rows that have a band."""
    part = bands.dropna(subset=["rv_5d_lo", "rv_5d_hi"])
    if part.empty:
        return {"n": 0, "coverage": None, "mean_width": None, "mean_relative_width": None}
    realized = part[LABEL].to_numpy(np.float64)
    lo, hi = part["rv_5d_lo"].to_numpy(np.float64), part["rv_5d_hi"].to_numpy(np.float64)
    width = hi - lo
    return {
        "n": len(part),
        "start": part["date"].min().date().isoformat(),
        "end": part["date"].max().date().isoformat(),
        "coverage": float(np.mean((realized >= lo) & (realized <= hi))),
        "below": float(np.mean(realized < lo)),
        "above": float(np.mean(realized > hi)),
        "mean_width": float(width.mean()),
        "mean_relative_width": float(np.mean(width / part["rv_5d_hat"].to_numpy(np.float64))),
    }


def band_report(
    bands: pd.DataFrame, periods: Mapping[str, tuple[str, str]] | None = None
) -> dict[str, Any]:
    """Coverage overall, per sub-period (core.models.walkforward.PERIODS) and in the top
    decile of realized vol (rows whose rv_5d is at or above the 90th percentile of the rows
    with a band: a full-period cut, conditional on the outcome)."""
    dates = pd.to_datetime(bands["date"])
    out: dict[str, Any] = {"full": coverage(bands)}
    for name, (lo, hi) in (PERIODS if periods is None else periods).items():
        out[name] = coverage(bands.loc[(dates >= pd.Timestamp(lo)) & (dates <= pd.Timestamp(hi))])
    banded = bands.dropna(subset=["rv_5d_lo", "rv_5d_hi"])
    if not banded.empty:
        cut = float(np.quantile(banded[LABEL], 0.9))
        top = coverage(banded.loc[banded[LABEL] >= cut])
        out["top_decile_rv"] = {**top, "rv_5d_at_least": cut}
    return out
