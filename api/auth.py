"""API keys on /predict: the ``X-API-Key`` header, checked against the keyring (core.api_keys).

401 when the header is missing, 403 when the key is unknown or revoked, 503 while keys are
configured but could not be read yet (fail closed). With no key store configured
(``VOLCAST_API_KEYS`` unset, the local default) every request passes, and start-up says so.
The checked key's id (never the key) is left in the ASGI scope for the access/EMF line.
"""

from __future__ import annotations

import logging

from fastapi import HTTPException, Request, Security
from fastapi.security import APIKeyHeader

from api.access_log import KEY_ID_SCOPE
from core.api_keys import ApiKeyHolder, open_store
from core.config import Settings

log = logging.getLogger(__name__)

HEADER = "X-API-Key"
_header = APIKeyHeader(
    name=HEADER,
    auto_error=False,
    description="An API key issued with `volcast api-keys create` (not needed where none is "
    "configured, e.g. locally).",
)


def open_api_keys(settings: Settings) -> ApiKeyHolder | None:
    """The keys the settings name, loaded once (a failed load is retried by the refresh), or
    None with a start-up notice when none are configured."""
    if not settings.api_keys:
        log.warning(
            "API keys: none configured (VOLCAST_API_KEYS is unset): POST /predict is open to "
            "anyone who can reach this server"
        )
        return None
    holder = ApiKeyHolder(open_store(settings.api_keys, settings.aws_endpoint_url))
    holder.refresh()
    return holder


async def require_api_key(request: Request, key: str | None = Security(_header)) -> str | None:
    """The FastAPI dependency of /predict: the caller's key id, or None where keys are off."""
    holder: ApiKeyHolder | None = request.app.state.api_keys
    if holder is None:
        return None
    keyring = holder.keyring
    if keyring is None:
        raise HTTPException(
            503, "API keys could not be loaded yet; retry shortly", headers={"Retry-After": "30"}
        )
    # A field value excludes the whitespace around it (RFC 9110 5.5); servers differ in whether
    # they strip the trailing part, so it is stripped here: " vk_..." and "vk_... " are one key.
    key = key.strip() if key else key
    if not key:
        raise HTTPException(
            401,
            f"missing {HEADER} header",
            headers={"WWW-Authenticate": f'ApiKey header="{HEADER}"'},
        )
    key_id = keyring.check(key)
    if key_id is None:
        raise HTTPException(403, "unknown or revoked API key")
    request.scope[KEY_ID_SCOPE] = key_id
    return key_id
