"""Per-year snapshots on a local folder: kept in step by writes, checked on every read, never
served where they disagree with the daily partitions, rebuilt by the next write or compact."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from core import contracts
from core.calendar import trading_days
from core.lake import Lake, WriteOutcome
from core.snapshots import SNAPSHOT_DIR, Snapshot, snapshot_key
from core.store import ABSENT, LocalStore, PreconditionFailed
from tests.raw_frames import raw_market_frame


@pytest.fixture
def lake(tmp_path) -> Lake:
    return Lake(str(tmp_path / "lake"))


def labels(start: str, end: str, seed: int = 0) -> pd.DataFrame:
    """labels_daily rows on every session of [start, end]."""
    days = trading_days(start, end)
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"date": days, "rv_5d": rng.uniform(0.05, 0.5, len(days))})


def snapshot(lake: Lake, table: str, year: int) -> Snapshot:
    found = lake.store.get(snapshot_key(table, year))
    assert found is not None, f"no snapshot for {table} {year}"
    return Snapshot.parse(table, year, *found)


def plain_read(lake: Lake, table: str) -> pd.DataFrame:
    """The table as a Hive reader without volcast sees it (pyarrow's own discovery)."""
    dataset = ds.dataset(f"{lake.root}/{table}", partitioning="hive", format="parquet")
    return dataset.to_table().to_pandas()


def test_a_write_keeps_one_snapshot_per_year_matching_the_partitions(lake: Lake) -> None:
    frame = labels("2023-12-01", "2024-02-29")
    lake.write_partitions(contracts.LABELS, frame)
    for year in (2023, 2024):
        snap = snapshot(lake, contracts.LABELS, year)
        listed = {d.date().isoformat() for d in lake.partitions(contracts.LABELS)}
        assert set(snap.entries) == {d for d in listed if d.startswith(str(year))}
        assert snap.rows.num_rows == len(snap.entries)
    # Hive readers see one row per date: the snapshots are not part of the table for them.
    assert len(plain_read(lake, contracts.LABELS)) == len(frame)
    table_dir = Path(lake.root) / contracts.LABELS
    assert (table_dir / SNAPSHOT_DIR / "2024.snapshot").is_file()
    globbed = list(table_dir.glob("**/*.parquet"))  # what DuckDB or Polars would pick up
    assert len(globbed) == len(frame) and all(SNAPSHOT_DIR not in str(p) for p in globbed)


def test_reads_from_snapshots_equal_reads_from_partitions(lake: Lake) -> None:
    raw = raw_market_frame("2023-11-01", "2024-03-28")
    lake.write_partitions(contracts.RAW_MARKET, raw)
    via_snapshots = lake.read(contracts.RAW_MARKET)
    for year in (2023, 2024):
        os.remove(lake.store.path(snapshot_key(contracts.RAW_MARKET, year)))
    via_partitions = lake.read(contracts.RAW_MARKET)
    pd.testing.assert_frame_equal(via_snapshots, via_partitions)
    expected = contracts.validate(contracts.RAW_MARKET, raw)
    pd.testing.assert_frame_equal(
        via_snapshots, expected.sort_values(["symbol", "date"], ignore_index=True)
    )
    projected = lake.read(contracts.RAW_MARKET, "2024-01-02", "2024-02-29", columns=["close"])
    assert list(projected.columns) == ["date", "close"]


def _rewrite_behind_the_lakes_back(lake: Lake, day: str, rv: float) -> None:
    """What a person or another tool could do: replace one partition file directly."""
    path = lake.partition_path(contracts.LABELS, day)
    frame = pq.read_table(path).to_pandas().assign(rv_5d=rv)
    tmp = f"{path}.new"
    frame.to_parquet(tmp, index=False)
    os.replace(tmp, path)


def test_a_snapshot_that_disagrees_is_not_served_and_compact_rebuilds_it(lake: Lake) -> None:
    lake.write_partitions(contracts.LABELS, labels("2024-01-02", "2024-03-28"))
    _rewrite_behind_the_lakes_back(lake, "2024-02-15", 0.777)
    os.remove(lake.partition_path(contracts.LABELS, "2024-02-16"))

    stale = snapshot(lake, contracts.LABELS, 2024)
    assert stale.entries["2024-02-16"] and stale.entries["2024-02-15"]  # still the old copies
    read = lake.read(contracts.LABELS).set_index("date")["rv_5d"]
    assert read[pd.Timestamp("2024-02-15")] == 0.777  # the partition, not the snapshot's copy
    assert pd.Timestamp("2024-02-16") not in read.index  # gone from the table, gone from reads

    assert lake.compact(contracts.LABELS) == {"years": 1, "rebuilt": 1}
    rebuilt = snapshot(lake, contracts.LABELS, 2024)
    assert "2024-02-16" not in rebuilt.entries
    listing = lake._listing(contracts.LABELS)
    assert rebuilt.current(listing) == set(listing) == set(rebuilt.entries)
    assert lake.compact(contracts.LABELS) == {"years": 1, "rebuilt": 0}
    pd.testing.assert_series_equal(lake.read(contracts.LABELS).set_index("date")["rv_5d"], read)


def test_a_crash_before_the_snapshot_update_is_repaired_by_the_next_write(
    lake: Lake, monkeypatch
) -> None:
    lake.write_partitions(contracts.LABELS, labels("2024-01-02", "2024-01-31"))

    def crash(*_args, **_kwargs) -> None:  # dies after the partitions, before the snapshot
        raise KeyboardInterrupt("killed")

    monkeypatch.setattr(lake, "_update_snapshot", crash)
    revised = labels("2024-01-02", "2024-02-29", seed=1)
    with pytest.raises(KeyboardInterrupt):
        lake.write_partitions(contracts.LABELS, revised)
    monkeypatch.undo()

    expected = revised.set_index("date")["rv_5d"]
    read = lake.read(contracts.LABELS).set_index("date")["rv_5d"]
    np.testing.assert_allclose(read.to_numpy(), expected.to_numpy())  # partitions win
    stale = snapshot(lake, contracts.LABELS, 2024)
    assert "2024-02-01" not in stale.entries

    # A day's write checks only its own day: the stale entries stay, and still are not served.
    lake.write_partitions(contracts.LABELS, labels("2024-03-01", "2024-03-01", seed=2))
    read = lake.read(contracts.LABELS, end="2024-02-29").set_index("date")["rv_5d"]
    np.testing.assert_allclose(read.to_numpy(), expected.to_numpy())

    # The re-run of the crashed step lists the year: unchanged partitions, a repaired snapshot.
    again = lake.write_partitions(contracts.LABELS, revised)
    assert again.count(WriteOutcome.UNCHANGED) == len(revised)
    repaired = snapshot(lake, contracts.LABELS, 2024)
    listing = lake._listing(contracts.LABELS)
    assert repaired.current(listing) == set(listing) == set(repaired.entries)
    rows = repaired.rows.to_pandas().set_index("date")["rv_5d"]
    np.testing.assert_allclose(rows.to_numpy()[: len(expected)], expected.to_numpy())


def test_rerun_is_decided_from_the_snapshot_without_reading_partitions(
    lake: Lake, monkeypatch
) -> None:
    frame = labels("2024-01-02", "2024-03-28")
    lake.write_partitions(contracts.LABELS, frame)
    gets: list[str] = []
    real_get = LocalStore.get

    def counting_get(self, key):
        gets.append(key)
        return real_get(self, key)

    monkeypatch.setattr(LocalStore, "get", counting_get)
    again = lake.write_partitions(contracts.LABELS, frame)
    assert again.count(WriteOutcome.UNCHANGED) == len(frame)
    assert gets == [snapshot_key(contracts.LABELS, 2024)]


def test_concurrent_writers_of_one_year_lose_nothing(lake: Lake) -> None:
    months = [labels(f"2024-{m:02d}-01", f"2024-{m:02d}-28", seed=m) for m in range(1, 7)]
    errors: list[BaseException] = []

    def write(frame: pd.DataFrame) -> None:
        try:
            Lake(lake.uri).write_partitions(contracts.LABELS, frame)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(m,)) for m in months]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    snap = snapshot(lake, contracts.LABELS, 2024)
    listing = lake._listing(contracts.LABELS)
    assert (
        snap.current(listing)
        == set(listing)
        == {d.date().isoformat() for m in months for d in m["date"]}
    )


def test_a_conditional_put_refuses_a_changed_object(tmp_path) -> None:
    store = LocalStore(str(tmp_path))
    first = store.put("a/b", b"1", if_tag=ABSENT)
    with pytest.raises(PreconditionFailed):
        store.put("a/b", b"2", if_tag=ABSENT)
    second = store.put("a/b", b"22", if_tag=first)
    with pytest.raises(PreconditionFailed):
        store.put("a/b", b"3", if_tag=first)
    assert store.get("a/b") == (b"22", second)
    assert [i.key for i in store.list("a/")] == ["a/b"]  # the lock file is hidden
