"""FRED through real HTTP: a loopback server that answers like FRED serves generated vintage
histories. The source (pages, real-time windows, retries, errors, the key kept secret) and the
macro step (revision log, release alignment, what a later revision can and cannot change)."""

from __future__ import annotations

import io
import logging
import time
from collections.abc import Iterator

import numpy as np
import pandas as pd
import pytest

from core import contracts, steps
from core.calendar import trading_days
from core.config import Settings
from core.macro import KEY, UnknownSeriesError, align_releases, series_for
from core.sources import SourceError, SourceUnavailable
from core.sources.fred import FredSource
from core.steps.macro import SKIPPED
from core.transient import is_transient
from tests.conftest import free_port
from tests.fred_server import API_KEY, FakeFred, Fault, vintage_history

pytestmark = pytest.mark.integration

HISTORY = vintage_history("2023-12-01", "2024-06-28", seed=3)
ALL = list(HISTORY["series_id"].unique())
D1, D2 = pd.Timestamp("2024-04-15"), pd.Timestamp("2024-06-28")


@pytest.fixture
def fred() -> Iterator[tuple[FakeFred, str]]:
    fake = FakeFred(HISTORY.copy(), D1)
    with fake.serve() as url:
        yield fake, url


def source(url: str, **kwargs) -> FredSource:
    options = {"min_interval_s": 0.0, "backoff_s": 0.01, "timeout_s": 5.0, **kwargs}
    return FredSource(API_KEY, url, **options)


def published(fake: FakeFred, start: str, end: str, ids=ALL) -> pd.DataFrame:
    """What FRED has published for those observation dates: every vintage, as stored."""
    rows = fake.visible()
    rows = rows.loc[rows["series_id"].isin(ids) & rows["date"].between(start, end)]
    return rows.sort_values(KEY, ignore_index=True)


# ---------------------------------------------------------------------------------------------
# The source.
# ---------------------------------------------------------------------------------------------
def test_pages_are_joined_and_every_vintage_arrives(fred) -> None:
    fake, url = fred
    got = source(url, page_rows=40).fetch(ALL, "2024-01-02", "2024-04-15")
    truth = published(fake, "2024-01-02", "2024-04-15")
    assert got.equals(truth)
    assert truth["date"].dt.day_of_week.eq(5).any()  # ICSA's Saturdays made it through
    per_series = truth.groupby("series_id").size()
    assert len(fake.requests) == int(np.ceil(per_series / 40).sum())
    offsets = [int(r["offset"]) for r in fake.requests if r["series_id"] == "NFCI"]
    assert offsets == list(range(0, per_series["NFCI"], 40)) and len(offsets) > 1


def test_a_429_and_a_500_are_retried_and_retry_after_is_honoured(fred) -> None:
    fake, url = fred
    fake.fail_next(Fault(429, retry_after="1"), Fault(500))
    began = time.monotonic()
    got = source(url).fetch(["DGS10"], "2024-01-02", "2024-04-15")
    elapsed = time.monotonic() - began
    assert got.equals(published(fake, "2024-01-02", "2024-04-15", ["DGS10"]))
    assert fake.statuses[:3] == [429, 500, 200]
    assert 1.0 <= elapsed < 5.0  # waited the second the server asked for, not the 10 ms backoff


def test_a_slow_answer_times_out_and_is_retried(fred) -> None:
    fake, url = fred
    fake.fail_next(Fault(delay_s=1.5))
    got = source(url, timeout_s=0.5).fetch(["ICSA"], "2024-01-02", "2024-04-15")
    assert got.equals(published(fake, "2024-01-02", "2024-04-15", ["ICSA"]))
    assert len(fake.requests) == 2


def test_fred_down_gives_up_as_a_transient_error(fred) -> None:
    fake, url = fred
    fake.fail_next(*[Fault(503)] * 3)
    with pytest.raises(SourceUnavailable, match=r"ICSA: HTTP 503.*gave up after 3") as caught:
        source(url, attempts=3).fetch(["ICSA"], "2024-01-02", "2024-04-15")
    assert is_transient(caught.value)
    assert len(fake.requests) == 3


def test_an_unreachable_server_is_a_transient_error() -> None:
    closed = f"http://127.0.0.1:{free_port()}/fred"
    with pytest.raises(SourceUnavailable, match="ConnectError") as caught:
        source(closed, attempts=2).fetch(["ICSA"], "2024-01-02", "2024-01-31")
    assert is_transient(caught.value)


def test_a_rejected_key_is_a_clear_error_that_never_shows_a_key(fred, caplog) -> None:
    fake, url = fred
    wrong = "zyxwvutsrqponmlkjihgfedcba654321"
    caplog.set_level(logging.DEBUG)
    with pytest.raises(SourceError, match="api_key is not registered") as caught:
        FredSource(wrong, url, min_interval_s=0).fetch(["ICSA"], "2024-01-02", "2024-01-31")
    assert not is_transient(caught.value)
    assert len(fake.requests) == 1  # a 400 is not retried
    assert wrong not in str(caught.value) and wrong not in caplog.text


