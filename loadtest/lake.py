"""A lake to serve from, made offline: synthetic data, a promoted model, stored predictions.

Shared by `make loadtest`, the API benchmark and the API tests, so all three serve the same
kind of lake: features for every session of the range, predictions_daily only for the last
``predicted_sessions`` of them (older dates are scored on demand, like a lake whose infer step
started after its backfill), and the CatBoost challenger promoted, with an override when the
gate refuses it (the synthetic history is short; serving, not model quality, is what these
lakes exercise, and the challenger is the kind whose posted vectors cost SHAP per request).

Run: `python -m loadtest.lake PATH` (prints the model version and the date range as JSON).
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

from core import contracts, steps
from core.config import Settings
from core.lake import Lake

START, END = "2019-01-02", "2022-12-30"
SMALL_GATE = {"gate_window_sessions": 60, "gate_refit_every": 30, "canary_days": 10}


@dataclass(frozen=True)
class PreparedLake:
    root: Path
    version: str
    first_feature_date: str
    last_feature_date: str
    first_prediction_date: str


def backfill_lake(root: Path, start: str = START, end: str = END) -> Path:
    """Synthetic market data, features and labels for [start, end]; no model."""
    ctx = steps.Context.from_settings(Settings(lake_uri=str(root)))
    steps.backfill(ctx, start, end, progress=False)
    return root


def promote_and_infer(root: Path, predicted_sessions: int = 40) -> PreparedLake:
    """Train on the lake at ``root``, promote the version whatever the gate says, and store
    predictions for the last ``predicted_sessions`` feature dates."""
    ctx = steps.Context.from_settings(Settings(lake_uri=str(root), **SMALL_GATE))
    version = steps.train(ctx).challenger.version  # CatBoost: SHAP per posted vector
    if steps.model_registry(ctx).production() != version:
        steps.promote(ctx, version, override="synthetic serving lake: serving is under test")
    days = ctx.lake.partitions(contracts.FEATURES)
    predicted = days[-predicted_sessions:]
    steps.infer(ctx, predicted[0], predicted[-1])
    return PreparedLake(
        root=root,
        version=version,
        first_feature_date=days[0].date().isoformat(),
        last_feature_date=days[-1].date().isoformat(),
        first_prediction_date=predicted[0].date().isoformat(),
    )


def prepare_lake(root: Path, predicted_sessions: int = 40) -> PreparedLake:
    """backfill_lake then promote_and_infer: a servable lake at ``root``."""
    return promote_and_infer(backfill_lake(root), predicted_sessions)


def describe(root: Path) -> PreparedLake:
    """What an existing prepared lake holds (to reuse one between runs)."""
    lake = Lake(str(root))
    version = steps.model_registry(steps.Context(Settings(lake_uri=str(root)), lake)).production()
    features, predictions = (
        lake.partitions(contracts.FEATURES),
        lake.partitions(contracts.PREDICTIONS),
    )
    if version is None or not features or not predictions:
        raise ValueError(f"{root} is not a prepared lake (model, features and predictions)")
    return PreparedLake(
        root=root,
        version=version,
        first_feature_date=features[0].date().isoformat(),
        last_feature_date=features[-1].date().isoformat(),
        first_prediction_date=predictions[0].date().isoformat(),
    )


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m loadtest.lake PATH")
    prepared = prepare_lake(Path(sys.argv[1]))
    print(json.dumps({**prepared.__dict__, "root": str(prepared.root)}, indent=2))
