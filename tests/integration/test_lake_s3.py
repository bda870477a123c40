"""The lake on S3 with SSE-KMS, through real pyarrow and boto3 HTTP calls to a moto server."""

from __future__ import annotations

import boto3
import numpy as np
import pandas as pd
import pytest

from core import contracts
from core.lake import Lake, WriteOutcome
from tests.conftest import create_kms_bucket
from tests.raw_frames import raw_market_frame

pytestmark = pytest.mark.integration


@pytest.fixture
def kms_bucket(moto_endpoint: str) -> tuple[str, str]:
    return create_kms_bucket(moto_endpoint, "volcast")


def test_partitions_round_trip_encrypted(moto_endpoint: str, kms_bucket: tuple[str, str]) -> None:
    bucket, key_id = kms_bucket
    lake = Lake(f"s3://{bucket}/lake", endpoint_url=moto_endpoint)
    raw = raw_market_frame("2024-01-02", "2024-01-10")

    report = lake.write_partitions(contracts.RAW_MARKET, raw)
    assert report.count(WriteOutcome.WRITTEN) == 7  # sessions Jan 2-5 and 8-10

    back = lake.read(contracts.RAW_MARKET)
    pd.testing.assert_frame_equal(
        back,
        contracts.validate(contracts.RAW_MARKET, raw)
        .sort_values(["symbol", "date"])
        .reset_index(drop=True),
    )
    head = boto3.client("s3", endpoint_url=moto_endpoint).head_object(
        Bucket=bucket, Key="lake/raw.market/date=2024-01-03/part-0.parquet"
    )
    assert head["ServerSideEncryption"] == "aws:kms"
    assert key_id in head["SSEKMSKeyId"]


def test_rerun_is_idempotent_and_raw_is_immutable(
    moto_endpoint: str, kms_bucket: tuple[str, str]
) -> None:
    bucket, _ = kms_bucket
    lake = Lake(f"s3://{bucket}/p", endpoint_url=moto_endpoint)
    raw = raw_market_frame("2024-03-01", "2024-03-08")
    lake.write_partitions(contracts.RAW_MARKET, raw)

    again = lake.write_partitions(contracts.RAW_MARKET, raw)
    assert again.count(WriteOutcome.UNCHANGED) == 6
    assert again.count(WriteOutcome.WRITTEN) == 0

    revised = raw.assign(
        volume=np.where(raw["date"] == "2024-03-05", raw["volume"] * 1.01, raw["volume"])
    )
    report = lake.write_partitions(contracts.RAW_MARKET, revised)
    assert report.summary()["conflict_days"] == ["2024-03-05"]
    stored = lake.read(contracts.RAW_MARKET, "2024-03-05", "2024-03-05")
    original = raw.loc[raw["date"] == "2024-03-05"].sort_values("symbol")
    np.testing.assert_allclose(stored["volume"], original["volume"])
    listing = boto3.client("s3", endpoint_url=moto_endpoint).list_objects_v2(
        Bucket=bucket, Prefix="p/_rejected/raw.market/date=2024-03-05/"
    )
    assert listing["KeyCount"] == 1  # the changed download is kept aside, not lost


def test_projection_and_date_range_over_http(
    moto_endpoint: str, kms_bucket: tuple[str, str]
) -> None:
    bucket, _ = kms_bucket
    lake = Lake(f"s3://{bucket}/x", endpoint_url=moto_endpoint)
    lake.write_partitions(contracts.RAW_MARKET, raw_market_frame("2024-05-01", "2024-05-31"))

    part = lake.read(contracts.RAW_MARKET, "2024-05-10", "2024-05-16", columns=["symbol", "close"])
    assert list(part.columns) == ["symbol", "date", "close"]
    assert part["date"].min() == pd.Timestamp("2024-05-10")
    assert part["date"].max() == pd.Timestamp("2024-05-16")
    assert lake.partitions(contracts.RAW_MARKET, "2024-05-10", "2024-05-16") == list(
        pd.to_datetime(["2024-05-10", "2024-05-13", "2024-05-14", "2024-05-15", "2024-05-16"])
    )


def test_objects_put_get(moto_endpoint: str, kms_bucket: tuple[str, str]) -> None:
    bucket, _ = kms_bucket
    lake = Lake(f"s3://{bucket}/o", endpoint_url=moto_endpoint)
    assert not lake.exists("artifacts/model/PRODUCTION")
    lake.put_bytes("artifacts/model/PRODUCTION", b"v1")
    lake.put_bytes("artifacts/model/v1/metadata.json", b"{}")
    assert lake.get_bytes("artifacts/model/PRODUCTION") == b"v1"
    assert lake.list_dirs("artifacts/model") == ["v1"]
    with pytest.raises(FileNotFoundError):
        lake.get_bytes("artifacts/model/v2/metadata.json")
