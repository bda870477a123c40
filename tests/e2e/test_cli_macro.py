"""`volcast ingest --source fred` as a person runs it, against a loopback FRED."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from core import contracts
from core.calendar import trading_days
from core.lake import Lake
from tests.fred_server import API_KEY, FakeFred, Fault, vintage_history

VOLCAST = Path(sys.executable).with_name("volcast")
pytestmark = pytest.mark.integration


def _volcast(args: list[str], lake: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("VOLCAST_FRED")}
    return subprocess.run(
        [str(VOLCAST), *args],
        env={**clean, "VOLCAST_LAKE_URI": str(lake), **env},
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_ingest_source_fred_fills_both_macro_tables(tmp_path: Path) -> None:
    fake = FakeFred(vintage_history("2024-01-01", "2024-04-30"), pd.Timestamp("2024-04-15"))
    fake.fail_next(Fault(429, retry_after="0"))
    lake = tmp_path / "lake"
    with fake.serve() as url:
        done = _volcast(
            [
                "--verbose",
                "ingest",
                "--source",
                "fred",
                "--start",
                "2024-04-01",
                "--end",
                "2024-04-15",
            ],
            lake,
            VOLCAST_FRED_API_KEY=API_KEY,
            VOLCAST_FRED_API_URL=url,
        )
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["step"] == "macro" and summary["new_vintages"] > 0
    assert "HTTP 429" in done.stderr  # the throttled request was retried
    assert API_KEY not in done.stdout + done.stderr  # not even in debug logs
    assert "SYNTHETIC" not in done.stderr  # FRED data is not synthetic
    curated = Lake(str(lake)).read(contracts.CURATED_MACRO)
    assert list(curated["date"]) == list(trading_days("2024-04-01", "2024-04-15"))


def test_ingest_source_fred_without_a_key_is_one_clear_line(tmp_path: Path) -> None:
    done = _volcast(["ingest", "--source", "fred", "--date", "2024-04-15"], tmp_path / "lake")
    assert done.returncode == 1
    assert (
        done.stderr.strip()
        .splitlines()[-1]
        .startswith("error: fred source: VOLCAST_FRED_API_KEY is not set")
    )
    assert "Traceback" not in done.stderr and not (tmp_path / "lake").exists()


def test_a_series_without_a_catalogue_entry_is_one_clear_line(tmp_path: Path) -> None:
    done = _volcast(
        ["ingest", "--source", "fred", "--date", "2024-04-15"],
        tmp_path / "lake",
        VOLCAST_FRED_API_KEY=API_KEY,
        VOLCAST_FRED_SERIES="ICSA,VIXCLS",
        VOLCAST_FRED_API_URL="http://127.0.0.1:9/fred",  # never asked: the check comes first
    )
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("error: VOLCAST_FRED_SERIES names ['VIXCLS']"), last
