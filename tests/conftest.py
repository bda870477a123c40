"""Shared fixtures. Servers started here bind 127.0.0.1 on free ports and stop with the session."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from loadtest.run import free_port

REPO = Path(__file__).resolve().parents[1]
#: ../shared/data/market beside the checkout; VOLCAST_TEST_MARKET_DIR points elsewhere (a git
#: worktree in another folder).
SHARED_MARKET = Path(
    os.environ.get("VOLCAST_TEST_MARKET_DIR") or REPO.parent / "shared" / "data" / "market"
)


@pytest.fixture(scope="session", autouse=True)
def no_real_fred_key() -> None:
    """Tests talk to a loopback FRED only: a developer's own key must not reach the internet."""
    for name in [k for k in os.environ if k.startswith("VOLCAST_FRED_")]:
        del os.environ[name]


@pytest.fixture(scope="session")
def market_dir() -> Path:
    """The real market CSV folder, or a skip that says why."""
    if not (SHARED_MARKET / "SPY.csv").is_file():
        pytest.skip(f"real market data not found at {SHARED_MARKET} (../shared beside the repo)")
    return SHARED_MARKET


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """A moto server on 127.0.0.1 (real HTTP: boto3 and pyarrow talk to it like to AWS)."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request otherwise

    saved = {k: os.environ.get(k) for k in _AWS_ENV}
    os.environ.update(_AWS_ENV)
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def create_kms_bucket(endpoint: str, prefix: str = "volcast") -> tuple[str, str]:
    """A bucket with default SSE-KMS under a new customer key, as terraform/modules/s3 makes."""
    import uuid

    import boto3

    kms = boto3.client("kms", endpoint_url=endpoint)
    key_id = kms.create_key(Description=f"{prefix} test key")["KeyMetadata"]["KeyId"]
    s3 = boto3.client("s3", endpoint_url=endpoint)
    bucket = f"{prefix}-{uuid.uuid4().hex[:10]}"
    s3.create_bucket(Bucket=bucket)
    rule = {
        "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key_id}
    }
    s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration={"Rules": [rule]})
    return bucket, key_id


_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
}
