"""Market data from a folder of per-symbol CSV files (vendor exports, archived snapshots).

One file per symbol, ``<SYMBOL>.csv`` or ``^<SYMBOL>.csv``; anything else in the folder
(``SPY_alt_yahoo.csv``, notes) is ignored. The format is recognized from the header, so a
folder may mix Yahoo and CBOE exports:

* Yahoo:                 ``Date,Open,High,Low,Close,Adj Close,Volume``
* Yahoo adjusted-only:   ``Date,Open,High,Low,Close,Volume``  (adj_close = close)
* CBOE:                  ``DATE,OPEN,HIGH,LOW,CLOSE``          (volume NaN; ISO or MM/DD/YYYY)

Header matching ignores case and surrounding spaces. An unknown header is an error rather
than a guess: mislabeled columns would silently corrupt every return downstream.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from core.calendar import DateLike
from core.sources.base import (
    PRICE_COLUMNS,
    SourceError,
    date_bounds,
    empty_frame,
    finalize,
    normalize_symbols,
)

log = logging.getLogger(__name__)

#: Normalized header -> format name.
FORMATS: dict[tuple[str, ...], str] = {
    ("date", "open", "high", "low", "close", "adj close", "volume"): "yahoo",
    ("date", "open", "high", "low", "close", "volume"): "yahoo_adjusted",
    ("date", "open", "high", "low", "close"): "cboe",
}
_EXPECTED = "; ".join(",".join(h).title() for h in FORMATS)
_RENAME = {"adj close": "adj_close"}


def detect_format(header: Sequence[str], path: Path) -> str:
    """The format name for a CSV header, or SourceError naming the file and what is expected."""
    key = tuple(str(col).strip().lower() for col in header)
    try:
        return FORMATS[key]
    except KeyError:
        raise SourceError(
            f"csv source: {path} has an unknown header {list(header)}; expected one of: "
            f"{_EXPECTED}. Re-export the file in one of these layouts."
        ) from None


def _parse_dates(raw: pd.Series, path: Path) -> pd.Series:
    """ISO (``2024-01-02``) or US (``01/02/2024``) dates; anything else is an error."""
    text = raw.astype(str).str.strip()
    fmt = "%m/%d/%Y" if text.str.contains("/", regex=False).any() else "ISO8601"
    try:
        return pd.to_datetime(text, format=fmt).astype("datetime64[ns]")
    except (ValueError, TypeError) as exc:
        raise SourceError(
            f"csv source: {path} has dates that are neither YYYY-MM-DD nor MM/DD/YYYY ({exc})."
        ) from exc


def read_market_csv(path: Path, symbol: str) -> pd.DataFrame:
    """One vendor file as raw-market-frame columns (all rows, no date filter).

    Non-numeric price cells become NaN and are kept (the contract reports them); they are
    counted in a warning so the file can be fixed at its source.
    """
    frame = pd.read_csv(path, skipinitialspace=True, dtype={0: str})
    fmt = detect_format(list(frame.columns), path)
    frame.columns = [_RENAME.get(c.strip().lower(), c.strip().lower()) for c in frame.columns]
    out = pd.DataFrame({"symbol": symbol, "date": _parse_dates(frame["date"], path)})
    bad = 0
    for col in (*PRICE_COLUMNS, "volume"):
        if col in frame.columns:
            values = pd.to_numeric(frame[col], errors="coerce").astype("float64")
            bad += int((values.isna() & frame[col].notna()).sum())
            out[col] = values
    if fmt != "yahoo":
        out["adj_close"] = out["close"]
    if "volume" not in out.columns:
        out["volume"] = np.nan
    if bad:
        log.warning(
            "csv source: %s has %d non-numeric price/volume cell(s), kept as NaN", path, bad
        )
    log.debug("csv source: read %s (%s format, %d rows)", path, fmt, len(out))
    return out


class CsvFolderSource:
    """Reads ``<folder>/<SYMBOL>.csv`` once per fetch, vectorized."""

    name = "csv"
    is_synthetic = False

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder).expanduser()

    def path_for(self, symbol: str) -> Path:
        """The file for a canonical symbol: ``SPY.csv`` or ``^SPY.csv``; SourceError if none."""
        if not self.folder.is_dir():
            raise SourceError(
                f"csv source: folder {self.folder} does not exist; set VOLCAST_CSV_DIR to a "
                "folder of per-symbol CSV files."
            )
        for name in (f"{symbol}.csv", f"^{symbol}.csv"):
            path = self.folder / name
            if path.is_file():
                return path
        raise SourceError(
            f"csv source: no file for {symbol} in {self.folder} (looked for {symbol}.csv and "
            f"^{symbol}.csv); add it or drop {symbol} from the request."
        )

    def fetch(self, symbols: Sequence[str], start: DateLike, end: DateLike) -> pd.DataFrame:
        wanted = normalize_symbols(symbols)
        lo, hi = date_bounds(start, end)
        paths = {sym: self.path_for(sym) for sym in wanted}  # fail before reading anything
        frames = [read_market_csv(path, sym) for sym, path in paths.items()]
        if not frames:
            return empty_frame()
        return finalize(pd.concat(frames, ignore_index=True), self.name, lo, hi)

    def __repr__(self) -> str:
        return f"CsvFolderSource({str(self.folder)!r})"
