"""SQL on the lake where it lives: DuckDB over the Hive-partitioned Parquet tables.

Each lake table is a view under its SQL name (core.catalog: ``raw.market`` -> ``raw_market``)
over a pyarrow dataset on the lake's own filesystem (core.lake.filesystem_for: a local folder,
or S3 with the lake's endpoint), so one query runs unchanged on a laptop and against the S3
lake, and Athena sees the same names and columns through the Glue catalog. DuckDB pushes
projections and filters into the dataset: ``WHERE date >= DATE '2024-01-01'`` opens only those
partitions.

Read-only: the connection is in memory, the lake is reached only through the registered
datasets, and DuckDB's access to files and the network is switched off
(``enable_external_access = false``) before any query runs, so a statement can neither write
into the lake nor read anything beside it.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import math
from decimal import Decimal
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds

from core.catalog import LAKE_TABLES, PARTITION_KEY, PARTITION_TYPE, arrow_body_schema, sql_name
from core.lake import Lake


class SqlError(ValueError):
    """A query DuckDB refused (syntax, unknown table or column): its message, plainly."""


def lake_dataset(lake: Lake, table: str) -> ds.Dataset | None:
    """The partitions of ``table`` as one pyarrow dataset (None when the table has none).

    Hidden files (a local write's ``.tmp``) and ``_``-prefixed ones are skipped, as pyarrow
    does by default; rows of older partitions get nulls for columns added since.
    """
    base = f"{lake.root}/{table}"
    body = arrow_body_schema(table)
    schema = None if body is None else body.append(pa.field(PARTITION_KEY, PARTITION_TYPE))
    partitioning = ds.partitioning(pa.schema([(PARTITION_KEY, PARTITION_TYPE)]), flavor="hive")
    try:
        dataset = ds.dataset(
            base, filesystem=lake.fs, format="parquet", partitioning=partitioning, schema=schema
        )
    except (FileNotFoundError, OSError) as exc:
        if isinstance(exc, FileNotFoundError) or "does not exist" in str(exc):
            return None
        raise
    if not dataset.files:
        return None
    return dataset


def connect(lake: Lake) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection with one view per lake table that has partitions."""
    con = duckdb.connect(":memory:")
    for table in LAKE_TABLES:
        dataset = lake_dataset(lake, table)
        if dataset is not None:
            con.register(sql_name(table), dataset)
    # The progress bar writes to stdout (ahead of a csv/json result) on queries over ~2 s.
    con.execute("SET enable_progress_bar = false")
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")
    return con


def query(lake: Lake, sql: str) -> pd.DataFrame:
    """The result of ``sql`` (exactly one statement) over ``lake`` as a DataFrame, DATE
    columns as ``datetime.date``. Raises SqlError with DuckDB's message for a query it
    refuses (a table with no partitions yet is an unknown table), and for an empty text or
    more than one statement (DuckDB would run them all and show only the last result)."""
    con = connect(lake)
    try:
        statements = con.extract_statements(sql)
        if len(statements) != 1:
            raise SqlError(f"one SQL statement expected, got {len(statements)}")
        relation = con.sql(statements[0].query)
        if relation is None:
            raise SqlError("the statement returns no rows to show")
        return relation.to_arrow_table().to_pandas()
    except duckdb.Error as exc:
        known = ", ".join(sorted(t[0] for t in con.execute("SHOW TABLES").fetchall()))
        raise SqlError(f"{exc} (tables: {known or 'none yet'})") from None
    finally:
        con.close()


def render(frame: pd.DataFrame, fmt: str) -> str:
    """``frame`` as ``table`` (aligned text), ``csv`` or ``json`` (an array of objects).

    csv and json keep every value exactly: floats at full precision, dates as ISO text
    (``2024-01-02``), nested values (``top_drivers``) as JSON (a csv cell holds its JSON
    text), NaN and infinities as null (json) or an empty cell (csv). Raises ValueError for
    another format.
    """
    if fmt == "table":
        if frame.empty:
            return "  ".join(map(str, frame.columns)) + "\n(0 rows)\n"
        return frame.to_string(index=False) + "\n"
    if fmt not in ("csv", "json"):
        raise ValueError(f"unknown format {fmt!r}: table, csv or json")
    columns = [str(c) for c in frame.columns]
    rows = [
        dict(zip(columns, map(_plain, values), strict=True))
        for values in frame.itertuples(index=False)
    ]
    if fmt == "json":
        return json.dumps(rows, indent=2, default=str) + "\n"
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(
        {k: json.dumps(v, default=str) if isinstance(v, list | dict) else v for k, v in row.items()}
        for row in rows
    )
    return out.getvalue()


def _plain(value: Any) -> Any:
    """A result cell as plain JSON-able Python: numpy scalars and arrays unwrapped, dates and
    times as ISO text, Decimal as text (exact), non-finite floats and missing values None."""
    if hasattr(value, "tolist"):  # numpy scalar or array (a list column's cell)
        value = value.tolist()
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dt.date | dt.time):  # datetime is a date
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if value is None or value is pd.NaT or value is pd.NA:
        return None
    return value
