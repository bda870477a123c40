"""API keys for /predict: issued once, stored only as SHA-256 hashes, checked in constant time.

A key reads ``vk_<id>_<secret>``: ``id`` is 8 hex characters, public (it goes in the access
log so usage per client is visible), ``secret`` is 32 random bytes in URL-safe base64 (43
characters). Only ``sha256(key)`` is stored, in one JSON document::

    {"version": 1, "keys": [{"id": "3f9a0c1e", "name": "acme", "sha256": "<64 hex>",
                             "created_at": "2026-11-30T12:00:00+00:00", "revoked_at": null}]}

A plain SHA-256 suffices because the keys are 256-bit random values, not passwords: there is
nothing to guess from a hash. The document lives in a Secrets Manager secret (KMS-encrypted,
created empty by Terraform) or, locally, in a file. ``VOLCAST_API_KEYS`` names it: an ARN or
``secretsmanager:<name>`` for Secrets Manager, anything else a file path; unset = no keys, the
API is open (local use) and says so at start-up.

``ApiKeyHolder`` keeps the current ``Keyring`` and re-reads the document every
``VOLCAST_API_KEYS_REFRESH_SECONDS`` in a daemon thread: a key created or revoked takes effect
without a restart. A failed re-read keeps the last good keyring; before the first good read
the holder has none and the API answers 503 (fail closed, never open).

Errors: ``ApiKeyStoreError`` for a store that cannot be read or written (the message names it).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging
import os
import re
import secrets
import tempfile
import threading
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

from core.polling import Poller

log = logging.getLogger(__name__)

KEY_PREFIX = "vk"
_KEY_RE = re.compile(r"^vk_([0-9a-f]{8})_([A-Za-z0-9_-]{43})$")
_ID_RE = re.compile(r"^[0-9a-f]{8}$")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._@:/-]{0,63}$")
DOCUMENT_VERSION = 1
#: Compared against when the presented id is unknown, so every check costs the same.
_NO_DIGEST = hashlib.sha256(b"volcast: no such key").digest()


class ApiKeyStoreError(RuntimeError):
    """The key store cannot be read or written (names the store and the cause)."""


class ApiKeyError(ValueError):
    """A command on the keys was refused (unknown id, already revoked, bad name)."""


@dataclass(frozen=True)
class KeyRecord:
    """One issued key, as stored: never the key itself."""

    id: str
    name: str
    sha256: str
    created_at: str
    revoked_at: str | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).digest()


def new_key() -> tuple[str, str]:
    """(key id, full key): a fresh random key; the caller shows it once and stores its hash."""
    key_id = secrets.token_hex(4)
    return key_id, f"{KEY_PREFIX}_{key_id}_{secrets.token_urlsafe(32)}"


@dataclass(frozen=True)
class Keyring:
    """The active keys by id, for checking presented keys."""

    digests: Mapping[str, bytes]

    @classmethod
    def from_records(cls, records: list[KeyRecord]) -> Keyring:
        return cls({r.id: bytes.fromhex(r.sha256) for r in records if r.active})

    def check(self, presented: str) -> str | None:
        """The key id if ``presented`` is an active key, else None.

        Constant time in the secret: the hash of what was presented is always computed and
        compared with ``hmac.compare_digest`` (against a dummy digest for an unknown id), so the
        answer's timing says nothing about how much of a key was right.
        """
        match = _KEY_RE.match(presented)
        key_id = match.group(1) if match else ""
        stored = self.digests.get(key_id, _NO_DIGEST)
        same = hmac.compare_digest(stored, _digest(presented))
        return key_id if same and match and key_id in self.digests else None

    def __len__(self) -> int:
        return len(self.digests)


# --------------------------------------------------------------------------------------------
# The stored document.
# --------------------------------------------------------------------------------------------
def parse_document(text: str | None) -> list[KeyRecord]:
    """Records of a stored document; None or empty text = no keys. Raises ApiKeyStoreError."""
    if not text:
        return []
    try:
        data = json.loads(text)
        if data.get("version") != DOCUMENT_VERSION:
            raise ValueError(f"document version {data.get('version')!r}, expected 1")
        records = [KeyRecord(**item) for item in data["keys"]]
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise ApiKeyStoreError(f"the API key document is not valid: {exc}") from None
    for record in records:
        if not _ID_RE.match(record.id) or not re.fullmatch(r"[0-9a-f]{64}", record.sha256):
            raise ApiKeyStoreError(f"the API key document has a malformed record {record.id!r}")
    return records


def render_document(records: list[KeyRecord]) -> str:
    return json.dumps({"version": DOCUMENT_VERSION, "keys": [asdict(r) for r in records]}, indent=1)


# --------------------------------------------------------------------------------------------
# Stores.
# --------------------------------------------------------------------------------------------
class KeyStore(Protocol):
    """Where the document lives: ``read`` returns (text or None, a version token)."""

    description: str

    def read(self) -> tuple[str | None, str | None]: ...

    def write(self, text: str) -> None: ...


class FileKeyStore:
    """A local JSON file (mode 0600); a missing file holds no keys."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.description = f"file {self.path}"

    def read(self) -> tuple[str | None, str | None]:
        try:
            stat = self.path.stat()
            return self.path.read_text(), f"{stat.st_mtime_ns}:{stat.st_size}"
        except FileNotFoundError:
            return None, None
        except OSError as exc:
            raise ApiKeyStoreError(f"cannot read {self.description}: {exc}") from None

    def write(self, text: str) -> None:
        """Atomic: a temporary file in the same folder, then a rename."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=self.path.parent, prefix=".api-keys-")
        try:
            with os.fdopen(handle, "w") as out:
                out.write(text)
            os.chmod(temporary, 0o600)
            os.replace(temporary, self.path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise


class SecretsManagerKeyStore:
    """One Secrets Manager secret (KMS-encrypted; Terraform creates it without a value)."""

    def __init__(self, secret_id: str, endpoint_url: str | None = None, client: Any = None):
        import boto3  # the one adapter to AWS here

        self.secret_id = secret_id
        self.description = f"Secrets Manager secret {secret_id}"
        self.client = client or boto3.client("secretsmanager", endpoint_url=endpoint_url)

    def read(self) -> tuple[str | None, str | None]:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            answer = self.client.get_secret_value(SecretId=self.secret_id)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            message = exc.response.get("Error", {}).get("Message", "")
            if code == "ResourceNotFoundException" and "AWSCURRENT" in message:
                return None, None  # the secret exists but no key was ever written
            raise ApiKeyStoreError(f"cannot read {self.description}: {code}: {message}") from None
        except BotoCoreError as exc:
            raise ApiKeyStoreError(f"cannot read {self.description}: {exc}") from None
        return answer.get("SecretString"), answer.get("VersionId")

    def write(self, text: str) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.put_secret_value(SecretId=self.secret_id, SecretString=text)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            raise ApiKeyStoreError(
                f"cannot write {self.description}: {error.get('Code')}: {error.get('Message')}"
                " (Terraform creates the secret: terraform/modules/ecs)"
            ) from None
        except BotoCoreError as exc:
            raise ApiKeyStoreError(f"cannot write {self.description}: {exc}") from None


def open_store(spec: str, endpoint_url: str | None = None) -> KeyStore:
    """The store ``VOLCAST_API_KEYS`` names: an ARN or ``secretsmanager:<name>``, or a path."""
    if spec.startswith("arn:"):
        if ":secretsmanager:" not in spec:
            raise ApiKeyStoreError(f"VOLCAST_API_KEYS={spec!r} is an ARN but not a secret's")
        return SecretsManagerKeyStore(spec, endpoint_url)
    if spec.startswith("secretsmanager:"):
        return SecretsManagerKeyStore(spec.removeprefix("secretsmanager:"), endpoint_url)
    return FileKeyStore(spec)


# --------------------------------------------------------------------------------------------
# Managing keys (the `volcast api-keys` commands).
# --------------------------------------------------------------------------------------------
def _now() -> str:
    return dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()


def list_keys(store: KeyStore) -> list[KeyRecord]:
    return parse_document(store.read()[0])


def create_key(store: KeyStore, name: str) -> tuple[KeyRecord, str]:
    """Issue a key named ``name``: (its record, the key, which exists nowhere else)."""
    if not _NAME_RE.match(name):
        raise ApiKeyError(
            f"name {name!r}: 1-64 letters, digits, space and ._@:/- (starting with a letter "
            "or digit)"
        )
    records = list_keys(store)
    key_id, key = new_key()
    while any(r.id == key_id for r in records):  # 1 in 4 billion: draw again
        key_id, key = new_key()
    record = KeyRecord(key_id, name, _digest(key).hex(), _now())
    store.write(render_document([*records, record]))
    return record, key


def revoke_key(store: KeyStore, key_id: str) -> KeyRecord:
    """Revoke an active key by id (kept in the document, marked, so the id stays meaningful)."""
    records = list_keys(store)
    found = [r for r in records if r.id == key_id]
    if not found:
        raise ApiKeyError(f"no API key with id {key_id!r}")
    if not found[0].active:
        raise ApiKeyError(f"API key {key_id} was already revoked at {found[0].revoked_at}")
    revoked = KeyRecord(**{**asdict(found[0]), "revoked_at": _now()})
    store.write(render_document([revoked if r.id == key_id else r for r in records]))
    return revoked


# --------------------------------------------------------------------------------------------
# Serving: the current keyring, refreshed without a restart.
# --------------------------------------------------------------------------------------------
class ApiKeyHolder:
    """The current Keyring of a store, re-read in the background (see the module docstring)."""

    def __init__(self, store: KeyStore):
        self.store = store
        self.keyring: Keyring | None = None
        self.last_error: str | None = None
        self._version: str | None = None
        self._lock = threading.Lock()
        self._poller = Poller(self.refresh, name="volcast-api-keys")

    def refresh(self) -> bool:
        """Re-read the store; True if the keyring changed. Never raises: an error keeps the
        last good keyring and is kept in ``last_error``."""
        with self._lock:
            try:
                text, version = self.store.read()
                if self.keyring is not None and version is not None and version == self._version:
                    return False
                keyring = Keyring.from_records(parse_document(text))
            except ApiKeyStoreError as exc:
                self.last_error = str(exc)
                log.error("API keys not refreshed, keeping the previous ones: %s", exc)
                return False
            changed = self.keyring is None or keyring.digests != self.keyring.digests
            self.keyring, self._version, self.last_error = keyring, version, None
            if changed and text is None:  # a mistyped path looks exactly like this
                log.warning(
                    "API keys: %s holds no keys (missing): every request with a key gets 403; "
                    "create one with `volcast api-keys create --name N`",
                    self.store.description,
                )
            elif changed:
                log.info("API keys loaded from %s: %d active", self.store.description, len(keyring))
            return changed

    def start(self, interval_s: float) -> None:
        """Re-read the store every ``interval_s`` seconds in the background until ``stop``."""
        self._poller.start(interval_s)

    def stop(self) -> None:
        self._poller.stop()
