"""Per-year snapshots of a date-partitioned table: one object to read instead of ~252.

The daily partitions (``<table>/date=YYYY-MM-DD/part-0.parquet``) stay the source of truth. A
snapshot ``<table>/_snapshots/<YYYY>.snapshot`` holds a copy of one year's rows (a Parquet
file with the ``date`` column added) and, in its metadata, the version of each partition the
rows came from: the partition's store tag (S3 ETag and size; mtime and size on a folder)
and the sha256 of its bytes. Both the rows and the tag of a date come from the same write or
the same read, so a snapshot row is exactly the partition version whose tag it carries.

How it stays correct:
- A reader serves a snapshot's rows for a date only when the date's tag equals the tag in a
  listing of the partitions; any other date (a partition written after the snapshot, rewritten
  or deleted by hand, a crash between a partition write and its snapshot update) is read from
  its partition. A snapshot that disagrees with the partitions is never served for those dates.
- Every write of partitions then updates the year's snapshot (core.lake): it keeps the entries
  that still match the listing, re-reads the partitions that do not (the rebuild), adds what it
  wrote, and replaces the snapshot with a conditional put on the tag it read. A concurrent
  writer's update makes that put fail; the writer then re-reads and merges again, so neither
  update is lost.
- The name ends in ``.snapshot`` and sits in a folder starting with ``_``: Hive-style readers
  (pyarrow datasets, Athena, Spark) skip ``_`` folders and ``*.parquet`` globs (DuckDB, Polars)
  do not match it, so the table still reads as-is with one row set per date.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

SNAPSHOT_DIR: Final = "_snapshots"
_FORMAT: Final = 1
_META_KEY: Final = b"volcast.snapshot"


def snapshot_key(table: str, year: int) -> str:
    return f"{table}/{SNAPSHOT_DIR}/{year}.snapshot"


def content_hash(payload: bytes) -> str:
    """The sha256 of a partition's bytes (128 bits of it, hex): says whether a write would
    change it without reading it back."""
    return hashlib.sha256(payload).hexdigest()[:32]


def date_array(days: Sequence[str] | np.ndarray) -> pa.Array:
    """A date32 array from ISO dates or datetime64 values."""
    return pa.array(np.asarray(days, dtype="datetime64[D]"))


@dataclass(frozen=True)
class Entry:
    """The partition version a snapshot's rows of one date came from."""

    tag: str
    sha: str


@dataclass(frozen=True)
class Snapshot:
    """One year of a table: ``rows`` (``date`` as date32, last) and, per ISO date, the
    partition version they are a copy of. ``tag`` is the snapshot object's own tag when it
    was read from the store (None for one built in memory)."""

    table: str
    year: int
    rows: pa.Table
    entries: Mapping[str, Entry]
    tag: str | None = None

    @classmethod
    def parse(
        cls, table: str, year: int, data: bytes, tag: str, columns: list[str] | None = None
    ) -> Snapshot:
        """A stored snapshot; ``columns`` projects the rows (``date`` is always read).
        ValueError if the object is not a snapshot of that table and year."""
        wanted = None if columns is None else [*[c for c in columns if c != "date"], "date"]
        rows = pq.read_table(pa.BufferReader(data), columns=wanted)
        raw = (rows.schema.metadata or {}).get(_META_KEY)
        if raw is None:
            raise ValueError(f"{snapshot_key(table, year)} carries no snapshot metadata")
        meta = json.loads(raw)
        if meta.get("format") != _FORMAT or meta.get("table") != table or meta.get("year") != year:
            raise ValueError(f"{snapshot_key(table, year)} is not a snapshot of {table} {year}")
        entries = {day: Entry(tag_, sha) for day, (tag_, sha) in meta["partitions"].items()}
        return cls(table, year, rows.replace_schema_metadata(None), entries, tag)

    def to_bytes(self) -> bytes:
        meta = {
            "format": _FORMAT,
            "table": self.table,
            "year": self.year,
            "partitions": {d: [e.tag, e.sha] for d, e in sorted(self.entries.items())},
        }
        rows = self.rows.replace_schema_metadata({_META_KEY: json.dumps(meta).encode()})
        buffer = io.BytesIO()
        pq.write_table(rows, buffer, compression="zstd")
        return buffer.getvalue()

    def current(self, listing: Mapping[str, str]) -> set[str]:
        """The dates of ``listing`` (ISO date -> partition tag) whose rows here are that very
        partition version."""
        return {d for d, tag in listing.items() if (e := self.entries.get(d)) and e.tag == tag}

    def select(self, days: set[str]) -> pa.Table:
        """The rows of ``days`` (all rows when ``days`` covers every entry)."""
        if days >= self.entries.keys():
            return self.rows
        wanted = date_array(sorted(days))
        return self.rows.filter(pc.is_in(self.rows["date"], value_set=wanted))


def merged(
    table: str,
    year: int,
    base: Snapshot | None,
    keep: set[str],
    added: Mapping[str, tuple[pa.Table, Entry]],
) -> Snapshot:
    """A new snapshot: ``base``'s rows of ``keep`` plus ``added`` (ISO date -> its rows, with
    the ``date`` column, and its partition version), sorted by date (and symbol)."""
    pieces = [rows for rows, _ in added.values()]
    entries = {d: e for d, (_, e) in added.items()}
    if base is not None and keep:
        pieces.insert(0, base.select(keep))
        entries |= {d: base.entries[d] for d in keep if d not in added}
    rows = pa.concat_tables(
        [p.replace_schema_metadata(None) for p in pieces], promote_options="default"
    )
    keys = [("date", "ascending")]
    if "symbol" in rows.column_names:
        keys.append(("symbol", "ascending"))
    return Snapshot(table, year, rows.sort_by(keys), entries)
