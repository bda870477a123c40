"""Macro point in time without the network: the alignment rule, the revision log's merge, the
catalogue and settings, and the macro tables' contracts and partitions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core import contracts
from core.calendar import trading_days
from core.config import Settings
from core.lake import Lake, WriteOutcome
from core.macro import (
    CATALOGUE,
    DEFAULT_SERIES,
    KEY,
    UnknownSeriesError,
    align_releases,
    collapse_vintages,
    lookback_days,
    merge_vintages,
    series_for,
)

ICSA, DGS10 = CATALOGUE["ICSA"], CATALOGUE["DGS10"]


def raw(*rows: tuple[str, str, float, str]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["series_id", "date", "value", "realtime_start"])
    frame["date"] = pd.to_datetime(frame["date"]).astype("datetime64[ns]")
    frame["realtime_start"] = pd.to_datetime(frame["realtime_start"]).astype("datetime64[ns]")
    frame["value"] = frame["value"].astype("float64")
    return frame


def aligned(log: pd.DataFrame, start: str, end: str, series=(ICSA, DGS10)) -> pd.DataFrame:
    return align_releases(log, trading_days(start, end), list(series)).set_index("date")


# ---------------------------------------------------------------------------------------------
# The alignment rule, on hand-made cases.
# ---------------------------------------------------------------------------------------------
def test_a_weekly_number_appears_on_its_release_day_not_its_reference_date() -> None:
    # Week ending Saturday 2024-01-06, released Thursday 2024-01-11.
    table = aligned(raw(("ICSA", "2024-01-06", 202_000, "2024-01-11")), "2024-01-05", "2024-01-12")
    assert table["icsa"].loc[:"2024-01-10"].isna().all()
    assert table.loc["2024-01-11", "icsa"] == 202_000 == table.loc["2024-01-12", "icsa"]


def test_a_revision_counts_from_its_own_realtime_start_only() -> None:
    log = raw(
        ("ICSA", "2024-01-06", 202_000, "2024-01-11"),
        ("ICSA", "2024-01-06", 205_000, "2024-01-18"),  # revised with the next release
        ("ICSA", "2024-01-13", 187_000, "2024-01-18"),
    )
    table = aligned(log, "2024-01-11", "2024-01-19")
    assert list(table["icsa"]) == [202_000, 202_000, 202_000, 202_000, 187_000, 187_000]
    # The revised 205,000 is never the value of a session: by 2024-01-18 a newer week is out.
    assert 205_000 not in set(table["icsa"])


def test_a_bond_market_holiday_dot_falls_back_to_the_last_published_value() -> None:
    log = raw(
        ("DGS10", "2024-10-11", 4.10, "2024-10-14"),
        ("DGS10", "2024-10-14", np.nan, "2024-10-15"),  # Columbus Day: FRED's '.'
        ("DGS10", "2024-10-15", 4.03, "2024-10-16"),
    )
    table = aligned(log, "2024-10-14", "2024-10-16", series=[DGS10])
    assert list(table["dgs10"]) == [4.10, 4.10, 4.03]


def test_a_value_older_than_max_age_is_stale_and_null() -> None:
    log = raw(("ICSA", "2024-01-06", 202_000, "2024-01-11"))
    table = aligned(log, "2024-01-11", "2024-02-05")
    last_fresh = pd.Timestamp("2024-01-06") + pd.Timedelta(days=ICSA.max_age_days)
    assert table["icsa"].loc[:last_fresh].notna().all()
    assert table["icsa"].loc[last_fresh + pd.Timedelta(days=1) :].isna().all()


def test_a_value_withdrawn_by_fred_is_null_from_the_withdrawal_on() -> None:
    log = raw(
        ("ICSA", "2024-01-06", 202_000, "2024-01-11"),
        ("ICSA", "2024-01-06", np.nan, "2024-01-16"),  # FRED now says '.' for that week
    )
    table = aligned(log, "2024-01-11", "2024-01-17")
    assert list(table["icsa"].notna()) == [True, True, False, False]


def test_series_without_rows_are_null_columns_named_by_lower_case_id() -> None:
    table = align_releases(raw(), trading_days("2024-01-02", "2024-01-05"), [ICSA, DGS10])
    assert list(table.columns) == ["date", "icsa", "dgs10"]
    assert table[["icsa", "dgs10"]].isna().all().all()


# ---------------------------------------------------------------------------------------------
# The rule's guarantees, on random revision logs.
# ---------------------------------------------------------------------------------------------
SPAN = pd.date_range("2024-01-01", "2024-03-31")


@st.composite
def revision_logs(draw) -> pd.DataFrame:
    """ICSA-like logs: observation dates, each with 1-3 vintages published 0-20 days later,
    some of them FRED's '.' (null)."""
    rows = []
    dates = draw(st.lists(st.sampled_from(list(SPAN[:70])), min_size=1, max_size=12, unique=True))
    for date in dates:
        lags = sorted(draw(st.lists(st.integers(0, 20), min_size=1, max_size=3, unique=True)))
        for lag in lags:
            value = draw(st.one_of(st.none(), st.integers(100, 400)))
            rows.append(("ICSA", date, np.nan if value is None else 1000.0 * value, lag))
    frame = pd.DataFrame(rows, columns=["series_id", "date", "value", "lag"])
    frame["realtime_start"] = frame["date"] + pd.to_timedelta(frame.pop("lag"), unit="D")
    return frame.astype({"date": "datetime64[ns]", "realtime_start": "datetime64[ns]"})


