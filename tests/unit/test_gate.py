"""The promotion gate: each loss must beat HAR-X by the bar and not fall behind production."""

from __future__ import annotations

import dataclasses
import json
import math

import pytest

from core.models.gate import GateDecision, decide

BAR = 0.025
HARX = {"qlike": 0.200, "rmse_variance": 0.0100}


def test_a_clearly_better_candidate_passes_with_the_numbers_in_the_reason() -> None:
    cand = {"qlike": 0.190, "rmse_variance": 0.0095}  # 5.0% and 5.0% better
    decision = decide(cand, HARX, min_improvement=BAR)
    assert decision.passed
    assert decision.reason.startswith("promoted:")
    assert "QLIKE +5.0%" in decision.reason
    assert "RMSE(var) +5.0%" in decision.reason
    assert "no production model yet" in decision.reason
    q = decision.figures["metrics"]["qlike"]
    assert q["candidate"] == 0.190 and q["harx"] == 0.200
    assert q["improvement_vs_harx_pct"] == pytest.approx(5.0)
    assert "production" not in q
    assert decision.figures["min_improvement_pct"] == pytest.approx(2.5)


def test_a_worse_candidate_fails() -> None:
    decision = decide({"qlike": 0.21, "rmse_variance": 0.0105}, HARX, min_improvement=BAR)
    assert not decision.passed
    assert "QLIKE is 5.0% worse than HAR-X, below the 2.5% bar" in decision.reason
    assert "production stays" in decision.reason


def test_one_metric_passing_and_the_other_failing_fails() -> None:
    cand = {"qlike": 0.190, "rmse_variance": 0.00982}  # QLIKE +5%, RMSE only +1.8%
    decision = decide(cand, HARX, min_improvement=BAR)
    assert not decision.passed
    assert "RMSE(var) improves 1.8% on HAR-X, below the 2.5% bar" in decision.reason
    assert "QLIKE improves" not in decision.reason  # only the failing clause is reported
    assert decision.figures["metrics"]["qlike"]["beats_harx"] is True
    assert decision.figures["metrics"]["rmse_variance"]["beats_harx"] is False


def test_exactly_at_the_bar_passes_and_just_below_fails() -> None:
    # "At least" is inclusive. 1 - 0.6825/0.7 evaluates to 0.02499999999999991 in binary, so a
    # naive >= would refuse a candidate exactly at the bar: the gate tolerates float rounding.
    ref = {"qlike": 0.7, "rmse_variance": 0.03}
    naive = [1 - 0.6825 / 0.7, 1 - 0.02925 / 0.03]
    assert all(gain < BAR for gain in naive)  # the trap is real
    at_bar = {"qlike": 0.6825, "rmse_variance": 0.02925}
    assert decide(at_bar, ref, min_improvement=BAR).passed
    below = {"qlike": 0.6825, "rmse_variance": 0.029251}  # 2.497%
    decision = decide(below, ref, min_improvement=BAR)
    assert not decision.passed
    assert "RMSE(var) improves 2.497% on HAR-X, below the 2.5% bar" in decision.reason


def test_zero_bar_means_not_worse_than_harx() -> None:
    assert decide(HARX, HARX, min_improvement=0.0).passed
    assert not decide({"qlike": 0.2001, "rmse_variance": 0.01}, HARX, min_improvement=0.0).passed


def test_behind_production_fails_even_when_beating_harx() -> None:
    cand = {"qlike": 0.190, "rmse_variance": 0.0095}
    prod = {"qlike": 0.185, "rmse_variance": 0.0096}  # production has the better QLIKE
    decision = decide(cand, HARX, prod, min_improvement=BAR)
    assert not decision.passed
    assert "behind the production model" in decision.reason
    assert "QLIKE 0.19 > production 0.185" in decision.reason
    assert "RMSE(var)" not in decision.reason.split("behind")[1]  # RMSE is not behind
    assert decision.figures["metrics"]["qlike"]["not_behind_production"] is False
    assert decision.figures["metrics"]["rmse_variance"]["not_behind_production"] is True


def test_not_behind_production_passes_and_a_tie_counts_as_not_behind() -> None:
    cand = {"qlike": 0.190, "rmse_variance": 0.0095}
    decision = decide(cand, HARX, dict(cand), min_improvement=BAR)
    assert decision.passed
    assert decision.reason.endswith("not behind production")
    assert decision.figures["metrics"]["qlike"]["improvement_vs_production_pct"] == 0.0
    assert decision.figures["has_production"] is True


def test_without_production_only_harx_matters() -> None:
    cand = {"qlike": 0.190, "rmse_variance": 0.0095}
    much_better_prod = {"qlike": 0.1, "rmse_variance": 0.001}
    assert decide(cand, HARX, None, min_improvement=BAR).passed
    assert not decide(cand, HARX, much_better_prod, min_improvement=BAR).passed


@pytest.mark.parametrize(
    ("side", "value"),
    [
        ("candidate", math.nan),
        ("candidate", math.inf),
        ("candidate", 0.0),
        ("candidate", -0.1),
        ("harx", math.nan),
        ("harx", 0.0),  # a zero reference would divide by zero
        ("production", math.nan),
        ("candidate", "n/a"),
    ],
)
def test_broken_numbers_are_refused(side: str, value: object) -> None:
    inputs = {
        # would pass by far if numbers were sane
        "candidate": {"qlike": 0.1, "rmse_variance": 0.001},
        "harx": dict(HARX),
        "production": {"qlike": 0.15, "rmse_variance": 0.005},
    }
    inputs[side]["qlike"] = value  # type: ignore[assignment]
    decision = decide(
        inputs["candidate"], inputs["harx"], inputs["production"], min_improvement=BAR
    )
    assert not decision.passed
    assert "unusable loss figures" in decision.reason
    assert f"{side} QLIKE" in decision.reason
    json.dumps(decision.to_dict(), allow_nan=False)  # broken figures still serialize strictly


def test_walkforward_spelling_rmse_variance_is_accepted() -> None:
    cand = {"qlike": 0.190, "rmse_variance": 0.0095, "rmse_vol": 0.03}
    ref = {"qlike": 0.200, "rmse_variance": 0.0100}
    decision = decide(cand, ref, min_improvement=BAR)
    assert decision.passed
    assert decision.figures["metrics"]["rmse_variance"]["candidate"] == 0.0095


def test_missing_metric_or_bad_bar_raises() -> None:
    with pytest.raises(KeyError, match="rmse_variance"):
        decide({"qlike": 0.19}, HARX, min_improvement=BAR)
    with pytest.raises(ValueError, match="min_improvement"):
        decide(HARX, HARX, min_improvement=1.5)
    with pytest.raises(ValueError, match="min_improvement"):
        decide(HARX, HARX, min_improvement=math.nan)


def test_decision_is_frozen_and_serializes_to_strict_json() -> None:
    decision = decide({"qlike": 0.19, "rmse_variance": 0.0095}, HARX, min_improvement=BAR)
    with pytest.raises(dataclasses.FrozenInstanceError):
        decision.passed = False  # type: ignore[misc]
    back = json.loads(json.dumps(decision.to_dict(), allow_nan=False))
    assert back["passed"] is True
    assert back["reason"] == decision.reason
    assert back["figures"]["metrics"]["rmse_variance"]["harx"] == 0.01
    assert isinstance(decision, GateDecision)
