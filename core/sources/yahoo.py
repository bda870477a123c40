"""Market data from Yahoo Finance through yfinance, with timeouts, retries and clear errors.

yfinance never raises on network failure: it logs the error and returns an empty (or
partially empty) frame. Left alone, that turns "offline" into "no data today", which the
pipeline would then misreport. So an empty result, or a symbol with no rows while others
have rows, counts as a failed attempt and is retried with exponential backoff; after the
last attempt an empty result is a SourceError that says what yfinance reported.

The vendor-frame conversion (:func:`from_yfinance`) is a pure function so it can be tested
without the network.
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import numpy as np
import pandas as pd

from core.calendar import DateLike, trading_days
from core.sources.base import (
    INDEX_SYMBOLS,
    RAW_COLUMNS,
    SourceError,
    SourceUnavailable,
    check_known,
    date_bounds,
    empty_frame,
    finalize,
    normalize_symbols,
)

log = logging.getLogger(__name__)

#: Canonical symbol -> Yahoo ticker.
TICKERS: dict[str, str] = {
    "SPY": "SPY",
    "VIX": "^VIX",
    "VIX3M": "^VIX3M",
    "TLT": "TLT",
    "HYG": "HYG",
}
#: Yahoo ticker -> canonical symbol.
CANONICAL: dict[str, str] = {v: k for k, v in TICKERS.items()}
#: yfinance price level -> raw-market-frame column.
_FIELDS: dict[str, str] = {
    "Open": "open",
    "High": "high",
    "Low": "low",
    "Close": "close",
    "Adj Close": "adj_close",
    "Volume": "volume",
}


def from_yfinance(vendor: pd.DataFrame) -> pd.DataFrame:
    """``yf.download(..., auto_adjust=False)`` output -> raw market frame rows (unfiltered).

    Expects columns as a (Price, Ticker) MultiIndex and a date index. yfinance outer-joins
    tickers on the union of their dates, so a ticker gets all-NaN rows on days it did not
    trade (VIX holidays, dates before its listing): those reshaping artifacts are dropped;
    rows with only *some* prices missing are kept for the contract to judge. Index volume
    (Yahoo reports 0 for ^VIX) becomes NaN: there is no volume for an index.
    """
    if vendor.empty:
        return empty_frame()
    if not isinstance(vendor.columns, pd.MultiIndex) or vendor.columns.nlevels != 2:
        raise SourceError(
            "yahoo source: unexpected yfinance layout (expected (Price, Ticker) columns); "
            "check the installed yfinance version."
        )
    columns = vendor.columns
    if "Close" not in set(columns.get_level_values(0)):  # group_by="ticker" layout
        columns = columns.swaplevel(0, 1)
    wide = vendor.set_axis(columns, axis=1)
    wide.columns = wide.columns.set_names(["field", "ticker"])
    missing = sorted(set(_FIELDS) - set(wide.columns.get_level_values("field")))
    if missing:
        raise SourceError(f"yahoo source: yfinance frame lacks {missing}; pass auto_adjust=False.")
    # stack, not melt: it moves one of two column levels to rows in a single step.
    long = wide.loc[:, list(_FIELDS)].stack("ticker", future_stack=True)  # noqa: PD013
    long = long.rename(columns=_FIELDS).rename_axis(["date", "ticker"]).reset_index()
    long["symbol"] = long["ticker"].map(CANONICAL).fillna(long["ticker"].str.lstrip("^"))
    long["date"] = pd.to_datetime(long["date"]).dt.tz_localize(None).dt.normalize()
    long["date"] = long["date"].astype("datetime64[ns]")
    prices = ["open", "high", "low", "close", "adj_close"]
    long = long.loc[long[prices].notna().any(axis=1)]
    long.loc[long["symbol"].isin(INDEX_SYMBOLS), "volume"] = np.nan
    return long.loc[:, list(RAW_COLUMNS)].rename_axis(columns=None).reset_index(drop=True)


class _Collect(logging.Handler):
    """Keeps yfinance's ERROR records: they are the only trace of why a download failed."""

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        msg = record.getMessage().split(" See https://", 1)[0].strip()
        if msg and not msg.endswith("Failed downloads:") and msg not in self.messages:
            self.messages.append(msg)


@contextmanager
def _yfinance_errors() -> Iterator[_Collect]:
    logger = logging.getLogger("yfinance")
    handler = _Collect()
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)


class YahooSource:
    """Daily bars from Yahoo for SPY, ^VIX, ^VIX3M, TLT, HYG (raw OHLC + Adj Close)."""

    name = "yahoo"
    is_synthetic = False

    def __init__(self, retries: int = 3, backoff_s: float = 2.0, timeout_s: float = 20) -> None:
        if retries < 1:
            raise ValueError("retries must be >= 1")
        self.retries = retries
        self.backoff_s = backoff_s
        self.timeout_s = timeout_s

    def _download(
        self, tickers: list[str], start: pd.Timestamp, end: pd.Timestamp
    ) -> tuple[pd.DataFrame, list[str]]:
        import yfinance as yf  # imported late: slow, and only this source needs it

        with _yfinance_errors() as errors, warnings.catch_warnings():
            warnings.simplefilter("ignore")  # yfinance's own pandas deprecation noise
            vendor = yf.download(
                tickers,
                start=start.strftime("%Y-%m-%d"),
                end=(end + pd.Timedelta(days=1)).strftime("%Y-%m-%d"),  # yfinance: exclusive
                auto_adjust=False,
                actions=False,
                progress=False,
                timeout=self.timeout_s,
                threads=False,
            )
        return (vendor if vendor is not None else pd.DataFrame()), errors.messages

    def fetch(self, symbols: Sequence[str], start: DateLike, end: DateLike) -> pd.DataFrame:
        wanted = normalize_symbols(symbols)
        check_known(wanted, list(TICKERS), self.name)
        lo, hi = date_bounds(start, end)
        if not wanted or len(trading_days(lo, hi)) == 0:
            return empty_frame()  # nothing to ask for; an empty answer is not a failure here
        tickers = [TICKERS[s] for s in wanted]
        frame, absent, errors = empty_frame(), list(wanted), []
        for attempt in range(1, self.retries + 1):
            vendor, errors = self._download(tickers, lo, hi)
            frame = finalize(from_yfinance(vendor), self.name, lo, hi)
            absent = [s for s in wanted if s not in set(frame["symbol"])]
            if not absent:
                return frame
            log.warning(
                "yahoo source: attempt %d/%d returned no rows for %s (%s..%s)%s",
                attempt,
                self.retries,
                absent,
                lo.date(),
                hi.date(),
                f": {errors[-1]}" if errors else "",
            )
            if attempt < self.retries:
                time.sleep(self.backoff_s * 2 ** (attempt - 1))
        if frame.empty:
            detail = " | ".join(errors[:3]) if errors else "yfinance returned an empty frame"
            raise SourceUnavailable(
                f"yahoo source: no data for {wanted} ({lo.date()}..{hi.date()}) after "
                f"{self.retries} attempt(s); is the network up and Yahoo Finance reachable? "
                f"yfinance said: {detail}. Retry later, or use VOLCAST_SOURCE=csv/synthetic."
            )
        # Some symbols came back: a symbol can legitimately have no rows in a range (e.g.
        # before its listing). The contract downstream decides whether that is acceptable.
        log.warning("yahoo source: returning without %s after %d attempt(s)", absent, self.retries)
        return frame

    def __repr__(self) -> str:
        return (
            f"YahooSource(retries={self.retries}, backoff_s={self.backoff_s}, "
            f"timeout_s={self.timeout_s})"
        )
