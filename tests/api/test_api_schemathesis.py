"""Property-based requests generated from the API's own OpenAPI schema, against the served app
(gunicorn): never a 5xx, every status and body as documented. Bounded: MAX_EXAMPLES per
operation, derandomized (the same examples every run). Beyond the schema, any JSON text a
client can send (arbitrary Unicode in keys and values, unpaired surrogates included) and any
bytes: a 4xx (or a 200 for the rare valid request), never a 5xx, and a body that is UTF-8 JSON.

Driven through hypothesis directly: schemathesis 4.32's lazy pytest fixture integration
(`schemathesis.pytest.from_fixture`) fails under pytest 9 (it sets ``request.node._nodeid``).
"""

from __future__ import annotations

import json

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
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


#: Any character a JSON string can spell, unpaired surrogates included: JSON's \uXXXX escapes
#: can write them, and Python's json decodes them into str as they are.
ANY_CHAR = st.characters(codec=None) | st.integers(0xD800, 0xDFFF).map(chr)
ANY_TEXT = st.text(ANY_CHAR, max_size=12)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | ANY_TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(ANY_TEXT, inner, max_size=3),
    max_leaves=8,
)
BODIES = st.one_of(
    st.fixed_dictionaries({"features": st.dictionaries(ANY_TEXT, JSON_VALUES, max_size=6)}),
    st.dictionaries(ANY_TEXT, JSON_VALUES, max_size=4),
    st.fixed_dictionaries({"as_of": ANY_TEXT, "top_k": JSON_VALUES}),
    JSON_VALUES,
)
PROPERTY_SETTINGS = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
    database=None,
)


def _post_and_check(client: httpx.Client, raw: bytes) -> int:
    response = client.post("/predict", content=raw, headers={"content-type": "application/json"})
    assert response.status_code < 500, (raw[:200], response.text)
    body = json.loads(response.content.decode("utf-8"))  # strict UTF-8: no lone surrogate
    if response.status_code == 422:
        for error in body["detail"]:
            assert set(error) == {"loc", "msg", "type"}
            assert all(isinstance(part, str | int) for part in error["loc"])
    return response.status_code


def test_any_json_text_is_answered_never_a_500(served_url: str) -> None:
    statuses: list[int] = []
    with httpx.Client(base_url=served_url, timeout=30.0) as client:

        @given(body=BODIES)
        @PROPERTY_SETTINGS
        def check(body: object) -> None:
            # ensure_ascii writes every surrogate as a \uXXXX escape; NaN as a NaN token
            statuses.append(_post_and_check(client, json.dumps(body).encode("ascii")))

        check()
    assert statuses.count(422) > len(statuses) // 2  # the strategy does reach the validators


def test_any_bytes_are_answered_never_a_500(served_url: str) -> None:
    statuses: list[int] = []
    with httpx.Client(base_url=served_url, timeout=30.0) as client:

        @given(raw=st.binary(max_size=64) | BODIES.map(lambda b: json.dumps(b).encode()[:-1]))
        @PROPERTY_SETTINGS
        def check(raw: bytes) -> None:
            statuses.append(_post_and_check(client, raw))

        check()
    assert set(statuses) <= {200, 422}