@settings(max_examples=60, deadline=None)
@given(log=revision_logs(), cut=st.sampled_from(list(SPAN)))
def test_rows_published_after_t_never_change_the_value_at_t(log: pd.DataFrame, cut) -> None:
    sessions = trading_days(SPAN[0], cut)
    known_then = log.loc[log["realtime_start"] <= cut]
    full = align_releases(log, sessions, [ICSA])
    assert full.equals(align_releases(known_then, sessions, [ICSA]))


@settings(max_examples=60, deadline=None)
@given(log=revision_logs(), first=st.sampled_from(list(SPAN[10:80])))
def test_a_short_run_reading_only_the_lookback_agrees_with_the_full_history(
    log: pd.DataFrame, first
) -> None:
    sessions = trading_days(first, SPAN[-1])
    window = log.loc[log["date"] >= first - pd.Timedelta(days=lookback_days([ICSA]))]
    assert align_releases(log, sessions, [ICSA]).equals(align_releases(window, sessions, [ICSA]))


# ---------------------------------------------------------------------------------------------
# The revision log: append-only merge, and joining real-time windows.
# ---------------------------------------------------------------------------------------------
STORED = raw(
    ("ICSA", "2024-01-06", 202_000, "2024-01-11"),
    ("DGS10", "2024-01-10", 4.02, "2024-01-11"),
)


def test_merge_appends_revisions_and_keeps_every_stored_row() -> None:
    fetched = raw(
        ("DGS10", "2024-01-10", 4.02, "2024-01-11"),  # already stored
        ("ICSA", "2024-01-06", 202_000, "2024-01-11"),  # already stored
        ("ICSA", "2024-01-06", 205_000, "2024-01-18"),  # a revision
        ("ICSA", "2024-01-13", 187_000, "2024-01-18"),  # a new week
    )
    merge = merge_vintages(STORED, fetched)
    assert merge.conflicts.empty
    assert sorted(merge.new_rows["value"]) == [187_000, 205_000]
    assert list(merge.changed_dates) == [pd.Timestamp("2024-01-06"), pd.Timestamp("2024-01-13")]
    assert len(merge.merged) == 4
    kept = merge.merged.merge(STORED, on=[*KEY, "value"])
    assert len(kept) == len(STORED)  # every stored row, unchanged


def test_merge_refuses_to_restate_a_stored_vintage() -> None:
    fetched = raw(("ICSA", "2024-01-06", 999_000, "2024-01-11"))  # same key, another value
    merge = merge_vintages(STORED, fetched)
    assert len(merge.conflicts) == 1
    assert merge.conflicts.iloc[0]["value_stored"] == 202_000
    assert merge.new_rows.empty and merge.merged.equals(
        STORED.sort_values(["date", "series_id", "realtime_start"], ignore_index=True)
    )


def test_merge_drops_downloaded_repeats_but_never_a_stored_row() -> None:
    fetched = raw(
        ("ICSA", "2024-01-06", 202_000, "2024-01-20"),  # same value reported later: no news
        ("ICSA", "2024-01-06", 202_000, "2024-01-09"),  # same value earlier than stored
    )
    merge = merge_vintages(STORED, fetched)
    assert merge.conflicts.empty
    assert list(merge.new_rows["realtime_start"]) == [pd.Timestamp("2024-01-09")]
    assert (merge.merged["realtime_start"] == pd.Timestamp("2024-01-11")).sum() == 2


