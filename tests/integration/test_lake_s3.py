"""The lake on S3 with SSE-KMS, through real pyarrow and boto3 HTTP calls to a moto server."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from pathlib import Path

import boto3
import numpy as np
import pandas as pd
import pytest

from bench.latency_proxy import Control, spawn
from core import contracts
from core.calendar import trading_days
from core.lake import Lake, WriteOutcome
from core.models.registry import ModelRegistry
from core.store import ABSENT, S3_CONCURRENCY, PreconditionFailed
from tests.conftest import create_kms_bucket
from tests.raw_frames import raw_market_frame
from tests.unit.test_registry import metadata

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


# -- request counts, through the latency proxy (bench/latency_proxy.py) in front of moto -------


@pytest.fixture(scope="module")
def proxy(moto_endpoint: str) -> Iterator[Control]:
    process, control = spawn(moto_endpoint.removeprefix("http://"))
    try:
        yield control
    finally:
        process.terminate()
        process.wait(30)


@pytest.fixture
def counted_lake(moto_endpoint: str, proxy: Control) -> Lake:
    bucket, _ = create_kms_bucket(moto_endpoint, "volcast-count")
    return Lake(f"s3://{bucket}/lake", endpoint_url=proxy.url)


def labels_frame(start: str, end: str, seed: int = 0) -> pd.DataFrame:
    days = trading_days(start, end)
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"date": days, "rv_5d": rng.uniform(0.05, 0.5, len(days))})


def requests_of(proxy: Control, call: Callable[[], object]) -> dict[str, int]:
    proxy.reset()
    call()
    return proxy.stats()["requests"]


def test_a_small_object_is_one_put_and_a_read_one_get(counted_lake: Lake, proxy: Control) -> None:
    assert requests_of(proxy, lambda: counted_lake.put_bytes("_meta/x.json", b"{}")) == {"PUT": 1}
    assert requests_of(proxy, lambda: counted_lake.get_bytes("_meta/x.json")) == {"GET": 1}


def test_full_history_reads_cost_requests_per_year_not_per_day(
    counted_lake: Lake, proxy: Control
) -> None:
    two_years = labels_frame("2022-01-03", "2023-12-29")
    written = requests_of(proxy, lambda: counted_lake.write_partitions(contracts.LABELS, two_years))
    # one PUT per partition (never a multipart upload), per year a snapshot GET, a LIST and
    # the snapshot's conditional PUT
    assert written == {"PUT": len(two_years) + 2, "GET": 2, "LIST": 2}
    assert 1 < proxy.stats()["max_in_flight"] <= S3_CONCURRENCY  # parallel, and bounded

    full: list[pd.DataFrame] = []
    # one LIST (up to 1,000 partitions a page), then each year's snapshot
    read = requests_of(proxy, lambda: full.append(counted_lake.read(contracts.LABELS)))
    assert read == {"LIST": 1, "GET": 2}
    assert len(full[0]) == len(two_years)

    one_more = labels_frame("2024-01-02", "2024-01-02")
    counted_lake.write_partitions(contracts.LABELS, one_more)
    # the new year has one partition: read on its own, without a snapshot
    read = requests_of(proxy, lambda: counted_lake.read(contracts.LABELS))
    assert read == {"LIST": 1, "GET": 3}


def test_the_poll_and_the_daily_write_do_not_grow_with_history(
    counted_lake: Lake, proxy: Control
) -> None:
    counted_lake.write_partitions(contracts.LABELS, labels_frame("2021-01-04", "2023-12-28"))
    new_day = labels_frame("2023-12-29", "2023-12-29")
    # a new day: its year's snapshot, a HEAD of the day, the partition, the snapshot again
    daily = requests_of(proxy, lambda: counted_lake.write_partitions(contracts.LABELS, new_day))
    assert daily == {"GET": 1, "HEAD": 1, "PUT": 2}
    # the serving poll: the sessions after the newest it holds, a GET each (none there yet)
    poll = requests_of(
        proxy, lambda: counted_lake.read(contracts.LABELS, "2024-01-02", "2024-01-05")
    )
    assert poll == {"GET": 4}
    # a longer range: one LIST whose page holds the range's sessions, not the history
    later = requests_of(
        proxy, lambda: counted_lake.read(contracts.LABELS, "2023-12-01", "2024-06-28")
    )
    assert later == {"LIST": 1, "GET": 1}  # December 2023 from its snapshot
    assert counted_lake.partitions(contracts.LABELS, "2023-12-20", "2024-06-28")[
        -1
    ] == pd.Timestamp("2023-12-29")


def test_a_partition_replaced_behind_the_lakes_back_is_read_from_s3(
    counted_lake: Lake, moto_endpoint: str
) -> None:
    frame = labels_frame("2023-03-01", "2023-04-28")
    counted_lake.write_partitions(contracts.LABELS, frame)
    bucket = counted_lake.store.bucket  # type: ignore[attr-defined]
    key = f"lake/{contracts.LABELS}/date=2023-03-15/part-0.parquet"
    s3 = boto3.client("s3", endpoint_url=moto_endpoint)
    replaced = io.BytesIO()
    pd.DataFrame({"rv_5d": [0.999]}).to_parquet(replaced, index=False)
    s3.put_object(Bucket=bucket, Key=key, Body=replaced.getvalue())

    read = counted_lake.read(contracts.LABELS).set_index("date")["rv_5d"]
    assert read[pd.Timestamp("2023-03-15")] == 0.999
    assert counted_lake.compact(contracts.LABELS) == {"years": 1, "rebuilt": 1}
    pd.testing.assert_series_equal(
        counted_lake.read(contracts.LABELS).set_index("date")["rv_5d"], read
    )


def test_a_conditional_put_on_s3_refuses_a_changed_object(counted_lake: Lake) -> None:
    store = counted_lake.store
    first = store.put("_meta/cas", b"1", if_tag=ABSENT)
    with pytest.raises(PreconditionFailed):
        store.put("_meta/cas", b"2", if_tag=ABSENT)
    second = store.put("_meta/cas", b"22", if_tag=first)
    with pytest.raises(PreconditionFailed):
        store.put("_meta/cas", b"3", if_tag=first)
    assert store.get("_meta/cas") == (b"22", second)


def test_loading_a_version_reads_its_metadata_once_and_its_files_side_by_side(
    counted_lake: Lake, proxy: Control, tmp_path: Path
) -> None:
    registry = ModelRegistry(counted_lake)
    files = {f"part-{i}.bin": bytes([i]) * 1000 for i in range(4)}
    version = registry.register(files, metadata())
    meta: list[dict] = []
    assert requests_of(proxy, lambda: meta.append(registry.metadata(version))) == {"GET": 1}
    # the files: one GET each, in parallel; metadata.json is not read again
    loaded = requests_of(proxy, lambda: registry.materialize(version, tmp_path / "m", meta[0]))
    assert loaded == {"GET": len(files)}
    assert proxy.stats()["max_in_flight"] > 1
    assert {p.name: p.read_bytes() for p in (tmp_path / "m").glob("part-*")} == files
