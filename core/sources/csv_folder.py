"""Market data from a folder of per-symbol CSV files (vendor exports, archived snapshots).

One file per symbol, ``<SYMBOL>.csv`` or ``^<SYMBOL>.csv``; anything else in the folder
(``SPY_alt_yahoo.csv``, notes) is ignored. The format is recognized from the header, so a
folder may mix Yahoo and CBOE exports:

* Yahoo:                 ``Date,Open,High,Low,Close,Adj Close,Volume``
* Yahoo adjusted-only:   ``Date,Open,High,Low,Close,Volume``  (adj_close = close)
* CBOE:                  ``DATE,OPEN,HIGH,LOW,CLOSE``          (volume NaN; ISO or MM/DD/YYYY)

Header matching ignores case and surrounding spaces. An unknown header is an error rather
than a guess: mislabeled columns would silently corrupt every return downstream. So is a row
with more or fewer fields than the header, a cell that is not a number (numbers with
thousands separators, ``"96,294,886"``, are read), and a date with a time-zone offset: each
error names the file, the line and the row's date.
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Sequence
from dataclasses import dataclass
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


#: A number written with thousands separators: "96,294,886", "1,234.5" (the cell is quoted).
_GROUPED = r"[+-]?\d{1,3}(?:,\d{3})+(?:\.\d*)?"
#: A time of day followed by an offset: "2024-01-02 00:00:00-05:00", "2024-01-02T05:00:00Z".
_TZ_OFFSET = r"[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?\s*(?:Z|[+-]\d{2}:?\d{2})"
#: How many offending rows an error lists.
MAX_LISTED = 5


@dataclass(frozen=True)
class _Layout:
    """A file's header and, per data row in order: its physical line number (1-based, the
    header is line 1), its number of fields and its first cell (the date)."""

    header: list[str]
    lines: np.ndarray
    fields: np.ndarray
    first_cells: pd.Series


def _where(path: Path, layout: _Layout, rows: np.ndarray, dates: pd.Series) -> list[str]:
    """``NAME.csv line N (DATE)`` for the given data-row positions (at most MAX_LISTED)."""
    return [
        f"{path.name} line {layout.lines[i]} ({str(dates.iloc[i]).strip()})"
        for i in rows[:MAX_LISTED]
    ]


def _more(rows: np.ndarray) -> str:
    return f" (+{len(rows) - MAX_LISTED} more)" if len(rows) > MAX_LISTED else ""


def _scan(path: Path) -> _Layout:
    """The file's layout, read with the csv module (blank lines skipped, as pandas does).

    Raises SourceError for a file that is not UTF-8 text, not CSV, or empty.
    """
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle, skipinitialspace=True)
            records = [(reader.line_num, row) for row in reader if row]
    except UnicodeDecodeError as exc:
        raise SourceError(f"csv source: {path} is not UTF-8 text ({exc}); re-export it.") from None
    except csv.Error as exc:
        raise SourceError(f"csv source: {path} is not a readable CSV file ({exc}).") from None
    if not records:
        raise SourceError(f"csv source: {path} is empty; expected a header and daily rows.")
    data = records[1:]
    return _Layout(
        header=records[0][1],
        lines=np.array([line for line, _ in data], dtype=int),
        fields=np.array([len(row) for _, row in data], dtype=int),
        first_cells=pd.Series([row[0] for _, row in data], dtype=object),
    )


def _check_fields(path: Path, layout: _Layout) -> None:
    """SourceError naming each row whose field count differs from the header's.

    pandas stops at the first long row with "Expected 6 fields in line 5425, saw 7" (no file
    name) and fills short rows with NaN silently; both are a row the vendor wrote wrong, e.g.
    a volume ``44,191600`` with an unquoted comma.
    """
    width = len(layout.header)
    ragged = np.flatnonzero(layout.fields != width)
    if len(ragged) == 0:
        return
    places = _where(path, layout, ragged, layout.first_cells)
    shown = [
        f"{place}: {layout.fields[i]} fields, header has {width}"
        for place, i in zip(places, ragged, strict=False)
    ]
    raise SourceError(
        f"csv source: {path} has {len(ragged)} row(s) whose fields do not match its header"
        f"{_more(ragged)}:\n  " + "\n  ".join(shown) + "\nA comma inside an unquoted number "
        'splits it in two: quote such numbers ("44,191,600") or write them without '
        "separators, then re-run."
    )


def _parse_dates(raw: pd.Series, path: Path, layout: _Layout) -> pd.Series:
    """ISO (``2024-01-02``) or US (``01/02/2024``) dates; anything else is an error.

    A date with a time-zone offset (yfinance's ``2024-01-02 00:00:00-05:00``) is refused: the
    offset says which instant, not which session, and converting it would move bars to the
    wrong day in some zones.
    """
    text = raw.astype("str").str.strip()
    zoned = np.flatnonzero(text.str.contains(_TZ_OFFSET, regex=True).to_numpy())
    if len(zoned):
        first = zoned[0]
        raise SourceError(
            f"csv source: {path} has time-zone offsets in dates ({path.name} line "
            f"{layout.lines[first]}: {text.iloc[first]!r}; {len(zoned)} row(s) in all). Write "
            "each row's session date as plain YYYY-MM-DD (or MM/DD/YYYY), without a time or an "
            "offset."
        )
    fmt = "%m/%d/%Y" if text.str.contains("/", regex=False).any() else "ISO8601"
    parsed = pd.to_datetime(text, format=fmt, errors="coerce")
    bad = np.flatnonzero(parsed.isna().to_numpy())
    if len(bad):
        shown = ", ".join(
            f"{path.name} line {layout.lines[i]}: {text.iloc[i]!r}" for i in bad[:MAX_LISTED]
        )
        raise SourceError(
            f"csv source: {path} has dates that are neither YYYY-MM-DD nor MM/DD/YYYY: "
            f"{shown}{_more(bad)}."
        )
    return parsed.astype("datetime64[ns]")


def _numbers(cells: pd.Series, column: str, path: Path, layout: _Layout, dates: pd.Series):
    """A column of number text as float64; an empty cell (or NA, null, NaN) is NaN.

    Thousands separators are read when the whole cell is a grouped number ("96,294,886" ->
    96294886), as a spreadsheet writes them inside quotes; any other text is a SourceError
    naming the file, line, date, column and cell: a NaN kept in its place would be written
    to an immutable table.
    """
    text = cells.str.strip()
    grouped = text.str.fullmatch(_GROUPED).fillna(False).astype(bool)
    text = text.where(~grouped, text.str.replace(",", "", regex=False))
    values = pd.to_numeric(text, errors="coerce").astype("float64")
    bad = np.flatnonzero((values.isna() & text.notna()).to_numpy())
    if len(bad):
        shown = ", ".join(
            f"{where} {cells.iloc[i]!r}"
            for where, i in zip(_where(path, layout, bad, dates), bad, strict=False)
        )
        raise SourceError(
            f"csv source: {path} column {column!r} has cells that are not numbers: "
            f"{shown}{_more(bad)}. Nothing was read from it; fix the file and re-run."
        )
    return values


def read_market_csv(path: Path, symbol: str) -> pd.DataFrame:
    """One vendor file as source-frame columns (all rows, no date filter).

    Every row must have the header's number of fields and every cell must be a number or
    empty: otherwise a SourceError names the file, line, date and cell. Empty price cells
    become NaN and are kept, for the contract to report with the rows' dates.
    """
    layout = _scan(path)
    fmt = detect_format(layout.header, path)
    _check_fields(path, layout)
    try:
        frame = pd.read_csv(path, skipinitialspace=True, dtype=str, encoding="utf-8-sig")
    except (pd.errors.ParserError, ValueError) as exc:  # what the scan above did not foresee
        raise SourceError(f"csv source: {path} could not be read as CSV: {exc}") from None
    frame.columns = [_RENAME.get(c.strip().lower(), c.strip().lower()) for c in frame.columns]
    dates = frame["date"]
    out = pd.DataFrame({"symbol": symbol, "date": _parse_dates(dates, path, layout)})
    for col in (*PRICE_COLUMNS, "volume"):
        if col in frame.columns:
            out[col] = _numbers(frame[col], col, path, layout, dates)
    if fmt != "yahoo":
        out["adj_close"] = out["close"]
    if "volume" not in out.columns:
        out["volume"] = np.nan
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
