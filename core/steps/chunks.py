"""A long backfill as chunks that can run in parallel and resume where a run stopped.

The chain has three phases and each must be complete over the whole range before the next
starts: a chunk's features read 252 curated sessions back, across the chunk boundary. Within a
phase, chunks are independent, so an orchestrator may run them side by side (one container
each on ECS). A finished chunk leaves a marker in the lake, written after its partitions: a
re-run skips it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Literal

from core.calendar import DateLike
from core.sources import MarketSource
from core.steps.context import Context, session_range
from core.steps.data import curate_market, features, ingest, labels

Phase = Literal["ingest", "curate", "derive"]
PHASES: tuple[Phase, ...] = ("ingest", "curate", "derive")
MARKERS = "_meta/backfill"


@dataclass(frozen=True)
class Chunk:
    """Consecutive sessions [start, end], as ISO dates (they travel as flow parameters)."""

    start: str
    end: str


def plan_chunks(start: DateLike, end: DateLike, sessions_per_chunk: int) -> list[Chunk]:
    """Split the sessions of [start, end] into consecutive chunks of at most N sessions."""
    if sessions_per_chunk < 1:
        raise ValueError(f"sessions_per_chunk must be >= 1, got {sessions_per_chunk}")
    days = session_range(start, end)
    return [
        Chunk(
            days[i].date().isoformat(),
            days[min(i + sessions_per_chunk, len(days)) - 1].date().isoformat(),
        )
        for i in range(0, len(days), sessions_per_chunk)
    ]


def marker_key(phase: Phase, chunk: Chunk) -> str:
    return f"{MARKERS}/{phase}/{chunk.start}_{chunk.end}.json"


def chunk_done(ctx: Context, phase: Phase, chunk: Chunk) -> bool:
    return ctx.lake.exists(marker_key(phase, chunk))


def run_chunk(
    ctx: Context,
    phase: Phase,
    chunk: Chunk,
    source: MarketSource | None = None,
    known_until: DateLike | None = None,
) -> dict:
    """One phase over one chunk; skipped when an earlier run finished it."""
    if phase not in PHASES:
        raise ValueError(f"unknown backfill phase {phase!r}; one of {PHASES}")
    head = {"phase": phase, "start": chunk.start, "end": chunk.end}
    if chunk_done(ctx, phase, chunk):
        return {**head, "skipped": "done in an earlier run"}
    lo, hi = chunk.start, chunk.end
    if phase == "ingest":
        summaries = [ingest(ctx, lo, hi, source=source, known_until=known_until)]
    elif phase == "curate":
        summaries = [curate_market(ctx, lo, hi)]
    else:
        summaries = [features(ctx, lo, hi), labels(ctx, lo, hi)]
    ctx.lake.put_bytes(marker_key(phase, chunk), json.dumps(summaries, default=str).encode())
    return {**head, "steps": summaries}
