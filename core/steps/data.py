"""Data steps: raw bars -> curated -> features -> labels, each a plain function of dates.

``DERIVED_STEPS`` is the chain after ingest, once: backfill, the evening (core.steps.jobs and
flows/daily.py), `volcast features` and the backfill chunks (core.steps.chunks) iterate over it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence

import pandas as pd

from core import contracts
from core.calendar import DateLike, latest_trading_day, shift_trading_days, to_day, trading_days
from core.definitions import HORIZON_SESSIONS, SYMBOLS
from core.errors import IngestError, StaleDataError
from core.features import LOOKBACK_SESSIONS, build_features
from core.labels import build_labels
from core.lake import SOURCE_MARKER, Lake
from core.market import curate, raw_bars
from core.plausibility import REFERENCE_SESSIONS, Screening, accepted_bars, screen
from core.sources import MarketSource, get_source
from core.steps.context import Context, lake_source, session_range
from core.steps.summaries import FeaturesSummary, IngestSummary, StepSummary, span


def _claim_lake_for(ctx: Context, source: MarketSource) -> None:
    """One lake holds one source's data: mixing synthetic and real prices would be silent poison."""
    lake = ctx.lake
    mine = {"source": source.name, "synthetic": source.is_synthetic}
    stored = lake_source(ctx)
    if stored:
        if stored.get("source") != source.name:
            raise IngestError(
                f"lake {lake.uri} holds data from source {stored.get('source')!r}; refusing to "
                f"mix in {source.name!r}. Point VOLCAST_LAKE_URI at another lake."
            )
        return
    lake.put_bytes(SOURCE_MARKER, json.dumps(mine).encode())


def check_complete(raw: pd.DataFrame, days: pd.DatetimeIndex, symbols: Sequence[str]) -> dict:
    """Raise StaleDataError if a symbol lacks a requested day after its first available day.

    Days before a symbol's first row are its pre-inception history (VIX3M starts in 2009) and
    are reported, not failed; a symbol with no row at all, or a gap, is stale or broken data.
    """
    problems: list[str] = []
    inception: dict[str, str] = {}
    for symbol in symbols:
        have = pd.DatetimeIndex(raw.loc[raw["symbol"] == symbol, "date"])
        if have.empty:
            problems.append(f"{symbol}: no rows at all in {days[0].date()}..{days[-1].date()}")
            continue
        expected = days[days >= have.min()]
        missing = expected.difference(have)
        if len(missing):
            shown = ", ".join(d.date().isoformat() for d in missing[:10])
            more = f" (+{len(missing) - 10} more)" if len(missing) > 10 else ""
            latest = have.max().date().isoformat()
            problems.append(f"{symbol}: missing {shown}{more}; latest row {latest}")
        if have.min() > days[0]:
            inception[symbol] = have.min().date().isoformat()
    if problems:
        raise StaleDataError(
            "incomplete or stale market data, nothing written:\n  " + "\n  ".join(problems)
        )
    return inception


def ingest(
    ctx: Context,
    start: DateLike,
    end: DateLike,
    source: MarketSource | None = None,
    progress: bool = False,
    known_until: DateLike | None = None,
) -> IngestSummary:
    """Download raw bars for [start, end] and store them as immutable raw.market partitions.

    The download reaches ``REFERENCE_SESSIONS`` + 1 sessions further back: each day's return
    comes from the previous close of the same download (core.market), and the plausibility
    checks compare a bar with the sessions before it (core.plausibility). ``known_until`` (a
    later day) widens the download, not the write: a chunk of an older range then tells a
    series that had not started yet (VIX3M before 2009) from a gap, and sees whether a bar
    on its last day is undone the next session. A finding that no recorded acceptance covers
    stops the step before anything is written.

    Raises ValueError for an ``end`` (or ``known_until``) after the latest XNYS session whose
    close has passed: no source has that bar yet (a synthetic source would invent one, and a
    stored future partition would hide the real one when its day comes).
    """
    latest = latest_trading_day()
    for name, value in (("end", end), ("known_until", known_until)):
        if value is not None and to_day(value) > latest:
            raise ValueError(
                f"raw.market: {name} {to_day(value).date()} is after the latest closed XNYS "
                f"session ({latest.date()}): its bars do not exist yet"
            )
    days = session_range(start, end)
    source = source or get_source(ctx.settings)
    first = shift_trading_days(days[0], -(REFERENCE_SESSIONS + 1))
    download = source.fetch(SYMBOLS, first, max(days[-1], to_day(known_until or days[-1])))
    # The previous session too: its close is the first day's reference.
    previous = shift_trading_days(days[0], -1)
    inception = check_complete(download, session_range(previous, days[-1]), SYMBOLS)
    inception = {sym: day for sym, day in inception.items() if pd.Timestamp(day) > days[0]}
    raw, screening = bars_from_download(ctx.lake, download, days)
    _claim_lake_for(ctx, source)
    report = ctx.lake.write_partitions(contracts.RAW_MARKET, raw, progress=progress)
    return IngestSummary(
        "ingest",
        **span(days),
        writes=(report,),
        source=source.name,
        synthetic_data=source.is_synthetic,
        series_start=inception,
        accepted_bars=screening.accepted_summary() if not screening.accepted.empty else [],
    ).logged()


