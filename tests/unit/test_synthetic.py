"""The synthetic source: frame shape, determinism, and the stylized facts it must reproduce.

Stylized facts are measured on 2007-2026 (19 years) for a few seeds, so a pass is not
the luck of one path.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest

from core.calendar import trading_days
from core.definitions import SYMBOLS
from core.sources import RAW_COLUMNS, SourceError, SyntheticSource
from core.sources.synthetic import ORIGIN, _simulate

START, END = "2007-01-03", "2026-07-22"
SEEDS = [7, 3, 11]


@pytest.fixture(scope="module", params=SEEDS, ids=lambda s: f"seed{s}")
def market(request: pytest.FixtureRequest) -> pd.DataFrame:
    return SyntheticSource(seed=request.param).fetch(SYMBOLS, START, END)


@pytest.fixture(scope="module")
def wide(market: pd.DataFrame) -> dict[str, pd.DataFrame]:
    return {
        col: market.pivot_table(index="date", columns="symbol", values=col, dropna=False)
        for col in RAW_COLUMNS[2:]
    }


@pytest.fixture(scope="module")
def spy(wide: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """SPY log returns with the 22-day trailing realized vol (annualized), like features."""
    ret = np.log(wide["adj_close"]["SPY"]).diff()
    rv22 = np.sqrt(252 * (ret**2).rolling(22).mean())
    return pd.DataFrame({"ret": ret, "rv22": rv22}).dropna()


# --- frame shape -----------------------------------------------------------------------------


def test_frame_shape_and_calendar(market: pd.DataFrame) -> None:
    assert tuple(market.columns) == RAW_COLUMNS
    assert market["date"].dtype == "datetime64[ns]"
    assert all(market[c].dtype == "float64" for c in RAW_COLUMNS[2:])
    assert market.equals(market.sort_values(["symbol", "date"]).reset_index(drop=True))
    sessions = trading_days(START, END)
    for sym in SYMBOLS:
        dates = pd.DatetimeIndex(market.loc[market["symbol"] == sym, "date"])
        assert dates.equals(sessions), sym


def test_prices_positive_and_at_realistic_levels(wide: dict[str, pd.DataFrame]) -> None:
    prices = pd.concat([wide[c] for c in ("open", "high", "low", "close", "adj_close")])
    assert (prices > 0).all().all()
    close = wide["close"]
    assert close["SPY"].between(30, 2500).all()
    assert close["VIX"].between(8, 95).all()
    assert close["VIX3M"].between(9, 90).all()
    assert close["TLT"].between(20, 300).all() and close["HYG"].between(20, 300).all()


def test_ohlc_consistency(wide: dict[str, pd.DataFrame]) -> None:
    o, h, low, c = (wide[k] for k in ("open", "high", "low", "close"))
    assert (h >= np.maximum(o, c)).all().all()
    assert (low <= np.minimum(o, c)).all().all()
    # Overnight gaps exist: the open is not simply yesterday's close.
    gap = np.log(o["SPY"] / c["SPY"].shift()).dropna()
    assert (gap.abs() > 1e-4).mean() > 0.9


def test_adjustment_and_volume_by_instrument(wide: dict[str, pd.DataFrame]) -> None:
    close, adj, volume = wide["close"], wide["adj_close"], wide["volume"]
    for etf in ("SPY", "TLT", "HYG"):
        ratio = adj[etf] / close[etf]
        assert (ratio.diff().dropna() >= -1e-12).all(), etf  # total-return ratio only grows
        assert ratio.iloc[-1] / ratio.iloc[0] > 1.2, etf  # ~19 years of dividends
        assert ratio.between(0.2, 1.05).all(), etf
        assert (volume[etf] > 0).all(), etf
    for index in ("VIX", "VIX3M"):
        assert adj[index].equals(close[index])
        assert volume[index].isna().all()


# --- determinism -----------------------------------------------------------------------------


def test_same_seed_same_data() -> None:
    a = SyntheticSource(seed=5).fetch(["SPY", "VIX"], "2015-01-01", "2016-01-01")
    _simulate.cache_clear()
    b = SyntheticSource(seed=5).fetch(["SPY", "VIX"], "2015-01-01", "2016-01-01")
    pd.testing.assert_frame_equal(a, b)


def test_value_at_a_date_does_not_depend_on_the_requested_range() -> None:
    source = SyntheticSource(seed=5)
    wide = source.fetch(SYMBOLS, "2010-01-01", "2012-12-31")
    alone = source.fetch(SYMBOLS, "2011-01-01", "2011-12-31")
    sliced = wide.loc[wide["date"].dt.year == 2011].reset_index(drop=True)
    pd.testing.assert_frame_equal(sliced, alone)
    # ... nor on how far the simulation ran (end well past a block boundary).
    longer = source.fetch(SYMBOLS, "2011-01-01", "2026-07-22")
    pd.testing.assert_frame_equal(
        longer.loc[longer["date"].dt.year == 2011].reset_index(drop=True), alone
    )


def test_seed_changes_the_data() -> None:
    a = SyntheticSource(seed=1).fetch(["SPY"], "2020-01-01", "2020-12-31")
    b = SyntheticSource(seed=2).fetch(["SPY"], "2020-01-01", "2020-12-31")
    assert a["date"].equals(b["date"])
    assert not np.allclose(a["close"], b["close"])


def test_range_edges() -> None:
    source = SyntheticSource()
    early = source.fetch(["SPY"], "1995-01-01", "2000-01-10")
    assert early["date"].min() == ORIGIN  # the simulation starts at its origin
    assert source.fetch(["SPY"], "1995-01-01", "1999-12-31").empty
    assert source.fetch(["SPY"], "2024-07-06", "2024-07-07").empty  # a weekend
    with pytest.raises(SourceError, match="unknown symbol"):
        source.fetch(["SPY", "QQQ"], "2024-07-01", "2024-07-31")


def test_whole_history_is_fast() -> None:
    trading_days("2000-01-01", "2000-02-01")  # warm the exchange calendar (loaded once)
    started = time.perf_counter()
    SyntheticSource(seed=12345).fetch(SYMBOLS, "2000-01-03", "2026-07-22")
    assert time.perf_counter() - started < 1.0  # ~0.1 s measured; generous for busy CI


# --- stylized facts ----------------------------------------------------------------------------


def test_spy_drift_and_vol_level(spy: pd.DataFrame) -> None:
    annual_drift = spy["ret"].mean() * 252
    annual_vol = spy["ret"].std() * np.sqrt(252)
    assert 0.02 < annual_drift < 0.16
    assert 0.13 < annual_vol < 0.24
    assert 0.12 < spy["rv22"].mean() < 0.20
    assert spy["rv22"].max() > 0.40  # stress episodes
    assert spy["rv22"].min() < 0.10  # and calm ones


def test_volatility_clusters(spy: pd.DataFrame) -> None:
    absolute = spy["ret"].abs()
    acf = [absolute.autocorr(lag) for lag in range(1, 6)]
    assert min(acf) > 0.1, acf
    assert abs(spy["ret"].autocorr(1)) < 0.1  # ... while returns themselves are ~unpredictable


def test_leverage_effect(spy: pd.DataFrame) -> None:
    next_5d_vol = np.sqrt((spy["ret"] ** 2).rolling(5).mean().shift(-5))
    assert spy["ret"].corr(next_5d_vol) < -0.03


def test_vix_prices_realized_vol_with_a_premium(
    spy: pd.DataFrame, wide: dict[str, pd.DataFrame]
) -> None:
    vix = wide["close"]["VIX"].reindex(spy.index)
    premium_points = 100 * (vix / 100 - spy["rv22"]).mean()
    assert 1.5 < premium_points < 6.0
    assert vix.corr(spy["rv22"]) > 0.6
    # VIX rises when SPY falls.
    assert np.log(vix).diff().corr(spy["ret"]) < -0.3


def test_vix_term_structure_inverts_in_stress(
    spy: pd.DataFrame, wide: dict[str, pd.DataFrame]
) -> None:
    inverted = (wide["close"]["VIX"] > wide["close"]["VIX3M"]).reindex(spy.index)
    stressed = inverted[spy["rv22"] >= spy["rv22"].quantile(0.9)].mean()
    calm = inverted[spy["rv22"] <= spy["rv22"].median()].mean()
    assert inverted.mean() < 0.3  # contango is the normal state
    assert stressed > calm + 0.4, (stressed, calm)


def test_bonds_and_credit_move_with_risk(wide: dict[str, pd.DataFrame]) -> None:
    ret = np.log(wide["adj_close"]).diff().dropna()
    assert ret["SPY"].corr(ret["TLT"]) < -0.15
    assert ret["SPY"].corr(ret["HYG"]) > 0.3
    worst = ret["SPY"] <= ret["SPY"].quantile(0.02)
    assert ret.loc[worst, "TLT"].mean() > 0 > ret.loc[worst, "HYG"].mean()
