"""What a person reads in /docs: a page that renders offline (every asset from the app itself),
examples valid against the served model (posted back to the app), units, and the additive
fields of a forecast."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from core import contracts
from core.features import FEATURE_DESCRIPTIONS, FEATURE_UNITS, UNIT_DESCRIPTIONS
from core.lake import Lake
from tests.api.conftest import STARLETTE_HTTPX, ServedLake, api_client

pytestmark = pytest.mark.filterwarnings(STARLETTE_HTTPX)


class _Assets(HTMLParser):
    """Every URL the page loads: scripts, stylesheets, icons, and the schema it fetches."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.inline: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "script":
            self._in_script = "src" not in found
        for name in ("src", "href"):
            if found.get(name):
                self.urls.append(str(found[name]))

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.inline.append(data)


def test_docs_load_every_asset_from_the_app_itself(client) -> None:
    page = client.get("/docs")
    assert page.status_code == 200 and "swagger-ui" in page.text
    parser = _Assets()
    parser.feed(page.text)
    script = "".join(parser.inline)
    urls = parser.urls + re.findall(r"url: '([^']+)'", script)
    assert urls and "/openapi.json" in urls
    assert not [u for u in urls if "://" in u or u.startswith("//")], urls  # no CDN, no host
    for url in urls:  # what a browser without internet access would fetch: all of it is here
        answer = client.get(url)
        assert answer.status_code == 200 and answer.content, url
    js = next(u for u in urls if u.endswith("swagger-ui-bundle.js"))
    assert len(client.get(js).content) > 500_000  # the real Swagger UI bundle, not a stub


def _examples(schema: dict) -> dict:
    body = schema["paths"]["/predict"]["post"]["requestBody"]["content"]["application/json"]
    return body["examples"]


def test_every_request_example_is_answered_by_the_served_model(
    client, served_lake: ServedLake
) -> None:
    schema = client.get("/openapi.json").json()
    examples = _examples(schema)
    assert {"latest", "dated", "vector"} <= set(examples)
    for name, example in examples.items():  # "Try it out" with each: 200, never a 422
        answer = client.post("/predict", json=example["value"])
        assert answer.status_code == 200, (name, answer.text)
    # The vector is a real row of the served model's features, in the model's units.
    features = client.get("/version").json()["model_features"]
    vector = examples["vector"]["value"]["features"]
    assert list(vector) == features
    newest = Lake(str(served_lake.root)).partitions(contracts.FEATURES)[-1]
    row = Lake(str(served_lake.root)).read(contracts.FEATURES, newest, newest).iloc[0]
    assert vector == {name: float(row[name]) for name in features}
    assert 0.05 < vector["vix"] < 1.5  # VIX / 100, as the model reads it (not 21.3)
    assert examples["dated"]["value"]["as_of"] == newest.date().isoformat()


def test_features_are_described_with_their_units(client) -> None:
    schema = client.get("/openapi.json").json()
    text = schema["components"]["schemas"]["PredictRequest"]["properties"]["features"][
        "description"
    ]
    for name in client.get("/version").json()["model_features"]:
        unit = UNIT_DESCRIPTIONS[FEATURE_UNITS[name]]
        assert f"- `{name}`: {FEATURE_DESCRIPTIONS[name]}; {unit}" in text
    assert "annualized volatility as a decimal (0.16 = 16%)" in text


def test_error_examples_say_what_each_status_means(client) -> None:
    responses = client.get("/openapi.json").json()["paths"]["/predict"]["post"]["responses"]
    example = responses["503"]["content"]["application/json"]["example"]["detail"]
    assert example.startswith("no model is promoted yet")
    assert responses["404"]["content"]["application/json"]["example"]["detail"].startswith(
        "no features for"
    )


def test_a_forecast_says_its_horizon_units_and_data(client) -> None:
    body = client.post("/predict", json={}).json()
    assert body["horizon_sessions"] == 5 and body["annualized"] is True
    assert body["synthetic_data"] is True  # the served lake holds simulated prices
    assert body["regime"] is None and body["regime_prob"] is None
    schema = client.get("/openapi.json").json()
    fields = schema["components"]["schemas"]["PredictResponse"]["properties"]
    assert fields["regime"]["description"].startswith("Reserved: null until")
    assert fields["regime_prob"]["description"].startswith("Reserved: null until")
    assert "annualized" in fields["rv_5d_hat"]["description"]
    ok = schema["paths"]["/predict"]["post"]["responses"]["200"]["content"]["application/json"]
    shown = ok["examples"]["forecast"]["value"]
    assert client.post("/predict", json={"as_of": shown["as_of"]}).json() == shown


def test_without_a_model_the_examples_still_fit_the_baseline_and_503_is_documented(
    base_lake: Path,
) -> None:
    with api_client(base_lake) as client:
        schema = client.get("/openapi.json").json()
        vector = _examples(schema)["vector"]["value"]["features"]
        assert list(vector) == ["rv_cc_1d", "rv_cc_5d", "rv_cc_22d", "vix"]
        answer = client.post("/predict", json={"features": vector})
        assert answer.status_code == 503 and answer.json()["detail"].startswith("no model")
        assert client.get("/docs").status_code == 200
