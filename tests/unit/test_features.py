"""Feature formulas against values computed here with plain ``math`` on a few sessions."""

from __future__ import annotations

import math
import statistics

import numpy as np
import pandas as pd
import pytest

from core.features import (
    FEATURE_COLUMNS,
    FEATURE_DESCRIPTIONS,
    LOOKBACK_SESSIONS,
    build_features,
    compute_features,
)
from tests.factories import curated_frame, market_frame, sessions, symbol_frame

# Six SPY sessions, no dividends (adj_close == close): open, high, low, close.
SPY = [
    (100.0, 101.0, 99.0, 100.5),
    (100.8, 102.0, 100.0, 101.5),
    (101.0, 101.7, 99.5, 100.0),
    (99.2, 100.4, 98.0, 99.8),
    (100.0, 103.0, 99.9, 102.6),
    (102.9, 103.5, 101.8, 102.0),
]
LEVELS = {
    "VIX": [18.0, 17.5, 20.0, 22.5, 19.0, 18.2],
    "VIX3M": [20.0, 19.8, 21.0, 22.0, 20.5, 20.1],
    "TLT": [90.0, 90.5, 91.2, 90.8, 91.0, 91.9],
    "HYG": [80.0, 79.9, 79.5, 79.7, 80.1, 80.2],
}
LN2 = math.log(2)
REL = 1e-12


def tiny() -> pd.DataFrame:
    days = sessions(len(SPY), start="2024-03-04")
    o, h, lo, c = (list(x) for x in zip(*SPY, strict=True))
    frames = [symbol_frame("SPY", days, o, h, lo, c, c)]
    frames += [symbol_frame(s, days, v, v, v, v, v) for s, v in LEVELS.items()]
    return pd.concat(frames, ignore_index=True)


@pytest.fixture(scope="module")
def feats() -> pd.DataFrame:
    return compute_features(tiny())


def spy_ret(i: int) -> float:
    return math.log(SPY[i][3] / SPY[i - 1][3])


def pk(o: float, h: float, lo: float, c: float) -> float:
    return math.log(h / lo) ** 2 / (4 * LN2)


def gk(o: float, h: float, lo: float, c: float) -> float:
    return 0.5 * math.log(h / lo) ** 2 - (2 * LN2 - 1) * math.log(c / o) ** 2


def rs(o: float, h: float, lo: float, c: float) -> float:
    return math.log(h / c) * math.log(h / o) + math.log(lo / c) * math.log(lo / o)


@pytest.mark.parametrize("name,proxy", [("pk", pk), ("gk", gk), ("rs", rs)])
def test_one_day_range_estimators(feats: pd.DataFrame, name: str, proxy) -> None:
    for i, bar in enumerate(SPY):
        assert feats[f"rv_{name}_1d"].iloc[i] == pytest.approx(math.sqrt(252 * proxy(*bar)), REL)


def test_parkinson_by_the_numbers(feats: pd.DataFrame) -> None:
    # ln(101/99) = 0.0200006667, squared / (4 ln 2) = 1.442804e-4 per day -> 19.07% a year.
    assert feats["rv_pk_1d"].iloc[0] == pytest.approx(0.1906786, abs=1e-7)


@pytest.mark.parametrize("name,proxy", [("pk", pk), ("gk", gk), ("rs", rs)])
def test_range_windows_annualize_the_sum(feats: pd.DataFrame, name: str, proxy) -> None:
    expected = math.sqrt(252 / 5 * sum(proxy(*bar) for bar in SPY[0:5]))
    assert feats[f"rv_{name}_5d"].iloc[4] == pytest.approx(expected, REL)
    assert np.isnan(feats[f"rv_{name}_5d"].iloc[3])  # only four sessions so far


def test_close_to_close_har_set(feats: pd.DataFrame) -> None:
    assert feats["rv_cc_1d"].iloc[1] == pytest.approx(math.sqrt(252) * abs(spy_ret(1)), REL)
    expected = math.sqrt(252 / 5 * sum(spy_ret(i) ** 2 for i in range(1, 6)))
    assert feats["rv_cc_5d"].iloc[5] == pytest.approx(expected, REL)
    # Day 0 has no return, so the first complete 5-session window ends on day 5.
    assert feats["rv_cc_5d"].iloc[:5].isna().all()
    assert feats["rv_cc_22d"].isna().all()


