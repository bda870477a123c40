"""rv_5d: the next five SPY returns, annualized; known only five sessions later."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from core.labels import HORIZON_SESSIONS, build_labels
from tests.factories import curated_frame, sessions, symbol_frame

CLOSES = [100.0, 101.0, 99.5, 100.2, 98.0, 99.1, 101.3, 100.9, 102.4]


def spy(closes: list[float]) -> pd.DataFrame:
    days = sessions(len(closes), start="2024-06-03")
    return symbol_frame("SPY", days, closes, closes, closes, closes, closes)


def test_hand_computed_rv_5d() -> None:
    labels = build_labels(spy(CLOSES))
    rets = [math.log(CLOSES[i] / CLOSES[i - 1]) for i in range(1, len(CLOSES))]
    for t in range(len(CLOSES) - 5):
        expected = math.sqrt(252 / 5 * sum(r * r for r in rets[t : t + 5]))
        assert labels["rv_5d"].iloc[t] == pytest.approx(expected, rel=1e-12)
    # By the numbers for t = 0: returns +0.995%, -1.496%, +0.701%, -2.220%, +1.116%.
    assert labels["rv_5d"].iloc[0] == pytest.approx(0.2233, abs=1e-4)


def test_the_last_five_sessions_have_no_label() -> None:
    frame = spy(CLOSES)
    labels = build_labels(frame)
    assert HORIZON_SESSIONS == 5
    pd.testing.assert_series_equal(labels["date"], frame["date"].iloc[:-5], check_index=False)
    assert labels["date"].dtype == "datetime64[ns]" and labels["rv_5d"].dtype == "float64"
    assert build_labels(spy(CLOSES[:5])).empty


def test_label_at_t_reads_t_plus_1_to_t_plus_5_only() -> None:
    t = 1
    base = build_labels(spy(CLOSES))

    later = CLOSES.copy()
    later[t + 6] *= 1.05  # moves ret_{t+6} and ret_{t+7}: outside the label at t
    moved = build_labels(spy(later))
    assert moved["rv_5d"].iloc[t] == base["rv_5d"].iloc[t]
    assert moved["rv_5d"].iloc[t + 1] != base["rv_5d"].iloc[t + 1]

    inside = CLOSES.copy()
    inside[t + 5] *= 1.05  # moves ret_{t+5}: inside
    assert build_labels(spy(inside))["rv_5d"].iloc[t] != base["rv_5d"].iloc[t]

    before = CLOSES.copy()
    before[t - 1] *= 1.05  # moves ret_{t-1} and ret_t: known at t, not in the forward label
    assert build_labels(spy(before))["rv_5d"].iloc[t] == base["rv_5d"].iloc[t]


def test_only_spy_counts_and_a_missing_return_gives_no_label() -> None:
    curated = curated_frame(60, seed=4)
    labels = build_labels(curated)
    alone = build_labels(curated.loc[curated["symbol"] == "SPY"])
    pd.testing.assert_frame_equal(labels, alone)
    assert len(labels) == 55 and np.isfinite(labels["rv_5d"]).all()

    holed = curated.copy()
    holed.loc[(holed["symbol"] == "SPY") & (holed["date"] == sessions(60)[30]), "ret"] = np.nan
    missing = set(labels["date"]) - set(build_labels(holed)["date"])
    assert missing == set(sessions(60)[25:30])
