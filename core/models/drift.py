"""Feature drift: is the model's recent input unlike what it learned from?

Population stability index (Siddiqi 2006, "Credit Risk Scorecards", ch. 8; Yurdakul 2018,
"Statistical properties of population stability index") of one feature:

    PSI = sum_b (a_b - e_b) * ln(a_b / e_b)

over bins b whose edges are the training deciles of the feature (``BINS`` bins; repeated edges
merged), e_b the training share of bin b and a_b the share of the last N sessions (default 20),
both floored at ``EPS`` so an empty bin stays finite. 0 when the two agree; > 0.25 is the
usual "significant shift".

Measured on SPY's features (docs/models.md, "Feature drift"): 20 sessions of a persistent
feature (a 63-day vol, a correlation) sit in one or two deciles of an 18-year history, so raw
PSI exceeded 0.25 on every weekly check since 2015 (median max PSI ~8): a regime, not drift.
So each feature also stores ``null_psi``, the largest PSI any N-session window of the
training rows had against the same bins, and the alarm reads the excess over it,

    excess = max(PSI - null_psi, 0),

which is 0 for anything the training data itself showed and measures how far beyond it today's
window is. Both figures are emitted; the alarm is on the excess (terraform/modules/monitoring).

Everything a version needs is stored in its metadata.json (``drift``): window, bins, eps and,
per model feature, the edges, the training shares and null_psi.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

#: Sessions in the window compared with the training distribution.
WINDOW = 20
#: Quantile bins of the training distribution (deciles).
BINS = 10
#: Floor of a bin's share, so an empty bin gives a large but finite term.
EPS = 1e-4
#: The excess PSI the drift alarm fires on (3 days in a row: terraform/modules/monitoring).
THRESHOLD = 0.25


def bin_edges(values: NDArray[np.float64], bins: int = BINS) -> NDArray[np.float64]:
    """Interior edges at the training quantiles 1/bins .. (bins-1)/bins, repeats merged
    (a feature with few distinct values gets fewer bins). Bin b holds edges[b-1] <= x <
    edges[b]; the outer bins are open-ended, so values beyond the training range count."""
    x = np.asarray(values, dtype=np.float64)
    return np.unique(np.quantile(x, np.linspace(0.0, 1.0, bins + 1)[1:-1]))


def bin_counts(values: NDArray[np.float64], edges: NDArray[np.float64]) -> NDArray[np.float64]:
    """How many ``values`` fall in each of the len(edges) + 1 bins."""
    idx = np.searchsorted(edges, np.asarray(values, dtype=np.float64), side="right")
    return np.bincount(idx, minlength=len(edges) + 1).astype(np.float64)


def psi(
    expected: NDArray[np.float64], actual: NDArray[np.float64], eps: float = EPS
) -> NDArray[np.float64] | float:
    """PSI of shares ``actual`` against ``expected`` over the last axis (shares, or counts:
    each row is normalized to sum 1 first)."""
    a = np.asarray(actual, dtype=np.float64)
    a = np.maximum(a / a.sum(axis=-1, keepdims=True), eps)
    e = np.maximum(np.asarray(expected, dtype=np.float64), eps)
    out = ((a - e) * np.log(a / e)).sum(axis=-1)
    return float(out) if np.ndim(out) == 0 else out


def window_psis(
    values: NDArray[np.float64], edges: NDArray[np.float64], expected: NDArray[np.float64], n: int
) -> NDArray[np.float64]:
    """PSI of every run of ``n`` consecutive rows of ``values`` (len - n + 1 of them), by
    cumulative bin counts: O(len * bins)."""
    idx = np.searchsorted(edges, np.asarray(values, dtype=np.float64), side="right")
    onehot = np.zeros((idx.size + 1, len(edges) + 1))
    onehot[np.arange(1, idx.size + 1), idx] = 1.0
    cumulative = np.cumsum(onehot, axis=0)
    counts = cumulative[n:] - cumulative[:-n]
    return np.asarray(psi(expected, counts), dtype=np.float64).reshape(-1)


def drift_reference(
    data: pd.DataFrame, features: Sequence[str], window: int = WINDOW, bins: int = BINS
) -> dict[str, Any]:
    """What a version stores to judge drift later (metadata ``drift``): per feature of
    ``features`` the decile edges of its training rows (``data``, date order), the training
    share of each bin and ``null_psi`` (the largest PSI of any ``window``-row run of them).
    Raises ValueError when ``data`` has fewer rows than ``window``."""
    if len(data) < window:
        raise ValueError(f"drift reference needs at least {window} training rows, got {len(data)}")
    ordered = data.sort_values("date") if "date" in data.columns else data
    out: dict[str, Any] = {}
    for name in features:
        x = ordered[name].to_numpy(dtype=np.float64)
        edges = bin_edges(x, bins)
        expected = bin_counts(x, edges) / x.size
        out[name] = {
            "edges": [float(v) for v in edges],
            "expected": [float(v) for v in expected],
            "null_psi": float(window_psis(x, edges, expected, window).max()),
        }
    return {"window": window, "bins": bins, "eps": EPS, "features": out}


@dataclass(frozen=True)
class FeatureDrift:
    """One feature's drift over the window: raw PSI and its excess over the training null."""

    feature: str
    psi: float
    null_psi: float

    @property
    def excess(self) -> float:
        return max(self.psi - self.null_psi, 0.0)


