"""A route class for the hot path: the typed dependencies of a route, called without FastAPI's
dependency solver.

FastAPI's ``solve_dependencies`` walks the dependency tree, builds cache keys, checks security
scopes and parameter kinds on every request: under cProfile, 43% of a dated /predict's
in-process time went there for one API key dependency (docs/benchmarks.md, API section). A
route whose dependencies are all ``async def`` functions of the Request and of other such
dependencies needs none of that: ``DirectRoute`` reads the same ``Dependant`` tree FastAPI built
for the route once (so OpenAPI, its security schemes included, is unchanged) and calls each
dependency with the request and its sub-dependencies' values, in FastAPI's order (route-level
``dependencies`` first, then the endpoint's parameters). ``app.dependency_overrides`` is
honoured as FastAPI honours it: an override is called with its own parameters (the Request,
its own dependencies), a plain ``def`` one in the thread pool.

What it refuses, with a TypeError when the route is built: a dependency (or the endpoint) with
path, query, header, cookie or body parameters, any special parameter other than the Request,
or a sync function (FastAPI would run it in the thread pool, a hop per request): declare such a
route with the plain APIRoute instead. An override with such parameters is refused the same
way, on the first request that uses it. Each dependency runs once per use, with no per-request
cache (FastAPI's ``use_cache``): every dependency this class serves is a cheap read of
``app.state``.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.dependencies.utils import get_dependant
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response


@dataclass(frozen=True)
class _Call:
    """One node of a route's dependency tree, ready to call."""

    call: Callable[..., Any]
    #: The parameters that take the Request (typed Request or HTTPConnection)
    request_names: tuple[str, ...]
    #: (parameter name, or None for a route-level dependency, run for its effect; the node)
    needs: tuple[tuple[str | None, _Call], ...]
    #: False only for an override (FastAPI runs a plain ``def`` in the thread pool)
    is_async: bool = True

    @classmethod
    def of(cls, dependant: Dependant, allow_sync: bool = False) -> _Call:
        call = dependant.call
        assert call is not None
        is_async = _check_direct(dependant, call, allow_sync)
        needs = tuple((d.name, cls.of(d)) for d in dependant.dependencies)
        names = (dependant.request_param_name, dependant.http_connection_param_name)
        return cls(call, tuple(n for n in names if n is not None), needs, is_async)

    async def __call__(self, request: Request, overrides: dict[Any, Any]) -> Any:
        if overrides and (override := overrides.get(self.call)) is not None:
            return await _override(override)(request, overrides)
        kwargs: dict[str, Any] = dict.fromkeys(self.request_names, request)
        for name, need in self.needs:
            value = await need(request, overrides)
            if name is not None:
                kwargs[name] = value
        if self.is_async:
            return await self.call(**kwargs)
        return await run_in_threadpool(self.call, **kwargs)


@functools.cache
def _override(override: Callable[..., Any]) -> _Call:
    """An override's own node: its parameters, as FastAPI reads them (get_dependant)."""
    return _Call.of(get_dependant(path="", call=override), allow_sync=True)


def _check_direct(dependant: Dependant, call: Callable[..., Any], allow_sync: bool) -> bool:
    """Whether ``call`` is async; TypeError unless it takes nothing but the Request and
    dependencies, and (unless ``allow_sync``) is async."""
    fields = (
        dependant.path_params,
        dependant.query_params,
        dependant.header_params,
        dependant.cookie_params,
        dependant.body_params,
    )
    special = (
        dependant.websocket_param_name,
        dependant.response_param_name,
        dependant.background_tasks_param_name,
        dependant.security_scopes_param_name,
    )
    asynchronous = inspect.iscoroutinefunction(call) or inspect.iscoroutinefunction(
        getattr(call, "__call__", None)  # noqa: B004 (a dependency object's method)
    )
    if any(fields) or any(name is not None for name in special):
        raise TypeError(
            f"{getattr(call, '__name__', call)!r}: a DirectRoute dependency must be a function "
            "of the Request and of other dependencies only (no path, query, header, cookie or "
            "body parameters)"
        )
    if not asynchronous and not allow_sync:
        raise TypeError(
            f"{getattr(call, '__name__', call)!r}: a DirectRoute dependency must be an async "
            "function (a plain def would run in the thread pool: use APIRoute for that route)"
        )
    return asynchronous


class DirectRoute(APIRoute):
    """An APIRoute whose dependencies are called directly (see the module docstring). Use it as
    an APIRouter's ``route_class`` for routes on the hot path."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        endpoint = _Call.of(self.dependant)

        async def handler(request: Request) -> Response:
            response = await endpoint(request, request.app.dependency_overrides)
            if not isinstance(response, Response):  # FastAPI would serialize it; this does not
                raise TypeError(f"{self.path}: a DirectRoute endpoint returns a Response")
            return response

        return handler


def include_first(app: FastAPI, router: APIRouter) -> None:
    """``router``'s DirectRoutes on the app's own route list, ahead of every other route.

    Starlette tries routes in order: the docs routes FastAPIOffline adds at construction (five,
    a Mount among them) would each cost a failed match per request, and ``include_router`` (in
    FastAPI 0.150) nests the router, one more match and its scope bookkeeping per request.
    Dated /predict in-process, CPU per request: 78-117 us included, 60-77 us first and flat
    (docs/benchmarks.md, API section). Nothing ``include_router`` does is lost for these
    routes: a DirectRoute reads ``dependency_overrides`` from the request's app, the router's
    tags are already the routes' own, and OpenAPI is the same document (tested)."""
    if not all(isinstance(route, DirectRoute) for route in router.routes):
        raise TypeError("include_first takes routers of DirectRoutes only")
    app.router.routes[0:0] = router.routes
