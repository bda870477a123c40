"""What every market-data source promises, and the helpers that keep that promise uniform.

A source returns the *raw market frame*: one row per (symbol, date), sorted, with the
columns of ``RAW_COLUMNS`` in that order. Sources only reshape and calendar-filter vendor
data; judging it (NaN prices, OHLC consistency, gaps) is the contract layer's job, so that
every source fails the same way on the same bad data.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import pandas as pd

from core.calendar import DateLike, non_trading_days, to_day

log = logging.getLogger(__name__)

#: Columns of the raw market frame, in order.
RAW_COLUMNS: tuple[str, ...] = (
    "symbol",
    "date",
    "open",
    "high",
    "low",
    "close",
    "adj_close",
    "volume",
)
PRICE_COLUMNS: tuple[str, ...] = ("open", "high", "low", "close", "adj_close")

#: Series that are indices (CBOE): no volume, nothing to adjust for dividends.
INDEX_SYMBOLS: frozenset[str] = frozenset({"VIX", "VIX3M"})

#: Cap on dates listed per log line (a pre-1993 request would otherwise list thousands).
MAX_LOGGED_DATES = 40


class SourceError(RuntimeError):
    """A source cannot deliver: the message names the source, the symbol and what to do."""


class SourceUnavailable(SourceError):
    """The source could not be reached (network, timeouts, throttling): worth retrying later."""


@runtime_checkable
class MarketSource(Protocol):
    """A provider of the raw market frame.

    ``is_synthetic`` exists so that anything shown to a person (CLI, API) can say
    "SYNTHETIC DATA" without knowing which source classes exist.
    """

    name: str
    is_synthetic: bool

    def fetch(self, symbols: Sequence[str], start: DateLike, end: DateLike) -> pd.DataFrame:
        """Rows for ``symbols`` with ``start <= date <= end`` on XNYS trading days."""
        ...


def empty_frame() -> pd.DataFrame:
    """A zero-row raw market frame with the right dtypes (so concat/contracts still work)."""
    return pd.DataFrame(
        {
            "symbol": pd.Series([], dtype="str"),
            "date": pd.Series([], dtype="datetime64[ns]"),
            **{col: pd.Series([], dtype="float64") for col in (*PRICE_COLUMNS, "volume")},
        }
    )


def normalize_symbols(symbols: Sequence[str] | str) -> list[str]:
    """Canonical, de-duplicated symbols in request order (``^VIX`` -> ``VIX``)."""
    if isinstance(symbols, str):
        symbols = [symbols]
    out: list[str] = []
    for raw in symbols:
        sym = str(raw).strip().upper().lstrip("^")
        if sym and sym not in out:
            out.append(sym)
    return out


def date_bounds(start: DateLike, end: DateLike) -> tuple[pd.Timestamp, pd.Timestamp]:
    """``(start, end)`` as midnight Timestamps; an inverted range is a caller bug."""
    lo, hi = to_day(start), to_day(end)
    if hi < lo:
        raise ValueError(f"end {hi.date()} is before start {lo.date()}")
    return lo, hi


def finalize(frame: pd.DataFrame, source: str, start: DateLike, end: DateLike) -> pd.DataFrame:
    """Bring any source's long frame to the exact raw-market-frame shape.

    Filters to ``[start, end]``, drops (and logs) rows on non-trading days, sets dtypes,
    column order and the (symbol, date) sort. Rows with NaN prices are kept on purpose:
    the contract downstream rejects them with a message naming the rows.
    """
    if frame.empty:
        return empty_frame()
    lo, hi = date_bounds(start, end)
    out = frame.loc[:, list(RAW_COLUMNS)].copy()
    out["symbol"] = out["symbol"].astype("str")
    out["date"] = pd.to_datetime(out["date"]).dt.normalize().astype("datetime64[ns]")
    out = out.loc[out["date"].between(lo, hi)]
    out = drop_non_trading_days(out, source)
    for col in (*PRICE_COLUMNS, "volume"):
        out[col] = pd.to_numeric(out[col], errors="coerce").astype("float64")
    return out.sort_values(["symbol", "date"], kind="stable").reset_index(drop=True)


def drop_non_trading_days(frame: pd.DataFrame, source: str) -> pd.DataFrame:
    """Drop rows dated on XNYS holidays/weekends, logging which dates went.

    CBOE prints VIX on US holidays (global trading hours); joining those onto SPY would
    create days with an index level but no stock return.
    """
    if frame.empty:
        return frame
    bad = non_trading_days(pd.DatetimeIndex(frame["date"].unique()))
    if len(bad) == 0:
        return frame
    mask = frame["date"].isin(bad)
    for sym, dates in frame.loc[mask].groupby("symbol", sort=True)["date"]:
        listed = sorted(dates.dt.strftime("%Y-%m-%d"))
        shown = ", ".join(listed[:MAX_LOGGED_DATES])
        more = (
            f" (+{len(listed) - MAX_LOGGED_DATES} more)" if len(listed) > MAX_LOGGED_DATES else ""
        )
        log.info(
            "%s: dropped %d %s row(s) on non-trading days: %s%s",
            source,
            len(listed),
            sym,
            shown,
            more,
        )
    return frame.loc[~mask]


def check_known(symbols: Sequence[str], known: Sequence[str], source: str) -> None:
    """Raise SourceError for symbols this source has never heard of."""
    unknown = [s for s in symbols if s not in known]
    if unknown:
        raise SourceError(
            f"{source} source: unknown symbol(s) {unknown}; supported: {sorted(known)}. "
            "Use canonical names (SPY, VIX, VIX3M, TLT, HYG)."
        )
