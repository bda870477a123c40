"""Macro series from FRED, point in time: the series catalogue, the revision log, the alignment.

``raw.macro`` is a revision log: one row per (series_id, date, realtime_start), saying that from
``realtime_start`` on FRED gave ``value`` for the observation dated ``date``. Rows are never
changed or removed; a revision is a new row with a later ``realtime_start``
(:func:`merge_vintages`).

``curated.macro_release_aligned`` has one row per XNYS session t and one column per series
(:func:`align_releases`): the value of the latest observation FRED had published by t
(``realtime_start <= t``, read as "known at the close of t"), as FRED last stated it by t. Rows
published after t are never read for t, so a later revision cannot change a stored value.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

#: Columns of raw.macro, in order; its rows are unique on KEY.
RAW_COLUMNS: tuple[str, ...] = ("series_id", "date", "value", "realtime_start")
KEY: list[str] = ["series_id", "date", "realtime_start"]


@dataclass(frozen=True)
class MacroSeries:
    """One FRED series volcast can ingest, with what a reader needs to trust its timing.

    ``release_lag_days``: typical calendar days from the observation date to FRED's first
    release (documentation, and what the test fixtures imitate: alignment itself reads only
    ``realtime_start``). ``max_age_days``: an observation older than this at session t is stale
    and gives null (a series that stopped publishing must not look current); it also bounds the
    history an incremental run reads, so a one-day run and a backfill agree day for day.
    """

    series_id: str
    title: str
    units: str
    frequency: Literal["daily", "weekly"]
    release: str
    release_lag_days: int
    max_age_days: int

    @property
    def column(self) -> str:
        """Its column in curated.macro_release_aligned."""
        return self.series_id.lower()


#: Every series volcast knows. Add one here (with its timing) to make it configurable.
CATALOGUE: dict[str, MacroSeries] = {
    s.series_id: s
    for s in (
        MacroSeries(
            "BAMLH0A0HYM2",
            "ICE BofA US High Yield Index option-adjusted spread",
            "percent",
            "daily",
            "close of day t, on FRED the next business day",
            1,
            10,
        ),
        MacroSeries(
            "T10Y2Y",
            "10-year minus 2-year Treasury constant maturity",
            "percent",
            "daily",
            "from the Fed's H.15 for day t, on FRED the next business day",
            1,
            10,
        ),
        MacroSeries(
            "DGS10",
            "10-year Treasury constant maturity yield",
            "percent",
            "daily",
            "H.15 for day t, on FRED the next business day; '.' on bond-market holidays",
            1,
            10,
        ),
        MacroSeries(
            "ICSA",
            "Initial jobless claims, seasonally adjusted",
            "number",
            "weekly",
            "week ending Saturday, released the next Thursday 8:30 ET, revised a week later",
            5,
            21,
        ),
        MacroSeries(
            "NFCI",
            "Chicago Fed National Financial Conditions Index",
            "index",
            "weekly",
            "week ending Friday, released the next Wednesday 8:30 ET; all history re-estimated",
            5,
            21,
        ),
    )
}
DEFAULT_SERIES: tuple[str, ...] = tuple(CATALOGUE)


class UnknownSeriesError(ValueError):
    """A configured series id is not in CATALOGUE."""


def series_for(ids: Sequence[str] | None) -> list[MacroSeries]:
    """The catalogue entries for ``ids`` (None: the defaults), in the order given.

    Raises UnknownSeriesError naming the ids that have no catalogue entry.
    """
    wanted = list(dict.fromkeys(s.strip().upper() for s in (ids or DEFAULT_SERIES)))
    unknown = [s for s in wanted if s not in CATALOGUE]
    if unknown:
        raise UnknownSeriesError(
            f"VOLCAST_FRED_SERIES names {unknown}, which core/macro.py CATALOGUE does not "
            f"describe; known: {sorted(CATALOGUE)}. Add an entry with its frequency and release "
            "lag (docs/runbook.md, 'Add a series')."
        )
    return [CATALOGUE[s] for s in wanted]


def lookback_days(series: Sequence[MacroSeries]) -> int:
    """Calendar days of observations before a session that its aligned row can read."""
    return max(s.max_age_days for s in series)


def empty_raw() -> pd.DataFrame:
    """A zero-row raw.macro frame with the contract's dtypes."""
    return pd.DataFrame(
        {
            "series_id": pd.Series([], dtype=object),
            "date": pd.Series([], dtype="datetime64[ns]"),
            "value": pd.Series([], dtype="float64"),
            "realtime_start": pd.Series([], dtype="datetime64[ns]"),
        }
    )


def collapse_vintages(rows: pd.DataFrame) -> pd.DataFrame:
    """Drop rows that repeat the value in force just before them (same series and date).

    FRED starts a new real-time period only when a value changes, but a request whose real-time
    window begins after a value was first published reports it from the window's start: joined
    up, such windows repeat a value with a later ``realtime_start``. The earliest row wins.
    """
    ordered = rows.sort_values(KEY, kind="stable", ignore_index=True)
    same_obs = ordered[["series_id", "date"]].eq(ordered[["series_id", "date"]].shift()).all(axis=1)
    value, previous = ordered["value"], ordered["value"].shift()
    same_value = (value == previous) | (value.isna() & previous.isna())
    return ordered.loc[~(same_obs & same_value)].reset_index(drop=True)