def test_yang_zhang(feats: pd.DataFrame) -> None:
    window = range(1, 6)
    overnight = [math.log(SPY[i][0] / SPY[i - 1][3]) for i in window]
    open_close = [math.log(SPY[i][3] / SPY[i][0]) for i in window]
    mean_rs = sum(rs(*SPY[i]) for i in window) / 5
    k = 0.34 / (1.34 + 6 / 4)
    var = statistics.variance(overnight) + k * statistics.variance(open_close)
    expected = math.sqrt(252 * (var + (1 - k) * mean_rs))
    assert feats["rv_yz_5d"].iloc[5] == pytest.approx(expected, REL)
    assert np.isnan(feats["rv_yz_5d"].iloc[4])  # day 0 has no overnight return


def test_semivariances_split_the_close_to_close_sum(feats: pd.DataFrame) -> None:
    rets = [spy_ret(i) for i in range(1, 6)]
    down = math.sqrt(252 / 5 * sum(r * r for r in rets if r < 0))
    up = math.sqrt(252 / 5 * sum(r * r for r in rets if r > 0))
    row = feats.iloc[5]
    assert row["semivol_down_5d"] == pytest.approx(down, REL)
    assert row["semivol_up_5d"] == pytest.approx(up, REL)
    assert row["semivol_down_5d"] ** 2 + row["semivol_up_5d"] ** 2 == pytest.approx(
        row["rv_cc_5d"] ** 2, REL
    )


def test_vix_block(feats: pd.DataFrame) -> None:
    row = feats.iloc[5]
    assert row["vix"] == pytest.approx(0.182, REL)
    assert row["vix3m"] == pytest.approx(0.201, REL)
    assert row["vix_term"] == pytest.approx(18.2 / 20.1, REL)
    assert row["vix_chg_1d"] == pytest.approx(math.log(18.2 / 19.0), REL)
    assert row["vix_chg_5d"] == pytest.approx(math.log(18.2 / 18.0), REL)
    assert np.isnan(feats["vix_chg_5d"].iloc[4])


def test_cross_asset_and_momentum(feats: pd.DataFrame) -> None:
    row = feats.iloc[5]
    assert row["tlt_ret_1d"] == pytest.approx(math.log(91.9 / 91.0), REL)
    assert row["tlt_ret_5d"] == pytest.approx(math.log(91.9 / 90.0), REL)
    assert row["hyg_ret_5d"] == pytest.approx(math.log(80.2 / 80.0), REL)
    assert row["spy_ret_1d"] == pytest.approx(math.log(102.0 / 102.6), REL)
    assert row["spy_ret_5d"] == pytest.approx(math.log(102.0 / 100.5), REL)
    # Without dividends, the overnight gap is plainly log(open_t / close_{t-1}).
    assert row["spy_gap_1d"] == pytest.approx(math.log(102.9 / 102.6), REL)


def test_vrp_and_drawdown_on_a_long_frame() -> None:
    market = market_frame(1000, seed=3)
    out = build_features(market.drop(columns="adj_close"))
    np.testing.assert_array_equal(out["vrp_22d"], out["vix"] - out["rv_cc_22d"])
    # From returns alone, the drawdown equals log(adj_close / 63-session max) of one download.
    adj = market.loc[market["symbol"] == "SPY"].set_index("date")["adj_close"]
    from_levels = np.log(adj / adj.rolling(63).max()).loc[out["date"]]
    np.testing.assert_allclose(out["spy_dd_63d"], from_levels, rtol=0, atol=1e-12)
    # 0 on a 63-session high, below it otherwise; the close 22 sessions ago is in the window,
    # so the drawdown is never above the 22-session return.
    assert (out["spy_dd_63d"] <= 0).all() and (out["spy_dd_63d"] == 0).any()
    assert (out["spy_dd_63d"] <= out["spy_ret_22d"] + 1e-12).all()
    assert (out["spy_dd_63d"] < out["spy_ret_22d"] - 1e-3).any()


def test_ex_dividend_day_shows_no_fake_overnight_gap() -> None:
    """A 1% dividend: the raw close 100 is worth 99 after it, and the stock opens at 99."""
    days = sessions(2, start="2024-03-14")
    spy = symbol_frame("SPY", days, [99.5, 99.0], [100.2, 99.8], [99.3, 98.7], [100.0, 99.5],
                       [99.0, 99.5])  # fmt: skip
    others = [symbol_frame(s, days, v[:2], v[:2], v[:2], v[:2], v[:2]) for s, v in LEVELS.items()]
    out = compute_features(pd.concat([spy, *others], ignore_index=True))
    naive = math.log(99.0 / 100.0)  # raw open over raw previous close: a fake -1% gap
    assert naive == pytest.approx(-0.01005, abs=1e-5)
    assert out["spy_gap_1d"].iloc[1] == pytest.approx(0.0, abs=1e-15)


