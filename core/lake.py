"""Partitioned Parquet tables and small objects on a local folder or S3, through pyarrow.fs.

Layout: ``<root>/<table>/date=YYYY-MM-DD/part-0.parquet`` (Hive style; the ``date`` column
lives in the path only, so pyarrow, DuckDB, Polars and Athena read the tables as-is).

Guarantees:
- a partition is one object, written whole: on a local folder a hidden temp file renamed into
  place (rename is atomic on POSIX), on S3 a single PUT (an object appears complete or not at
  all). A crash mid-write leaves the previous state; readers never see half a partition.
- re-runs are idempotent: the same rows give the same object, and an unchanged write is a no-op.
- immutable tables (raw.market) are never overwritten: a different re-download is kept aside under
  ``_rejected/`` and reported as a conflict. (raw.macro is a revision log whose rows are only
  ever added: core.macro enforces it.)
- every write and read goes through the table's contract (core.contracts).
"""

from __future__ import annotations

import hashlib
import io
import itertools
import logging
import os
import re
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from urllib.parse import urlparse

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
from pyarrow import fs as pafs
from tqdm import tqdm

from core import contracts
from core.calendar import DateLike, to_day, trading_days

log = logging.getLogger(__name__)

PART_FILE = "part-0.parquet"
_PARTITION_RE = re.compile(r"date=(\d{4}-\d{2}-\d{2})/" + re.escape(PART_FILE) + "$")
_PROBE_DAYS = 550  # calendar days (~380 sessions): covers the features lookback
_HIVE_DATE = ds.partitioning(pa.schema([("date", pa.date32())]), flavor="hive")


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


def filesystem_for(uri: str, endpoint_url: str | None = None) -> tuple[pafs.FileSystem, str]:
    """A pyarrow filesystem and the root path inside it for a lake URI."""
    parsed = urlparse(uri)
    if parsed.scheme == "s3":
        kwargs: dict[str, object] = {
            "region": os.environ.get("AWS_REGION")
            or os.environ.get("AWS_DEFAULT_REGION")
            or "us-east-1",
        }
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


