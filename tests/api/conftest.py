"""Lakes and clients for the API tests: one backfill and one model per session, copied per test
where a test changes the lake (swaps, new partitions)."""

from __future__ import annotations

import shutil
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

with warnings.catch_warnings():  # starlette warns, on import, that TestClient moves to httpx2
    warnings.simplefilter("ignore", DeprecationWarning)
    from fastapi.testclient import TestClient

from api.main import create_app
from core.config import Settings
from core.lake import Lake
from core.models.registry import REGISTRY_KEYS, ModelRegistry
from loadtest.lake import PreparedLake, backfill_lake, promote_and_infer
from tests.api.servers import Server, gunicorn

# starlette's TestClient warns that it will move from httpx to httpx2: not this code's concern.
STARLETTE_HTTPX = "ignore:Using `httpx` with `starlette.testclient`"


@dataclass(frozen=True)
class ServedLake:
    prepared: PreparedLake
    #: A second complete version (the same model files under another id), never promoted here.
    other_version: str

    @property
    def root(self) -> Path:
        return self.prepared.root

    @property
    def version(self) -> str:
        return self.prepared.version


@pytest.fixture(scope="session")
def base_lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Features and labels 2019-2022 (synthetic), no model."""
    return backfill_lake(tmp_path_factory.mktemp("api-base") / "lake")


@pytest.fixture(scope="session")
def served_lake(base_lake: Path, tmp_path_factory: pytest.TempPathFactory) -> ServedLake:
    root = tmp_path_factory.mktemp("api-served") / "lake"
    shutil.copytree(base_lake, root)
    prepared = promote_and_infer(root)
    registry = ModelRegistry(Lake(str(root)))
    meta = {k: v for k, v in registry.show(prepared.version).items() if k in _METADATA_KEYS}
    other = registry.register(
        registry.load_files(prepared.version), meta, version=f"{prepared.version}-b"
    )
    return ServedLake(prepared, other)


_METADATA_KEYS = ("features", "training_data", "params", "metrics", "gate", "code_version")
assert not set(_METADATA_KEYS) & set(REGISTRY_KEYS)


@pytest.fixture
def lake_copy(served_lake: ServedLake, tmp_path: Path) -> Path:
    """A private copy of the served lake, for tests that change it."""
    root = tmp_path / "lake"
    shutil.copytree(served_lake.root, root)
    return root


@contextmanager
def api_client(lake_root: Path | str, **settings: object) -> Iterator[TestClient]:
    """The app on ``lake_root`` with its lifespan (load, scoring process) run; no background
    poll unless a test asks for one (refresh_seconds)."""
    config = Settings(
        lake_uri=str(lake_root), serving_refresh_seconds=settings.pop("refresh", 3600.0), **settings
    )
    with TestClient(create_app(config)) as client:
        yield client


@pytest.fixture(scope="module")
def client(served_lake: ServedLake) -> Iterator[TestClient]:
    with api_client(served_lake.root) as c:
        yield c


@pytest.fixture(scope="session")
def served(served_lake: ServedLake, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One gunicorn (2 workers) on the served lake for the tests that only read."""
    with gunicorn(served_lake.root, tmp_path_factory.mktemp("gunicorn-logs"), workers=2) as server:
        yield server


@pytest.fixture(scope="session")
def served_url(served: Server) -> str:
    return served.url
