"""The benchmark proxy's request kinds (bench/latency_proxy.py): the counts docs/benchmarks.md
quotes are only as good as this classification of path-style S3 requests."""

from __future__ import annotations

import pytest

from bench.latency_proxy import request_kind, table_of


@pytest.mark.parametrize(
    ("method", "target", "kind"),
    [
        ("GET", "/bucket/lake/features_daily/date=2024-01-02/part-0.parquet", "GET"),
        ("GET", "/bucket?list-type=2&prefix=lake%2Ffeatures_daily%2Fdate%3D2024-", "LIST"),
        ("GET", "/bucket/?prefix=x&delimiter=-", "LIST"),
        ("HEAD", "/bucket/lake/_meta/source.json", "HEAD"),
        ("PUT", "/bucket/lake/labels_daily/date=2024-01-02/part-0.parquet", "PUT"),
        ("PUT", "/bucket", "PUT_BUCKET"),
        ("PUT", "/bucket/key?partNumber=1&uploadId=abc", "MULTIPART_PART"),
        ("POST", "/bucket/key?uploads", "MULTIPART_CREATE"),
        ("POST", "/bucket/key?uploadId=abc", "MULTIPART_COMPLETE"),
        ("DELETE", "/bucket/key?uploadId=abc", "MULTIPART_ABORT"),
        ("DELETE", "/bucket/key", "DELETE"),
        ("POST", "/bucket?delete", "DELETE_OBJECTS"),
    ],
)
def test_request_kinds(method: str, target: str, kind: str) -> None:
    assert request_kind(method, target) == kind


@pytest.mark.parametrize(
    ("target", "table"),
    [
        ("/b/lake/features_daily/date=2020-01-02/part-0.parquet", "lake/features_daily"),
        ("/b/lake/raw.market/date%3D2020-01-02/part-0.parquet", "lake/raw.market"),
        ("/b?list-type=2&prefix=lake/curated/daily/date%3D2026-", "lake/curated/daily"),
        ("/b/lake/features_daily/_snapshots/2020.snapshot", "lake/features_daily/_snapshots"),
        ("/b/lake/models/pointer.json", "lake/models"),
        ("/b?list-type=2", "(bucket)"),
    ],
)
def test_table_of(target: str, table: str) -> None:
    assert table_of(target) == table
