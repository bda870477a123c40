"""The promotion gate: may a newly trained model replace production? (pure, no I/O)

Rule (ARCHITECTURE.md): promote only when the candidate's out-of-sample QLIKE and RMSE on
variance EACH beat the HAR-X(VIX) baseline, fitted and scored on the same window, by at least
``min_improvement`` (improvement = 1 - candidate/HAR-X), and the candidate is not behind the
current production model on that same window (candidate <= production for both losses).
Without a production model (first promotion) only HAR-X matters. Otherwise production stays.

Boundaries are inclusive, because the rule says "at least": an improvement exactly equal to
the bar passes, and a tie with production passes. A tolerance of 1e-12 absorbs float rounding
(0.0975 / 0.1 is not exactly 0.975 in binary), so "exactly at the bar" means what it says.

Significance: with the Diebold-Mariano p-values of the candidate against HAR-X (HAC, the
walk-forward's lags), the figures and the reason carry them, so a reader sees whether a gain
is distinguishable from noise on that window. They inform; the bar decides.

Broken numbers never promote: a NaN, infinite or non-positive loss (both losses are strictly
positive for any imperfect forecast) gives a refusal that names the figure, instead of a
comparison that NaN would silently make False or inf would make True.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

#: The gate's two losses (lower is better), as core.models.walkforward names them, and how
#: the reason names them.
METRICS: dict[str, str] = {"qlike": "QLIKE", "rmse_variance": "RMSE(var)"}
#: Float slack on the inclusive boundaries (see module docstring).
TOLERANCE = 1e-12


@dataclass(frozen=True)
class GateDecision:
    """Whether to promote, a sentence saying why with the numbers, and the figures behind it."""

    passed: bool
    reason: str
    figures: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Strict-JSON form (NaN/inf figures become null), stored in metadata.json as ``gate``."""
        return {"passed": self.passed, "reason": self.reason, "figures": _finite(self.figures)}


def decide(
    candidate: Mapping[str, float],
    harx: Mapping[str, float],
    production: Mapping[str, float] | None = None,
    *,
    min_improvement: float,
    dm_p_values: Mapping[str, float] | None = None,
) -> GateDecision:
    """Apply the gate to out-of-sample losses measured on one common window.

    ``candidate``, ``harx`` and ``production`` map ``qlike`` and ``rmse_variance`` to mean
    losses; extra keys are ignored. ``min_improvement`` is a fraction
    (settings.gate_min_improvement, 0.025 = 2.5%). ``dm_p_values`` maps the same keys to the
    two-sided Diebold-Mariano p-values of candidate vs HAR-X (reported, never decisive). A
    missing key is a caller bug and raises KeyError; unusable values (NaN, inf, <= 0) give a
    refusal, not an exception.
    """
    if not (math.isfinite(min_improvement) and 0.0 <= min_improvement < 1.0):
        raise ValueError(f"min_improvement must be in [0, 1), got {min_improvement!r}")
    sides: dict[str, Mapping[str, float] | None] = {
        "candidate": candidate,
        "harx": harx,
        "production": production,
    }
    values = {side: _pick(side, m) for side, m in sides.items() if m is not None}
    bar_pct = 100.0 * min_improvement
    figures: dict[str, Any] = {
        "min_improvement_pct": bar_pct,
        "has_production": production is not None,
        "metrics": {},
    }

    broken = [
        f"{side} {METRICS[key]} = {value!r}"
        for side, by_metric in values.items()
        for key, value in by_metric.items()
        if not (math.isfinite(value) and value > 0.0)
    ]
    if broken:
        for key in METRICS:
            figures["metrics"][key] = {side: values[side][key] for side in values}
        reason = (
            "not promoted: unusable loss figures (must be finite and > 0): "
            + ", ".join(broken)
            + "; production stays"
        )
        return GateDecision(False, reason, figures)

    failures: list[str] = []
    successes: list[str] = []
    behind: list[str] = []
    for key, label in METRICS.items():
        cand, ref = values["candidate"][key], values["harx"][key]
        gain = 1.0 - cand / ref
        beats = gain >= min_improvement - TOLERANCE
        p_value = None if dm_p_values is None else _finite(float(dm_p_values[key]))
        dm = "" if p_value is None else f" (DM p {p_value:.2f})"
        entry: dict[str, Any] = {
            "candidate": cand,
            "harx": ref,
            "improvement_vs_harx_pct": 100.0 * gain,
            "beats_harx": beats,
            "dm_p_value": p_value,
        }
        if beats:
            successes.append(f"{label} {100.0 * gain:+.1f}%{dm}")
        elif gain < 0.0:
            failures.append(
                f"{label} is {_pct(-100.0 * gain, bar_pct)}% worse than HAR-X{dm}, "
                f"below the {bar_pct:.1f}% bar"
            )
        else:
            failures.append(
                f"{label} improves {_pct(100.0 * gain, bar_pct)}% on HAR-X{dm}, "
                f"below the {bar_pct:.1f}% bar"
            )
        if "production" in values:
            prod = values["production"][key]
            ok = cand <= prod * (1.0 + TOLERANCE)
            entry |= {
                "production": prod,
                "improvement_vs_production_pct": 100.0 * (1.0 - cand / prod),
                "not_behind_production": ok,
            }
            if not ok:
                behind.append(f"{label} {cand:.6g} > production {prod:.6g}")
        figures["metrics"][key] = entry

    if failures or behind:
        parts = [*failures]
        if behind:
            parts.append("behind the production model on the same window: " + ", ".join(behind))
        return GateDecision(
            False, "not promoted: " + "; ".join(parts) + "; production stays", figures
        )

    tail = "not behind production" if "production" in values else "no production model yet"
    reason = f"promoted: {', '.join(successes)} vs HAR-X (bar {bar_pct:.1f}%); {tail}"
    return GateDecision(True, reason, figures)


def _finite(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _pct(value: float, bar: float) -> str:
    """A percentage to one decimal, or to three when one would print it equal to the bar."""
    short = f"{value:.1f}"
    return f"{value:.3f}" if short == f"{bar:.1f}" else short


def _pick(side: str, metrics: Mapping[str, float]) -> dict[str, float]:
    """The gate's two losses from ``metrics`` as floats."""
    missing = [k for k in METRICS if k not in metrics]
    if missing:
        raise KeyError(f"{side} metrics lack {missing}; got {sorted(metrics)}")
    out: dict[str, float] = {}
    for key in METRICS:
        try:
            out[key] = float(metrics[key])
        except (TypeError, ValueError):
            out[key] = math.nan  # reported as unusable, never compared
    return out
