"""The ingest step on vendor glitches: an implausible bar stops the line before anything is
written, an accepted one passes and is listed, a bad CSV cell never reaches the raw table."""

from __future__ import annotations

import pandas as pd
import pytest

from core import contracts, steps
from core.config import Settings
from core.lake import SOURCE_MARKER
from core.plausibility import PlausibilityError, accept_bar
from core.sources import SourceError
from tests.raw_frames import download_frame, write_csv_folder
from tests.unit.test_steps import FrameSource

START, END = "2023-01-03", "2024-03-28"
GLITCH = "2024-02-14"
TABLES = (contracts.RAW_MARKET, contracts.CURATED_MARKET, contracts.FEATURES, contracts.LABELS)
PRICES = ["open", "high", "low", "close", "adj_close"]


@pytest.fixture(scope="module")
def download() -> pd.DataFrame:
    return download_frame("2022-06-01", END, seed=9)


@pytest.fixture
def ctx(tmp_path) -> steps.Context:
    return steps.Context.from_settings(Settings(lake_uri=str(tmp_path / "lake")))


def glitched(download: pd.DataFrame) -> pd.DataFrame:
    out = download.copy()
    hit = (out["symbol"] == "HYG") & (out["date"] == pd.Timestamp(GLITCH))
    out.loc[hit, PRICES] *= 100.0
    return out


def stored(ctx: steps.Context) -> dict[str, int]:
    return {t: len(ctx.lake.partitions(t)) for t in TABLES}


def test_a_backfill_over_the_glitch_is_refused_naming_it(
    ctx: steps.Context, download: pd.DataFrame
) -> None:
    with pytest.raises(PlausibilityError) as info:
        steps.backfill(ctx, START, END, source=FrameSource(glitched(download)), progress=False)
    refused = info.value.findings
    assert set(zip(refused["symbol"], refused["date"], refused["check"], strict=True)) == {
        ("HYG", GLITCH, "abs_log_return"),
        ("HYG", GLITCH, "reverting_spike"),
        ("HYG", "2024-02-15", "abs_log_return"),
    }
    assert "table 'raw.market'" in str(info.value)
    assert stored(ctx) == dict.fromkeys(TABLES, 0)  # nothing written, raw included
    assert not ctx.lake.exists(SOURCE_MARKER)


def test_daily_refuses_the_glitch_and_then_its_reversal_until_each_is_accepted(
    ctx: steps.Context, download: pd.DataFrame
) -> None:
    source = FrameSource(glitched(download))
    steps.backfill(ctx, START, "2024-02-13", source=source, progress=False)
    before = stored(ctx)
    with pytest.raises(PlausibilityError, match=r"HYG\s+2024-02-14\s+abs_log_return"):
        steps.daily(ctx, GLITCH, source=source)
    assert stored(ctx) == before

    accept_bar(ctx.lake, "HYG", GLITCH, "checked: the vendor's print, kept on purpose")
    summary = steps.daily(ctx, GLITCH, source=source)[0]
    assert summary["accepted_bars"] == [
        {
            "symbol": "HYG",
            "date": GLITCH,
            "checks": ["abs_log_return"],
            "reason": "checked: the vendor's print, kept on purpose",
        }
    ]
    # The next evening: the reversal's return is implausible too, and the spike is now known
    # to revert (the acceptance of the 14th covers that finding, not the 15th's own).
    with pytest.raises(PlausibilityError) as info:
        steps.daily(ctx, "2024-02-15", source=source)
    refused = info.value.findings
    assert list(zip(refused["date"], refused["check"], strict=True)) == [
        ("2024-02-15", "abs_log_return")
    ]


def test_a_clean_month_lists_no_acceptance(ctx: steps.Context, download: pd.DataFrame) -> None:
    summary = steps.ingest(ctx, "2024-03-01", END, source=FrameSource(download))
    assert "accepted_bars" not in summary and summary["raw.market"]["written"] == 20


def test_quoted_thousands_reach_the_raw_table_exactly(
    ctx: steps.Context, download: pd.DataFrame, tmp_path
) -> None:
    folder = tmp_path / "csv"
    write_csv_folder(download, folder)
    spy = folder / "SPY.csv"
    table = pd.read_csv(spy, dtype=str)
    table["Volume"] = [f"{int(float(v)):,}" for v in table["Volume"]]
    table.to_csv(spy, index=False, quoting=1)  # csv.QUOTE_ALL, as a spreadsheet exports
    assert '"1,000,000"' in spy.read_text()
    ctx = steps.Context.from_settings(
        Settings(lake_uri=str(tmp_path / "lake"), source="csv", csv_dir=folder)
    )
    steps.ingest(ctx, "2024-03-01", END)
    raw = ctx.lake.read(contracts.RAW_MARKET)
    assert (raw.loc[raw["symbol"] == "SPY", "volume"] == 1_000_000).all()


def test_an_unreadable_cell_writes_nothing(ctx: steps.Context, download, tmp_path) -> None:
    folder = tmp_path / "csv"
    write_csv_folder(download, folder)
    text = (folder / "HYG.csv").read_text().splitlines()
    text[-3] = text[-3].rsplit(",", 1)[0] + ",1e6x"  # the volume of 2024-03-26
    (folder / "HYG.csv").write_text("\n".join(text) + "\n")
    ctx = steps.Context.from_settings(
        Settings(lake_uri=str(tmp_path / "lake"), source="csv", csv_dir=folder)
    )
    with pytest.raises(SourceError) as info:
        steps.ingest(ctx, "2024-03-01", END)
    assert "HYG.csv" in str(info.value) and "(2024-03-26)" in str(info.value)
    assert "'1e6x'" in str(info.value)
    assert stored(ctx) == dict.fromkeys(TABLES, 0)
