"""Market-data sources: each returns the raw market frame (see :mod:`core.sources.base`).

``get_source(settings)`` is the one place that maps ``VOLCAST_SOURCE`` to a source, so
callers never branch on the source name.
"""

from __future__ import annotations

from core.config import Settings
from core.sources.base import (
    RAW_COLUMNS,
    MarketSource,
    SourceError,
    SourceUnavailable,
    empty_frame,
)
from core.sources.csv_folder import CsvFolderSource
from core.sources.synthetic import SyntheticSource
from core.sources.yahoo import YahooSource

__all__ = [
    "RAW_COLUMNS",
    "CsvFolderSource",
    "MarketSource",
    "SourceError",
    "SourceUnavailable",
    "SyntheticSource",
    "YahooSource",
    "empty_frame",
    "get_source",
]


def get_source(settings: Settings) -> MarketSource:
    """The source named by ``settings.source``, configured from the same settings."""
    if settings.source == "synthetic":
        return SyntheticSource(seed=settings.synthetic_seed)
    if settings.source == "csv":
        if settings.csv_dir is None:
            raise SourceError(
                "csv source: VOLCAST_CSV_DIR is not set; point it at a folder of per-symbol "
                "CSV files (SPY.csv, VIX.csv, ...), or use VOLCAST_SOURCE=synthetic."
            )
        return CsvFolderSource(settings.csv_dir)
    if settings.source == "yahoo":
        return YahooSource()
    raise SourceError(f"unknown source {settings.source!r}; use synthetic, csv or yahoo.")
