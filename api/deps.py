"""The routes' typed dependencies (``Annotated[..., Depends(...)]``), as FastAPI projects write
them (fastapi/full-stack-fastapi-template's ``api/deps.py``): a route names what it needs in its
signature, and tests can override any of them through ``app.dependency_overrides``.

What they hand out lives on ``app.state``, set by the lifespan (api.main): the serving holder
and the worker's scoring process. Each is an ``async def``: FastAPI runs a plain ``def``
dependency in the thread pool, a hop per request for a getattr.

On /predict (a DirectRoute, api/routing.py) ``StateDep`` and ``ScorerDep`` cost at most ~4 us
of a ~75-105 us dated request in process, against reading ``app.state`` in the endpoint
(three interleaved pairs, within their noise; docs/benchmarks.md, API section): no exception
to the pattern was needed there. FastAPI's own solver was what cost (43% of the request).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from api.scorer import ScorerProcess
from core.serving import ServingHolder, ServingState


async def serving_holder(request: Request) -> ServingHolder:
    """The worker's ServingHolder (its snapshot and its refresh)."""
    holder: ServingHolder = request.app.state.holder
    return holder


async def serving_state(request: Request) -> ServingState:
    """The current snapshot, read once: the whole request works on it, whatever a refresh swaps
    in meanwhile."""
    state: ServingState = request.app.state.holder.state
    return state


async def scorer_process(request: Request) -> ScorerProcess:
    """The worker's scoring process (SHAP off the event loop)."""
    scorer: ScorerProcess = request.app.state.scorer
    return scorer


HolderDep = Annotated[ServingHolder, Depends(serving_holder)]
StateDep = Annotated[ServingState, Depends(serving_state)]
ScorerDep = Annotated[ScorerProcess, Depends(scorer_process)]
