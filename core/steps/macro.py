"""The macro step: FRED vintages into raw.macro, then curated.macro_release_aligned.

Optional: without VOLCAST_FRED_API_KEY the step is skipped with one log line (the daily chain
goes on); asked for explicitly (``volcast ingest --source fred``) it is an error instead.
"""

from __future__ import annotations

import hashlib
import io
import logging
from typing import TYPE_CHECKING

import pandas as pd

from core import contracts
from core.calendar import DateLike
from core.macro import align_releases, lookback_days, merge_vintages, series_for
from core.sources.base import SourceError
from core.steps.context import Context, session_range
from core.steps.summaries import MacroSummary, Skipped, span

if TYPE_CHECKING:  # imported where used: httpx costs ~0.1 s, and an evening without a key skips
    from core.sources.fred import FredSource

log = logging.getLogger(__name__)

#: The ``--source`` value that selects this step in `volcast ingest` and the ingest flow.
MACRO_SOURCE = "fred"
NO_KEY = "VOLCAST_FRED_API_KEY is not set"
SKIPPED = f"{NO_KEY}: macro step skipped, macro tables unchanged"


def macro(
    ctx: Context,
    start: DateLike,
    end: DateLike,
    source: FredSource | None = None,
    required: bool = False,
    progress: bool = False,
) -> MacroSummary | Skipped:
    """Store every FRED vintage of the configured series observed in [start - lookback, end]
    and the release-aligned values of the sessions in [start, end].

    raw.macro only grows: a downloaded row that is already stored is unchanged, a new
    realtime_start is appended, and a stored key that FRED now reports with another value is a
    conflict (the stored row stays; the download is kept under ``_rejected/raw.macro/``). The
    download is checked against the raw.macro contract before anything is written.

    Raises SourceError when ``required`` and no key is configured, SourceUnavailable when FRED
    cannot be reached after retries, UnknownSeriesError for a series without a catalogue entry.
    """
    days = session_range(start, end)
    series = series_for(ctx.settings.fred_series)
    if source is None:
        if ctx.settings.fred_api_key is None:
            if required:
                raise SourceError(f"fred source: {NO_KEY}; get a key at fred.stlouisfed.org")
            log.info(SKIPPED)
            return Skipped("macro", SKIPPED)
        from core.sources.fred import FredSource

        source = FredSource(ctx.settings.fred_api_key, ctx.settings.fred_api_url)

    first = days[0] - pd.Timedelta(days=lookback_days(series))
    fetched = source.fetch([s.series_id for s in series], first, days[-1])
    fetched = contracts.validate(contracts.RAW_MACRO, fetched)
    stored = ctx.lake.read(contracts.RAW_MACRO, first, days[-1])
    merge = merge_vintages(stored, fetched)
    changed = merge.merged.loc[merge.merged["date"].isin(merge.changed_dates)]
    raw_report = ctx.lake.write_partitions(contracts.RAW_MACRO, changed, progress=progress)
    if not merge.conflicts.empty:
        _keep_rejected(ctx, merge.conflicts)

    aligned = align_releases(merge.merged, days, series)
    curated_report = ctx.lake.write_partitions(contracts.CURATED_MACRO, aligned, progress=progress)
    return MacroSummary(
        "macro",
        **span(days),
        writes=(raw_report, curated_report),
        source=source.name,
        new_vintages=len(merge.new_rows),
        conflicting_vintages=len(merge.conflicts),
        latest_observation=_latest_observation(merge.merged, days[-1]),
    ).logged()


def _latest_observation(raw: pd.DataFrame, end: pd.Timestamp) -> dict[str, str]:
    """Per series, the newest observation date published (with a value) by ``end``."""
    known = raw.loc[raw["value"].notna() & (raw["realtime_start"] <= end)]
    latest = known.groupby("series_id")["date"].max()
    return {str(k): v.date().isoformat() for k, v in latest.items()}


def _keep_rejected(ctx: Context, conflicts: pd.DataFrame) -> None:
    """FRED restated a vintage already stored: keep its new word aside, loudly."""
    buffer = io.BytesIO()
    conflicts.to_parquet(buffer, index=False)
    payload = buffer.getvalue()
    key = f"_rejected/{contracts.RAW_MACRO}/{hashlib.sha256(payload).hexdigest()[:16]}.parquet"
    ctx.lake.put_bytes(key, payload)
    shown = conflicts.head(5).to_string(index=False)
    log.warning(
        "%s: %d stored vintages differ from FRED's answer and were NOT changed (FRED's copy "
        "is at %s):\n%s",
        contracts.RAW_MACRO,
        len(conflicts),
        key,
        shown,
    )
