"""Features for date t read data up to t only, and only the last LOOKBACK_SESSIONS of it."""

from __future__ import annotations

from functools import cache

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from core.features import LOOKBACK_SESSIONS, build_features, compute_features
from tests.factories import curated_frame, sessions

N_DAYS = 320
LONG_DAYS = 700
PRICES = ["open", "high", "low", "close"]


@cache
def base(seed: int, n_days: int = N_DAYS) -> pd.DataFrame:
    return curated_frame(n_days, seed=seed)


def perturb_after(curated: pd.DataFrame, cut: pd.Timestamp, how: str, seed: int) -> pd.DataFrame:
    """Change everything after ``cut`` in one of several arbitrary ways."""
    rng = np.random.default_rng(seed)
    out = curated.copy()
    later = (out["date"] > cut).to_numpy()
    k = int(later.sum())
    if how == "scale":  # prices and returns jump around, wildly
        factor = np.exp(rng.normal(0, 0.5, size=(k, 1)))
        out.loc[later, PRICES] = out.loc[later, PRICES].to_numpy() * factor
        out.loc[later, "ret"] = rng.normal(0, 0.2, k)
    elif how == "nan":  # missing values
        out.loc[later, ["close", "ret"]] = np.nan
    elif how == "drop_rows":  # random rows of random symbols vanish
        gone = later & (rng.random(len(out)) < 0.5)
        return out.loc[~(gone if gone.any() else later)]
    elif how == "truncate":  # history simply ends at the cut
        return out.loc[~later]
    elif how == "drop_symbol":  # one symbol stops after the cut
        symbol = rng.choice(out["symbol"].unique())
        return out.loc[~(later & (out["symbol"] == symbol).to_numpy())]
    return out


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 4),
    cut=st.integers(0, N_DAYS - 2),
    how=st.sampled_from(["scale", "nan", "drop_rows", "truncate", "drop_symbol"]),
    noise=st.integers(0, 2**32 - 1),
)
def test_data_after_t_never_changes_features_up_to_t(seed, cut, how, noise) -> None:
    curated = base(seed)
    cut_day = sessions(N_DAYS)[cut]
    changed = perturb_after(curated, cut_day, how, noise)
    assert not changed.equals(curated)  # the perturbation did something

    for build in (compute_features, build_features):
        before = build(curated)
        after = build(changed)
        before = before.loc[before["date"] <= cut_day].reset_index(drop=True)
        after = after.loc[after["date"] <= cut_day].reset_index(drop=True)
        pd.testing.assert_frame_equal(after, before, check_exact=True)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2), t=st.integers(LOOKBACK_SESSIONS - 1, LONG_DAYS - 1))
def test_the_last_lookback_sessions_compute_row_t_exactly(seed, t) -> None:
    """What the incremental daily step does: its cost is flat in the length of history."""
    curated = base(seed, LONG_DAYS)
    days = sessions(LONG_DAYS)
    full = build_features(curated)
    expected = full.loc[full["date"] == days[t]].reset_index(drop=True)
    assert len(expected) == 1

    window = curated.loc[curated["date"].between(days[t - LOOKBACK_SESSIONS + 1], days[t])]
    got = build_features(window)
    pd.testing.assert_frame_equal(got, expected, check_exact=True)

    # One session fewer is not enough: LOOKBACK_SESSIONS is the minimum, not a guess.
    shorter = window.loc[window["date"] > days[t - LOOKBACK_SESSIONS + 1]]
    assert build_features(shorter).empty
