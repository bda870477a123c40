"""Every status code of the API on a real lake: 200 (latest, stored, computed, posted), 404,
422 (each kind of bad input, naming the field), 503 without a model; plus health, version,
request ids and the EMF access lines."""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.routes.predict import encoded
from api.schemas import PredictResponse
from core import contracts
from core.lake import Lake
from core.serving import Forecast
from tests.api.conftest import STARLETTE_HTTPX, ServedLake, api_client

pytestmark = pytest.mark.filterwarnings(STARLETTE_HTTPX)


def _stored(root: Path, day: str) -> dict:
    row = Lake(str(root)).read(contracts.PREDICTIONS, day, day).iloc[0]
    return {"rv_5d_hat": float(row["rv_5d_hat"]), "top_drivers": list(row["top_drivers"])}


def _features(root: Path, day: str) -> dict[str, float]:
    frame = Lake(str(root)).read(contracts.FEATURES, day, day)
    return {c: float(frame[c].iloc[0]) for c in frame.columns if c != "date"}


def test_latest_date_by_default(client: TestClient, served_lake: ServedLake) -> None:
    response = client.post("/predict", json={})
    assert response.status_code == 200
    body = response.json()
    assert body["as_of"] == served_lake.prepared.last_feature_date
    assert body["model_version"] == served_lake.version
    assert len(body["top_drivers"]) == 5
    assert body["regime"] is None and body["regime_prob"] is None
    stored = _stored(served_lake.root, body["as_of"])
    assert body["rv_5d_hat"] == stored["rv_5d_hat"]  # a lookup: the very same number
    assert body["top_drivers"] == stored["top_drivers"][:5]


def test_date_without_stored_prediction_is_scored_once(
    client: TestClient, served_lake: ServedLake
) -> None:
    day = served_lake.prepared.first_feature_date  # long before the stored predictions
    assert not Lake(str(served_lake.root)).partitions(contracts.PREDICTIONS, day, day)
    first = client.post("/predict", json={"as_of": day, "top_k": 10})
    assert first.status_code == 200
    state = client.app.state.holder.state
    assert dt.date.fromisoformat(day) in state.computed  # cached for this model version
    again = client.post("/predict", json={"as_of": day, "top_k": 3})
    assert again.json()["rv_5d_hat"] == first.json()["rv_5d_hat"]
    assert again.json()["top_drivers"] == first.json()["top_drivers"][:3]
    drivers = first.json()["top_drivers"]
    assert [abs(d["shap"]) for d in drivers] == sorted(
        (abs(d["shap"]) for d in drivers), reverse=True
    )


