"""Property-based requests generated from the API's own OpenAPI schema, against the served app
(gunicorn): never a 5xx, every status and body as documented. Bounded: MAX_EXAMPLES per
operation, derandomized (the same examples every run).

Driven through hypothesis directly: schemathesis 4.32's lazy pytest fixture integration
(`schemathesis.pytest.from_fixture`) fails under pytest 9 (it sets ``request.node._nodeid``).
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    negative_data_rejection,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

pytestmark = pytest.mark.integration

MAX_EXAMPLES = 40
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
]


@pytest.fixture(scope="module")
def operations(served_url: str) -> dict:
    schema = schemathesis.openapi.from_url(f"{served_url}/openapi.json")
    found = {}
    for result in schema.get_all_operations():
        operation = result.ok()
        found[f"{operation.method.upper()} {operation.path}"] = operation
    return found


def test_schema_lists_every_route(operations: dict) -> None:
    assert set(operations) == {"POST /predict", "GET /health", "GET /version"}


@pytest.mark.parametrize("name", ["POST /predict", "GET /health", "GET /version"])
def test_api_matches_its_schema_and_never_fails(operations: dict, name: str) -> None:
    statuses: list[int] = []

    @given(case=operations[name].as_strategy())
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        database=None,
    )
    def check(case) -> None:
        statuses.append(case.call_and_validate(checks=CHECKS).status_code)

    check()
    assert statuses and all(s < 500 for s in statuses)