def test_collapse_joins_real_time_windows_into_the_true_first_release() -> None:
    # Window 2 opens on 2024-02-01 and reports the value in force then from that day.
    joined = raw(
        ("ICSA", "2024-01-06", 202_000, "2024-01-11"),
        ("ICSA", "2024-01-06", 205_000, "2024-01-18"),
        ("ICSA", "2024-01-06", 205_000, "2024-02-01"),
        ("ICSA", "2024-01-06", np.nan, "2024-02-08"),
        ("ICSA", "2024-01-06", np.nan, "2024-03-01"),
    )
    collapsed = collapse_vintages(joined)
    assert list(collapsed["realtime_start"].dt.strftime("%m-%d")) == ["01-11", "01-18", "02-08"]


# ---------------------------------------------------------------------------------------------
# Catalogue and settings.
# ---------------------------------------------------------------------------------------------
def test_default_series_are_documented_with_frequency_and_release_lag() -> None:
    assert DEFAULT_SERIES == ("BAMLH0A0HYM2", "T10Y2Y", "DGS10", "ICSA", "NFCI")
    for s in series_for(None):
        assert s.frequency in ("daily", "weekly") and s.release_lag_days >= 1
        assert s.max_age_days > s.release_lag_days + (7 if s.frequency == "weekly" else 3)


def test_unknown_series_is_a_clear_error() -> None:
    assert [s.series_id for s in series_for(["icsa", " DGS10 "])] == ["ICSA", "DGS10"]
    with pytest.raises(UnknownSeriesError, match=r"\['VIXCLS'\].*CATALOGUE"):
        series_for(["ICSA", "VIXCLS"])


def test_settings_read_the_series_list_and_hide_the_key(monkeypatch) -> None:
    monkeypatch.setenv("VOLCAST_FRED_SERIES", "icsa, nfci,")
    monkeypatch.setenv("VOLCAST_FRED_API_KEY", "s3cr3tkeyvalue")
    settings_ = Settings()
    assert settings_.fred_series == ("ICSA", "NFCI")
    assert settings_.fred_api_key.get_secret_value() == "s3cr3tkeyvalue"
    assert "s3cr3tkeyvalue" not in repr(settings_) and "s3cr3tkeyvalue" not in str(settings_)
    monkeypatch.setenv("VOLCAST_FRED_API_KEY", "  ")
    monkeypatch.delenv("VOLCAST_FRED_SERIES")
    assert Settings().fred_api_key is None and Settings().fred_series is None


# ---------------------------------------------------------------------------------------------
# Contracts and partitions of the macro tables.
# ---------------------------------------------------------------------------------------------
def test_raw_macro_contract_names_duplicate_vintages_and_infinite_values() -> None:
    bad = raw(
        ("ICSA", "2024-01-06", 202_000, "2024-01-11"),
        ("ICSA", "2024-01-06", 203_000, "2024-01-11"),
        ("DGS10", "2024-01-10", np.inf, "2024-01-11"),
    )
    with pytest.raises(contracts.ContractError) as caught:
        contracts.validate(contracts.RAW_MACRO, bad)
    failures = caught.value.failures
    infinite = failures["check"].str.startswith("finite_or_null")
    assert set(failures.loc[infinite, "series_id"]) == {"DGS10"}
    duplicate = failures["check"].eq("multiple_fields_uniqueness")
    assert set(failures.loc[duplicate, "series_id"]) == {"ICSA"}


def test_curated_macro_contract_wants_sessions_and_allows_nulls() -> None:
    ok = pd.DataFrame({"date": pd.to_datetime(["2024-01-05"]), "icsa": [np.nan]})
    contracts.validate(contracts.CURATED_MACRO, ok)
    saturday = ok.assign(date=pd.to_datetime(["2024-01-06"]))
    with pytest.raises(contracts.ContractError, match="xnys_trading_day"):
        contracts.validate(contracts.CURATED_MACRO, saturday)


def test_raw_macro_partitions_on_saturdays_and_holidays_are_found(tmp_path) -> None:
    lake = Lake(str(tmp_path / "lake"))
    log = raw(
        ("ICSA", "2024-03-30", 210_000, "2024-04-04"),  # a Saturday
        ("DGS10", "2024-03-29", 4.2, "2024-04-01"),  # Good Friday: no XNYS session
        ("DGS10", "2024-04-01", 4.3, "2024-04-02"),
    )
    report = lake.write_partitions(contracts.RAW_MACRO, log)
    assert report.count(WriteOutcome.WRITTEN) == 3
    days = lake.partitions(contracts.RAW_MACRO, "2024-03-28", "2024-04-02")  # a short range
    assert [d.strftime("%m-%d") for d in days] == ["03-29", "03-30", "04-01"]
    back = lake.read(contracts.RAW_MACRO, "2024-03-28", "2024-04-02")
    assert len(back) == 3 and set(back["series_id"]) == {"ICSA", "DGS10"}
