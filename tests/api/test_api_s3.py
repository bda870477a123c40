"""The cloud path: the API on a lake in S3 (moto server on 127.0.0.1, SSE-KMS bucket), reading
the model, features and predictions through pyarrow's S3 filesystem, and swapping models when
the PRODUCTION pointer in S3 moves."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pyarrow import fs as pafs

from core import contracts
from core.lake import Lake
from core.models.registry import ModelRegistry
from tests.api.conftest import STARLETTE_HTTPX, ServedLake, api_client
from tests.conftest import create_kms_bucket

pytestmark = [pytest.mark.integration, pytest.mark.filterwarnings(STARLETTE_HTTPX)]

FEATURE_SESSIONS = 60  # the newest feature days only: S3 PUTs to moto cost ~10 ms each


@pytest.fixture(scope="module")
def s3_lake(moto_endpoint: str, served_lake: ServedLake) -> Iterator[str]:
    bucket, _ = create_kms_bucket(moto_endpoint, "volcast-api")
    uri = f"s3://{bucket}/lake"
    target = Lake(uri, moto_endpoint)
    local = served_lake.root
    keep = set(Lake(str(local)).partitions(contracts.FEATURES)[-FEATURE_SESSIONS:])
    for path in sorted(p for p in local.rglob("*") if p.is_file()):
        key = path.relative_to(local).as_posix()
        table = key.split("/", 1)[0]
        if table == contracts.FEATURES and not any(d.date().isoformat() in key for d in keep):
            continue
        if table in (contracts.FEATURES, contracts.PREDICTIONS, "artifacts"):
            target.put_bytes(key, path.read_bytes())
    assert isinstance(target.fs, pafs.S3FileSystem)
    yield uri


def test_serves_from_s3_and_follows_the_pointer(
    s3_lake: str, moto_endpoint: str, served_lake: ServedLake
) -> None:
    with api_client(s3_lake, aws_endpoint_url=moto_endpoint) as client:
        health = client.get("/health").json()
        assert health["status"] == "ok" and health["model_version"] == served_lake.version
        latest = client.post("/predict", json={"top_k": 10})
        assert latest.status_code == 200
        stored = Lake(s3_lake, moto_endpoint).read(
            contracts.PREDICTIONS, latest.json()["as_of"], latest.json()["as_of"]
        )
        assert latest.json()["rv_5d_hat"] == float(stored["rv_5d_hat"].iloc[0])
        features = client.app.state.holder.state.features
        day = sorted(features.rows)[0]  # no stored prediction: scored by the process from S3
        computed = client.post("/predict", json={"as_of": day.isoformat()})
        assert computed.status_code == 200
        vector = dict(zip(features.columns, map(float, features.rows[day]), strict=True))
        posted = client.post("/predict", json={"features": vector})
        assert posted.json()["rv_5d_hat"] == pytest.approx(computed.json()["rv_5d_hat"], rel=1e-12)

        ModelRegistry(Lake(s3_lake, moto_endpoint)).promote(
            served_lake.other_version, override="test: swap on S3"
        )
        assert client.app.state.holder.refresh()
        swapped = client.post("/predict", json={"as_of": day.isoformat()})
        assert swapped.status_code == 200
        assert swapped.json()["model_version"] == served_lake.other_version


def test_local_copy_is_untouched(served_lake: ServedLake) -> None:
    """The S3 swap above happened in S3 only (the session's local lake still serves v1)."""
    assert ModelRegistry(Lake(str(Path(served_lake.root)))).production() == served_lake.version
