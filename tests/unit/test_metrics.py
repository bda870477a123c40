"""Metrics against values worked out by hand on tiny arrays."""

from __future__ import annotations

import math

import numpy as np
import pytest

from core.models import metrics


def test_qlike_hand_computed() -> None:
    # s2 = [0.04, 0.01], h = [0.01, 0.01] -> ratio [4, 1]
    # loss = [4 - ln 4 - 1, 1 - ln 1 - 1] = [3 - 1.3862944, 0]; mean = 0.8068528
    realized, forecast = np.array([0.2, 0.1]), np.array([0.1, 0.1])
    assert metrics.qlike_loss(realized, forecast) == pytest.approx([3 - math.log(4), 0.0])
    assert metrics.qlike(realized, forecast) == pytest.approx((3 - math.log(4)) / 2)
    assert metrics.qlike(realized, realized) == 0.0


def test_qlike_is_asymmetric_under_forecast_penalised_more() -> None:
    # Same |log error|: h = s2/2 -> 2 - ln2 - 1 = 0.3069; h = 2 s2 -> 0.5 + ln2 - 1 = 0.1931
    s = np.array([0.2])
    under = metrics.qlike(s, s / math.sqrt(2))
    over = metrics.qlike(s, s * math.sqrt(2))
    assert under == pytest.approx(1 - math.log(2))
    assert over == pytest.approx(math.log(2) - 0.5)
    assert under > over


def test_rmse_hand_computed() -> None:
    # variance errors: 0.04 - 0.01 = 0.03 and 0 -> sqrt((0.0009 + 0) / 2) = 0.0212132
    # vol errors: 0.1 and 0 -> sqrt(0.01 / 2) = 0.0707107
    realized, forecast = np.array([0.2, 0.1]), np.array([0.1, 0.1])
    assert metrics.rmse_variance(realized, forecast) == pytest.approx(math.sqrt(0.00045))
    assert metrics.rmse_vol(realized, forecast) == pytest.approx(math.sqrt(0.005))


@pytest.mark.parametrize("bad", [0.0, -0.1, float("nan"), float("inf")])
def test_losses_reject_non_positive_or_non_finite(bad: float) -> None:
    with pytest.raises(ValueError):
        metrics.qlike([0.1, 0.2], [0.1, bad])
    with pytest.raises(ValueError):
        metrics.rmse_variance([0.1, bad], [0.1, 0.2])


def test_length_mismatch_raises() -> None:
    with pytest.raises(ValueError, match="length"):
        metrics.qlike([0.1, 0.2], [0.1])


def test_newey_west_hand_computed() -> None:
    # d = [1, 2, 3, 4]: e = [-1.5, -0.5, 0.5, 1.5]
    # gamma0 = (2.25 + 0.25 + 0.25 + 2.25) / 4 = 5/4
    # gamma1 = (0.75 - 0.25 + 0.75) / 4 = 5/16
    # gamma2 = (-0.75 - 0.75) / 4 = -3/8 ; gamma3 = -2.25 / 4 = -9/16
    d = [1.0, 2.0, 3.0, 4.0]
    assert metrics.newey_west_variance(d, 0) == pytest.approx(5 / 4)
    # lags 1: 5/4 + 2 * (1/2) * 5/16 = 25/16
    assert metrics.newey_west_variance(d, 1) == pytest.approx(25 / 16)
    # lags 5 (only k <= n-1 = 3 exist): weights 5/6, 4/6, 3/6
    # 5/4 + 2 (5/6 * 5/16 - 4/6 * 3/8 - 3/6 * 9/16) = 5/4 - 52/96 = 17/24
    assert metrics.newey_west_variance(d, 5) == pytest.approx(17 / 24)


def test_diebold_mariano_hand_computed() -> None:
    # d = a - b = [1, 2, 3, 4]; mean 2.5; lags 1: var(mean) = (25/16) / 4 -> se = 0.625
    # stat = 2.5 / 0.625 = 4; p = erfc(4 / sqrt 2) = 6.334e-5
    a, b = np.array([1.0, 2.0, 3.0, 4.0]), np.zeros(4)
    stat, p = metrics.diebold_mariano(a, b, lags=1)
    assert stat == pytest.approx(4.0)
    assert p == pytest.approx(6.334248e-5, rel=1e-5)
    # lags 5: var(mean) = (17/24) / 4 = 17/96
    stat5, _ = metrics.diebold_mariano(a, b, lags=5)
    assert stat5 == pytest.approx(2.5 / math.sqrt(17 / 96))


def test_diebold_mariano_sign_flips_symmetrically() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.gamma(2.0, size=200), rng.gamma(2.2, size=200)
    stat_ab, p_ab = metrics.diebold_mariano(a, b)
    stat_ba, p_ba = metrics.diebold_mariano(b, a)
    assert stat_ab == pytest.approx(-stat_ba)
    assert p_ab == pytest.approx(p_ba)
    assert 0.0 < p_ab < 1.0


def test_diebold_mariano_identical_losses_p_one_not_nan() -> None:
    loss = np.array([0.3, 0.1, 0.7, 0.2, 0.5, 0.9])
    assert metrics.diebold_mariano(loss, loss.copy()) == (0.0, 1.0)


def test_diebold_mariano_constant_gap_is_infinitely_significant() -> None:
    loss = np.array([0.3, 0.1, 0.7, 0.2, 0.5, 0.9])
    stat, p = metrics.diebold_mariano(loss, loss + 0.1)
    assert stat == -math.inf
    assert p == 0.0


def test_default_dm_lags_never_below_five() -> None:
    assert metrics.default_dm_lags(10) == 5
    assert metrics.default_dm_lags(100) == 5
    # 4 * (3658 / 100) ** (2/9) = 8.9 -> 8
    assert metrics.default_dm_lags(3658) == 8


def test_mincer_zarnowitz_exact_line() -> None:
    # realized = 1 + 2 * forecast exactly -> (1, 2)
    intercept, slope = metrics.mincer_zarnowitz([3.0, 5.0, 7.0], [1.0, 2.0, 3.0])
    assert intercept == pytest.approx(1.0)
    assert slope == pytest.approx(2.0)


def test_improvement_sign() -> None:
    assert metrics.improvement(0.9, 1.0) == pytest.approx(0.1)
    assert metrics.improvement(1.1, 1.0) == pytest.approx(-0.1)
    with pytest.raises(ValueError):
        metrics.improvement(1.0, 0.0)
