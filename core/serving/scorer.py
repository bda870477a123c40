"""A scoring process: one SHAP call per request, models by version, nothing else.

Run as ``python -m core.serving.scorer`` with the same VOLCAST_* environment as the server.
It reads binary requests on stdin and answers each on stdout, in order (formats below).

Why a process: scoring a row is CPU work (~0.3 ms with the SHAP tables of
core.models.tree_shap; ~3 ms through CatBoost's own call, which trees the tables do not cover
still take), and the event loop must not do it. Not a thread: CatBoost's SHAP releases and
re-takes the GIL many times per call, and next to a busy event loop each re-take waits for the
loop's switch interval (one row went from ~3 ms to ~130 ms; docs/benchmarks.md); numpy's small
calls hold the GIL throughout. A process per server worker keeps both at their own cost.

Why binary: the row and the drivers are floats; formatting and parsing 44 of them as JSON text
costs ~0.1 ms a side, a large share of a ~0.3 ms score. Raw float64 is exact.

Request:  header (id u32, k u16, version length u16, n u32), version (UTF-8), n float64 values
          in the model's feature order; n == 0 only loads the version (a warm-up).
Answer:   header (id u32, status u8, rv_5d_hat f64, count u16), then on status OK ``count``
          drivers (feature index u16, value f64, shap f64), largest |shap| first; on status
          ERROR ``count`` bytes of UTF-8 message. A warm-up answers OK with count 0.
"""

from __future__ import annotations

import os
import struct
import sys
from dataclasses import dataclass
from typing import IO

import numpy as np
from numpy.typing import NDArray

from core.config import Settings
from core.lake import Lake
from core.models.registry import ModelRegistry, RegistryError
from core.models.servable import load_version
from core.serving.state import ServingModel

#: Versions kept loaded: the one serving and the one it replaced (requests in flight at a swap).
KEEP_VERSIONS = 2
#: One CatBoost thread per scoring call: a server runs one worker process per core, and one
#: row's SHAP does not get faster with more threads (measured), it only contends.
SERVING_THREADS = 1

REQUEST = struct.Struct("<IHHI")
ANSWER = struct.Struct("<IBdH")
DRIVER = struct.Struct("<Hdd")
OK, ERROR = 0, 1


def encode_request(request_id: int, version: str, row: NDArray[np.float64] | None, k: int) -> bytes:
    name = version.encode()
    values = b"" if row is None else np.ascontiguousarray(row, dtype="<f8").tobytes()
    return REQUEST.pack(request_id, k, len(name), len(values) // 8) + name + values


@dataclass(frozen=True)
class Answer:
    request_id: int
    ok: bool
    rv_5d_hat: float
    drivers: list[tuple[int, float, float]]  # (feature index, value, shap)
    error: str | None


def decode_answer(header: bytes, body: bytes) -> Answer:
    request_id, status, vol, _ = ANSWER.unpack(header)
    if status != OK:
        return Answer(request_id, False, float("nan"), [], body.decode(errors="replace"))
    return Answer(request_id, True, vol, list(DRIVER.iter_unpack(body)), None)


def answer_body_size(header: bytes) -> int:
    """Bytes that follow an answer header."""
    _, status, _, count = ANSWER.unpack(header)
    return count * DRIVER.size if status == OK else count


def load_serving_model(registry: ModelRegistry, version: str) -> ServingModel:
    """A registered version of either kind, checked against its sha256s and loaded for
    one-thread scoring, with what it needs precomputed (SHAP tables for CatBoost).
    RegistryError when the model's features are not its metadata's (the API worker names
    drivers and checks posted vectors by the metadata, core.serving.state.ServedVersion)."""
    model, meta = load_version(registry, version, SERVING_THREADS)
    loaded = ServingModel(version, model)
    if list(loaded.names) != list(meta["features"]):
        raise RegistryError(
            f"model version {version}: its model reads {list(loaded.names)}, its metadata "
            f"lists {meta['features']}"
        )
    model.prepare_serving()  # now, not in the first request that needs SHAP
    return loaded


class Scorer:
    """Models by version, loaded on first use, the most recent KEEP_VERSIONS kept."""

    def __init__(self, registry: ModelRegistry):
        self.registry = registry
        self.models: dict[str, ServingModel] = {}

    def model(self, version: str) -> ServingModel:
        if version not in self.models:
            self.models[version] = load_serving_model(self.registry, version)
            while len(self.models) > KEEP_VERSIONS:
                del self.models[next(iter(self.models))]
        return self.models[version]

    def answer(self, request_id: int, version: str, row: NDArray[np.float64], k: int) -> bytes:
        model = self.model(version)
        if row.size == 0:
            return ANSWER.pack(request_id, OK, 0.0, 0)
        if row.size != len(model.names):
            raise ValueError(f"row has {row.size} values, {version} needs {len(model.names)}")
        vol, drivers = model.score_row(row, k)
        body = b"".join(
            DRIVER.pack(model.positions[str(d["feature"])], d["value"], d["shap"]) for d in drivers
        )
        return ANSWER.pack(request_id, OK, vol, len(drivers)) + body


def serve(source: IO[bytes], sink: IO[bytes], scorer: Scorer) -> None:
    """Answer every request from ``source`` until it closes (the server stopping)."""
    while header := source.read(REQUEST.size):
        if len(header) < REQUEST.size:
            return  # the server went away mid-request
        request_id, k, name_len, n = REQUEST.unpack(header)
        version = source.read(name_len).decode()
        row = np.frombuffer(source.read(8 * n), dtype="<f8")
        try:
            sink.write(scorer.answer(request_id, version, row, k))
        except Exception as exc:  # one bad request must not end the process
            message = f"{type(exc).__name__}: {exc}".encode()[:60000]
            sink.write(ANSWER.pack(request_id, ERROR, 0.0, len(message)) + message)
        sink.flush()


def main() -> None:
    # Answers go to the original stdout; anything else printed there (a library's warning,
    # even from C) would break the protocol, so fd 1 now points at stderr.
    answers = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    settings = Settings()
    registry = ModelRegistry(
        Lake(settings.lake_uri, settings.aws_endpoint_url, settings.aws_region)
    )
    serve(sys.stdin.buffer, answers, Scorer(registry))


if __name__ == "__main__":
    main()
