"""Partitioned Parquet tables and small objects on a local folder or S3.

Layout: ``<root>/<table>/date=YYYY-MM-DD/part-0.parquet`` (Hive style; the ``date`` column
lives in the path only, so pyarrow, DuckDB, Polars and Athena read the tables as-is). Beside
them, ``<root>/<table>/_snapshots/<YYYY>.snapshot``: one object per year holding a copy of that
year's rows, checked against the partitions on every read (core.snapshots). Objects go through
core.store (a folder, or S3 through boto3).

Guarantees:
- a partition is one object, written whole: on a local folder a hidden temp file renamed into
  place (rename is atomic on POSIX), on S3 a single PUT (an object appears complete or not at
  all). A crash mid-write leaves the previous state; readers never see half a partition.
- re-runs are idempotent: the same rows give the same object, and an unchanged write is a no-op.
- immutable tables (raw.market) are never overwritten: a different re-download is kept aside under
  ``_rejected/`` and reported as a conflict. (raw.macro is a revision log whose rows are only
  ever added: core.macro enforces it.)
- every write and read goes through the table's contract (core.contracts).
- the partitions are the source of truth: a snapshot's rows are served for a date only while
  the date's partition is the version the snapshot copied; others are read one by one.

Cost on S3 (requests; independent ones run in parallel, up to core.store.S3_CONCURRENCY):
- a range of at most PROBE_SESSIONS sessions (a day's step, the serving poll) is read with one
  GET per session (absent partitions answer 404) and checked with one HEAD per session: no LIST.
- a longer range: one LIST per 1,000 partitions in range (only the keys in range come back),
  then one GET per year's snapshot where a year has >= SNAPSHOT_MIN_DAYS dates in range, else
  one GET per partition. Full history (~20 years): ~25 requests per table instead of ~3 per
  partition.
- ``write_partitions``: per year touched, one GET (its snapshot), then a HEAD per written day
  (at most PROBE_SESSIONS of them) or one LIST of the year, one PUT per new or changed
  partition, one conditional PUT of the snapshot.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import json
import logging
import os
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property
from typing import Final
from urllib.parse import urlparse

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from pyarrow import fs as pafs
from tqdm import tqdm

from core import contracts
from core.calendar import DateLike, to_day, trading_days
from core.snapshots import Entry, Snapshot, content_hash, date_array, merged, snapshot_key
from core.store import ABSENT, ObjectInfo, PreconditionFailed, S3Store, store_for

log = logging.getLogger(__name__)

PART_FILE = "part-0.parquet"
#: Which market source filled the lake (claimed by the first ingest, core.steps.data).
SOURCE_MARKER: Final = "_meta/source.json"
_PARTITION_RE = re.compile(r"/date=(\d{4}-\d{2}-\d{2})/" + re.escape(PART_FILE) + "$")
#: A range of at most this many sessions is read and checked key by key (a GET or HEAD per
#: session, side by side) instead of listed: what a day's step and the serving poll touch.
PROBE_SESSIONS: Final = 16
#: A year with fewer dates than this in a longer read range is read partition by partition: as
#: few requests, all in parallel, and no bytes of the other dates.
SNAPSHOT_MIN_DAYS: Final = 8
#: Conditional snapshot updates that lost a race, re-read and merged again, before giving up.
_SNAPSHOT_ATTEMPTS: Final = 8


class WriteOutcome(StrEnum):
    WRITTEN = "written"
    UNCHANGED = "unchanged"
    CONFLICT = "conflict"


@dataclass
class WriteReport:
    """What a multi-partition write did, by outcome."""

    table: str
    days: dict[WriteOutcome, list[pd.Timestamp]] = field(
        default_factory=lambda: {o: [] for o in WriteOutcome}
    )

    def add(self, outcome: WriteOutcome, day: pd.Timestamp) -> None:
        self.days[outcome].append(day)

    def count(self, outcome: WriteOutcome) -> int:
        return len(self.days[outcome])

    def summary(self) -> dict[str, object]:
        out: dict[str, object] = {o.value: self.count(o) for o in WriteOutcome}
        if self.days[WriteOutcome.CONFLICT]:
            out["conflict_days"] = [d.date().isoformat() for d in self.days[WriteOutcome.CONFLICT]]
        return out


def filesystem_for(
    uri: str, endpoint_url: str | None = None, region: str | None = None
) -> tuple[pafs.FileSystem, str]:
    """A pyarrow filesystem and the root path inside it for a lake URI (``region``: S3's,
    Settings.aws_region; None leaves it to the AWS SDK's own chain)."""
    parsed = urlparse(uri)
    if parsed.scheme == "s3":
        kwargs: dict[str, object] = {"region": region} if region else {}
        if endpoint_url:
            endpoint = urlparse(endpoint_url)
            kwargs["endpoint_override"] = endpoint.netloc or endpoint.path
            kwargs["scheme"] = endpoint.scheme or "https"
        root = f"{parsed.netloc}/{parsed.path.strip('/')}".rstrip("/")
        return pafs.S3FileSystem(**kwargs), root
    if parsed.scheme in ("", "file"):
        path = parsed.path if parsed.scheme == "file" else uri
        return pafs.LocalFileSystem(), os.path.abspath(path)
    raise ValueError(f"unsupported lake URI {uri!r}: use a folder, file:// or s3://bucket/prefix")


@dataclass
class _Year:
    """One year of a table as a writer sees it: its snapshot (read first), then the tags of
    its partitions (ISO date -> tag) among ``checked`` dates (None: the whole year, listed)."""

    snapshot: Snapshot | None
    listing: dict[str, str]
    checked: set[str] | None = None

    def entry_holds(self, day: str, entry: Entry, current: dict[str, str]) -> bool:
        """Whether a snapshot entry may be kept: its partition is still that version, or (a
        date this writer did not check) nothing says otherwise. Readers check every entry
        against their own listing before using it, so an unchecked one is never served stale;
        the next write that lists the year, or `compact`, repairs it."""
        if self.checked is not None and day not in self.checked:
            return True
        return current.get(day) == entry.tag


@dataclass
class _Known:
    """A partition version whose rows are in hand (written, or read)."""

    day: str
    rows: pa.Table
    entry: Entry


class Lake:
    """The volcast data lake: contract-checked date partitions plus small binary objects."""

    def __init__(self, uri: str, endpoint_url: str | None = None, region: str | None = None):
        """``uri``: a folder, file:// or s3://bucket/prefix; ``endpoint_url`` and ``region``
        (Settings.aws_endpoint_url / aws_region) for S3, None leaving them to the AWS SDK's
        own chain (AWS_REGION, AWS_DEFAULT_REGION, the config file). ValueError for another
        scheme."""
        self.uri = uri
        self.endpoint_url, self.region = endpoint_url, region
        self.store = store_for(uri, endpoint_url, region)
        if isinstance(self.store, S3Store):
            self.root = f"{self.store.bucket}/{self.store.prefix}".rstrip("/")
        else:
            self.root = self.store.root

    @cached_property
    def fs(self) -> pafs.FileSystem:
        """The lake as a pyarrow filesystem, rooted like ``root`` (for tools that want one)."""
        return filesystem_for(self.uri, self.endpoint_url, self.region)[0]

    # -- partitions ---------------------------------------------------------------------------
    def partition_path(self, table: str, day: DateLike) -> str:
        return f"{self.root}/{_partition_key(table, _iso(to_day(day)))}"

    def partitions(
        self, table: str, start: DateLike | None = None, end: DateLike | None = None
    ) -> list[pd.Timestamp]:
        """Dates of the complete partitions of ``table`` in [start, end], ascending.

        A range of at most PROBE_SESSIONS sessions is checked key by key (a stat or HEAD per
        session); a longer one listed from ``start`` on (one LIST per 1,000 keys in range): the
        cost follows the range, not the length of history.
        """
        lo, hi = _bounds(start, end)
        days = _candidates(table, lo, hi)
        if days is not None and len(days) <= PROBE_SESSIONS:
            found = self.store.stat([_partition_key(table, d) for d in days])
            return [pd.Timestamp(d) for d, info in zip(days, found, strict=True) if info]
        return [pd.Timestamp(d) for d in self._listing(table, lo, hi, days)]

    def write_partition(self, table: str, day: DateLike, df: pd.DataFrame) -> WriteOutcome:
        """Validate and write one day's rows as one partition (see module docstring)."""
        day = to_day(day)
        frame = contracts.validate(table, df)
        wrong = frame.loc[frame["date"] != day, "date"]
        if not wrong.empty:
            raise ValueError(
                f"{table}: partition {day.date()} got rows for other dates: "
                f"{sorted({d.date().isoformat() for d in wrong})}"
            )
        report = self._write_validated(table, frame, progress=False)
        return next(o for o in WriteOutcome if report.count(o))

    def write_partitions(self, table: str, df: pd.DataFrame, progress: bool = False) -> WriteReport:
        """Validate all rows first, then write one partition per date (independent partitions
        in parallel, each still whole and atomic), then update each touched year's snapshot.

        Validating the whole frame before the first write means a bad row anywhere stops the
        step with nothing written.
        """
        report = self._write_validated(table, contracts.validate(table, df), progress)
        if report.days[WriteOutcome.CONFLICT]:
            log.warning(
                "%s: %d partitions differ from what is stored and were NOT overwritten "
                "(the new copy is kept under _rejected/): %s",
                table,
                report.count(WriteOutcome.CONFLICT),
                report.summary()["conflict_days"],
            )
        return report

    def read(
        self,
        table: str,
        start: DateLike | None = None,
        end: DateLike | None = None,
        columns: Sequence[str] | None = None,
    ) -> pd.DataFrame:
        """Rows of ``table`` with start <= date <= end, contract-checked, sorted by key.

        ``columns`` projects (``date`` is always included). Only the partitions in range are
        listed, and a year with many of them is read from its snapshot where the snapshot
        still matches them: the cost follows the number of years, not of days.
        """
        if columns is not None:
            columns = ["date", *[c for c in columns if c != "date"]]
        lo, hi = _bounds(start, end)
        days = _candidates(table, lo, hi)
        if days is not None and len(days) <= PROBE_SESSIONS:  # a GET per session, no listing
            found = self.store.map(lambda d: self._read_partition(table, d, columns), days)
            pieces = [known.rows for known in found if known is not None]
            arrow = _concat(pieces) if pieces else None
        else:
            listing = self._listing(table, lo, hi, days)
            arrow = self._load(table, listing, columns) if listing else None
        if arrow is None:
            return self._empty(table, columns)
        frame = self._order(self._to_pandas(_with_optional_columns(table, arrow, columns)))
        return contracts.validate(table, frame, columns=columns)

    def compact(self, table: str) -> dict[str, int]:
        """Check every year's snapshot of ``table`` against its partitions and rebuild those
        that disagree or are missing (a lake written before snapshots existed, or partitions
        changed by hand). Returns how many years were checked and rebuilt."""
        years = sorted({int(d[:4]) for d in self._listing(table)})
        rebuilt = 0
        for year in years:
            state = self._year_state(table, year)
            snapshot = state.snapshot
            if snapshot is None or not (
                snapshot.current(state.listing) == state.listing.keys() == snapshot.entries.keys()
            ):
                self._update_snapshot(table, year, state, {})
                rebuilt += 1
        return {"years": len(years), "rebuilt": rebuilt}

    # -- objects (model artifacts, pointers) --------------------------------------------------
    def put_bytes(self, key: str, data: bytes) -> None:
        self.store.put(key, data)

    def get_bytes(self, key: str) -> bytes:
        found = self.store.get(key)
        if found is None:
            raise FileNotFoundError(f"{self.uri}/{key} does not exist")
        return found[0]

    def get_many(self, keys: Sequence[str]) -> list[bytes]:
        """``[get_bytes(k) for k in keys]``, the GETs side by side (core.store's bounded
        concurrency). FileNotFoundError naming the first missing key."""
        return self.store.map(self.get_bytes, keys)

    def exists(self, key: str) -> bool:
        return self.store.exists(key)

    def source(self) -> dict:
        """Which market source filled this lake (SOURCE_MARKER's JSON: name, synthetic, ...);
        {} while no ingest has claimed it. One GET."""
        try:
            return dict(json.loads(self.get_bytes(SOURCE_MARKER)))
        except FileNotFoundError:
            return {}

    def list_dirs(self, prefix: str) -> list[str]:
        """Names of the immediate sub-folders of ``prefix`` (S3: common prefixes)."""
        found = self.store.list_prefixes(f"{prefix.rstrip('/')}/", "/")
        return sorted(p.rstrip("/").rsplit("/", 1)[-1] for p in found)

    # -- listing ------------------------------------------------------------------------------
    def _listing(
        self,
        table: str,
        lo: pd.Timestamp | None = None,
        hi: pd.Timestamp | None = None,
        days: list[str] | None = None,
    ) -> dict[str, str]:
        """ISO date -> partition tag, for the partitions of ``table`` in [lo, hi] (``days``:
        its sessions when bounded): one listing from ``lo`` on, pages sized to the range."""
        after = f"{table}/date={_iso(lo)}" if lo is not None else None
        until = f"{table}/date={_iso(hi)}/~" if hi is not None else None
        page = min(1000, len(days) + 1) if days is not None else 1000
        return _partition_tags(self.store.list(f"{table}/date=", after, until, page))

    # -- reading ------------------------------------------------------------------------------
    def _load(self, table: str, listing: dict[str, str], columns: list[str] | None) -> pa.Table:
        """The rows of the listed partitions: from each year's snapshot where it holds the
        listed version, else from the partition itself."""
        by_year: dict[int, list[str]] = defaultdict(list)
        for day in listing:
            by_year[int(day[:4])].append(day)
        many = [y for y, days in by_year.items() if len(days) >= SNAPSHOT_MIN_DAYS]
        snapshots = dict(
            zip(
                many, self.store.map(lambda y: self._snapshot(table, y, columns), many), strict=True
            )
        )
        pieces, single = [], []
        for year, days in sorted(by_year.items()):
            snapshot = snapshots.get(year)
            wanted = {d: listing[d] for d in days}
            good = snapshot.current(wanted) if snapshot is not None else set()
            if snapshot is not None and good:
                pieces.append(snapshot.select(good))
            stale = [d for d in days if d not in good]
            if snapshot is not None and stale:
                log.info(
                    "%s %d: the snapshot does not hold %d of %d partitions as stored "
                    "(written since, or changed): reading those one by one",
                    table,
                    year,
                    len(stale),
                    len(days),
                )
            single += stale
        read = self.store.map(lambda d: self._read_partition(table, d, columns), single)
        pieces += [known.rows for known in read if known is not None]
        return _concat(pieces)

    def _snapshot(self, table: str, year: int, columns: list[str] | None = None) -> Snapshot | None:
        found = self.store.get(snapshot_key(table, year))
        if found is None:
            return None
        try:
            return Snapshot.parse(table, year, found[0], found[1], columns)
        except (ValueError, pa.ArrowException) as exc:  # unreadable: as if absent, rebuilt later
            log.warning("%s: ignoring %s: %s", self.uri, snapshot_key(table, year), exc)
            return None

    def _read_partition(
        self, table: str, day: str, columns: list[str] | None = None
    ) -> _Known | None:
        """One partition's rows (``date`` added) and version; None if it vanished since
        it was listed."""
        found = self.store.get(_partition_key(table, day))
        if found is None:
            return None
        data, tag = found
        return _Known(day, _rows(data, day, columns), Entry(tag, content_hash(data)))

    # -- writing ------------------------------------------------------------------------------
    def _write_validated(self, table: str, frame: pd.DataFrame, progress: bool) -> WriteReport:
        report = WriteReport(table)
        if frame.empty:
            return report
        days, payloads, rows = self._serialize_by_day(table, frame)
        by_year: dict[int, list[str]] = defaultdict(list)
        for day in days:
            by_year[int(day[:4])].append(day)
        years = sorted(by_year)

        def state_of(year: int) -> _Year:
            few = by_year[year] if len(by_year[year]) <= PROBE_SESSIONS else None
            return self._year_state(table, year, few)

        states = dict(zip(years, self.store.map(state_of, years), strict=True))
        immutable = contracts.spec(table).immutable
        known: dict[int, dict[str, _Known]] = defaultdict(dict)
        outcome: dict[str, WriteOutcome] = {}
        to_put: list[str] = []
        to_compare: list[str] = []
        by_day = dict(zip(days, zip(payloads, rows, strict=True), strict=True))
        for day in days:
            payload, _ = by_day[day]
            state = states[int(day[:4])]
            stored_tag = state.listing.get(day)
            entry = state.snapshot.entries.get(day) if state.snapshot is not None else None
            if stored_tag is None:
                to_put.append(day)
            elif entry is not None and entry.tag == stored_tag:  # we know what is stored
                if entry.sha == content_hash(payload):
                    outcome[day] = WriteOutcome.UNCHANGED
                elif immutable:
                    to_compare.append(day)  # same rows in other bytes, or a conflict
                else:
                    to_put.append(day)
            else:
                to_compare.append(day)
        for day, stored in zip(
            to_compare,
            self.store.map(lambda d: self.store.get(_partition_key(table, d)), to_compare),
            strict=True,
        ):
            payload, new_rows = by_day[day]
            if stored is None or (stored[0] != payload and not immutable):
                to_put.append(day)
                continue
            existing, tag = stored
            if existing == payload or _same_rows(existing, payload):
                outcome[day] = WriteOutcome.UNCHANGED
                known[int(day[:4])][day] = _Known(day, new_rows, Entry(tag, content_hash(existing)))
            else:
                self._keep_rejected(table, day, payload)
                outcome[day] = WriteOutcome.CONFLICT
                known[int(day[:4])][day] = _Known(
                    day, _rows(existing, day), Entry(tag, content_hash(existing))
                )
        with tqdm(
            total=len(days), desc=table, unit="day", disable=None if progress else True
        ) as bar:  # None: only on a terminal
            bar.update(len(days) - len(to_put))

            def put(day: str) -> str:
                tag = self.store.put(_partition_key(table, day), by_day[day][0])
                bar.update(1)
                return tag

            for day, tag in zip(to_put, self.store.map(put, to_put), strict=True):
                outcome[day] = WriteOutcome.WRITTEN
                payload, new_rows = by_day[day]
                known[int(day[:4])][day] = _Known(day, new_rows, Entry(tag, content_hash(payload)))
        self.store.map(lambda y: self._update_snapshot(table, y, states[y], known[y]), years)
        for day in days:
            report.add(outcome[day], pd.Timestamp(day))
        return report

    def _year_state(self, table: str, year: int, days: list[str] | None = None) -> _Year:
        """The year's snapshot, then (strictly after) the tags of its partitions: of ``days``
        only (a HEAD each), or of the whole year (a LIST). Every entry the snapshot got from a
        partition write is then in those tags, unless the partition was replaced since."""
        snapshot = self._snapshot(table, year)
        if days is None:
            infos = self.store.list(f"{table}/date={year}-")
            return _Year(snapshot, _partition_tags(infos))
        found = self.store.stat([_partition_key(table, d) for d in days])
        listing = {d: info.tag for d, info in zip(days, found, strict=True) if info is not None}
        return _Year(snapshot, listing, set(days))

    def _update_snapshot(
        self, table: str, year: int, state: _Year, known: dict[str, _Known]
    ) -> None:
        """Replace the year's snapshot by one matching its partitions (see core.snapshots).

        ``known``: partitions this writer holds the rows of, as they are now (its writes may
        be newer than ``state.listing``). Conditional on the snapshot read in ``state``: when
        another writer replaced it meanwhile, read both again and merge again."""
        current = {**state.listing, **{d: k.entry.tag for d, k in known.items()}}
        for _ in range(_SNAPSHOT_ATTEMPTS):
            base = state.snapshot
            added = {
                d: (k.rows, k.entry) for d, k in known.items() if current.get(d) == k.entry.tag
            }
            entries = base.entries if base is not None else {}
            keep = {d for d, e in entries.items() if state.entry_holds(d, e, current)} - set(added)
            missing = [d for d in current if d not in keep and d not in added]
            for found in self.store.map(lambda d: self._read_partition(table, d), missing):
                if found is not None:
                    added[found.day] = (found.rows, found.entry)
            if not keep and not added:
                return
            fresh = merged(table, year, base, keep, added)
            expected = base.tag if base is not None and base.tag is not None else ABSENT
            try:
                self.store.put(snapshot_key(table, year), fresh.to_bytes(), if_tag=expected)
                return
            except PreconditionFailed:
                state = self._year_state(table, year)
                current = state.listing
        raise RuntimeError(
            f"{table} {year}: the snapshot kept changing under {_SNAPSHOT_ATTEMPTS} attempts "
            "to update it; the partitions are written, the next write or `volcast compact` "
            "rebuilds it"
        )

    def _serialize_by_day(
        self, table: str, frame: pd.DataFrame
    ) -> tuple[list[str], list[bytes], list[pa.Table]]:
        """Per date: its ISO date, its Parquet payload and its rows (with ``date``, for the
        snapshot); a single pandas->arrow conversion for all of them."""
        keys = ["date", "symbol"] if "symbol" in frame.columns else ["date"]
        ordered = self._order(frame).sort_values(keys, kind="stable", ignore_index=True)
        body = ordered.drop(columns="date")
        arrow = pa.Table.from_pandas(
            body, schema=contracts.arrow_schema(table, body), preserve_index=False
        )
        dates = ordered["date"].to_numpy()
        dated = arrow.append_column("date", date_array(dates))
        cuts = [0, *(np.flatnonzero(dates[1:] != dates[:-1]) + 1), len(dates)]
        days, payloads, rows = [], [], []
        for lo, hi in itertools.pairwise(cuts):
            buffer = io.BytesIO()
            pq.write_table(arrow.slice(lo, hi - lo), buffer, compression="zstd")
            days.append(_iso(pd.Timestamp(dates[lo])))
            payloads.append(buffer.getvalue())
            rows.append(dated.slice(lo, hi - lo))
        return days, payloads, rows

    def _keep_rejected(self, table: str, day: str, payload: bytes) -> None:
        digest = hashlib.sha256(payload).hexdigest()[:16]
        key = f"_rejected/{table}/date={day}/{digest}.parquet"
        self.put_bytes(key, payload)

    @staticmethod
    def _to_pandas(arrow: pa.Table) -> pd.DataFrame:
        frame = arrow.to_pandas()
        for name in arrow.schema.names:
            if pa.types.is_list(arrow.schema.field(name).type):
                frame[name] = frame[name].map(list)  # numpy arrays of dicts -> plain lists
        if "date" in frame.columns:
            frame["date"] = pd.to_datetime(frame["date"]).astype("datetime64[ns]")
        return frame

    @staticmethod
    def _order(frame: pd.DataFrame) -> pd.DataFrame:
        first = [k for k in ("symbol", "date") if k in frame.columns]
        ordered = frame.sort_values(first, kind="stable") if first else frame
        rest = [c for c in frame.columns if c not in first]
        return ordered.loc[:, [*first, *rest]].reset_index(drop=True)

    def _empty(self, table: str, columns: Iterable[str] | None) -> pd.DataFrame:
        schema = contracts.spec(table).schema
        names = [c for c in schema.columns if not schema.columns[c].regex]
        if columns is not None:
            names = [c for c in names if c in columns]
        frame = pd.DataFrame({c: pd.Series(dtype="float64") for c in names})
        if "date" in frame.columns:
            frame["date"] = frame["date"].astype("datetime64[ns]")
        if "symbol" in frame.columns:
            frame["symbol"] = frame["symbol"].astype(object)
        return frame


def _iso(day: pd.Timestamp) -> str:
    return day.date().isoformat()


def _bounds(
    start: DateLike | None, end: DateLike | None
) -> tuple[pd.Timestamp | None, pd.Timestamp | None]:
    return (to_day(start) if start is not None else None, to_day(end) if end is not None else None)


def _candidates(table: str, lo: pd.Timestamp | None, hi: pd.Timestamp | None) -> list[str] | None:
    """The ISO dates a partition of ``table`` may have in a bounded range: its sessions, or
    every calendar day for contracts.CALENDAR_DAY_TABLES; None if the range is open."""
    if lo is None or hi is None:
        return None
    if table in contracts.CALENDAR_DAY_TABLES:
        return [_iso(d) for d in pd.date_range(lo, hi)]
    return [_iso(d) for d in trading_days(lo, hi)]


def _with_optional_columns(table: str, arrow: pa.Table, columns: list[str] | None) -> pa.Table:
    """``arrow`` with the contract's columns it lacks (wanted, by ``columns``) added as nulls:
    partitions written before a nullable column existed read it as nulls, whatever was read."""
    schema = contracts.table_arrow_schema(table)
    if schema is None:
        return arrow
    for column in schema:
        wanted = columns is None or column.name in columns
        if wanted and column.name not in arrow.column_names:
            arrow = arrow.append_column(column, pa.nulls(arrow.num_rows, column.type))
    return arrow


def _concat(pieces: list[pa.Table]) -> pa.Table:
    """One table of rows from snapshots and partitions, without writer metadata (pandas', a
    snapshot's): the rows alone, whatever their source."""
    return pa.concat_tables(
        [p.replace_schema_metadata(None) for p in pieces], promote_options="default"
    )


def _partition_key(table: str, day: str) -> str:
    return f"{table}/date={day}/{PART_FILE}"


def _partition_tags(infos: Iterable[ObjectInfo]) -> dict[str, str]:
    """ISO date -> tag of the partition files among ``infos`` (other keys are ignored)."""
    out = {}
    for info in infos:
        match = _PARTITION_RE.search(info.key)
        if match:
            out[match.group(1)] = info.tag
    return dict(sorted(out.items()))


def _rows(data: bytes, day: str, columns: list[str] | None = None) -> pa.Table:
    """A partition's rows with its ``date`` column added (last, as in a snapshot)."""
    wanted = None if columns is None else [c for c in columns if c != "date"]
    table = pq.read_table(pa.BufferReader(data), columns=wanted)
    return table.append_column("date", date_array([day] * table.num_rows))


def _same_rows(a: bytes, b: bytes) -> bool:
    """Two serialized partitions hold the same rows (writer metadata aside)."""
    left, right = (pq.read_table(io.BytesIO(x)).to_pandas() for x in (a, b))
    return left.shape == right.shape and left.equals(right)
