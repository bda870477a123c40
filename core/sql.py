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
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")
    return con


def query(lake: Lake, sql: str) -> pd.DataFrame:
    """The result of ``sql`` over ``lake`` as a DataFrame. Raises SqlError with DuckDB's
    message for a query it refuses (a table with no partitions yet is an unknown table)."""
    con = connect(lake)
    try:
        return con.execute(sql).fetch_df()
    except duckdb.Error as exc:
        known = ", ".join(sorted(t[0] for t in con.execute("SHOW TABLES").fetchall()))
        raise SqlError(f"{exc} (tables: {known or 'none yet'})") from None
    finally:
        con.close()


def render(frame: pd.DataFrame, fmt: str) -> str:
    """``frame`` as ``table`` (aligned text), ``csv`` or ``json`` (an array of objects, dates
    as ISO text)."""
    if fmt == "csv":
        return frame.to_csv(index=False)
    if fmt == "json":
        return frame.to_json(orient="records", date_format="iso", indent=2) + "\n"
    if fmt == "table":
        return (frame.to_string(index=False) if len(frame.columns) else "(no columns)") + "\n"
    raise ValueError(f"unknown format {fmt!r}: table, csv or json")
