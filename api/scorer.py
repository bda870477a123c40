"""The server side of the scoring process (core.serving.scorer): asyncio pipes, no threads.

Each server worker owns one scoring process. Requests are written to its stdin as they come
and answers matched back by id, so the event loop never waits on SHAP; the process works
through its queue one row at a time at the cost of scoring alone. If the process dies, requests in
flight fail with ScorerUnavailable (the API answers 503) and the next request starts a new one.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import sys
from typing import Any

import numpy as np
from numpy.typing import NDArray

from core.explain import Driver
from core.serving import ServedVersion
from core.serving.scorer import ANSWER, Answer, answer_body_size, decode_answer, encode_request

log = logging.getLogger(__name__)

#: Longest a request waits for its SHAP answer (queue included) before a 503.
ANSWER_TIMEOUT_S = 30.0
#: A warm-up loads a model from the lake (S3 included).
WARM_TIMEOUT_S = 120.0


COMMAND = (sys.executable, "-m", "core.serving.scorer")


class ScorerUnavailable(RuntimeError):
    """The scoring process is down, timed out or could not score: the request gets a 503."""


class ScorerProcess:
    def __init__(self, env: dict[str, str] | None = None, command: tuple[str, ...] = COMMAND):
        self.command, self.env = command, env
        self._proc: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._ids = itertools.count()
        self._starting = asyncio.Lock()

    async def score(
        self, model: ServedVersion, row: NDArray[np.float64], k: int
    ) -> tuple[float, list[Driver]]:
        answer = await self._ask(model.version, row, k, ANSWER_TIMEOUT_S)
        names = model.names
        drivers: list[Driver] = [
            {"feature": names[i], "value": value, "shap": shap} for i, value, shap in answer.drivers
        ]
        return answer.rv_5d_hat, drivers

    async def warm(self, version: str) -> None:
        """Load ``version`` in the process now, so no request waits for it."""
        await self._ask(version, None, 0, WARM_TIMEOUT_S)

    async def _ask(
        self, version: str, row: NDArray[np.float64] | None, k: int, timeout: float
    ) -> Answer:
        proc = await self._running()
        request_id = next(self._ids) % 2**32
        future: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        try:
            assert proc.stdin is not None
            proc.stdin.write(encode_request(request_id, version, row, k))
            answer = await asyncio.wait_for(future, timeout)
        except (TimeoutError, ConnectionError) as exc:
            raise ScorerUnavailable(f"scoring process: {type(exc).__name__} {exc}") from None
        finally:
            self._pending.pop(request_id, None)
        if not answer.ok:
            raise ScorerUnavailable(f"scoring failed: {answer.error}")
        return answer

    async def _running(self) -> asyncio.subprocess.Process:
        async with self._starting:
            if self._proc is None or self._proc.returncode is not None:
                self._proc = await asyncio.create_subprocess_exec(
                    *self.command,
                    stdin=asyncio.subprocess.PIPE,
                    stdout=asyncio.subprocess.PIPE,
                    env=self.env,
                    limit=2**20,
                )
                self._reader = asyncio.create_task(self._read_answers(self._proc))
                log.info("scoring process %s started", self._proc.pid)
            return self._proc

    async def _read_answers(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdout is not None
        with contextlib.suppress(asyncio.IncompleteReadError):
            while True:
                header = await proc.stdout.readexactly(ANSWER.size)
                body = await proc.stdout.readexactly(answer_body_size(header))
                answer = decode_answer(header, body)
                future = self._pending.get(answer.request_id)
                if future is not None and not future.done():
                    future.set_result(answer)
        # EOF: the process is gone; nothing in flight will be answered.
        for future in self._pending.values():
            if not future.done():
                future.set_exception(ScorerUnavailable("scoring process exited"))
        log.warning("scoring process %s exited (code %s)", proc.pid, await proc.wait())

    async def stop(self, timeout: float = 10.0) -> None:
        """Close its stdin (it exits when the queue is done); kill it if it does not."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.stdin is not None:
            proc.stdin.close()
        try:
            await asyncio.wait_for(proc.wait(), timeout)
        except TimeoutError:
            proc.kill()
            await proc.wait()
        if self._reader is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