def test_posted_vector_of_a_stored_date_gives_the_stored_answer(
    client: TestClient, served_lake: ServedLake
) -> None:
    day = served_lake.prepared.first_prediction_date
    response = client.post(
        "/predict", json={"features": _features(served_lake.root, day), "top_k": 10}
    )
    assert response.status_code == 200, response.text
    body, stored = response.json(), _stored(served_lake.root, day)
    assert body["as_of"] is None
    assert body["rv_5d_hat"] == pytest.approx(stored["rv_5d_hat"], rel=1e-9)
    assert [d["feature"] for d in body["top_drivers"]] == [
        d["feature"] for d in stored["top_drivers"]
    ]
    for got, want in zip(body["top_drivers"], stored["top_drivers"], strict=True):
        assert got["value"] == want["value"]
        assert got["shap"] == pytest.approx(want["shap"], rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("top_k", [1, 10])
def test_top_k_bounds_are_accepted(client: TestClient, top_k: int) -> None:
    response = client.post("/predict", json={"top_k": top_k})
    assert response.status_code == 200 and len(response.json()["top_drivers"]) == top_k


@pytest.mark.parametrize(
    "as_of",
    ["2022-12-25", "2022-12-31", "1990-01-02", "2099-01-02"],
    ids=["holiday", "weekend", "before", "future"],
)
def test_date_without_features_is_404(client: TestClient, as_of: str) -> None:
    response = client.post("/predict", json={"as_of": as_of})
    assert response.status_code == 404
    assert as_of in response.json()["detail"]


BAD_BODIES = {
    "impossible date": ({"as_of": "2022-02-30"}, ["body", "as_of"]),
    "not a date": ({"as_of": "yesterday"}, ["body", "as_of"]),
    "date as number": ({"as_of": 20221230}, ["body", "as_of"]),
    "datetime": ({"as_of": "2022-12-30T10:00:00"}, ["body", "as_of"]),
    "top_k 0": ({"top_k": 0}, ["body", "top_k"]),
    "top_k 11": ({"top_k": 11}, ["body", "top_k"]),
    "top_k text": ({"top_k": "5"}, ["body", "top_k"]),
    "unknown field": ({"asof": "2022-12-30"}, ["body", "asof"]),
    "both": ({"as_of": "2022-12-30", "features": {"vix": 0.2}}, ["body"]),
    "empty features": ({"features": {}}, ["body", "features"]),
    "text value": ({"features": {"vix": "high"}}, ["body", "features", "vix"]),
}


@pytest.mark.parametrize("name", list(BAD_BODIES))
def test_bad_input_is_422_naming_the_field(client: TestClient, name: str) -> None:
    body, loc = BAD_BODIES[name]
    response = client.post("/predict", json=body)
    assert response.status_code == 422
    assert loc in [e["loc"] for e in response.json()["detail"]]


def test_unknown_and_missing_features_are_each_named(
    client: TestClient, served_lake: ServedLake
) -> None:
    features = _features(served_lake.root, served_lake.prepared.last_feature_date)
    features.pop("vix")
    features["vix_tomorrow"] = 0.3
    response = client.post("/predict", json={"features": features})
    assert response.status_code == 422
    errors = {(tuple(e["loc"]), e["type"]) for e in response.json()["detail"]}
    assert errors == {
        (("body", "features", "vix_tomorrow"), "unknown_feature"),
        (("body", "features", "vix"), "missing_feature"),
    }


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity", "1e999", "1" + "0" * 400])
def test_non_finite_values_are_422_not_500(
    client: TestClient, served_lake: ServedLake, token: str
) -> None:
    features = _features(served_lake.root, served_lake.prepared.last_feature_date)
    text = json.dumps({"features": features}).replace(
        f'"vix": {json.dumps(features["vix"])}', f'"vix": {token}'
    )
    assert token in text
    response = client.post("/predict", content=text, headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert ["body", "features", "vix"] in [e["loc"] for e in response.json()["detail"]]


@pytest.mark.parametrize("raw", [b"{not json", b"[]", b"null", b"", b'{"as_of": "\xff"}'])
def test_malformed_bodies_are_422(client: TestClient, raw: bytes) -> None:
    response = client.post("/predict", content=raw, headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert [e["loc"][0] for e in response.json()["detail"]] == ["body"]


def test_a_body_over_the_limit_is_413_before_it_is_parsed(client: TestClient) -> None:
    """By its Content-Length, and streamed without one (chunked): the event loop never
    parses megabytes; a body just under the limit is still read and judged (422 here)."""
    from api.request_body import MAX_BODY_BYTES

    pad = b" " * (MAX_BODY_BYTES - 2)
    huge = b"{" + pad + b"x}"
    declared = _post(client, huge)
    assert declared.status_code == 413 and str(MAX_BODY_BYTES) in declared.json()["detail"]
    streamed = client.post(
        "/predict",
        content=iter([huge[: len(huge) // 2], huge[len(huge) // 2 :]]),
        headers={"content-type": "application/json"},
    )
    assert streamed.status_code == 413
    assert _post(client, b"{" + pad[:-1] + b"}").status_code == 200  # {} with whitespace
    documented = client.get("/openapi.json").json()["paths"]["/predict"]["post"]["responses"]
    assert "413" in documented


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded"])
def test_a_body_not_sent_as_json_is_422(client: TestClient, content_type: str | None) -> None:
    headers = {"content-type": content_type} if content_type else {}
    response = client.post("/predict", content=b'{"as_of": null}', headers=headers)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body"]


@pytest.mark.parametrize("content_type", ["application/json; charset=utf-8", "application/x+json"])
def test_json_content_types_with_parameters_are_accepted(
    client: TestClient, content_type: str
) -> None:
    response = client.post("/predict", content=b"{}", headers={"content-type": content_type})
    assert response.status_code == 200


def test_a_repeated_date_is_the_same_answer(client: TestClient, served_lake: ServedLake) -> None:
    day = served_lake.prepared.first_prediction_date
    first = client.post("/predict", json={"as_of": day, "top_k": 4})
    again = client.post("/predict", json={"as_of": day, "top_k": 4})
    wider = client.post("/predict", json={"as_of": day, "top_k": 7})
    assert first.content == again.content  # kept bytes: the very same answer
    assert len(wider.json()["top_drivers"]) == 7
    assert wider.json()["top_drivers"][:4] == first.json()["top_drivers"]


def _post(client: TestClient, raw: bytes):
    return client.post("/predict", content=raw, headers={"content-type": "application/json"})


def _errors(response) -> list[dict]:
    """The 422 body, decoded as strict UTF-8 JSON (what any client's decoder must accept)."""
    assert response.status_code == 422, response.text
    return json.loads(response.content.decode("utf-8"))["detail"]


def test_lone_surrogate_in_a_feature_name_is_422_with_the_name_escaped(client: TestClient) -> None:
    """Issue 13: these exact bytes were a 500 (the 422 body could not be encoded)."""
    errors = _errors(_post(client, b'{"features": {"\\ud800x": 0.1}}'))
    assert {
        "loc": ["body", "features", "\\ud800x"],
        "msg": "unknown feature '\\ud800x'",
        "type": "unknown_feature",
    } in errors


SURROGATE_BODIES = {
    # body bytes -> (loc of the error, its type)
    "top-level key": (b'{"\\udfff": 1}', ["body"], "string_unicode"),
    "feature value": (
        b'{"features": {"vix": "\\ud800"}}',
        ["body", "features", "vix"],
        "number_type",
    ),
    "name and value": (
        b'{"features": {"\\udbff\\udbff": "\\udc00"}}',
        ["body", "features", "\\udbff\\udbff"],
        "number_type",
    ),
    "as_of": (b'{"as_of": "2022-12-3\\ud800"}', ["body", "as_of"], "value_error"),
    "top_k": (b'{"top_k": "\\ud800"}', ["body", "top_k"], "int_type"),
    "reversed pair": (
        b'{"features": {"\\ude00\\ud83d": 0.1}}',
        ["body", "features", "\\ude00\\ud83d"],
        "unknown_feature",
    ),
}


@pytest.mark.parametrize("name", list(SURROGATE_BODIES))
def test_unpaired_surrogates_anywhere_are_422_escaped(client: TestClient, name: str) -> None:
    raw, loc, kind = SURROGATE_BODIES[name]
    errors = _errors(_post(client, raw))
    assert {"loc": loc, "type": kind} in [{"loc": e["loc"], "type": e["type"]} for e in errors]


def test_a_valid_surrogate_pair_is_an_ordinary_character(client: TestClient) -> None:
    errors = _errors(_post(client, b'{"features": {"\\ud83d\\ude00": 0.1}}'))
    assert ["body", "features", "\U0001f600"] in [e["loc"] for e in errors]  # not escaped


@pytest.mark.parametrize(
    "value", [True, False, "0.25", "high", "NaN", None, [0.25], {"v": 0.25}], ids=repr
)
def test_feature_values_must_be_json_numbers(
    client: TestClient, served_lake: ServedLake, value: object
) -> None:
    """Issue 13: "vix": true was scored as VIX = 100% (0.495), "0.25" as 0.25."""
    features = _features(served_lake.root, served_lake.prepared.last_feature_date)
    features["vix"] = value
    errors = _errors(client.post("/predict", json={"features": features}))
    assert errors == [
        {"loc": ["body", "features", "vix"], "msg": "must be a number", "type": "number_type"}
    ]


def test_integer_values_are_numbers(client: TestClient, served_lake: ServedLake) -> None:
    features = _features(served_lake.root, served_lake.prepared.last_feature_date)
    as_int = client.post("/predict", json={"features": {**features, "vix": 1}})
    as_float = client.post("/predict", json={"features": {**features, "vix": 1.0}})
    assert as_int.status_code == as_float.status_code == 200
    assert as_int.json()["rv_5d_hat"] == as_float.json()["rv_5d_hat"]


UNPARSABLE = {
    "not UTF-8": b'{"features": {"vix": 0.2, "\xff": 0.1}}',
    "truncated UTF-8 sequence": b'{"as_of": "\xe2\x82"}',
    "5,000-digit number": b'{"features": {"vix": ' + b"9" * 5000 + b"}}",
    "5,000-digit top_k": b'{"top_k": 1' + b"0" * 4999 + b"}",
    "nesting beyond the recursion limit": b'{"features": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
}


@pytest.mark.parametrize("name", list(UNPARSABLE))
def test_bodies_python_cannot_parse_are_422_not_400(client: TestClient, name: str) -> None:
    errors = _errors(_post(client, UNPARSABLE[name]))
    assert errors[0]["loc"] == ["body"] and errors[0]["type"] == "json_invalid"
    assert errors[0]["msg"].startswith("the body is not JSON text")


def test_health_and_version_with_a_model(client: TestClient, served_lake: ServedLake) -> None:
    health = client.get("/health")
    assert health.status_code == 200
    body = health.json()
    assert body["status"] == "ok" and body["model_version"] == served_lake.version
    assert body["latest_feature_date"] == served_lake.prepared.last_feature_date
    assert body["latest_prediction_date"] == served_lake.prepared.last_feature_date
    assert body["feature_lag_sessions"] > 0  # the lake ends in 2022: stale, and it says so
    assert body["last_refresh_error"] is None
    head = client.head("/health")  # what some load balancers and uptime checks send
    assert head.status_code == 200 and head.content == b""
    version = client.get("/version").json()
    assert version["model_version"] == served_lake.version
    assert "vix" in version["model_features"] and version["api_version"]


def test_no_model_is_503_everywhere_but_version(base_lake: Path) -> None:
    with api_client(base_lake) as no_model:
        for body in ({}, {"as_of": "2022-12-30"}, {"features": {"vix": 0.2}}):
            response = no_model.post("/predict", json=body)
            assert response.status_code == 503
            assert "no model is promoted" in response.json()["detail"]
        health = no_model.get("/health")
        assert health.status_code == 503 and health.json()["status"] == "no_model"
        assert health.json()["latest_feature_date"] == "2022-12-30"  # data is there
        version = no_model.get("/version")
        assert version.status_code == 200 and version.json()["model_version"] is None


def test_pinned_version_wins_over_production(served_lake: ServedLake) -> None:
    with api_client(served_lake.root, model_version=served_lake.other_version) as pinned:
        assert pinned.post("/predict", json={}).json()["model_version"] == served_lake.other_version


def test_unknown_pinned_version_is_503_with_the_reason(served_lake: ServedLake) -> None:
    with api_client(served_lake.root, model_version="20990101T000000Z-deadbeef") as pinned:
        response = pinned.post("/predict", json={})
        assert response.status_code == 503
        assert "20990101T000000Z-deadbeef" in response.json()["detail"]


def test_request_id_and_emf_line(client: TestClient, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    response = client.post(
        "/predict", json={"as_of": "1990-01-02"}, headers={"X-Request-ID": "req-42"}
    )
    assert response.status_code == 404 and response.headers["x-request-id"] == "req-42"
    fresh = client.get("/health")
    assert len(fresh.headers["x-request-id"]) == 32  # generated when the caller sent none
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines() if x.startswith("{")]
    record = next(x for x in lines if x.get("request_id") == "req-42")
    metrics = record["_aws"]["CloudWatchMetrics"][0]
    assert metrics["Namespace"] == "Volcast" and metrics["Dimensions"] == [["Service", "Route"]]
    assert {m["Name"] for m in metrics["Metrics"]} == {"Latency", "Requests", "ServerErrors"}
    assert (record["Service"], record["Route"], record["status"]) == ("api", "/predict", 404)
    assert record["Requests"] == 1 and record["ServerErrors"] == 0
    assert record["Latency"] > 0 and math.isfinite(record["Latency"])


def test_only_predict_is_metered(client: TestClient, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert client.get("/wp-admin/x").status_code == 404
    line = [json.loads(x) for x in capsys.readouterr().out.splitlines() if x.startswith("{")][-1]
    assert line["Route"] == "unmatched" and line["path"] == "/wp-admin/x"
    assert "_aws" not in line  # logged, not metered: scanners cannot add metric series
    assert client.get("/health").status_code in (200, 503)
    health = [json.loads(x) for x in capsys.readouterr().out.splitlines() if x.startswith("{")][-1]
    assert health["Route"] == "/health" and "_aws" not in health and health["Latency"] > 0


def test_openapi_has_typed_models_with_examples(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    components = schema["components"]["schemas"]
    assert {"PredictRequest", "PredictResponse", "HealthResponse", "VersionResponse"} <= set(
        components
    )
    # examples are the operation's, taken from what is served (tests/api/test_api_docs.py)
    post = schema["paths"]["/predict"]["post"]
    assert post["requestBody"]["content"]["application/json"]["examples"]
    assert post["responses"]["200"]["content"]["application/json"]["examples"]
    responses = schema["paths"]["/predict"]["post"]["responses"]
    assert {"200", "404", "422", "503"} <= set(responses)


def test_encoded_bodies_follow_the_forecast_object() -> None:
    drivers = [{"feature": f"f{i}", "value": float(i), "shap": -0.1 * i} for i in range(6)]
    old = Forecast(dt.date(2022, 1, 3), 0.2, drivers, "v1")
    new = Forecast(dt.date(2022, 1, 3), 0.3, drivers, "v2")  # the same date in a new snapshot
    assert encoded(old, 5, False) is encoded(old, 5, False)
    assert json.loads(encoded(new, 5, False))["rv_5d_hat"] == 0.3
    assert json.loads(encoded(old, 2, False)) == PredictResponse(
        as_of=old.as_of, rv_5d_hat=0.2, top_drivers=drivers[:2], model_version="v1"
    ).model_dump(mode="json")
    assert json.loads(encoded(old, 5, True))["synthetic_data"] is True  # its own kept body
    assert json.loads(encoded(old, 5, False))["synthetic_data"] is False
    posted = Forecast(None, 0.25, drivers, "v1")  # vectors are not kept
    first, again = encoded(posted, 5, False), encoded(posted, 5, False)
    assert first == again and first is not again
