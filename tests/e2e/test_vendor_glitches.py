"""Issue 13, as a new user meets it: copy ../shared/data/market, change one thing the way
real vendors and exports get it wrong, run `volcast` on a short range. Each input of the
issue, with the value or message it must give; plus the real history 2007-2026 passes every
plausibility check (no false refusal), with the largest values docs/data-contracts.md quotes.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core import contracts, steps
from core.config import SYMBOLS, Settings
from core.lake import Lake
from core.market import raw_bars
from core.plausibility import LIMITS, bar_statistics, find_implausible
from core.sources import CsvFolderSource

pytestmark = pytest.mark.realdata

VOLCAST = Path(sys.executable).with_name("volcast")
RANGE = ["--start", "2024-01-02", "--end", "2024-03-28"]


def _run(args: list[str], lake: Path, csv_dir: Path) -> subprocess.CompletedProcess[str]:
    """``volcast ARGS`` on ``lake``, reading the CSV folder ``csv_dir``."""
    env = {
        **os.environ,
        "VOLCAST_LAKE_URI": str(lake),
        "VOLCAST_SOURCE": "csv",
        "VOLCAST_CSV_DIR": str(csv_dir),
    }
    return subprocess.run(
        [str(VOLCAST), *args], env=env, capture_output=True, text=True, timeout=600
    )


@pytest.fixture
def folder(market_dir: Path, tmp_path: Path) -> Path:
    """A private copy of the five symbols' files, for a test to damage."""
    out = tmp_path / "market"
    out.mkdir()
    for symbol in SYMBOLS:
        shutil.copy(market_dir / f"{symbol}.csv", out / f"{symbol}.csv")
    return out


def _edit_line(path: Path, prefix: str, edit) -> None:
    lines = path.read_text().splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith(prefix))
    lines[at] = edit(lines[at])
    path.write_text("\n".join(lines) + "\n")


def _no_partitions(lake: Path) -> bool:
    return not lake.exists() or not any(lake.rglob("*.parquet"))


# --- 1. a well-formed bar no market produced -------------------------------------------------


def test_hyg_printed_100x_is_refused_then_accepted_on_record(folder: Path, tmp_path: Path) -> None:
    def times_100(line: str) -> str:
        date, *prices, volume = line.split(",")
        return ",".join([date, *(f"{100 * float(p):.6f}" for p in prices), volume])

    _edit_line(folder / "HYG.csv", "2024-02-14,", times_100)
    lake = tmp_path / "lake"
    done = _run(["backfill", *RANGE], lake, folder)
    assert done.returncode == 1
    assert "error: table 'raw.market': 3 bar(s) fail the plausibility checks" in done.stderr
    assert re.search(r"HYG 2024-02-14\s+abs_log_return\s+4\.6\d+\s+0\.25", done.stderr), done.stderr
    assert "HYG 2024-02-14 reverting_spike" in " ".join(done.stderr.split())
    assert "HYG 2024-02-15 abs_log_return -4.6" in " ".join(done.stderr.split())
    assert "volcast data accept HYG 2024-02-14" in done.stderr
    assert _no_partitions(lake)  # nothing downstream, and not the immutable raw table either

    for day in ("2024-02-14", "2024-02-15"):
        accepted = _run(
            ["data", "accept", "HYG", day, "--reason", "kept for the test"], lake, folder
        )
        assert accepted.returncode == 0, accepted.stderr
    listed = json.loads(_run(["data", "accepted"], lake, folder).stdout)
    assert [(r["symbol"], r["date"]) for r in listed] == [
        ("HYG", "2024-02-14"),
        ("HYG", "2024-02-15"),
    ]
    done = _run(["backfill", *RANGE], lake, folder)
    assert done.returncode == 0, done.stderr
    ingest = json.loads(done.stdout)[0]
    assert [(a["symbol"], a["date"], a["checks"]) for a in ingest["accepted_bars"]] == [
        ("HYG", "2024-02-14", ["abs_log_return", "reverting_spike"]),
        ("HYG", "2024-02-15", ["abs_log_return"]),
    ]
    assert "accepted implausible bar HYG 2024-02-14" in done.stderr  # in the log as well


