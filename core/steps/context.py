"""What every step shares: the Context (settings + lake), errors, and step summaries."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

import pandas as pd

from core.calendar import DateLike, to_day, trading_days
from core.config import Settings
from core.lake import Lake, WriteReport

SOURCE_MARKER = "_meta/source.json"

log = logging.getLogger(__name__)


class IngestError(RuntimeError):
    """The source did not deliver complete data for the requested days; nothing was written."""


class StaleDataError(IngestError):
    """The source has not (yet) published every requested day: a later retry may succeed."""


class NoModelError(RuntimeError):
    """No model is promoted (or pinned) yet: nothing can be scored."""


@dataclass(frozen=True)
class Context:
    """What every step needs: settings and the lake they point at."""

    settings: Settings
    lake: Lake

    @classmethod
    def from_settings(cls, settings: Settings) -> Context:
        return cls(settings, Lake(settings.lake_uri, settings.aws_endpoint_url))


def session_range(start: DateLike, end: DateLike) -> pd.DatetimeIndex:
    """XNYS sessions in [start, end]; an empty range is a caller error, said plainly."""
    days = trading_days(start, end)
    if days.empty:
        raise ValueError(
            f"no XNYS trading day between {to_day(start).date()} and {to_day(end).date()}"
        )
    return days


def step_summary(step: str, days: pd.DatetimeIndex, *reports: WriteReport, **extra: object) -> dict:
    """The JSON summary every step returns: its range and what each table write did. Logs it
    as one line (``summary_line``): the run's log then says what each step wrote."""
    summary = {
        "step": step,
        "start": days[0].date().isoformat(),
        "end": days[-1].date().isoformat(),
        **{r.table: r.summary() for r in reports},
        **extra,
    }
    log.info("%s", summary_line(summary))
    return summary


def summary_line(summary: dict) -> str:
    """A step summary as one line for people: "ingest 2022-07-01: raw.market 1 partition
    written, 0 unchanged; source csv" (SYNTHETIC DATA said when the source is synthetic)."""
    start, end = summary.get("start"), summary.get("end")
    span = start if start == end else f"{start}..{end}"
    parts = []
    for table, counts in summary.items():
        if isinstance(counts, dict) and "written" in counts:
            written = counts["written"]
            text = f"{table} {written} partition{'s' if written != 1 else ''} written, "
            text += f"{counts.get('unchanged', 0)} unchanged"
            if counts.get("conflict"):
                text += f", {counts['conflict']} conflicting (kept aside)"
            parts.append(text)
    if summary.get("days_without_features"):
        parts.append(f"{summary['days_without_features']} session(s) without features (warm-up)")
    if "model_version" in summary:
        parts.append(f"model {summary['model_version']}")
    if "source" in summary:
        synthetic = "SYNTHETIC DATA, " if summary.get("synthetic_data") else ""
        parts.append(f"{synthetic}source {summary['source']}")
    return f"{summary.get('step')} {span}: " + ("; ".join(parts) or "nothing to write")


def lake_source(ctx: Context) -> dict:
    """Which source filled this lake ({} when empty): shown wherever forecasts are shown."""
    try:
        return json.loads(ctx.lake.get_bytes(SOURCE_MARKER))  # one GET, no HEAD first
    except FileNotFoundError:
        return {}