def test_dividends_change_no_feature() -> None:
    """Adjusting SPY's raw OHLC to total-return prices must leave every feature unchanged.

    The factory pays 0.4% dividends every 63 sessions, so a raw open-over-previous-close
    overnight term would move rv_yz_*, rv_on_22d and spy_gap_1d on each ex-date.
    """
    raw = market_frame(400, seed=11)
    adjusted = raw.copy()
    spy = adjusted["symbol"] == "SPY"
    ratio = adjusted.loc[spy, "adj_close"] / adjusted.loc[spy, "close"]
    assert ratio.nunique() > 3  # several ex-dividend dates inside the frame
    for column in ("open", "high", "low", "close"):
        adjusted.loc[spy, column] = adjusted.loc[spy, column] * ratio
    a, b = build_features(raw), build_features(adjusted)
    pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=1e-9, atol=1e-12)


def test_sessions_with_a_missing_symbol_are_dropped() -> None:
    curated = curated_frame(400, seed=5)
    days = sessions(400)
    gap = days[300]
    holed = curated.loc[~((curated["symbol"] == "HYG") & (curated["date"] == gap))]
    out = build_features(holed)
    full = build_features(curated)
    missing = full.loc[~full["date"].isin(out["date"]), "date"]
    # hyg_ret_22d / hyg_rv_22d need 22 HYG sessions: the hole and the 21 sessions after it.
    pd.testing.assert_index_equal(
        pd.DatetimeIndex(missing), days[300:322], check_names=False, check_freq=False
    )
    kept = full.loc[full["date"].isin(out["date"])].reset_index(drop=True)
    pd.testing.assert_frame_equal(out, kept)


def test_a_late_symbol_starts_the_output_late() -> None:
    curated = curated_frame(400, seed=6)
    days = sessions(400)
    late = curated.loc[~((curated["symbol"] == "VIX3M") & (curated["date"] < days[280]))]
    assert build_features(late)["date"].iloc[0] == days[280]


def test_output_shape_order_and_warm_up() -> None:
    days = sessions(320)
    out = build_features(curated_frame(320, seed=1))
    assert list(out.columns) == ["date", *FEATURE_COLUMNS]
    assert out["date"].dtype == "datetime64[ns]"
    assert (out[list(FEATURE_COLUMNS)].dtypes == "float64").all()
    assert np.isfinite(out[list(FEATURE_COLUMNS)].to_numpy()).all()
    # The first complete row is the LOOKBACK_SESSIONS-th session; none is missing after it.
    pd.testing.assert_index_equal(
        pd.DatetimeIndex(out["date"]),
        days[LOOKBACK_SESSIONS - 1 :],
        check_names=False,
        check_freq=False,
    )


def test_row_order_of_the_input_does_not_matter() -> None:
    curated = curated_frame(300, seed=2)
    shuffled = curated.sample(frac=1.0, random_state=0)
    pd.testing.assert_frame_equal(build_features(shuffled), build_features(curated))


def test_bad_input_is_refused() -> None:
    curated = tiny()
    with pytest.raises(ValueError, match="ret"):
        build_features(curated.drop(columns="ret"))
    with pytest.raises(ValueError):  # a duplicated (symbol, date) must not be averaged
        build_features(pd.concat([curated, curated.iloc[:1]], ignore_index=True))


def test_empty_input_gives_the_empty_schema() -> None:
    out = build_features(tiny().iloc[:0])
    assert list(out.columns) == ["date", *FEATURE_COLUMNS] and out.empty


def test_feature_catalogue() -> None:
    required = {
        *(f"rv_{e}_{n}d" for e in ("cc", "pk", "gk", "rs") for n in (1, 5, 22)),
        "rv_yz_5d", "rv_yz_22d", "semivol_down_5d", "semivol_down_22d",
        "vix", "vix3m", "vix_term", "vrp_22d", "vix_chg_1d", "vix_chg_5d",
        "tlt_ret_1d", "tlt_ret_5d", "tlt_rv_22d", "hyg_ret_1d", "hyg_ret_5d", "hyg_rv_22d",
        "spy_ret_1d", "spy_ret_5d", "spy_ret_22d", "spy_ret_63d",
    }  # fmt: skip
    assert required <= set(FEATURE_COLUMNS)
    assert 30 <= len(FEATURE_COLUMNS) <= 45
    assert len(set(FEATURE_COLUMNS)) == len(FEATURE_COLUMNS)
    assert tuple(FEATURE_DESCRIPTIONS) == FEATURE_COLUMNS
    assert all(d and "\n" not in d for d in FEATURE_DESCRIPTIONS.values())
    assert LOOKBACK_SESSIONS <= 260