@dataclass(frozen=True)
class DriftReport:
    """Drift of every model feature over one window of sessions, largest excess first."""

    start: str
    end: str
    sessions: int
    features: tuple[FeatureDrift, ...]

    @property
    def max_psi(self) -> FeatureDrift:
        return max(self.features, key=lambda f: f.psi)

    @property
    def max_excess(self) -> FeatureDrift:
        return self.features[0]

    @property
    def drifting(self) -> bool:
        return self.max_excess.excess > THRESHOLD

    def top(self, k: int = 5) -> tuple[FeatureDrift, ...]:
        return self.features[:k]

    def to_dict(self, k: int = 5) -> dict[str, Any]:
        return {
            "start": self.start,
            "end": self.end,
            "sessions": self.sessions,
            "max_psi": round(self.max_psi.psi, 6),
            "max_psi_feature": self.max_psi.feature,
            "max_excess_psi": round(self.max_excess.excess, 6),
            "max_excess_feature": self.max_excess.feature,
            "threshold": THRESHOLD,
            "drifting": self.drifting,
            "top": [
                {
                    "feature": f.feature,
                    "psi": round(f.psi, 6),
                    "null_psi": round(f.null_psi, 6),
                    "excess": round(f.excess, 6),
                }
                for f in self.top(k)
            ],
        }


def feature_drift(recent: pd.DataFrame, reference: Mapping[str, Any]) -> DriftReport:
    """PSI of each reference feature over the rows of ``recent`` (date + feature columns: the
    last ``reference['window']`` sessions) against the stored training bins. Raises KeyError
    naming features ``recent`` lacks, ValueError when it has no rows."""
    if recent.empty:
        raise ValueError("no recent feature rows to compare with the training distribution")
    specs: Mapping[str, Any] = reference["features"]
    missing = [f for f in specs if f not in recent.columns]
    if missing:
        raise KeyError(f"features_daily lacks model features {missing}")
    eps = float(reference.get("eps", EPS))
    drifts = []
    for name, spec in specs.items():
        counts = bin_counts(recent[name].to_numpy(np.float64), np.asarray(spec["edges"]))
        value = float(psi(np.asarray(spec["expected"]), counts, eps))
        drifts.append(FeatureDrift(name, value, float(spec["null_psi"])))
    drifts.sort(key=lambda f: (-f.excess, -f.psi, f.feature))
    dates = pd.to_datetime(recent["date"])
    return DriftReport(
        start=dates.min().date().isoformat(),
        end=dates.max().date().isoformat(),
        sessions=len(recent),
        features=tuple(drifts),
    )
