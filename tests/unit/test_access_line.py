"""The API's access line is written out directly for speed: it must stay, byte for byte, the JSON
of access_record (the EMF record CloudWatch reads), whatever the route, status or text."""

from __future__ import annotations

import json

import pytest

from api.access_log import access_line, access_record


@pytest.mark.parametrize("route", ["/predict", "/health", "unmatched"])
@pytest.mark.parametrize("status", [200, 404, 422, 500, 503])
@pytest.mark.parametrize(
    ("path", "client", "latency_ms", "key_id"),
    [
        ("/predict", "127.0.0.1", 1.23456, "k-81658d48"),  # a caller's key id
        ('/x"y\\z\n', None, 0.0004, None),  # quotes, escapes and a control character in the path
        ("/café/ü", "::1", 12345.6789, None),  # non-ASCII: \\u escapes, as json.dumps writes them
        ("/a", "10.0.0.1", 1e-7, 'k"1'),
    ],
)
def test_the_line_is_the_records_json(
    route: str, status: int, path: str, client: str | None, latency_ms: float, key_id: str | None
) -> None:
    fields = {"request_id": "ab12", "method": "POST", "path": path, "client": client,
              "key_id": key_id}  # fmt: skip
    record = access_record(route, latency_ms, status, timestamp_ms=1_800_000_000_123,
                           log="access", **fields)  # fmt: skip
    line = access_line(route, latency_ms, status, timestamp_ms=1_800_000_000_123, **fields)
    assert line == json.dumps(record, separators=(",", ":"))
    assert ("_aws" in json.loads(line)) == (route == "/predict")
