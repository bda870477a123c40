"""API keys: `volcast api-keys` on a moto Secrets Manager (KMS, real boto3 over HTTP), and the
API checking X-API-Key on /predict: 401 missing, 403 unknown or revoked, keys reloaded without
a restart, /health and /version open, the key id (never the key) in the access line, and an
open API with a start-up notice where no keys are configured."""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import boto3
import pytest
from typer.testing import CliRunner

from core import api_keys
from core.api_keys import (
    ApiKeyError,
    ApiKeyHolder,
    ApiKeyStoreError,
    FileKeyStore,
    Keyring,
    create_key,
    list_keys,
    revoke_key,
)
from flows.cli import app as volcast_app
from tests.api.conftest import STARLETTE_HTTPX, ServedLake, api_client

pytestmark = pytest.mark.filterwarnings(STARLETTE_HTTPX)
WAIT_S = 20.0


@pytest.fixture
def secret(moto_endpoint: str) -> str:
    """An API keys secret as Terraform creates it: KMS-encrypted, no value yet."""
    kms = boto3.client("kms", endpoint_url=moto_endpoint)
    key_id = kms.create_key(Description="volcast test")["KeyMetadata"]["KeyId"]
    client = boto3.client("secretsmanager", endpoint_url=moto_endpoint)
    name = f"volcast/test/api-keys-{time.monotonic_ns()}"
    return client.create_secret(Name=name, KmsKeyId=key_id)["ARN"]


def _cli(moto_endpoint: str, *args: str) -> dict | list:
    result = CliRunner().invoke(
        volcast_app, ["api-keys", *args], env={"AWS_ENDPOINT_URL": moto_endpoint}
    )
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _stored(moto_endpoint: str, arn: str) -> str:
    client = boto3.client("secretsmanager", endpoint_url=moto_endpoint)
    return client.get_secret_value(SecretId=arn)["SecretString"]


def _until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        assert time.monotonic() < deadline, f"not within {WAIT_S} s: {what}"
        time.sleep(0.1)


# ---- the keyring ------------------------------------------------------------------------------


def test_keyring_accepts_active_keys_only(tmp_path: Path) -> None:
    store = FileKeyStore(tmp_path / "keys.json")
    first, key = create_key(store, "acme")
    second, other = create_key(store, "umbrella")
    revoke_key(store, second.id)
    keyring = Keyring.from_records(list_keys(store))
    assert keyring.check(key) == first.id
    assert keyring.check(other) is None, "a revoked key still passes"
    assert keyring.check(key[:-1] + ("A" if key[-1] != "A" else "B")) is None
    assert keyring.check(f"vk_{first.id}_") is None
    assert keyring.check("") is None and keyring.check("Bearer x") is None
    assert (tmp_path / "keys.json").stat().st_mode & 0o777 == 0o600
    assert key not in (tmp_path / "keys.json").read_text(), "the key itself was stored"