def test_the_key_is_never_logged_not_even_at_debug(fred, caplog) -> None:
    fake, url = fred
    fake.fail_next(Fault(500))
    caplog.set_level(logging.DEBUG)
    source(url).fetch(["DGS10"], "2024-03-01", "2024-03-29")
    assert "api_key=***" in caplog.text  # httpx's request lines were there, redacted
    assert API_KEY not in caplog.text
    assert all(API_KEY not in str(r.args) for r in caplog.records)


def test_an_unknown_series_is_fred_s_own_message(fred) -> None:
    _, url = fred
    with pytest.raises(SourceError, match=r"NOPE.*series does not exist"):
        source(url).fetch(["NOPE"], "2024-01-02", "2024-01-31")


def test_real_time_windows_stay_under_the_vintage_limit_and_join_exactly(fred) -> None:
    fake, url = fred
    fake.max_vintages = 30  # FRED's is 2,000; a daily series has one vintage a weekday
    with pytest.raises(SourceError, match="maximum number of vintage dates allowed"):
        source(url, realtime_window_days=90).fetch(["DGS10"], "2024-01-02", "2024-04-15")
    fake.requests.clear()
    got = source(url, realtime_window_days=25).fetch(["DGS10", "ICSA"], "2024-01-02", "2024-04-15")
    assert got.equals(published(fake, "2024-01-02", "2024-04-15", ["DGS10", "ICSA"]))
    windows = {r["realtime_start"] for r in fake.requests}
    assert len(windows) > 3  # several windows, joined without any invented vintage


def test_a_value_that_is_not_a_number_is_refused(fred) -> None:
    fake, url = fred
    bad = HISTORY.astype({"value": object})
    bad.loc[(bad["series_id"] == "DGS10") & (bad["date"] == "2024-03-04"), "value"] = "n/a"
    fake.publish(bad, D1)
    with pytest.raises(SourceError, match=r"DGS10: values that are not numbers.*n/a"):
        source(url).fetch(["DGS10"], "2024-03-01", "2024-03-08")


# ---------------------------------------------------------------------------------------------
# The macro step.
# ---------------------------------------------------------------------------------------------
def context(tmp_path, url: str | None, **settings) -> steps.Context:
    key = {"fred_api_key": API_KEY} if url else {}
    return steps.Context.from_settings(
        Settings(lake_uri=str(tmp_path / "lake"), fred_api_url=url or "", **key, **settings)
    )


def run(ctx: steps.Context, url: str, start, end) -> dict:
    return steps.macro(ctx, start, end, source=source(url))


def test_without_a_key_the_step_is_skipped_with_one_line(tmp_path, caplog) -> None:
    ctx = context(tmp_path, None)
    caplog.set_level(logging.INFO)
    summary = steps.macro(ctx, "2024-04-15", "2024-04-15")
    assert summary == {"step": "macro", "skipped": SKIPPED}
    lines = [r for r in caplog.records if r.name == "core.steps.macro"]
    assert len(lines) == 1 and "VOLCAST_FRED_API_KEY is not set" in lines[0].getMessage()
    assert not (tmp_path / "lake").exists()
    with pytest.raises(SourceError, match="VOLCAST_FRED_API_KEY is not set"):
        steps.macro(ctx, "2024-04-15", "2024-04-15", required=True)


def test_the_step_stores_what_fred_said_and_the_aligned_values(fred, tmp_path) -> None:
    fake, url = fred
    ctx = context(tmp_path, url)
    summary = steps.macro(ctx, "2024-01-16", D1)  # the source the settings describe
    assert summary["new_vintages"] == len(published(fake, "2023-12-26", D1))
    stored = ctx.lake.read(contracts.RAW_MACRO).sort_values(KEY, ignore_index=True)
    assert stored[list(published(fake, "2023-12-26", D1))].equals(published(fake, "2023-12-26", D1))
    curated = ctx.lake.read(contracts.CURATED_MACRO)
    sessions = trading_days("2024-01-16", D1)
    assert list(curated["date"]) == list(sessions)
    expected = align_releases(fake.visible(), sessions, series_for(None))
    assert curated.equals(expected)
    assert curated.drop(columns="date").notna().all().all()  # every series has a value
    assert summary["latest_observation"]["ICSA"] == "2024-04-06"  # out on Thursday 04-11
    again = steps.macro(ctx, "2024-01-16", D1, source=source(url))
    assert again["new_vintages"] == 0 and again["raw.macro"]["written"] == 0
    assert again["curated.macro_release_aligned"]["unchanged"] == len(sessions)


