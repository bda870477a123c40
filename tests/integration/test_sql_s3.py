"""SQL on the S3 lake through real HTTP to a moto server: DuckDB over pyarrow's S3 datasets,
and the Glue tables Terraform creates (from tables.json) as Glue stores them."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest

from core import contracts
from core.lake import Lake
from tests.conftest import create_kms_bucket
from tests.unit.test_sql import check_forecast_vs_realized, fill

pytestmark = pytest.mark.integration

TABLES_JSON = Path(__file__).parents[2] / "terraform/modules/analytics/tables.json"


def test_sql_reads_the_s3_lake_like_a_local_one(moto_endpoint: str) -> None:
    bucket, _ = create_kms_bucket(moto_endpoint, "volcast-sql")
    lake = Lake(f"s3://{bucket}/lake", endpoint_url=moto_endpoint)
    expected = fill(lake)
    check_forecast_vs_realized(lake, expected)


def _glue_column(column: dict) -> dict:
    """A tables.json column ({name, type}, as Terraform's glue table block takes it) in the
    Glue API's shape."""
    return {"Name": column["name"], "Type": column["type"]}


def test_glue_stores_the_generated_tables_with_the_contracts_columns(moto_endpoint: str) -> None:
    """The TableInput modules/analytics builds from tables.json, created through the Glue API:
    what Glue returns has the contracts' columns, the date partition key and projection."""
    glue = boto3.client("glue", endpoint_url=moto_endpoint, region_name="us-east-1")
    glue.create_database(DatabaseInput={"Name": "volcast_test"})
    tables = json.loads(TABLES_JSON.read_text())["tables"]
    for name, spec in tables.items():
        location = f"s3://volcast-test-lake/{spec['lake_table']}/"
        glue.create_table(
            DatabaseName="volcast_test",
            TableInput={
                "Name": name,
                "TableType": "EXTERNAL_TABLE",
                "Parameters": {
                    "classification": "parquet",
                    "projection.enabled": "true",
                    "projection.date.type": "date",
                    "projection.date.format": "yyyy-MM-dd",
                    "storage.location.template": location + "date=${date}/",
                },
                "PartitionKeys": [_glue_column(spec["partition_key"])],
                "StorageDescriptor": {
                    "Location": location,
                    "Columns": [_glue_column(c) for c in spec["columns"]],
                },
            },
        )
    stored = glue.get_tables(DatabaseName="volcast_test")["TableList"]
    assert {t["Name"] for t in stored} == set(tables)
    predictions = glue.get_table(DatabaseName="volcast_test", Name="predictions_daily")["Table"]
    columns = [c["Name"] for c in predictions["StorageDescriptor"]["Columns"]]
    schema = contracts.SCHEMAS[contracts.PREDICTIONS]
    assert columns == [c for c in schema.columns if c != "date"]
    assert predictions["PartitionKeys"] == [{"Name": "date", "Type": "date"}]
    assert "rv_5d_lo" in columns and "rv_5d_hi" in columns
