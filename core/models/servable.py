"""The kinds of model that serve forecasts, behind one interface, and the one way to load them.

Two kinds (``metadata.json`` says which, as ``kind``):

- ``harx_vix``: the HAR-X(VIX) baseline, the gate's own reference and the first champion
  (core.models.baselines.LinearVarianceModel, OLS on log variance). Its SHAP values are exact
  linear ones.
- ``catboost``: the challenger (core.models.candidate.CandidateModel), CatBoost boosting from
  a linear offset. Its SHAP values are TreeSHAP plus the offset's exact linear share.

Both map a feature row to annualized vol through a raw prediction that their SHAP values add
up to (``expected_value + sum(contributions) == raw_prediction``) and ``vol_from_raw``, so
serving and the batch infer step treat them alike. Versions registered before kinds existed
hold no ``kind`` and are CatBoost models.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from core.models.baselines import LinearVarianceModel, harx_vix
from core.models.candidate import load_candidate
from core.models.registry import LEGACY_KIND, ModelRegistry

ModelKind = Literal["harx_vix", "catboost"]
#: The champion's reference kind: the baseline every challenger must beat.
REFERENCE_KIND: ModelKind = "harx_vix"
#: The challenger's kind.
CHALLENGER_KIND: ModelKind = "catboost"


class ServableModel(Protocol):
    """What serving, the infer step and the canary need from a fitted model."""

    name: str

    @property
    def feature_names(self) -> tuple[str, ...] | None: ...

    def predict_vol(self, X: pd.DataFrame | NDArray[np.float64]) -> NDArray[np.float64]: ...

    def raw_prediction(self, X: pd.DataFrame | NDArray[np.float64]) -> NDArray[np.float64]: ...

    def vol_from_raw(self, raw: NDArray[np.float64] | float) -> NDArray[np.float64]: ...

    def shap_values(
        self, X: pd.DataFrame | NDArray[np.float64]
    ) -> tuple[NDArray[np.float64], float]: ...

    def prepare_serving(self) -> None: ...

    def save(self, folder: str | Path) -> list[Path]: ...


def model_kind(metadata: Mapping[str, Any]) -> ModelKind:
    """The kind a version's metadata records (``LEGACY_KIND`` when it records none)."""
    kind = metadata.get("kind") or LEGACY_KIND
    if kind == REFERENCE_KIND:
        return REFERENCE_KIND
    if kind == CHALLENGER_KIND:
        return CHALLENGER_KIND
    raise ValueError(f"unknown model kind {kind!r} (known: {REFERENCE_KIND}, {CHALLENGER_KIND})")


def new_reference() -> LinearVarianceModel:
    """An unfitted HAR-X(VIX) champion: the same recipe as the gate's reference."""
    return harx_vix()


def load_model(folder: str | Path, kind: ModelKind, thread_count: int = 1) -> ServableModel:
    """A fitted model of ``kind`` from the files ``save`` wrote into ``folder``."""
    if kind == REFERENCE_KIND:
        return LinearVarianceModel.load(folder)
    return load_candidate(folder, thread_count=thread_count)


def model_files(model: ServableModel) -> dict[str, bytes]:
    """The files a model saves, by name, as bytes (what ``ModelRegistry.register`` stores)."""
    with tempfile.TemporaryDirectory(prefix="volcast-model-") as folder:
        root = Path(folder)
        return {path.relative_to(root).as_posix(): path.read_bytes() for path in model.save(root)}


def load_version(
    registry: ModelRegistry, version: str, thread_count: int = 1
) -> tuple[ServableModel, dict[str, Any]]:
    """(model, metadata) of a registered version: files checked against their sha256, loaded
    by the kind the metadata records. Raises VersionNotFound / RegistryError from the registry,
    ValueError for an unknown kind."""
    metadata = registry.metadata(version)  # not show(): its events are not needed to load
    kind = model_kind(metadata)
    with tempfile.TemporaryDirectory(prefix="volcast-load-") as folder:
        registry.materialize(version, folder, metadata)
        model = load_model(folder, kind, thread_count)
    return model, metadata