# --- 2. quoted thousands separators ----------------------------------------------------------


def test_every_spy_cell_quoted_with_grouped_volumes(folder: Path, tmp_path: Path) -> None:
    path = folder / "SPY.csv"
    rows = list(csv.reader(path.open()))
    rows = [rows[0], *([*r[:-1], f"{int(r[-1]):,}"] for r in rows[1:])]
    with path.open("w", newline="") as handle:
        csv.writer(handle, quoting=csv.QUOTE_ALL).writerows(rows)
    assert '"2024-03-28","523.21","524.61","522.78","523.07","509.3314484","96,294,886"' in (
        path.read_text()
    )
    lake = tmp_path / "lake"
    done = _run(["backfill", *RANGE], lake, folder)
    assert done.returncode == 0, done.stderr
    assert "warning" not in done.stderr.lower()
    raw = Lake(str(lake)).read(contracts.RAW_MARKET, "2024-03-28", "2024-03-28")
    assert raw.set_index("symbol").loc["SPY", "volume"] == 96294886


def test_a_spy_volume_that_is_not_a_number_stops_before_the_raw_table(
    folder: Path, tmp_path: Path
) -> None:
    _edit_line(folder / "SPY.csv", "2024-03-28,", lambda line: line.replace("96294886", "96.29M"))
    lake = tmp_path / "lake"
    done = _run(["backfill", *RANGE], lake, folder)
    assert done.returncode == 1
    assert "SPY.csv line 7848 (2024-03-28) '96.29M'" in done.stderr
    assert "column 'volume'" in done.stderr
    assert _no_partitions(lake)


# --- 3. a ragged row, and dates with time-zone offsets --------------------------------------


def test_ragged_tlt_row_names_file_line_and_date(folder: Path, tmp_path: Path) -> None:
    _edit_line(
        folder / "TLT.csv", "2024-02-14,", lambda line: line.replace("44191600", "44,191600")
    )
    lake = tmp_path / "lake"
    done = _run(["backfill", *RANGE], lake, folder)
    assert done.returncode == 1
    assert "TLT.csv line 5425 (2024-02-14): 7 fields, header has 6" in done.stderr
    assert "Error tokenizing" not in done.stderr
    assert _no_partitions(lake)


def test_time_zone_dates_are_refused_in_plain_words(folder: Path, tmp_path: Path) -> None:
    path = folder / "SPY.csv"
    table = pd.read_csv(path, dtype=str)
    table["Date"] = table["Date"] + " 00:00:00-05:00"  # how yfinance's index is written out
    table.to_csv(path, index=False)
    done = _run(["backfill", *RANGE], tmp_path / "lake", folder)
    assert done.returncode == 1
    assert "time-zone offsets in dates" in done.stderr
    assert "SPY.csv line 2: '1993-01-29 00:00:00-05:00'" in done.stderr


# --- 4. dividends across two downloads --------------------------------------------------------


def _evening(market_dir: Path, folder: Path, evening: str) -> None:
    """The folder as downloaded on ``evening``: rows up to it, SPY's adjusted closes re-anchored
    on that day (the vendor anchors on its latest bar; SPY goes ex-dividend on 2024-03-15)."""
    for symbol in SYMBOLS:
        table = pd.read_csv(market_dir / f"{symbol}.csv", dtype={"Date": str})
        table = table.loc[table["Date"] <= evening]
        if "Adj Close" in table:
            last = table.iloc[-1]
            table["Adj Close"] = table["Adj Close"] * (last["Close"] / last["Adj Close"])
        table.to_csv(folder / f"{symbol}.csv", index=False, float_format="%.17g")


