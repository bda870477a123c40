"""Dividends across two downloads: `volcast daily` evening after evening, each from that
evening's vendor file (every older adjusted close rescaled at each ex-date), gives the rows a
single backfill from the last file gives, in raw, curated, features and labels."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core import contracts, steps
from core.calendar import shift_trading_days, trading_days
from core.config import SYMBOLS, Settings
from core.sources import SyntheticSource, YahooSource
from core.sources.synthetic import _ex_dividend_days
from core.sources.yahoo import TICKERS
from tests.raw_frames import write_csv_folder

START = "2023-02-21"  # the features' 252-session lookback before the month
MONTH = trading_days("2024-03-01", "2024-03-28")  # SPY, TLT and HYG go ex on 2024-03-15
EX_DATE = pd.Timestamp("2024-03-15")
ETFS = ("SPY", "TLT", "HYG")
PRICES = ["open", "high", "low", "close"]
TABLES = (contracts.RAW_MARKET, contracts.CURATED_MARKET, contracts.FEATURES, contracts.LABELS)
#: Files written with every digit: two downloads then agree to float rounding (a vendor's
#: rounding to 8 significant digits would add its own ~1e-8).
FULL_PRECISION = "%.17g"
TOLERANCE = {"check_exact": False, "rtol": 1e-12, "atol": 1e-14}


@pytest.fixture(scope="module")
def history() -> pd.DataFrame:
    """Raw closes and one set of adjusted closes (the synthetic source's own anchor)."""
    return SyntheticSource(seed=7).fetch(SYMBOLS, "2022-06-01", MONTH[-1])


def as_of(history: pd.DataFrame, evening: pd.Timestamp) -> pd.DataFrame:
    """The vendor's file downloaded on ``evening``: rows up to it, adjusted closes re-anchored
    so that adj_close == close on its last bar (every dividend up to then applied)."""
    rows = history.loc[history["date"] <= evening].copy()
    last = rows.loc[rows["date"] == evening].set_index("symbol")
    factor = rows["symbol"].map(last["close"] / last["adj_close"])
    rows["adj_close"] = rows["adj_close"] * factor
    return rows


def adjusted_only(frame: pd.DataFrame, folder: Path) -> None:
    """Rewrite TLT and HYG as yfinance auto_adjust exports: OHLC all adjusted, no Adj Close."""
    for symbol in ("TLT", "HYG"):
        rows = frame.loc[frame["symbol"] == symbol].sort_values("date")
        ratio = rows["adj_close"] / rows["close"]
        table = pd.DataFrame(
            {"Date": rows["date"].dt.strftime("%Y-%m-%d")}
            | {c.title(): rows[c] * ratio for c in PRICES}
            | {"Volume": rows["volume"]}
        )
        table.to_csv(folder / f"{symbol}.csv", index=False, float_format=FULL_PRECISION)


def lake(tmp_path: Path, name: str, folder: Path) -> steps.Context:
    return steps.Context.from_settings(
        Settings(lake_uri=str(tmp_path / name), source="csv", csv_dir=folder)
    )


def publish(history: pd.DataFrame, evening: pd.Timestamp, folder: Path, adjusted: bool) -> None:
    frame = as_of(history, evening)
    write_csv_folder(frame, folder, float_format=FULL_PRECISION)
    if adjusted:
        adjusted_only(frame, folder)


def build_both(history: pd.DataFrame, tmp_path: Path, adjusted: bool):
    """A single backfill from the last evening's file, and a backfill up to the month
    followed by `daily` on each of its sessions from that evening's file."""
    full_files, daily_files = tmp_path / "full_csv", tmp_path / "daily_csv"
    publish(history, MONTH[-1], full_files, adjusted)
    full = lake(tmp_path, "full", full_files)
    steps.backfill(full, START, MONTH[-1], progress=False)

    before = shift_trading_days(MONTH[0], -1)
    publish(history, before, daily_files, adjusted)
    daily = lake(tmp_path, "daily", daily_files)
    steps.backfill(daily, START, before, progress=False)
    for evening in MONTH:
        publish(history, evening, daily_files, adjusted)
        steps.daily(daily, evening)
    return full, daily


def read(ctx: steps.Context, table: str) -> pd.DataFrame:
    first = shift_trading_days(MONTH[0], -5)  # labels of the days before become known too
    return ctx.lake.read(table, first, MONTH[-1])


def test_the_month_really_holds_ex_dates(history: pd.DataFrame) -> None:
    for months in ((3, 6, 9, 12), tuple(range(1, 13))):
        assert EX_DATE in MONTH[_ex_dividend_days(MONTH, months)]
    spy = history.loc[history["symbol"] == "SPY"].set_index("date")
    ratio = spy["adj_close"] / spy["close"]
    assert ratio[EX_DATE] / ratio[shift_trading_days(EX_DATE, -1)] == pytest.approx(1 / 0.9955)


def test_daily_equals_backfill_in_all_four_tables(history: pd.DataFrame, tmp_path: Path) -> None:
    full, daily = build_both(history, tmp_path, adjusted=False)
    for table in TABLES:
        expected, got = read(full, table), read(daily, table)
        assert len(expected) > 0, table
        pd.testing.assert_frame_equal(got, expected, **TOLERANCE, obj=table)

    # The stored ex-date return is one download's own ratio, dividend included ...
    raw = read(daily, contracts.RAW_MARKET).set_index(["symbol", "date"])
    last_file = as_of(history, MONTH[-1]).set_index(["symbol", "date"])["adj_close"]
    previous = shift_trading_days(EX_DATE, -1)
    for symbol in ETFS:
        one_download = math.log(last_file[symbol, EX_DATE] / last_file[symbol, previous])
        assert raw.loc[(symbol, EX_DATE), "ret"] == pytest.approx(one_download, abs=1e-14)
        # ... where the ratio across the two evenings' files misses the dividend.
        across = math.log(
            as_of(history, EX_DATE).set_index(["symbol", "date"])["adj_close"][symbol, EX_DATE]
            / as_of(history, previous).set_index(["symbol", "date"])["adj_close"][symbol, previous]
        )
        assert abs(across - one_download) > 1e-3, symbol


def test_adjusted_only_files_give_the_same_returns_features_and_labels(
    history: pd.DataFrame, tmp_path: Path
) -> None:
    full, daily = build_both(history, tmp_path, adjusted=True)
    for table in (contracts.FEATURES, contracts.LABELS):
        pd.testing.assert_frame_equal(read(daily, table), read(full, table), **TOLERANCE)
    for table in (contracts.RAW_MARKET, contracts.CURATED_MARKET):
        expected, got = read(full, table), read(daily, table)
        pd.testing.assert_series_equal(got["ret"], expected["ret"], **TOLERANCE)
        same = ~got["symbol"].isin(["TLT", "HYG"]) | (got["date"] >= EX_DATE)
        pd.testing.assert_frame_equal(got.loc[same], expected.loc[same], **TOLERANCE)
        # Adjusted-only files carry no raw price: each evening stored its bars on that
        # evening's basis, so before the ex-date they sit one dividend above the last file's.
        ratio = (got.loc[~same, PRICES] / expected.loc[~same, PRICES]).to_numpy()
        per_symbol = got.loc[~same, "symbol"].map({"TLT": 1 - 0.030 / 12, "HYG": 1 - 0.055 / 12})
        expected_ratio = np.broadcast_to(1 / per_symbol.to_numpy()[:, None], ratio.shape)
        np.testing.assert_allclose(ratio, expected_ratio, rtol=1e-12)


class YahooEvenings:
    """Stands in for ``yfinance.download``: the history as Yahoo serves it on ``evening``, in
    the (Price, Ticker) layout of ``auto_adjust=False`` (raw OHLC and Adj Close)."""

    FIELDS = {"open": "Open", "high": "High", "low": "Low", "close": "Close"} | {
        "adj_close": "Adj Close",
        "volume": "Volume",
    }

    def __init__(self, history: pd.DataFrame) -> None:
        self.history = history
        self.evening = MONTH[-1]
        self.starts: list[pd.Timestamp] = []

    def __call__(self, tickers: list[str], start: str, end: str, **_: object) -> pd.DataFrame:
        self.starts.append(pd.Timestamp(start))
        frame = as_of(self.history, self.evening)
        inside = frame["date"].between(pd.Timestamp(start), pd.Timestamp(end), inclusive="left")
        frame = frame.loc[inside].assign(ticker=frame["symbol"].map(TICKERS))
        wide = frame.pivot(index="date", columns="ticker", values=list(self.FIELDS))  # noqa: PD010
        return wide.rename(columns=self.FIELDS, level=0).loc[:, (slice(None), tickers)]


def test_the_yahoo_source_daily_equals_backfill_across_the_ex_date(
    history: pd.DataFrame, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import yfinance as yf

    vendor = YahooEvenings(history)
    monkeypatch.setattr(yf, "download", vendor)
    source = YahooSource(retries=1)
    days = trading_days("2024-03-13", "2024-03-19")

    def ctx(name: str) -> steps.Context:
        return steps.Context.from_settings(Settings(lake_uri=str(tmp_path / name)))

    vendor.evening = days[-1]
    full = ctx("full")
    steps.backfill(full, START, days[-1], source=source, progress=False)
    daily = ctx("daily")
    vendor.evening = shift_trading_days(days[0], -1)
    steps.backfill(daily, START, vendor.evening, source=source, progress=False)
    for evening in days:
        vendor.evening = evening
        steps.daily(daily, evening, source=source)
        # each evening's download reaches back to the session before the day, and further
        assert vendor.starts[-1] < shift_trading_days(evening, -1)
    for table in TABLES:
        first = shift_trading_days(days[0], -5)
        pd.testing.assert_frame_equal(
            daily.lake.read(table, first, days[-1]),
            full.lake.read(table, first, days[-1]),
            **TOLERANCE,
            obj=table,
        )