@dataclass(frozen=True)
class VintageMerge:
    """What merging a download into the stored revision log gives.

    ``merged``: stored rows plus the new ones (rows of the dates in ``changed_dates`` only need
    rewriting). ``conflicts``: downloaded rows whose key is stored with another value; the
    stored row is kept.
    """

    merged: pd.DataFrame
    new_rows: pd.DataFrame
    conflicts: pd.DataFrame

    @property
    def changed_dates(self) -> pd.DatetimeIndex:
        return pd.DatetimeIndex(self.new_rows["date"].unique()).sort_values()


def merge_vintages(stored: pd.DataFrame, fetched: pd.DataFrame) -> VintageMerge:
    """Append what is new in ``fetched`` to ``stored`` without changing any stored row.

    A fetched row is new when its key (series_id, date, realtime_start) is not stored and its
    value differs from the value in force just before it (stored or fetched); a fetched row
    whose key is stored with a different value is a conflict and is not applied.
    """
    stored = stored.loc[:, list(RAW_COLUMNS)]
    fetched = fetched.loc[:, list(RAW_COLUMNS)]
    joined = fetched.merge(stored, on=KEY, how="left", suffixes=("", "_stored"), indicator=True)
    known = joined["_merge"].eq("both").to_numpy()
    same = (joined["value"] == joined["value_stored"]) | (
        joined["value"].isna() & joined["value_stored"].isna()
    )
    conflicts = joined.loc[known & ~same.to_numpy(), [*RAW_COLUMNS, "value_stored"]]
    candidates = fetched.loc[~known].assign(_new=True)
    union = collapse_vintages(pd.concat([stored.assign(_new=False), candidates], ignore_index=True))
    # Stored rows all survive the collapse unless a fetched row now precedes one with the same
    # value: keep them anyway (the log is append-only) and drop only fetched repeats.
    kept_new = union.loc[union["_new"]].drop(columns="_new")
    merged = pd.concat([stored, kept_new], ignore_index=True).sort_values(
        ["date", "series_id", "realtime_start"], kind="stable", ignore_index=True
    )
    return VintageMerge(merged, kept_new.reset_index(drop=True), conflicts.reset_index(drop=True))


def align_releases(
    raw: pd.DataFrame, sessions: pd.DatetimeIndex, series: Sequence[MacroSeries]
) -> pd.DataFrame:
    """curated.macro_release_aligned for ``sessions``: ``date`` and one column per series.

    For session t and series s, with rows r of s:
      1. the observation: the latest ``r.date`` with a non-null value among rows with
         ``max(r.realtime_start, r.date) <= t`` (FRED's '.' rows, e.g. a bond-market holiday,
         are not observations); null if older than ``s.max_age_days`` before t;
      2. its value: that observation's row with the latest ``realtime_start <= t`` (null if FRED
         had withdrawn the value by t).
    Only rows with ``realtime_start <= t`` take part, so rows published after t cannot change
    the value at t. Shapes: ``raw`` long (RAW_COLUMNS), result one row per session.
    """
    days = pd.DatetimeIndex(sessions).astype("datetime64[ns]")
    out = pd.DataFrame({"date": days})
    for s in series:
        rows = raw.loc[raw["series_id"] == s.series_id, ["date", "value", "realtime_start"]]
        rows = rows.astype({"date": "datetime64[ns]", "realtime_start": "datetime64[ns]"})
        out[s.column] = _align_one(rows, days, pd.Timedelta(days=s.max_age_days))
    return out


def _align_one(rows: pd.DataFrame, days: pd.DatetimeIndex, max_age: pd.Timedelta) -> np.ndarray:
    values = np.full(len(days), np.nan)
    published = rows.loc[rows["value"].notna()]
    if published.empty or len(days) == 0:
        return values
    # Step 1: the latest observation date usable at t, a running max over availability times.
    usable = published.assign(
        available=np.maximum(published["realtime_start"], published["date"])
    ).sort_values("available", kind="stable")
    usable["latest"] = usable["date"].cummax()
    sessions = pd.DataFrame({"t": days, "row": np.arange(len(days))})
    latest = pd.merge_asof(
        sessions, usable[["available", "latest"]], left_on="t", right_on="available"
    )
    fresh = latest["latest"].notna() & (latest["t"] - latest["latest"] <= max_age)
    # Step 2: that observation's value as last stated by t (rows of one date, by realtime_start).
    query = latest.loc[fresh, ["t", "row", "latest"]].rename(columns={"latest": "date"})
    vintages = rows.sort_values("realtime_start", kind="stable")
    stated = pd.merge_asof(query, vintages, left_on="t", right_on="realtime_start", by="date")
    values[stated["row"].to_numpy()] = stated["value"].to_numpy(dtype=float)
    return values
