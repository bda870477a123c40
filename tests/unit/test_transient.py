"""Which failures orchestrated steps retry: real exceptions from real clients, not stand-ins."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator

import pandas as pd
import pyarrow.fs as pafs
import pytest
from botocore import exceptions as boto

from core.contracts import ContractError
from core.models.registry import RegistryError
from core.sources import SourceError, SourceUnavailable
from core.steps import IngestError, NoModelError, StaleDataError
from core.transient import is_transient
from tests.conftest import free_port


class _Status(http.server.BaseHTTPRequestHandler):
    def _answer(self) -> None:
        self.send_response(self.server.status)  # type: ignore[attr-defined]
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_HEAD = do_PUT = do_POST = _answer

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def s3_answering() -> Iterator:
    """A loopback HTTP server that answers every S3 call with a chosen status."""
    servers = []

    def start(status: int) -> pafs.S3FileSystem:
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Status)
        server.status = status  # type: ignore[attr-defined]
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return _s3(server.server_address[1])

    yield start
    for server in servers:
        server.shutdown()


def _s3(port: int) -> pafs.S3FileSystem:
    return pafs.S3FileSystem(
        endpoint_override=f"127.0.0.1:{port}",
        scheme="http",
        access_key="testing",
        secret_key="testing",
        region="us-east-1",
        retry_strategy=pafs.AwsStandardS3RetryStrategy(max_attempts=1),
    )


def _arrow_error(fs: pafs.S3FileSystem) -> OSError:
    with pytest.raises(OSError) as info:
        fs.open_input_file("bucket/key")
    return info.value


@pytest.mark.parametrize("status", [500, 503])
def test_s3_5xx_through_pyarrow_is_transient(s3_answering, status: int) -> None:
    assert is_transient(_arrow_error(s3_answering(status)))


def test_s3_access_denied_through_pyarrow_is_not(s3_answering) -> None:
    error = _arrow_error(s3_answering(403))
    assert "ACCESS_DENIED" in str(error)
    assert not is_transient(error)


def test_unreachable_s3_endpoint_is_transient() -> None:
    error = _arrow_error(_s3(free_port()))  # nothing listens there
    assert "NETWORK_CONNECTION" in str(error)
    assert is_transient(error)


def _client_error(code: str, status: int) -> boto.ClientError:
    return boto.ClientError(
        {"Error": {"Code": code, "Message": "x"}, "ResponseMetadata": {"HTTPStatusCode": status}},
        "PutItem",
    )


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (_client_error("ThrottlingException", 400), True),
        (_client_error("ProvisionedThroughputExceededException", 400), True),
        (_client_error("SlowDown", 503), True),
        (_client_error("InternalServerError", 500), True),
        (_client_error("AccessDenied", 403), False),
        (_client_error("ValidationException", 400), False),
        (boto.EndpointConnectionError(endpoint_url="http://127.0.0.1:1"), True),
        (boto.ReadTimeoutError(endpoint_url="http://127.0.0.1:1"), True),
    ],
)
def test_boto_errors(error: Exception, transient: bool) -> None:
    assert is_transient(error) is transient


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (SourceUnavailable("yahoo: no data after 3 attempts"), True),
        (StaleDataError("SPY: missing 2024-07-05"), True),
        (TimeoutError("read timed out"), True),
        (ConnectionResetError("reset by peer"), True),
        (SourceError("csv source: unknown header"), False),
        (IngestError("lake holds another source"), False),
        (NoModelError("no model"), False),
        (RegistryError("unknown version"), False),
        (ValueError("bad date"), False),
        (PermissionError("read-only lake"), False),
        (FileNotFoundError("missing"), False),
    ],
)
def test_pipeline_errors(error: Exception, transient: bool) -> None:
    assert is_transient(error) is transient


def test_contract_violation_is_never_transient() -> None:
    failures = pd.DataFrame({"column": ["close"], "check": ["greater_than(0)"]})
    assert not is_transient(ContractError("raw.market", failures))
