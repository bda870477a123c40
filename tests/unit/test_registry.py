"""Model registry: immutable versions, PRODUCTION pointer, gate-checked promotion, rollback, pin.

Runs on a local lake, and the core lifecycle once more on S3 (moto server, real HTTP).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest

from core.lake import Lake
from core.models.gate import decide
from core.models.registry import (
    IDENTITY_DIR,
    POINTER_KEY,
    GateRefused,
    ModelRegistry,
    NoPreviousVersion,
    RegistryError,
    VersionExists,
    VersionNotFound,
    identity_hash,
)

HARX = {"qlike": 0.2, "rmse_variance": 0.01}
MODEL = b"\x00catboost-model-bytes\xff"


def ticking_clock(start: str = "2026-11-25T22:15:00+00:00") -> Callable[[], dt.datetime]:
    """A clock that advances one second per call: deterministic, strictly increasing ids."""
    moments: Iterator[dt.datetime] = (
        dt.datetime.fromisoformat(start) + dt.timedelta(seconds=i) for i in range(10**6)
    )
    return lambda: next(moments)


def metadata(passed: bool = True, **extra: Any) -> dict[str, Any]:
    good, bad = {"qlike": 0.19, "rmse_variance": 0.0095}, {"qlike": 0.199, "rmse_variance": 0.0099}
    cand = good if passed else bad
    gate = decide(cand, HARX, min_improvement=0.025)
    assert gate.passed is passed
    return {
        "features": ["rv_1d", "rv_5d", "vix", "vix_term"],
        "training_data": {"start": "2007-04-11", "end": "2026-11-20", "content_hash": "ab" * 32},
        "params": {"depth": 6, "iterations": 500},
        "metrics": {**cand, "n": 1200, "detail": {"nested": True}},
        "gate": gate.to_dict(),
        **extra,
    }


@pytest.fixture
def lake(tmp_path) -> Lake:
    return Lake(str(tmp_path / "lake"))


@pytest.fixture
def registry(lake: Lake) -> ModelRegistry:
    return ModelRegistry(lake, clock=ticking_clock())


def pointer_json(lake: Lake) -> dict[str, Any]:
    pointer = json.loads(lake.get_bytes(POINTER_KEY))
    assert pointer["format"] == 1
    assert isinstance(pointer["version"], str)
    assert isinstance(pointer["previous"], list)
    dt.datetime.fromisoformat(pointer["promoted_at"])  # a valid timestamp
    return pointer


# -- register / list / show ------------------------------------------------------------------
def test_register_writes_files_and_metadata_and_ids_sort_by_time(
    registry: ModelRegistry, lake: Lake, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VOLCAST_CODE_VERSION", "abc1234")
    v1 = registry.register({"model.cbm": MODEL, "extra/notes.txt": b"hi"}, metadata())
    v2 = registry.register({"model.cbm": MODEL + b"2"}, metadata())
    assert re.fullmatch(r"20261125T221500Z-[0-9a-f]{8}", v1)
    assert re.fullmatch(r"20261125T22150[1-9]Z-[0-9a-f]{8}", v2)
    assert sorted([v2, v1]) == [v1, v2]

    assert lake.get_bytes(f"artifacts/model/{v1}/model.cbm") == MODEL
    meta = json.loads(lake.get_bytes(f"artifacts/model/{v1}/metadata.json"))
    assert meta["version"] == v1
    assert meta["created_at"] == "2026-11-25T22:15:00Z"
    assert meta["code_version"] == "abc1234"
    assert meta["features"] == ["rv_1d", "rv_5d", "vix", "vix_term"]  # order kept
    assert meta["training_data"]["content_hash"] == "ab" * 32
    assert meta["params"] == {"depth": 6, "iterations": 500}
    assert meta["gate"]["passed"] is True
    assert set(meta["files"]) == {"model.cbm", "extra/notes.txt"}
    assert meta["files"]["model.cbm"]["bytes"] == len(MODEL)

    assert registry.load_files(v1) == {"model.cbm": MODEL, "extra/notes.txt": b"hi"}


def test_list_summarizes_versions_oldest_first(registry: ModelRegistry) -> None:
    v1 = registry.register({"model.cbm": MODEL}, metadata())
    v2 = registry.register({"model.cbm": MODEL}, metadata(passed=False))
    registry.promote(v1)
    infos = registry.list()
    assert [i.version for i in infos] == [v1, v2]
    assert [i.promoted for i in infos] == [True, False]
    assert [i.gate_passed for i in infos] == [True, False]
    assert infos[0].metrics == {"qlike": 0.19, "rmse_variance": 0.0095, "n": 1200.0}
    assert infos[0].created_at == "2026-11-25T22:15:00Z"


def test_show_merges_metadata_and_events(registry: ModelRegistry) -> None:
    v1 = registry.register({"model.cbm": MODEL}, metadata())
    shown = registry.show(v1)
    assert shown["version"] == v1 and shown["events"] == [] and shown["promoted"] == []
    assert shown["override"] is None and shown["is_production"] is False
    registry.promote(v1)
    shown = registry.show(v1)
    assert [e["event"] for e in shown["events"]] == ["promoted"]
    assert shown["promoted"][0]["via"] == "promote" and shown["promoted"][0]["previous"] is None
    assert shown["is_production"] is True


def test_code_version_falls_back_to_git_sha(
    registry: ModelRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("VOLCAST_CODE_VERSION", raising=False)
    v = registry.register({"model.cbm": MODEL}, metadata())
    code = registry.show(v)["code_version"]
    # a git checkout here; an installed package elsewhere
    assert re.fullmatch(r"[0-9a-f]{40}(\+dirty)?", code) or code.startswith("volcast==")


def test_metadata_is_validated(registry: ModelRegistry) -> None:
    bad = metadata()
    del bad["training_data"]
    with pytest.raises(ValueError, match="training_data"):
        registry.register({"model.cbm": MODEL}, bad)
    with pytest.raises(ValueError, match="set by the registry"):
        registry.register({"model.cbm": MODEL}, metadata(version="x"))
    with pytest.raises(ValueError, match="features"):
        registry.register({"model.cbm": MODEL}, {**metadata(), "features": ["a", "a"]})
    with pytest.raises(ValueError, match="passed"):
        registry.register({"model.cbm": MODEL}, {**metadata(), "gate": {"reason": "?"}})
    for name in ("metadata.json", "events/x.json", "../escape", "/abs", ""):
        with pytest.raises(ValueError, match="file name"):
            registry.register({name: MODEL}, metadata())
    assert registry.list() == []  # nothing half-registered


def test_numpy_and_nan_metadata_become_strict_json(registry: ModelRegistry, lake: Lake) -> None:
    np = pytest.importorskip("numpy")
    meta = metadata()
    meta["metrics"] = {**meta["metrics"], "dm_p": float("nan"), "qlike": np.float64(0.19)}
    v = registry.register({"model.cbm": MODEL}, meta)
    raw = lake.get_bytes(f"artifacts/model/{v}/metadata.json").decode()
    assert "NaN" not in raw
    stored = json.loads(raw)["metrics"]
    assert stored["dm_p"] is None and stored["qlike"] == 0.19


# -- immutability -----------------------------------------------------------------------------
def test_reregistering_an_existing_id_raises_and_leaves_files_unchanged(
    registry: ModelRegistry, lake: Lake
) -> None:
    v = registry.register({"model.cbm": MODEL}, metadata(), version="v-fixed")
    meta_before = lake.get_bytes("artifacts/model/v-fixed/metadata.json")
    with pytest.raises(VersionExists, match="immutable"):
        registry.register({"model.cbm": b"other"}, metadata(), version=v)
    assert lake.get_bytes("artifacts/model/v-fixed/model.cbm") == MODEL
    assert lake.get_bytes("artifacts/model/v-fixed/metadata.json") == meta_before


def test_find_identical_finds_the_same_model_and_nothing_else(
    registry: ModelRegistry, lake: Lake, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VOLCAST_CODE_VERSION", "abc1234")
    assert registry.find_identical(metadata()) is None  # nothing registered yet
    v1 = registry.register({"model.cbm": MODEL}, metadata())
    # The same inputs and verdict: found, whatever the files' bytes (CatBoost writes a fresh
    # GUID into each .cbm) or the words of why it was fitted.
    reworded = metadata()
    reworded["gate"] = {**reworded["gate"], "reason": "weekly refit", "figures": {"x": 1}}
    assert registry.find_identical(reworded) == v1
    # Other data, another verdict, other parameters: another model.
    other_data = metadata(training_data={"start": "2007-04-11", "end": "2026-11-27",
                                         "content_hash": "cd" * 32})  # fmt: skip
    assert registry.find_identical(other_data) is None
    assert registry.find_identical(metadata(passed=False)) is None
    assert registry.find_identical({**metadata(), "params": {"depth": 4}}) is None
    # Other code: another model.
    monkeypatch.setenv("VOLCAST_CODE_VERSION", "def5678")
    assert registry.find_identical(metadata()) is None
    monkeypatch.setenv("VOLCAST_CODE_VERSION", "abc1234")
    # An index entry naming a version that is not that model is not believed.
    wrong = identity_hash({**metadata(passed=False), "code_version": "abc1234"})
    lake.put_bytes(
        f"artifacts/model/{IDENTITY_DIR}/{wrong}.json", json.dumps({"version": v1}).encode()
    )
    assert registry.find_identical(metadata(passed=False)) is None
    # The index is not a version: listing is unchanged.
    assert [i.version for i in registry.list()] == [v1]


def test_events_never_touch_the_registered_objects(registry: ModelRegistry, lake: Lake) -> None:
    v1 = registry.register({"model.cbm": MODEL}, metadata())
    v2 = registry.register({"model.cbm": MODEL}, metadata())
    meta_before = lake.get_bytes(f"artifacts/model/{v1}/metadata.json")
    registry.promote(v1)
    registry.promote(v2)
    registry.rollback()
    assert lake.get_bytes(f"artifacts/model/{v1}/metadata.json") == meta_before
    assert registry.load_files(v1) == {"model.cbm": MODEL}
    events = registry.show(v1)["events"]
    assert [(e["event"], e["via"]) for e in events] == [
        ("promoted", "promote"),
        ("retired", "promote"),
        ("promoted", "rollback"),
    ]
    assert [(e["event"], e["via"]) for e in registry.show(v2)["events"]] == [
        ("promoted", "promote"),
        ("retired", "rollback"),
    ]


def test_tampered_artifact_is_detected(registry: ModelRegistry, lake: Lake) -> None:
    v = registry.register({"model.cbm": MODEL}, metadata())
    lake.put_bytes(f"artifacts/model/{v}/model.cbm", b"swapped")
    with pytest.raises(RegistryError, match="sha256"):
        registry.load_files(v)


def test_incomplete_version_is_invisible_and_cannot_be_reused(
    registry: ModelRegistry, lake: Lake
) -> None:
    lake.put_bytes("artifacts/model/20261125T000000Z-deadbeef/model.cbm", MODEL)  # crash here
    complete = registry.register({"model.cbm": MODEL}, metadata())
    assert [i.version for i in registry.list()] == [complete]
    with pytest.raises(VersionNotFound):
        registry.show("20261125T000000Z-deadbeef")
    with pytest.raises(VersionNotFound):
        registry.promote("20261125T000000Z-deadbeef", override="even with a reason")
    with pytest.raises(VersionExists, match="half-written"):
        registry.register({"model.cbm": MODEL}, metadata(), version="20261125T000000Z-deadbeef")


# -- promote / rollback -------------------------------------------------------------------------
def test_promote_then_rollback_restores_the_previous_version(
    registry: ModelRegistry, lake: Lake
) -> None:
    assert registry.production() is None
    v1 = registry.register({"model.cbm": MODEL}, metadata())
    v2 = registry.register({"model.cbm": MODEL + b"2"}, metadata())
    v3 = registry.register({"model.cbm": MODEL + b"3"}, metadata())

    registry.promote(v1)
    p = pointer_json(lake)
    assert (p["version"], p["previous"], p["via"]) == (v1, [], "promote")

    registry.promote(v2)
    registry.promote(v3)
    p = pointer_json(lake)
    assert p["version"] == v3
    assert [e["version"] for e in p["previous"]] == [v2, v1]  # most recent first

    assert registry.rollback() == v2
    p = pointer_json(lake)
    assert (p["version"], p["via"]) == (v2, "rollback")
    assert [e["version"] for e in p["previous"]] == [v1]
    assert registry.production() == v2

    assert registry.rollback() == v1
    assert pointer_json(lake)["previous"] == []
    with pytest.raises(NoPreviousVersion):
        registry.rollback()
    assert registry.production() == v1  # a refused rollback changes nothing


def test_rollback_without_production_raises(registry: ModelRegistry) -> None:
    with pytest.raises(NoPreviousVersion, match="unset"):
        registry.rollback()


def test_promoting_the_current_version_again_is_a_no_op(
    registry: ModelRegistry, lake: Lake
) -> None:
    v1 = registry.register({"model.cbm": MODEL}, metadata())
    registry.promote(v1)
    before = lake.get_bytes(POINTER_KEY)
    registry.promote(v1)
    assert lake.get_bytes(POINTER_KEY) == before
    assert len(registry.show(v1)["events"]) == 1


def test_gate_failed_version_needs_an_override_reason(registry: ModelRegistry, lake: Lake) -> None:
    good = registry.register({"model.cbm": MODEL}, metadata())
    bad = registry.register({"model.cbm": MODEL + b"x"}, metadata(passed=False))
    registry.promote(good)
    for missing in (None, "", "   "):
        with pytest.raises(GateRefused, match=r"below the 2\.5% bar"):
            registry.promote(bad, override=missing)
    assert registry.production() == good

    registry.promote(bad, override="  HAR-X window contaminated by 2020; checked by hand  ")
    assert registry.production() == bad
    p = pointer_json(lake)
    assert p["override"] == "HAR-X window contaminated by 2020; checked by hand"
    shown = registry.show(bad)
    assert shown["override"] == "HAR-X window contaminated by 2020; checked by hand"
    assert shown["promoted"][0]["previous"] == good
    assert registry.show(good)["override"] is None
    assert registry.rollback() == good


def test_unknown_version_cannot_be_promoted(registry: ModelRegistry) -> None:
    with pytest.raises(VersionNotFound, match="nope"):
        registry.promote("nope")
    with pytest.raises(ValueError, match="invalid version id"):
        registry.promote("../PRODUCTION")


# -- resolve (pin beats PRODUCTION) ----------------------------------------------------------
def test_resolve_pin_wins_over_production(registry: ModelRegistry, lake: Lake) -> None:
    assert registry.resolve(None) is None  # nothing promoted: the API answers 503
    v1 = registry.register({"model.cbm": MODEL}, metadata())
    v2 = registry.register({"model.cbm": MODEL + b"2"}, metadata())
    registry.promote(v2)
    assert registry.resolve(None) == v2
    assert registry.resolve("") == v2
    assert registry.resolve(v1) == v1
    with pytest.raises(VersionNotFound, match="20990101T000000Z-00000000"):
        registry.resolve("20990101T000000Z-00000000")

    lake.put_bytes(POINTER_KEY, b"20990101T000000Z-00000000\n")  # hand-edited, dangling
    with pytest.raises(VersionNotFound, match="PRODUCTION points to"):
        registry.resolve(None)
    lake.put_bytes(POINTER_KEY, f"{v1}\n".encode())  # hand-edited plain-text pointer
    assert registry.resolve(None) == v1
    registry.promote(v2)  # a JSON pointer again, with the manual one as history
    assert pointer_json(lake)["previous"][0]["version"] == v1


def test_materialize_writes_loadable_files(registry: ModelRegistry, tmp_path) -> None:
    v = registry.register({"model.cbm": MODEL, "sub/cols.json": b"[]"}, metadata())
    out = registry.materialize(v, tmp_path / "checkout")
    assert (out / "model.cbm").read_bytes() == MODEL
    assert (out / "sub" / "cols.json").read_bytes() == b"[]"
    assert json.loads((out / "metadata.json").read_text())["version"] == v


# -- the same lifecycle on S3 --------------------------------------------------------------------
@pytest.mark.integration
def test_lifecycle_on_s3(moto_endpoint: str) -> None:
    bucket = f"volcast-reg-{uuid.uuid4().hex[:10]}"
    boto3.client("s3", endpoint_url=moto_endpoint).create_bucket(Bucket=bucket)
    lake = Lake(f"s3://{bucket}/lake", endpoint_url=moto_endpoint)
    registry = ModelRegistry(lake, clock=ticking_clock())

    lake.put_bytes("artifacts/model/20260101T000000Z-00000000/model.cbm", MODEL)  # incomplete
    v1 = registry.register({"model.cbm": MODEL}, metadata())
    v2 = registry.register({"model.cbm": MODEL + b"2"}, metadata(passed=False))
    assert [i.version for i in registry.list()] == [v1, v2]
    with pytest.raises(VersionExists):
        registry.register({"model.cbm": b"other"}, metadata(), version=v1)
    assert registry.load_files(v1) == {"model.cbm": MODEL}

    registry.promote(v1)
    with pytest.raises(GateRefused):
        registry.promote(v2)
    registry.promote(v2, override="manual")
    assert pointer_json(lake)["previous"][0]["version"] == v1
    assert registry.show(v2)["override"] == "manual"
    assert [i.promoted for i in registry.list()] == [False, True]
    assert registry.rollback() == v1
    assert registry.resolve(None) == v1
    assert registry.resolve(v2) == v2

    keys = {
        o["Key"]
        for o in boto3.client("s3", endpoint_url=moto_endpoint).list_objects_v2(
            Bucket=bucket, Prefix=f"lake/artifacts/model/{v2}/"
        )["Contents"]
    }
    assert f"lake/artifacts/model/{v2}/metadata.json" in keys
    assert sum("/events/" in k for k in keys) == 2  # promoted (override), retired (rollback)