def test_a_revision_published_after_t_never_changes_the_value_at_t(fred, tmp_path) -> None:
    fake, url = fred
    ctx = context(tmp_path, url)
    run(ctx, url, "2024-01-16", D1)
    curated_then = ctx.lake.read(contracts.CURATED_MACRO)
    raw_then = ctx.lake.read(contracts.RAW_MACRO)

    fake.publish(HISTORY, D2)  # two more months: new weeks, and revisions of weeks before D1
    run(ctx, url, D1 + pd.Timedelta(days=1), D2)  # the evening runs that followed
    run(ctx, url, "2024-01-16", D2)  # and a backfill over everything, for good measure

    raw_now = ctx.lake.read(contracts.RAW_MACRO)
    late = raw_now.loc[(raw_now["date"] <= D1) & (raw_now["realtime_start"] > D1)]
    assert {"ICSA", "NFCI"} <= set(late["series_id"])  # revisions of what t had: they exist
    assert len(raw_now.merge(raw_then, on=[*KEY, "value"])) == len(raw_then)  # all rows kept
    curated_now = ctx.lake.read(contracts.CURATED_MACRO, end=D1)
    assert curated_now.equals(curated_then)
    # Had the curated table used FRED's latest word, those sessions would differ:
    hindsight = fake.visible().sort_values("realtime_start").groupby(["series_id", "date"]).last()
    hindsight = hindsight.reset_index().assign(realtime_start=lambda f: f["date"])
    leaky = align_releases(hindsight, trading_days("2024-01-16", D1), series_for(None))
    assert not leaky.equals(curated_then)


def test_evening_runs_day_by_day_equal_one_backfill(fred, tmp_path) -> None:
    _, url = fred
    days = trading_days("2024-04-01", "2024-04-12")
    evenings = context(tmp_path / "a", url)
    for day in days:
        run(evenings, url, day, day)
    once = context(tmp_path / "b", url)
    run(once, url, days[0], days[-1])
    for table in (contracts.CURATED_MACRO,):
        assert evenings.lake.read(table).equals(once.lake.read(table))
    # The raw log of the one backfill holds every row the evenings stored.
    a, b = (c.lake.read(contracts.RAW_MACRO) for c in (evenings, once))
    assert len(a.merge(b, on=[*KEY, "value"])) == len(a) > 0


def test_fred_restating_a_stored_vintage_is_kept_aside_not_applied(fred, tmp_path) -> None:
    fake, url = fred
    ctx = context(tmp_path, url)
    run(ctx, url, "2024-04-01", D1)
    restated = HISTORY.copy()
    target = (restated["series_id"] == "DGS10") & (restated["date"] == "2024-04-05")
    original = float(restated.loc[target, "value"].iloc[0])
    restated.loc[target, "value"] = original + 1.0
    fake.publish(restated, D1)
    summary = run(ctx, url, "2024-04-01", D1)
    assert summary["conflicting_vintages"] == 1
    stored = ctx.lake.read(contracts.RAW_MACRO, "2024-04-05", "2024-04-05")
    assert stored.loc[stored["series_id"] == "DGS10", "value"].tolist() == [original]
    kept = list((tmp_path / "lake" / "_rejected" / contracts.RAW_MACRO).glob("*.parquet"))
    assert len(kept) == 1
    aside = pd.read_parquet(io.BytesIO(kept[0].read_bytes()))
    assert aside[["value", "value_stored"]].iloc[0].tolist() == [original + 1.0, original]


def test_an_infinite_value_stops_the_step_before_anything_is_written(fred, tmp_path) -> None:
    fake, url = fred
    bad = HISTORY.astype({"value": object})
    bad.loc[(bad["series_id"] == "NFCI") & (bad["date"] == "2024-04-05"), "value"] = "1e999"
    fake.publish(bad, D1)
    ctx = context(tmp_path, url)
    with pytest.raises(contracts.ContractError, match=r"raw\.macro") as caught:
        run(ctx, url, "2024-04-08", D1)
    assert set(caught.value.failures["series_id"]) == {"NFCI"}
    assert ctx.lake.partitions(contracts.RAW_MACRO) == []
    assert ctx.lake.partitions(contracts.CURATED_MACRO) == []


def test_a_series_outside_the_catalogue_fails_before_any_request(fred, tmp_path) -> None:
    fake, url = fred
    ctx = context(tmp_path, url, fred_series=("ICSA", "VIXCLS"))
    with pytest.raises(UnknownSeriesError, match="VIXCLS"):
        steps.macro(ctx, "2024-04-01", D1)
    assert fake.requests == []


def test_a_configured_subset_gives_only_its_columns(fred, tmp_path) -> None:
    _, url = fred
    ctx = context(tmp_path, url, fred_series=("NFCI", "DGS10"))
    run(ctx, url, "2024-04-01", D1)
    assert list(ctx.lake.read(contracts.CURATED_MACRO).columns) == ["date", "nfci", "dgs10"]
    assert set(ctx.lake.read(contracts.RAW_MACRO)["series_id"]) == {"NFCI", "DGS10"}
