"""One source of truth for SQL: the Glue tables (terraform/modules/analytics/tables.json) are
generated from the pandera contracts, equal them column by column and type by type, and equal
what the lake really writes into its Parquet files."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from core import catalog, contracts, steps
from core.config import Settings
from core.features import FEATURE_COLUMNS
from tests.unit.test_sql import fill

TABLES_JSON = Path(__file__).parents[2] / "terraform/modules/analytics/tables.json"

#: pandera dtype (as str) -> Glue type, written out independently of core.catalog.
PANDERA_TO_GLUE = {
    "float64": "double",
    "str": "string",
    "string[pyarrow]": "string",  # pandas 3: str columns are Arrow-backed strings
    "datetime64[ns]": "timestamp",
}
DRIVERS_GLUE = "array<struct<feature:string,value:double,shap:double>>"


def test_tables_json_is_generated_from_the_contracts() -> None:
    assert TABLES_JSON.read_text() == catalog.catalog_json(), (
        "terraform/modules/analytics/tables.json is stale: run "
        "`python -m core.catalog > terraform/modules/analytics/tables.json`"
    )


def test_every_stored_table_is_catalogued_or_said_not_to_be() -> None:
    """A new contract is a lake table (catalogued) or a check on frames never stored."""
    assert set(contracts.SCHEMAS) - set(catalog.LAKE_TABLES) == {contracts.MARKET_DOWNLOAD}


@pytest.mark.parametrize("table", catalog.LAKE_TABLES)
def test_glue_columns_equal_the_contract(table: str) -> None:
    glue = json.loads(TABLES_JSON.read_text())["tables"]
    schema = contracts.SCHEMAS[table]
    name = table.replace(".", "_")
    regex = any(col.regex for col in schema.columns.values())
    if regex and table != contracts.FEATURES:
        assert name not in glue  # no source names its columns: not catalogued
        return
    entry = glue[name]
    assert entry["lake_table"] == table
    assert entry["partition_key"] == {"name": "date", "type": "date"}
    columns = [(c["name"], c["type"]) for c in entry["columns"]]
    if table == contracts.FEATURES:
        assert columns == [(f, "double") for f in FEATURE_COLUMNS]
        return
    expected = []
    for column, spec in schema.columns.items():
        if column == "date":
            continue  # the partition key, in the path
        if column == "top_drivers":
            expected.append((column, DRIVERS_GLUE))
        else:
            expected.append((column, PANDERA_TO_GLUE[str(spec.dtype)]))
    assert columns == expected


def test_the_lakes_parquet_files_have_the_catalogued_columns(tmp_path: Path) -> None:
    """Every table a backfill and an infer write: a partition's Parquet schema, read back from
    the file, is the catalogued column list (a column the writer adds must reach the catalog)."""
    lake_root = tmp_path / "lake"
    ctx = steps.Context.from_settings(Settings(lake_uri=str(lake_root)))
    steps.backfill(ctx, "2022-01-03", "2023-02-28", progress=False)  # features after warm-up
    fill(ctx.lake)  # predictions_daily (with the band) and more labels
    glue = {t.table: t for t in catalog.catalog_tables()}
    checked = []
    for table in catalog.LAKE_TABLES:
        days = ctx.lake.partitions(table)
        if not days:
            continue
        path = Path(ctx.lake.partition_path(table, days[-1]))
        written = pq.read_schema(path)
        got = [(f.name, catalog.glue_type(f.type)) for f in written]
        assert got == list(glue[table].columns), table
        checked.append(table)
    assert set(checked) >= {
        contracts.RAW_MARKET, contracts.CURATED_MARKET, contracts.FEATURES, contracts.LABELS,
        contracts.PREDICTIONS,
    }  # fmt: skip


def test_glue_types_of_arrow_types() -> None:
    import pyarrow as pa

    assert catalog.glue_type(contracts.DRIVER_TYPE) == DRIVERS_GLUE
    assert catalog.glue_type(pa.timestamp("ns")) == "timestamp"
    assert catalog.glue_type(pa.date32()) == "date"
    with pytest.raises(TypeError, match="no Glue type"):
        catalog.glue_type(pa.float16())
    assert catalog.sql_name("curated.market_daily") == "curated_market_daily"
    assert pd.Series([t.name for t in catalog.catalog_tables()]).is_unique