class Lake:
    """The volcast data lake: contract-checked date partitions plus small binary objects."""

    def __init__(self, uri: str, endpoint_url: str | None = None):
        self.uri = uri
        self.fs, self.root = filesystem_for(uri, endpoint_url)
        self._local = isinstance(self.fs, pafs.LocalFileSystem)

    # -- partitions ---------------------------------------------------------------------------
    def partition_path(self, table: str, day: DateLike) -> str:
        return f"{self.root}/{table}/date={to_day(day).date().isoformat()}/{PART_FILE}"

    def partitions(
        self, table: str, start: DateLike | None = None, end: DateLike | None = None
    ) -> list[pd.Timestamp]:
        """Dates of the complete partitions of ``table`` in [start, end], ascending.

        A short bounded range on a local folder stats the candidate sessions' files instead of
        walking the table, so an incremental day's cost does not grow with history. On S3 one
        listing (1 request per 1,000 partitions) is cheaper than a HEAD per session.
        """
        lo = to_day(start) if start is not None else None
        hi = to_day(end) if end is not None else None
        if self._local and lo is not None and hi is not None and (hi - lo).days <= _PROBE_DAYS:
            if table in contracts.CALENDAR_DAY_TABLES:
                candidates = pd.date_range(lo, hi).astype("datetime64[ns]")
            else:
                candidates = trading_days(lo, hi)
            infos = self.fs.get_file_info([self.partition_path(table, d) for d in candidates])
            return [d for d, i in zip(candidates, infos, strict=True) if i.is_file]
        base = f"{self.root}/{table}"
        selector = pafs.FileSelector(base, recursive=True, allow_not_found=True)
        days = []
        for info in self.fs.get_file_info(selector):
            match = _PARTITION_RE.search(info.path)
            if match and info.type == pafs.FileType.File:
                days.append(pd.Timestamp(match.group(1)))
        days.sort()
        return [d for d in days if (lo is None or d >= lo) and (hi is None or d <= hi)]

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
        """Validate all rows first, then write one partition per date.

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

    def _write_validated(self, table: str, frame: pd.DataFrame, progress: bool) -> WriteReport:
        report = WriteReport(table)
        if frame.empty:
            return report
        days, payloads = self._serialize_by_day(table, frame)
        stored = set(self.partitions(table, days[0], days[-1]))
        immutable = contracts.spec(table).immutable
        bar = tqdm(
            zip(days, payloads, strict=True),
            total=len(days),
            desc=table,
            unit="day",
            disable=None if progress else True,  # None: only on a terminal
        )
        for day, payload in bar:
            path = self.partition_path(table, day)
            existing = self._read_bytes_or_none(path) if day in stored else None
            if existing is None or (existing != payload and not immutable):
                self._atomic_put(path, payload)
                report.add(WriteOutcome.WRITTEN, day)
            elif existing == payload or _same_rows(existing, payload):
                report.add(WriteOutcome.UNCHANGED, day)
            else:
                self._keep_rejected(table, day, payload)
                report.add(WriteOutcome.CONFLICT, day)
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
        opened, so the cost follows the range, not the length of history.
        """
        days = self.partitions(table, start, end)
        paths = [self.partition_path(table, d) for d in days]
        if columns is not None:
            columns = ["date", *[c for c in columns if c != "date"]]
        if not paths:
            return self._empty(table, columns)
        # The contract's full schema, where it names every column: a partition written before
        # a nullable column was added reads it as nulls, whichever partition comes first.
        schema = contracts.table_arrow_schema(table)
        dataset = ds.dataset(
            paths,
            format="parquet",
            filesystem=self.fs,
            partitioning=_HIVE_DATE,
            partition_base_dir=f"{self.root}/{table}",
            schema=None if schema is None else schema.append(_HIVE_DATE.schema.field("date")),
        )
        arrow = dataset.to_table(columns=columns)
        frame = self._to_pandas(arrow)
        frame = self._order(frame)
        return contracts.validate(table, frame, columns=columns)

    # -- objects (model artifacts, pointers) --------------------------------------------------
    def put_bytes(self, key: str, data: bytes) -> None:
        self._atomic_put(f"{self.root}/{key}", data)

    def get_bytes(self, key: str) -> bytes:
        data = self._read_bytes_or_none(f"{self.root}/{key}")
        if data is None:
            raise FileNotFoundError(f"{self.uri}/{key} does not exist")
        return data

    def exists(self, key: str) -> bool:
        return self.fs.get_file_info(f"{self.root}/{key}").type == pafs.FileType.File

    def list_dirs(self, prefix: str) -> list[str]:
        """Names of the immediate sub-folders of ``prefix`` (S3: common prefixes)."""
        selector = pafs.FileSelector(f"{self.root}/{prefix}", allow_not_found=True)
        infos = self.fs.get_file_info(selector)
        return sorted(i.base_name for i in infos if i.type == pafs.FileType.Directory)

    # -- internals ----------------------------------------------------------------------------
    def _serialize_by_day(
        self, table: str, frame: pd.DataFrame
    ) -> tuple[list[pd.Timestamp], list[bytes]]:
        """One Parquet payload per date; a single pandas->arrow conversion for all of them."""
        keys = ["date", "symbol"] if "symbol" in frame.columns else ["date"]
        ordered = self._order(frame).sort_values(keys, kind="stable", ignore_index=True)
        body = ordered.drop(columns="date")
        arrow = pa.Table.from_pandas(
            body, schema=contracts.arrow_schema(table, body), preserve_index=False
        )
        dates = ordered["date"].to_numpy()
        cuts = [0, *(np.flatnonzero(dates[1:] != dates[:-1]) + 1), len(dates)]
        days, payloads = [], []
        for lo, hi in itertools.pairwise(cuts):
            buffer = io.BytesIO()
            pq.write_table(arrow.slice(lo, hi - lo), buffer, compression="zstd")
            days.append(pd.Timestamp(dates[lo]))
            payloads.append(buffer.getvalue())
        return days, payloads

    def _keep_rejected(self, table: str, day: pd.Timestamp, payload: bytes) -> None:
        digest = hashlib.sha256(payload).hexdigest()[:16]
        key = f"_rejected/{table}/date={day.date().isoformat()}/{digest}.parquet"
        self.put_bytes(key, payload)

    def _atomic_put(self, path: str, data: bytes) -> None:
        parent = path.rsplit("/", 1)[0]
        if self._local:
            self.fs.create_dir(parent, recursive=True)
            tmp = f"{parent}/.{path.rsplit('/', 1)[1]}.{uuid.uuid4().hex}.tmp"
            try:
                with self.fs.open_output_stream(tmp) as out:
                    out.write(data)
                self._replace(tmp, path)
            except BaseException:
                if self.fs.get_file_info(tmp).is_file:
                    self.fs.delete_file(tmp)
                raise
        else:
            # pyarrow uploads through S3 multipart (seen against moto); S3 makes the object
            # visible only when the upload completes at close: whole, or not at all.
            with self.fs.open_output_stream(path) as out:
                out.write(data)

    def _replace(self, src: str, dest: str) -> None:
        """Rename into place: atomic on POSIX, so readers see the old file or the new one."""
        self.fs.move(src, dest)

    def _read_bytes_or_none(self, path: str) -> bytes | None:
        try:
            with self.fs.open_input_stream(path) as src:
                return src.read()
        except FileNotFoundError:
            return None
        except OSError as exc:  # pyarrow's S3 "Path does not exist" is an OSError
            if "does not exist" in str(exc) or "NoSuchKey" in str(exc):
                return None
            raise

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


def _same_rows(a: bytes, b: bytes) -> bool:
    """Two serialized partitions hold the same rows (writer metadata aside)."""
    left, right = (pq.read_table(io.BytesIO(x)).to_pandas() for x in (a, b))
    return left.shape == right.shape and left.equals(right)
