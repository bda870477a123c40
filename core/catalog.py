"""The lake's tables as SQL engines see them: names, columns and types, from the contracts.

One source of truth: every column and type here is derived from core.contracts (the Parquet
schema the lake writes, ``contracts.arrow_schema``), with features_daily's columns from
core.features (its contract names them by a pattern). Two consumers:

- ``volcast sql`` (core.sql): DuckDB views over the partitions, with these schemas;
- Terraform's Glue catalog (terraform/modules/analytics/tables.json, written by
  ``python -m core.catalog``; a test fails while the file and the contracts disagree).

Names: a lake table ``raw.market`` is the SQL table ``raw_market`` (Glue and Athena accept
lower-case letters, digits and underscores). ``date`` is the partition key, in the path only
(``<table>/date=YYYY-MM-DD/``): a ``date`` column in SQL, typed DATE.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from core import contracts
from core.features import FEATURE_COLUMNS

#: Every table the lake stores, as core.contracts names them (other contracts, such as a
#: source's download, check frames that are never stored).
LAKE_TABLES: tuple[str, ...] = (
    contracts.RAW_MARKET,
    contracts.CURATED_MARKET,
    contracts.RAW_MACRO,
    contracts.CURATED_MACRO,
    contracts.FEATURES,
    contracts.LABELS,
    contracts.PREDICTIONS,
)
#: The partition key of every lake table (Hive style, in the path).
PARTITION_KEY = "date"
PARTITION_TYPE = pa.date32()


def sql_name(table: str) -> str:
    """The SQL (Glue, DuckDB) name of a lake table: ``raw.market`` -> ``raw_market``."""
    return table.replace(".", "_")


def arrow_body_schema(table: str) -> pa.Schema | None:
    """The Parquet schema of ``table``'s partitions (``date`` aside), or None when no source
    names its columns (curated.macro_release_aligned: one column per configured series)."""
    schema = contracts.table_arrow_schema(table)
    if schema is None and table == contracts.FEATURES:
        schema = pa.schema([pa.field(name, pa.float64()) for name in FEATURE_COLUMNS])
    return schema


def glue_type(kind: pa.DataType) -> str:
    """The Glue / Hive type of an Arrow type (Athena's Parquet mapping)."""
    if pa.types.is_float64(kind):
        return "double"
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return "string"
    if pa.types.is_timestamp(kind):
        return "timestamp"
    if pa.types.is_date32(kind):
        return "date"
    if pa.types.is_int64(kind):
        return "bigint"
    if pa.types.is_boolean(kind):
        return "boolean"
    if pa.types.is_list(kind):
        return f"array<{glue_type(kind.value_type)}>"
    if pa.types.is_struct(kind):
        fields = ",".join(f"{f.name}:{glue_type(f.type)}" for f in kind)
        return f"struct<{fields}>"
    raise TypeError(f"no Glue type for Arrow type {kind}")


@dataclass(frozen=True)
class CatalogTable:
    """One lake table for a SQL catalog."""

    table: str  # the lake's name (core.contracts)
    name: str  # its SQL name
    columns: tuple[tuple[str, str], ...]  # (name, Glue type), in Parquet order

    def to_dict(self) -> dict[str, Any]:
        return {
            "lake_table": self.table,
            "name": self.name,
            "columns": [{"name": n, "type": t} for n, t in self.columns],
            "partition_key": {"name": PARTITION_KEY, "type": glue_type(PARTITION_TYPE)},
        }


def catalog_tables() -> list[CatalogTable]:
    """Every lake table whose columns are known, in LAKE_TABLES order."""
    out = []
    for table in LAKE_TABLES:
        schema = arrow_body_schema(table)
        if schema is None:
            continue
        columns = tuple((f.name, glue_type(f.type)) for f in schema)
        out.append(CatalogTable(table, sql_name(table), columns))
    return out


def catalog_json() -> str:
    """terraform/modules/analytics/tables.json: the Glue tables, generated (stable text)."""
    body = {
        "_generated_by": "python -m core.catalog (from core/contracts.py); do not edit by hand",
        "tables": {t.name: t.to_dict() for t in catalog_tables()},
    }
    return json.dumps(body, indent=2) + "\n"


if __name__ == "__main__":
    sys.stdout.write(catalog_json())