def test_every_check_hashes_and_compares_in_constant_time(monkeypatch, tmp_path: Path) -> None:
    """Unknown ids and malformed keys cost one digest comparison like a real key does, so the
    answer's timing tells nothing about which part of a key was right."""
    store = FileKeyStore(tmp_path / "keys.json")
    _, key = create_key(store, "acme")
    keyring = Keyring.from_records(list_keys(store))
    calls: list[tuple[bytes, bytes]] = []
    real = api_keys.hmac.compare_digest

    def counted(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(api_keys.hmac, "compare_digest", counted)
    for presented in (key, "vk_00000000_" + "a" * 43, "not-a-key", ""):
        calls.clear()
        keyring.check(presented)
        assert len(calls) == 1 and len(calls[0][0]) == len(calls[0][1]) == 32, presented


def test_commands_refuse_what_they_cannot_do(tmp_path: Path) -> None:
    store = FileKeyStore(tmp_path / "keys.json")
    with pytest.raises(ApiKeyError, match="no API key with id"):
        revoke_key(store, "deadbeef")
    record, _ = create_key(store, "acme")
    revoke_key(store, record.id)
    with pytest.raises(ApiKeyError, match="already revoked"):
        revoke_key(store, record.id)
    with pytest.raises(ApiKeyError, match="name"):
        create_key(store, "")
    (tmp_path / "bad.json").write_text('{"version": 9, "keys": []}')
    with pytest.raises(ApiKeyStoreError, match="version"):
        list_keys(FileKeyStore(tmp_path / "bad.json"))


def test_a_failed_refresh_keeps_the_last_good_keys(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    store = FileKeyStore(path)
    _, key = create_key(store, "acme")
    holder = ApiKeyHolder(store)
    assert holder.refresh() and holder.keyring is not None
    path.write_text("{not json")
    assert holder.refresh() is False
    assert holder.last_error and "not valid" in holder.last_error
    assert holder.keyring.check(key), "the last good keys were dropped"


def test_a_missing_key_file_is_said_at_start(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A mistyped VOLCAST_API_KEYS path fails closed (no key is valid) and says so once."""
    store = FileKeyStore(tmp_path / "no-such-keys.json")
    holder = ApiKeyHolder(store)
    with caplog.at_level(logging.WARNING, logger="core.api_keys"):
        holder.refresh()
        holder.refresh()
    assert holder.keyring is not None and len(holder.keyring) == 0
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "no-such-keys.json holds no keys (missing)" in warnings[0]


# ---- `volcast api-keys` on Secrets Manager ------------------------------------------------------


@pytest.mark.integration
def test_api_keys_commands_on_secrets_manager(moto_endpoint: str, secret: str) -> None:
    assert _cli(moto_endpoint, "list", "--store", secret, "--json") == []
    created = _cli(moto_endpoint, "create", "--name", "acme", "--store", secret)
    key = created["key"]
    assert key.startswith(f"vk_{created['id']}_") and len(key) == 3 + 9 + 43
    stored = _stored(moto_endpoint, secret)
    assert key not in stored, "the key itself is in the secret"
    assert hashlib.sha256(key.encode()).hexdigest() in stored
    listed = _cli(moto_endpoint, "list", "--store", secret, "--json")
    assert listed == [{"id": created["id"], "name": "acme", "created_at": created["created_at"],
                       "revoked_at": None}]  # fmt: skip
    revoked = _cli(moto_endpoint, "revoke", created["id"], "--store", secret)
    assert revoked["revoked_at"] and "sha256" not in revoked
    secret_name = "secretsmanager:" + secret.split(":secret:")[1].rsplit("-", 1)[0]
    assert _cli(moto_endpoint, "list", "--store", secret_name, "--json")[0]["revoked_at"]


@pytest.mark.integration
def test_api_keys_commands_say_what_is_wrong(moto_endpoint: str) -> None:
    missing = "arn:aws:secretsmanager:us-east-1:123456789012:secret:volcast/none-AbCdEf"
    result = CliRunner().invoke(
        volcast_app, ["api-keys", "list", "--store", missing],
        env={"AWS_ENDPOINT_URL": moto_endpoint, "VOLCAST_API_KEYS": ""},
    )  # fmt: skip
    assert result.exit_code != 0
    assert "volcast/none" in str(result.exception) + result.output


# ---- the API ------------------------------------------------------------------------------------


@pytest.fixture
def keyed(served_lake: ServedLake, moto_endpoint: str, secret: str) -> Iterator:
    created = _cli(moto_endpoint, "create", "--name", "acme", "--store", secret)
    settings = {
        "api_keys": secret,
        "api_keys_refresh_seconds": 0.2,
        "aws_endpoint_url": moto_endpoint,
    }
    with api_client(served_lake.root, **settings) as client:  # fmt: skip
        yield client, created


def _lines(capsys: pytest.CaptureFixture[str]) -> list[dict]:
    return [json.loads(x) for x in capsys.readouterr().out.splitlines() if x.startswith("{")]


@pytest.mark.integration
def test_predict_needs_a_known_key(keyed, capsys: pytest.CaptureFixture[str]) -> None:
    client, created = keyed
    capsys.readouterr()
    missing = client.post("/predict", json={})
    assert missing.status_code == 401 and "X-API-Key" in missing.json()["detail"]
    assert missing.headers["www-authenticate"] == 'ApiKey header="X-API-Key"'
    wrong = client.post("/predict", json={}, headers={"X-API-Key": created["key"][:-2] + "xx"})
    assert wrong.status_code == 403
    # A missing key is 401 even when the body is bad: nothing is said about the body first.
    assert client.post("/predict", json={"top_k": 99}).status_code == 401
    bad = client.post("/predict", content=b"{bad", headers={"content-type": "application/json"})
    assert bad.status_code == 401  # not even whether it parses
    ok = client.post("/predict", json={}, headers={"X-API-Key": created["key"]})
    assert ok.status_code == 200 and ok.json()["rv_5d_hat"] > 0
    # the whitespace around a header value is not part of it (RFC 9110 5.5)
    spaced = client.post("/predict", json={}, headers={"X-API-Key": f" {created['key']}\t"})
    assert spaced.status_code == 200
    assert client.get("/health").status_code == 200, "/health must stay open for the ALB"
    assert client.get("/version").status_code == 200
    lines = _lines(capsys)
    predict = [x for x in lines if x.get("Route") == "/predict"]
    assert [x["status"] for x in predict] == [401, 403, 401, 401, 200, 200]
    assert [x["key_id"] for x in predict] == [None, None, None, None, created["id"], created["id"]]
    assert predict[-1]["Requests"] == 1, "the key id must ride on the EMF line"
    assert not any(created["key"] in json.dumps(x) for x in lines), "a key reached the log"


@pytest.mark.integration
def test_keys_rotate_without_a_restart(keyed, moto_endpoint: str, secret: str) -> None:
    client, first = keyed
    second = _cli(moto_endpoint, "create", "--name", "umbrella", "--store", secret)

    def status(key: str) -> int:
        return client.post("/predict", json={}, headers={"X-API-Key": key}).status_code

    _until(lambda: status(second["key"]) == 200, "a new key accepted")
    _cli(moto_endpoint, "revoke", first["id"], "--store", secret)
    _until(lambda: status(first["key"]) == 403, "a revoked key refused")
    assert status(second["key"]) == 200


@pytest.mark.integration
def test_unreadable_keys_fail_closed(served_lake: ServedLake, moto_endpoint: str) -> None:
    gone = "arn:aws:secretsmanager:us-east-1:123456789012:secret:volcast/gone-AbCdEf"
    settings = {"api_keys": gone, "aws_endpoint_url": moto_endpoint}
    with api_client(served_lake.root, **settings) as client:
        answer = client.post("/predict", json={}, headers={"X-API-Key": "vk_00000000_" + "a" * 43})
        assert answer.status_code == 503 and answer.headers["retry-after"] == "30"
        assert client.get("/health").status_code == 200


def test_no_keys_configured_is_open_and_says_so(
    served_lake: ServedLake, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="api.auth"), api_client(served_lake.root) as c:
        assert c.post("/predict", json={}).status_code == 200
    notices = [r.getMessage() for r in caplog.records if r.name == "api.auth"]
    assert any("none configured" in n and "open" in n for n in notices), notices


def test_openapi_declares_the_key_header(served_lake: ServedLake) -> None:
    with api_client(served_lake.root) as client:
        schema = client.get("/openapi.json").json()
    schemes = schema["components"]["securitySchemes"]
    assert any(s == {"type": "apiKey", "in": "header", "name": "X-API-Key",
                     "description": s.get("description")} for s in schemes.values())  # fmt: skip
    assert {"401", "403"} <= set(schema["paths"]["/predict"]["post"]["responses"])
    assert "security" not in schema["paths"]["/health"]["get"]
