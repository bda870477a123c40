"""The lake on a local folder: atomic partitions, idempotent re-runs, immutable raw, projection."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.dataset as ds
import pytest
from pyarrow import fs as pafs

from core import contracts
from core.calendar import trading_days
from core.lake import Lake, WriteOutcome
from tests.raw_frames import only_day, raw_market_frame


@pytest.fixture
def lake(tmp_path) -> Lake:
    return Lake(str(tmp_path / "lake"))


def test_write_then_read_round_trips(lake: Lake) -> None:
    raw = raw_market_frame("2024-02-01", "2024-02-29")
    lake.write_partitions(contracts.RAW_MARKET, raw)
    back = lake.read(contracts.RAW_MARKET)
    expected = contracts.validate(contracts.RAW_MARKET, raw)
    pd.testing.assert_frame_equal(back, expected.sort_values(["symbol", "date"], ignore_index=True))


def test_partitions_are_hive_and_readable_without_volcast(lake: Lake) -> None:
    lake.write_partitions(contracts.RAW_MARKET, raw_market_frame("2024-02-01", "2024-02-07"))
    plain = ds.dataset(f"{lake.root}/raw.market", partitioning="hive").to_table().to_pandas()
    assert sorted(plain["date"].astype(str).unique()) == [
        "2024-02-01",
        "2024-02-02",
        "2024-02-05",
        "2024-02-06",
        "2024-02-07",
    ]
    assert len(plain) == 5 * 5


def test_rerun_is_idempotent(lake: Lake) -> None:
    raw = raw_market_frame("2024-02-01", "2024-02-07")
    first = lake.write_partitions(contracts.RAW_MARKET, raw)
    before = {
        d: Path(lake.partition_path(contracts.RAW_MARKET, d)).read_bytes()
        for d in first.days[WriteOutcome.WRITTEN]
    }
    again = lake.write_partitions(contracts.RAW_MARKET, raw)
    assert again.count(WriteOutcome.UNCHANGED) == 5 and again.count(WriteOutcome.WRITTEN) == 0
    after = {d: Path(lake.partition_path(contracts.RAW_MARKET, d)).read_bytes() for d in before}
    assert before == after
    assert len(lake.read(contracts.RAW_MARKET)) == 25  # no duplicates


def test_mutable_table_overwrites_whole_partition(lake: Lake) -> None:
    labels = pd.DataFrame(
        {"date": pd.to_datetime(["2024-02-01", "2024-02-02"]), "rv_5d": [0.1, 0.2]}
    )
    lake.write_partitions(contracts.LABELS, labels)
    outcome = lake.write_partition(
        contracts.LABELS, "2024-02-02", labels.iloc[[1]].assign(rv_5d=0.3)
    )
    assert outcome is WriteOutcome.WRITTEN
    assert lake.read(contracts.LABELS)["rv_5d"].tolist() == [0.1, 0.3]


def test_raw_conflict_is_reported_and_kept_aside(lake: Lake) -> None:
    raw = raw_market_frame("2024-02-01", "2024-02-02")
    lake.write_partitions(contracts.RAW_MARKET, raw)
    revised = raw.assign(volume=raw["volume"] * 1.01)  # the vendor's final volume figures
    report = lake.write_partitions(contracts.RAW_MARKET, revised)
    assert report.count(WriteOutcome.CONFLICT) == 2
    pd.testing.assert_series_equal(
        lake.read(contracts.RAW_MARKET)["volume"],
        raw.sort_values(["symbol", "date"], ignore_index=True)["volume"],
    )
    rejected = pafs.FileSelector(f"{lake.root}/_rejected/raw.market", recursive=True)
    assert sum(i.is_file for i in lake.fs.get_file_info(rejected)) == 2


def test_crash_mid_write_leaves_previous_state(lake: Lake, monkeypatch) -> None:
    labels = pd.DataFrame({"date": pd.to_datetime(["2024-02-01"]), "rv_5d": [0.1]})
    lake.write_partitions(contracts.LABELS, labels)

    def crash(src: str, dest: str) -> None:  # the process dies after the temp file, before rename
        raise KeyboardInterrupt("killed")

    monkeypatch.setattr(lake.store, "_replace", crash)
    with pytest.raises(KeyboardInterrupt):
        lake.write_partitions(contracts.LABELS, labels.assign(rv_5d=0.9))
    with pytest.raises(KeyboardInterrupt):
        lake.write_partition(
            contracts.LABELS, "2024-02-02", labels.assign(date=pd.Timestamp("2024-02-02"))
        )
    monkeypatch.undo()

    assert lake.read(contracts.LABELS)["rv_5d"].tolist() == [0.1]
    assert lake.partitions(contracts.LABELS) == [pd.Timestamp("2024-02-01")]
    leftovers = lake.fs.get_file_info(
        pafs.FileSelector(f"{lake.root}/labels_daily", recursive=True)
    )
    assert not [i.path for i in leftovers if i.path.endswith(".tmp")]


def test_invalid_rows_write_nothing(lake: Lake) -> None:
    raw = raw_market_frame("2024-02-01", "2024-02-07")
    raw.loc[(raw["symbol"] == "TLT") & (raw["date"] == "2024-02-07"), "close"] = -1.0
    with pytest.raises(contracts.ContractError, match="close"):
        lake.write_partitions(contracts.RAW_MARKET, raw)
    assert lake.partitions(contracts.RAW_MARKET) == []


def test_read_range_and_projection(lake: Lake) -> None:
    lake.write_partitions(contracts.RAW_MARKET, raw_market_frame("2024-02-01", "2024-02-29"))
    part = lake.read(contracts.RAW_MARKET, "2024-02-15", "2024-02-21", columns=["close"])
    assert list(part.columns) == ["date", "close"]
    assert part["date"].nunique() == 4  # Feb 15-21 less the weekend and Presidents Day
    assert lake.read(contracts.RAW_MARKET, "2025-01-01", "2025-01-31").empty


def test_partition_rejects_rows_of_other_days(lake: Lake) -> None:
    raw = raw_market_frame("2024-02-01", "2024-02-02")
    with pytest.raises(ValueError, match="other dates"):
        lake.write_partition(contracts.RAW_MARKET, "2024-02-01", raw)
    lake.write_partition(contracts.RAW_MARKET, "2024-02-01", only_day(raw, "2024-02-01"))
    assert lake.partitions(contracts.RAW_MARKET) == [pd.Timestamp("2024-02-01")]


def test_file_uri_and_objects(tmp_path) -> None:
    lake = Lake(f"file://{tmp_path}/l")
    lake.put_bytes("artifacts/model/v1/metadata.json", b"{}")
    assert lake.exists("artifacts/model/v1/metadata.json")
    assert lake.list_dirs("artifacts/model") == ["v1"]
    assert (tmp_path / "l/artifacts/model/v1/metadata.json").read_bytes() == b"{}"


def test_unknown_uri_scheme_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="unsupported lake URI"):
        Lake("gs://bucket/x")


def _predictions(days: pd.DatetimeIndex, band: bool) -> pd.DataFrame:
    hat = np.linspace(0.10, 0.20, len(days))
    frame = pd.DataFrame(
        {
            "date": days,
            "rv_5d_hat": hat,
            "top_drivers": [[{"feature": "vix", "value": 0.2, "shap": 0.1}]] * len(days),
            "model_version": "v1",
            "regime": None,
            "regime_prob": np.nan,
        }
    )
    return frame.assign(rv_5d_lo=hat * 0.8, rv_5d_hi=hat * 1.25) if band else frame


@pytest.mark.parametrize("start", [None, "2024-01-02", "2024-02-01"])
def test_columns_added_later_read_as_nulls_on_every_read_path(lake: Lake, start) -> None:
    """Partitions written before the band existed read rv_5d_lo/hi as nulls, whether they come
    from a snapshot (long range), one by one (short range) or alone (no newer partition read)."""
    old = pd.DatetimeIndex(trading_days("2024-01-02", "2024-02-29"))
    lake.write_partitions(contracts.PREDICTIONS, _predictions(old, band=False))
    new = pd.DatetimeIndex(["2024-03-01"])
    lake.write_partitions(contracts.PREDICTIONS, _predictions(new, band=True))
    alone = lake.read(contracts.PREDICTIONS, "2024-02-26", "2024-02-29")
    assert {"rv_5d_lo", "rv_5d_hi"} <= set(alone.columns) and alone["rv_5d_lo"].isna().all()
    back = lake.read(contracts.PREDICTIONS, start, "2024-03-01")
    is_new = back["date"].isin(new)
    assert back.loc[~is_new, ["rv_5d_lo", "rv_5d_hi"]].isna().all().all()
    assert back.loc[is_new, "rv_5d_hi"].tolist() == pytest.approx(
        [0.10 * 1.25]
    )  # linspace of one day: 0.10


def test_calendar_day_tables_are_probed_by_calendar_day(lake: Lake) -> None:
    """raw.macro is partitioned by observation date, weekends included: a short range finds a
    Saturday partition (sessions alone would miss it)."""
    rows = pd.DataFrame(
        {
            "series_id": ["DGS10", "DGS10"],
            "date": pd.to_datetime(["2024-06-01", "2024-06-03"]),  # a Saturday, a Monday
            "value": [4.5, 4.4],
            "realtime_start": pd.to_datetime(["2024-06-04", "2024-06-04"]),
        }
    )
    lake.write_partitions(contracts.RAW_MACRO, rows)
    found = lake.partitions(contracts.RAW_MACRO, "2024-06-01", "2024-06-05")
    assert found == [pd.Timestamp("2024-06-01"), pd.Timestamp("2024-06-03")]
    saturday = lake.read(contracts.RAW_MACRO, "2024-06-01", "2024-06-02")
    assert saturday["value"].tolist() == [4.5]
