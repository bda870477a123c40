"""api/routing.py: a DirectRoute calls the same typed dependencies FastAPI would, in the same
order, honours dependency overrides, documents the same OpenAPI, and refuses what it cannot
serve when the route is built; include_first puts a router's routes first, unnested.

No ``from __future__ import annotations`` here: FastAPI reads the dependencies from the
annotations at runtime, and those of functions defined inside a test are not module globals.
"""

from typing import Annotated

import pytest
from fastapi import APIRouter, Depends, FastAPI, Request, Security
from fastapi.responses import Response
from fastapi.routing import APIRoute
from fastapi.security import APIKeyHeader
from fastapi.testclient import TestClient

from api.routing import DirectRoute, include_first

_header = APIKeyHeader(name="X-Key", auto_error=False)


def _router(route_class: type[APIRoute], calls: list[str]) -> APIRouter:
    """POST /echo with a route-level dependency on a security scheme and two typed ones."""

    async def checked(request: Request, key: Annotated[str | None, Security(_header)]) -> None:
        calls.append(f"checked:{key}")

    async def first(request: Request) -> str:
        calls.append("first")
        return request.url.path

    async def second(request: Request, prior: Annotated[str, Depends(first)]) -> str:
        calls.append("second")
        return prior.upper()

    router = APIRouter(tags=["echo"], route_class=route_class)

    @router.post("/echo", dependencies=[Depends(checked)])
    async def echo(
        http: Request,
        a: Annotated[str, Depends(first)],
        b: Annotated[str, Depends(second)],
    ) -> Response:
        return Response(f"{a}|{b}|{http.method}".encode(), media_type="text/plain")

    router.state_first = first  # type: ignore[attr-defined]
    return router


def _app(route_class: type[APIRoute], calls: list[str], first: bool) -> FastAPI:
    app = FastAPI()
    router = _router(route_class, calls)
    if first:
        include_first(app, router)
    else:
        app.include_router(router)
    app.state.first = router.state_first  # type: ignore[attr-defined]
    return app


def test_a_direct_route_answers_as_fastapi_does() -> None:
    answers, orders = [], []
    for route_class, first in ((APIRoute, False), (DirectRoute, True), (DirectRoute, False)):
        calls: list[str] = []
        with TestClient(_app(route_class, calls, first)) as client:
            answer = client.post("/echo", headers={"X-Key": "k1"})
        answers.append((answer.status_code, answer.text))
        orders.append(calls)
    assert answers[0] == (200, "/echo|/ECHO|POST")
    assert answers[1] == answers[0] and answers[2] == answers[0]
    # FastAPI caches a dependency per request (``first`` once); a DirectRoute calls it per use
    assert orders[0] == ["checked:k1", "first", "second"]
    assert orders[1] == ["checked:k1", "first", "first", "second"] == orders[2]


def test_include_first_documents_the_same_openapi_and_goes_first() -> None:
    nested = _app(DirectRoute, [], first=False)
    flat = _app(DirectRoute, [], first=True)
    assert flat.openapi() == nested.openapi()
    assert flat.openapi()["paths"]["/echo"]["post"]["security"] == [{"APIKeyHeader": []}]
    assert isinstance(flat.router.routes[0], DirectRoute)
    with pytest.raises(TypeError, match="DirectRoutes only"):
        include_first(FastAPI(), _router(APIRoute, []))


def test_dependency_overrides_are_honoured() -> None:
    calls: list[str] = []
    app = _app(DirectRoute, calls, first=True)

    async def fake(request: Request) -> str:
        return "fake"

    app.dependency_overrides[app.state.first] = fake
    with TestClient(app) as client:
        assert client.post("/echo").text == "fake|FAKE|POST"
    assert "first" not in calls


def test_overrides_are_called_with_their_own_parameters_sync_ones_too() -> None:
    """As FastAPI calls them: a lambda (its docs' pattern), a plain def of the Request, an async
    override with another signature than what it replaces."""

    async def own_needs(request: Request) -> str:
        return request.method.lower()

    async def other_signature(value: Annotated[str, Depends(own_needs)]) -> str:
        return f"async-{value}"

    def sync_of_request(request: Request) -> str:
        return f"sync-{request.url.path}"

    for override, body in (
        (lambda: "lambda", "lambda|LAMBDA|POST"),
        (sync_of_request, "sync-/echo|SYNC-/ECHO|POST"),
        (other_signature, "async-post|ASYNC-POST|POST"),
    ):
        calls: list[str] = []
        app = _app(DirectRoute, calls, first=True)
        app.dependency_overrides[app.state.first] = override
        with TestClient(app) as client:
            assert client.post("/echo").text == body
        assert "first" not in calls


def test_an_override_with_query_parameters_is_refused_by_name() -> None:
    app = _app(DirectRoute, [], first=True)

    async def with_query(q: str) -> str:
        return q

    app.dependency_overrides[app.state.first] = with_query
    with TestClient(app) as client, pytest.raises(TypeError, match=r"with_query.*query"):
        client.post("/echo?q=1")


def test_what_a_direct_route_cannot_call_is_refused_when_built() -> None:
    router = APIRouter(route_class=DirectRoute)

    async def query(request: Request, q: str) -> str:  # a query parameter
        return q

    def blocking(request: Request) -> str:  # FastAPI would run it in the thread pool
        return "x"

    for dependency, reason in ((query, "query"), (blocking, "must be an async function")):
        with pytest.raises(TypeError, match=reason):

            @router.post("/x")
            async def endpoint(value: Annotated[str, Depends(dependency)]) -> Response:
                return Response(value)


def test_an_endpoint_that_returns_no_response_is_an_error() -> None:
    router = APIRouter(route_class=DirectRoute)

    @router.get("/model")
    async def model() -> dict[str, int]:
        return {"a": 1}

    app = FastAPI()
    include_first(app, router)
    with TestClient(app, raise_server_exceptions=False) as client:
        assert client.get("/model").status_code == 500
