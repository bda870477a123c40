"""The canary's verdicts on hand-made forecasts."""

from __future__ import annotations

import numpy as np

from core.models.inference import VOL_RANGE, canary


def test_healthy_forecasts_pass() -> None:
    old = np.array([0.10, 0.12, 0.15, 0.20])
    result = canary(old * 1.1, old, max_jump=0.5)
    assert result.passed
    assert result.median_relative_jump == result.max_relative_jump
    assert abs(result.median_relative_jump - 0.1) < 1e-12


def test_non_finite_forecast_fails() -> None:
    result = canary(np.array([0.1, np.nan, np.inf]), None, max_jump=0.5)
    assert not result.passed and result.non_finite == 2
    assert "2 non-finite" in result.reason


def test_implausible_forecast_fails() -> None:
    result = canary(np.array([0.1, VOL_RANGE[1] * 2, VOL_RANGE[0] / 2]), None, max_jump=0.5)
    assert not result.passed and result.out_of_range == 2


def test_typical_jump_beyond_threshold_fails() -> None:
    old = np.full(20, 0.15)
    new = old * 1.8  # every day moves by 80%
    result = canary(new, old, max_jump=0.5)
    assert not result.passed
    assert "median change vs previous model 80.0% > 50%" in result.reason


def test_one_outlier_day_does_not_fail_the_median() -> None:
    old = np.full(20, 0.15)
    new = old.copy()
    new[3] = 0.40  # one day disagrees a lot: allowed, the median stays 0
    result = canary(new, old, max_jump=0.5)
    assert result.passed and result.max_relative_jump > 1.0 and result.median_relative_jump == 0
