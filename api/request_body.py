"""The POST /predict body, read and checked in one pass by pydantic-core.

FastAPI's own handling of a model parameter (content-type parsing through the email package,
``json.loads``, dependency solving, then validation of the Python objects) cost ~50 us per
request here, more than all the rest of a dated lookup; ``PredictRequest.model_validate_json``
parses and validates the bytes in ~3 us (docs/benchmarks.md). What the client sees is the
same: the same model and checks, 422 with ``loc`` (starting with ``"body"``), ``msg`` and
``type`` per error, through the app's RequestValidationError handler, and the same request
schema in OpenAPI (``PREDICT_BODY_OPENAPI`` on the route, the model under components). Bodies
pydantic-core cannot parse go through Python's ``json`` as FastAPI's did (unpaired surrogate
escapes are valid there), so they get the same answers too.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import validation_error_definition, validation_error_response_definition
from pydantic import ValidationError
from starlette.requests import ClientDisconnect

from api.schemas import PredictRequest

_REF = "#/components/schemas/{model}"

#: The route's ``openapi_extra``: the body is a PredictRequest, as JSON, and a 422 lists errors
#: (what FastAPI writes for a model parameter it parses itself).
PREDICT_BODY_OPENAPI: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": {"$ref": _REF.format(model=PredictRequest.__name__)}}
        },
    },
    "responses": {
        "422": {
            "description": "Validation Error",
            "content": {
                "application/json": {"schema": {"$ref": _REF.format(model="HTTPValidationError")}}
            },
        }
    },
}


async def predict_request(http: Request) -> PredictRequest:
    """The request's body as a PredictRequest; RequestValidationError (a 422) if it is not
    JSON, or not a valid request."""
    body = await _read_body(http)
    if not _is_json(http.headers.get("content-type", "")):
        raise RequestValidationError(
            [
                {
                    "type": "model_attributes_type",
                    "loc": ("body",),
                    "msg": "the body must be JSON, sent with Content-Type: application/json",
                }
            ]
        )
    if not body.strip():
        missing = {"type": "missing", "loc": ("body",), "msg": "Field required"}
        raise RequestValidationError([missing])
    try:
        return PredictRequest.model_validate_json(body)
    except ValidationError as exc:
        errors = _body_errors(exc)
        if errors[0]["type"] != "json_invalid":
            raise RequestValidationError(errors) from None
    return _from_python_json(body)


def _from_python_json(body: bytes) -> PredictRequest:
    """The slow path, for text pydantic-core's parser refuses. Mostly that is not JSON (a 422
    naming the body), but Python's parser, FastAPI's, also takes unpaired surrogate escapes
    (``"\\ud800"``): such a body is validated like any other, and its errors name the client's
    keys (the app's RequestValidationError handler escapes them, from ``body``)."""
    try:
        parsed = json.loads(body)
    except (ValueError, RecursionError) as exc:  # not UTF-8 or not JSON, too deep, huge ints
        error = {"loc": ("body",), "msg": f"the body is not JSON text ({type(exc).__name__})"}
        raise RequestValidationError([{**error, "type": "json_invalid"}]) from None
    try:
        return PredictRequest.model_validate(parsed)
    except ValidationError as exc:
        raise RequestValidationError(_body_errors(exc), body=parsed) from None


def _body_errors(exc: ValidationError) -> list[dict[str, Any]]:
    errors = exc.errors(include_url=False, include_input=False, include_context=False)
    return [{**e, "loc": ("body", *e["loc"])} for e in errors]


#: A larger body is refused with 413 before it is read whole or parsed. A valid one is a few KB
#: (MAX_POSTED_FEATURES values with long names, pretty-printed, stay under ~100 KB); without a
#: bound a 25 MB body held a worker's event loop for seconds while it was parsed (API Gateway's
#: own 10 MB payload quota bounds it in AWS, nothing did locally or at the ALB).
MAX_BODY_BYTES = 256 * 1024


async def _read_body(http: Request) -> bytes:
    """The whole body, from the ASGI messages (Starlette's ``Request.body()`` does the same
    through an async generator, at twice the cost for a one-message body). HTTPException 413
    when it is over MAX_BODY_BYTES, by its Content-Length or as it arrives."""
    declared = http.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise _too_large()
    chunks, size = [], 0
    while True:
        message = await http.receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise _too_large()
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _too_large() -> HTTPException:
    return HTTPException(
        status_code=413,
        detail=f"the body is over {MAX_BODY_BYTES} bytes: a request is a date or one feature "
        "vector (a few KB)",
    )


def _is_json(content_type: str) -> bool:
    """application/json or any application/*+json, parameters (charset) aside."""
    kind = content_type.split(";", 1)[0].strip().lower()
    return kind == "application/json" or (
        kind.startswith("application/") and kind.endswith("+json")
    )


def document_request_models(app: FastAPI) -> None:
    """Put the models PREDICT_BODY_OPENAPI points to under the OpenAPI components (FastAPI lists
    only those of parameters it parses itself)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        schema = generate()  # FastAPI builds it once and keeps it
        models = schema.setdefault("components", {}).setdefault("schemas", {})
        if PredictRequest.__name__ not in models:
            found = PredictRequest.model_json_schema(ref_template=_REF)
            models.update(found.pop("$defs", {}))
            models[PredictRequest.__name__] = found
            models.setdefault("ValidationError", validation_error_definition)
            models.setdefault("HTTPValidationError", validation_error_response_definition)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