def bars_from_download(
    lake: Lake, download: pd.DataFrame, days: pd.DatetimeIndex
) -> tuple[pd.DataFrame, Screening]:
    """Contract-checked raw.market rows for ``days`` from one source frame, and the screening.

    The download's rows from the session before ``days`` on pass the download contract (the
    closes each day's return reads must be valid prices); every bar is then judged by the
    plausibility checks. Raises ContractError or PlausibilityError; writes nothing.
    """
    used = download["date"].between(shift_trading_days(days[0], -1), days[-1])
    contracts.validate(contracts.MARKET_DOWNLOAD, download.loc[used])
    bars = raw_bars(download)
    screening = screen(bars, days, accepted_bars(lake))
    screening.raise_if_refused(contracts.RAW_MARKET)
    written = bars.loc[bars["date"].between(days[0], days[-1])]
    return contracts.validate(contracts.RAW_MARKET, written), screening


def curate_market(
    ctx: Context, start: DateLike, end: DateLike, progress: bool = False
) -> StepSummary:
    """raw.market -> curated.market_daily for [start, end] (returns are stored with the bars)."""
    days = session_range(start, end)
    raw = ctx.lake.read(contracts.RAW_MARKET, days[0], days[-1])
    _require_days(raw, days, contracts.RAW_MARKET)
    curated = curate(raw, days[0])
    report = ctx.lake.write_partitions(contracts.CURATED_MARKET, curated, progress=progress)
    return StepSummary("curate", **span(days), writes=(report,)).logged()


def features(
    ctx: Context, start: DateLike, end: DateLike, progress: bool = False
) -> FeaturesSummary:
    """curated -> features_daily for [start, end], reading only the lookback it needs."""
    days = session_range(start, end)
    window_start = shift_trading_days(days[0], -(LOOKBACK_SESSIONS - 1))
    curated = ctx.lake.read(contracts.CURATED_MARKET, window_start, days[-1])
    # Rolling windows count rows: a hole in the lookback would silently stretch them.
    window = trading_days(window_start, days[-1])
    _require_days(curated, window[window >= curated["date"].min()], contracts.CURATED_MARKET)
    table = build_features(curated)
    table = table.loc[table["date"].between(days[0], days[-1])]
    report = ctx.lake.write_partitions(contracts.FEATURES, table, progress=progress)
    skipped = days.difference(pd.DatetimeIndex(table["date"]))
    return FeaturesSummary(
        "features", **span(days), writes=(report,), days_without_features=len(skipped)
    ).logged()


def labels(ctx: Context, start: DateLike, end: DateLike, progress: bool = False) -> StepSummary:
    """labels_daily for the label dates that became known with curated data up to ``end``.

    rv_5d at t needs returns t+1..t+5, so curating [start, end] completes labels for
    t in [start - 5, end - 5] sessions.
    """
    days = session_range(start, end)
    first = shift_trading_days(days[0], -HORIZON_SESSIONS)
    last = shift_trading_days(days[-1], -HORIZON_SESSIONS)
    curated = ctx.lake.read(contracts.CURATED_MARKET, first, days[-1], columns=["symbol", "ret"])
    table = build_labels(curated)
    table = table.loc[table["date"].between(first, last)]
    report = ctx.lake.write_partitions(contracts.LABELS, table, progress=progress)
    return StepSummary("labels", **span(trading_days(first, last)), writes=(report,)).logged()


def _require_days(frame: pd.DataFrame, days: pd.DatetimeIndex, table: str) -> None:
    missing = days.difference(pd.DatetimeIndex(frame["date"].unique()))
    if len(missing):
        shown = ", ".join(d.date().isoformat() for d in missing[:5])
        raise IngestError(f"{table} has no partition for {shown}: run the step before it first")


def compact(ctx: Context, table: str | None = None) -> dict[str, dict[str, int]]:
    """Check every year's snapshot of ``table`` (default: every table) against its daily
    partitions and rebuild those that disagree or are missing: a lake written before snapshots
    existed, or partitions changed by hand. Reads stay correct without it (a snapshot is only
    used where it matches); it makes them cheap again."""
    tables = [table] if table is not None else sorted(contracts.SCHEMAS)
    return {name: ctx.lake.compact(name) for name in tables}


def backfill(
    ctx: Context,
    start: DateLike,
    end: DateLike,
    source: MarketSource | None = None,
    progress: bool = True,
) -> list[StepSummary]:
    """The whole chain over a range, each step complete before the next starts."""
    return [
        ingest(ctx, start, end, source=source, progress=progress),
        *derive(ctx, start, end, progress=progress),
    ]


#: A step of the chain after ingest: (context, start, end, progress) -> its summary.
DerivedStep = Callable[[Context, DateLike, DateLike, bool], StepSummary]
#: The chain after ingest, in order, by task name: raw.market -> curated.market_daily ->
#: features_daily -> labels_daily; each step reads what the one before wrote.
DERIVED_STEPS: tuple[tuple[str, DerivedStep], ...] = (
    ("curate", curate_market),
    ("features", features),
    ("labels", labels),
)


def derive(
    ctx: Context, start: DateLike, end: DateLike, progress: bool = False
) -> list[StepSummary]:
    """Every step of ``DERIVED_STEPS`` over [start, end], in order, from stored raw bars."""
    return [step(ctx, start, end, progress) for _, step in DERIVED_STEPS]
