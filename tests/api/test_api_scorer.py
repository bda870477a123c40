"""The scoring process's protocol, in process: the numbers equal a direct call, warm-ups, and a
bad request answered with an error instead of ending the loop."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

from core.config import Settings
from core.lake import Lake
from core.models.registry import ModelRegistry, RegistryError
from core.serving import ServedVersion, ServingHolder
from core.serving.scorer import (
    ANSWER,
    REQUEST,
    Scorer,
    answer_body_size,
    decode_answer,
    encode_request,
    load_serving_model,
    serve,
)
from tests.api.conftest import _METADATA_KEYS, ServedLake


def _answers(raw: bytes) -> list:
    stream, out = io.BytesIO(raw), []
    while header := stream.read(ANSWER.size):
        out.append(decode_answer(header, stream.read(answer_body_size(header))))
    return out


def test_protocol_round_trip_equals_a_direct_call(served_lake: ServedLake) -> None:
    registry = ModelRegistry(Lake(str(served_lake.root)))
    model = load_serving_model(registry, served_lake.version)
    rows = np.random.default_rng(0).normal(0.15, 0.05, size=(3, len(model.names)))
    requests = b"".join(
        [
            encode_request(1, served_lake.version, None, 0),  # warm-up
            encode_request(2, served_lake.version, rows[0], 10),
            encode_request(3, served_lake.version, rows[1][:5], 10),  # wrong length
            encode_request(4, "20990101T000000Z-deadbeef", rows[2], 5),  # unknown version
            encode_request(5, served_lake.version, rows[2], 3),
        ]
    )
    sink = io.BytesIO()
    serve(io.BytesIO(requests), sink, Scorer(registry))
    answers = _answers(sink.getvalue())
    assert [a.request_id for a in answers] == [1, 2, 3, 4, 5]
    assert [a.ok for a in answers] == [True, True, False, False, True]
    assert "row has 5 values" in answers[2].error
    assert "deadbeef" in answers[3].error
    for answer, row, k in ((answers[1], rows[0], 10), (answers[4], rows[2], 3)):
        vol, drivers = model.score_row(row, k)
        assert answer.rv_5d_hat == vol  # float64 over the pipe: bit for bit
        assert [(model.names[i], v, s) for i, v, s in answer.drivers] == [
            (d["feature"], d["value"], d["shap"]) for d in drivers
        ]


def test_a_truncated_request_ends_the_loop_quietly(served_lake: ServedLake) -> None:
    registry = ModelRegistry(Lake(str(served_lake.root)))
    sink = io.BytesIO()
    serve(io.BytesIO(REQUEST.pack(1, 5, 3, 0)[:7]), sink, Scorer(registry))
    assert sink.getvalue() == b""


def test_the_worker_reads_metadata_and_the_scoring_process_checks_it(
    served_lake: ServedLake, lake_copy: Path
) -> None:
    """The worker's ServedVersion comes from metadata alone (no model in the worker); the
    scoring process loads the model and refuses a version whose metadata names its features in
    another order, and the worker then keeps what it served (the warm-up aborts the swap)."""
    registry = ModelRegistry(Lake(str(lake_copy)))
    loaded = load_serving_model(registry, served_lake.version)
    scorer = Scorer(registry)
    holder = ServingHolder(Settings(lake_uri=str(lake_copy)))

    def warm(version: ServedVersion) -> None:  # what the server's warm-up has its process do
        scorer.model(version.version)

    holder.before_swap.append(warm)
    assert holder.refresh()
    served = holder.state.model
    assert isinstance(served, ServedVersion) and not hasattr(served, "model")
    assert served.version == served_lake.version and served.names == loaded.names

    meta = {k: v for k, v in registry.show(served_lake.version).items() if k in _METADATA_KEYS}
    meta["features"] = list(reversed(meta["features"]))
    shuffled = registry.register(
        registry.load_files(served_lake.version), meta, version=f"{served_lake.version}-shuffled"
    )
    with pytest.raises(RegistryError, match="its metadata lists"):
        load_serving_model(registry, shuffled)
    registry.promote(shuffled, override="test: metadata that disagrees with the model")
    assert not holder.refresh()
    assert "its metadata lists" in (holder.last_refresh_error or "")
    assert holder.state.model is served