def test_daily_across_the_spy_ex_date_gives_the_backfill_rows(
    market_dir: Path, tmp_path: Path
) -> None:
    """Issue 13: daily from the next evening's file gave -0.00999 and a label of 0.1056."""
    first = "2023-01-03"
    incremental, single = tmp_path / "inc", tmp_path / "single"
    incremental.mkdir()
    single.mkdir()

    def ctx(name: str, files: Path) -> steps.Context:
        return steps.Context.from_settings(
            Settings(lake_uri=str(tmp_path / name), source="csv", csv_dir=files)
        )

    _evening(market_dir, incremental, "2024-03-14")
    daily = ctx("daily-lake", incremental)
    steps.backfill(daily, first, "2024-03-14", progress=False)
    _evening(market_dir, incremental, "2024-03-15")
    steps.daily(daily, "2024-03-15")

    _evening(market_dir, single, "2024-03-15")
    full = ctx("full-lake", single)
    steps.backfill(full, first, "2024-03-15", progress=False)

    for lake in (daily, full):
        curated = lake.lake.read(contracts.CURATED_MARKET, "2024-03-15", "2024-03-15")
        assert curated.set_index("symbol").loc["SPY", "ret"] == pytest.approx(-0.006890, abs=5e-7)
        label = lake.lake.read(contracts.LABELS, "2024-03-08", "2024-03-08")["rv_5d"].iloc[0]
        assert label == pytest.approx(0.0923, abs=5e-5)
    for table in (contracts.RAW_MARKET, contracts.CURATED_MARKET, contracts.FEATURES):
        pd.testing.assert_frame_equal(
            daily.lake.read(table, "2024-03-01", "2024-03-15"),
            full.lake.read(table, "2024-03-01", "2024-03-15"),
            check_exact=False,
            rtol=1e-12,
            atol=1e-14,
        )
    pd.testing.assert_frame_equal(
        daily.lake.read(contracts.LABELS), full.lake.read(contracts.LABELS), rtol=1e-12
    )


# --- the real history passes: no false refusal 2007-2026 --------------------------------------

#: The largest value of each check's statistic since 2007, per symbol, and its date: the
#: figures docs/data-contracts.md gives next to each bound.
LARGEST = {
    # symbol: (|ret|, date), (reverting leg, date), (range ratio, date)
    "SPY": ((0.1356, "2008-10-13"), (0.0820, "2020-03-12"), (11.6, "2020-03-13")),
    "VIX": ((0.7682, "2018-02-05"), (0.1992, "2009-01-20"), (15.9, "2024-08-05")),
    "VIX3M": ((0.5019, "2018-02-05"), (0.2040, "2011-08-08"), (18.5, "2025-11-28")),
    "TLT": ((0.0725, "2020-03-20"), (0.0628, "2020-03-16"), (13.0, "2020-03-18")),
    "HYG": ((0.1157, "2008-10-13"), (0.0619, "2008-09-17"), (18.9, "2020-03-09")),
}


@pytest.fixture(scope="module")
def real_statistics(market_dir: Path) -> pd.DataFrame:
    # From December 2006: the reference window of the first days of 2007-04-11.
    download = CsvFolderSource(market_dir).fetch(SYMBOLS, "2006-12-01", "2026-08-20")
    stats = bar_statistics(raw_bars(download))
    return stats.loc[stats["date"] >= "2007-04-11"]


def test_real_history_2007_2026_has_no_finding(real_statistics: pd.DataFrame) -> None:
    assert set(real_statistics["symbol"]) == set(SYMBOLS)
    assert real_statistics["date"].max() == pd.Timestamp("2026-08-20")
    assert find_implausible(real_statistics).empty


@pytest.mark.parametrize("symbol", SYMBOLS)
def test_the_largest_real_values_and_their_margin(
    real_statistics: pd.DataFrame, symbol: str
) -> None:
    stats = real_statistics.loc[real_statistics["symbol"] == symbol].set_index("date")
    limits = LIMITS[symbol]
    measured = (stats["ret"].abs(), stats["reverting_leg"], stats["range_ratio"])
    bounds = (limits.max_abs_ret, limits.spike_leg, limits.range_ratio)
    for series, (value, date), bound in zip(measured, LARGEST[symbol], bounds, strict=True):
        assert series.idxmax() == pd.Timestamp(date), (symbol, series.name)
        assert series.max() == pytest.approx(value, abs=0.05 if value > 5 else 5e-5)
        assert 1.4 <= bound / series.max() <= 3.0, (symbol, series.name)  # margin, not slack
    assert np.isfinite(stats["range_ratio"]).sum() > 4000
