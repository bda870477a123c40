"""The weekly train: fit a candidate, measure it out of sample beside the baselines, gate it.

Everything here works on an in-memory table (date, features..., rv_5d) whose labels were all
known at ``asof``; reading and writing the lake is the caller's (core.steps) job.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from core.explain import mean_abs_shap
from core.models import gate
from core.models.baselines import baseline_factories
from core.models.candidate import CandidateModel, CandidateParams
from core.models.walkforward import LABEL, evaluate, walk_forward

CANDIDATE = "catboost"
REFERENCE = "harx_vix"
PRODUCTION = "production"


@dataclass(frozen=True)
class GateWindow:
    """The recent out-of-sample window the gate judges on.

    One year with monthly refits by default: long enough that a 2.5% difference in QLIKE is
    not one week's noise, short enough for a weekly job on two cores.
    """

    sessions: int = 252
    refit_every: int = 21
    min_train: int = 500


@dataclass(frozen=True)
class TrainOutcome:
    candidate: CandidateModel
    files: dict[str, bytes]
    metadata: dict[str, Any]
    decision: gate.GateDecision
    evaluation: dict[str, Any]


def content_hash(data: pd.DataFrame) -> str:
    """A fingerprint of the exact training table (values, columns and dates)."""
    digest = hashlib.sha256(",".join(map(str, data.columns)).encode())
    digest.update(pd.util.hash_pandas_object(data, index=False).to_numpy().tobytes())
    return digest.hexdigest()


def candidate_factory(
    params: CandidateParams, features: tuple[str, ...] | None, thread_count: int
) -> Callable[[], CandidateModel]:
    def make() -> CandidateModel:
        return CandidateModel(feature_names=features, params=params, thread_count=thread_count)

    return make


def production_recipe(metadata: Mapping[str, Any]) -> tuple[CandidateParams, tuple[str, ...]]:
    """The production model's hyper-parameters and features, from its metadata.json."""
    params = dict(metadata["params"])
    params["offset_columns"] = tuple(params.get("offset_columns", ()))
    return CandidateParams(**params), tuple(metadata["features"])


def gate_evaluation(
    data: pd.DataFrame,
    params: CandidateParams,
    features: tuple[str, ...],
    window: GateWindow,
    thread_count: int,
    production: tuple[CandidateParams, tuple[str, ...]] | None = None,
) -> dict[str, Any]:
    """Walk-forward on the last ``window.sessions`` rows: candidate, baselines, production.

    The production model is re-fitted by its own recipe on exactly the candidate's training
    windows, so the comparison is out of sample for both. When the recipe is the candidate's
    own, its figures are the candidate's (same code, same seed, same rows).
    """
    if len(data) < window.sessions + window.min_train:
        raise ValueError(
            f"training needs at least {window.sessions + window.min_train} labelled days "
            f"(gate window {window.sessions} + minimum training {window.min_train}); "
            f"the lake has {len(data)}: backfill more history"
        )
    factories: dict[str, Callable[[], Any]] = {
        CANDIDATE: candidate_factory(params, features, thread_count),
        **baseline_factories(),
    }
    same_recipe = production is not None and production == (params, features)
    if production is not None and not same_recipe:
        factories[PRODUCTION] = candidate_factory(*production, thread_count)
    start = data["date"].iloc[-window.sessions]
    forecasts = walk_forward(
        data,
        start=start,
        refit_every=window.refit_every,
        min_train=window.min_train,
        model_factories=factories,
        thread_count=thread_count,
    )
    if same_recipe:
        forecasts[PRODUCTION] = forecasts[CANDIDATE]
    return evaluate(forecasts, candidate=CANDIDATE, reference=REFERENCE)


def train_candidate(
    data: pd.DataFrame,
    *,
    asof: pd.Timestamp,
    min_improvement: float,
    thread_count: int,
    window: GateWindow,
    params: CandidateParams | None = None,
    production: tuple[CandidateParams, tuple[str, ...]] | None = None,
    source: Mapping[str, Any] | None = None,
) -> TrainOutcome:
    """Evaluate, gate, then fit the candidate on every labelled row; nothing is promoted here."""
    params = params or CandidateParams()
    features = tuple(c for c in data.columns if c not in ("date", LABEL))
    evaluation = gate_evaluation(data, params, features, window, thread_count, production)
    models = evaluation["models"]
    decision = gate.decide(
        models[CANDIDATE],
        models[REFERENCE],
        models.get(PRODUCTION) if production is not None else None,
        min_improvement=min_improvement,
    )
    model = CandidateModel(feature_names=features, params=params, thread_count=thread_count)
    model.fit(data.loc[:, list(features)], data[LABEL].to_numpy(dtype=np.float64))
    with tempfile.TemporaryDirectory() as folder:
        files = {p.name: p.read_bytes() for p in model.save(folder)}
    metadata = {
        "features": list(features),
        "training_data": {
            "start": data["date"].iloc[0].date().isoformat(),
            "end": data["date"].iloc[-1].date().isoformat(),
            "rows": len(data),
            "asof": asof.date().isoformat(),
            "content_hash": content_hash(data),
            "source": dict(source or {}),
        },
        "params": asdict(params),
        "metrics": {k: v for k, v in models[CANDIDATE].items() if isinstance(v, int | float)},
        "evaluation": evaluation,
        "gate": decision.to_dict(),
    }
    return TrainOutcome(model, files, metadata, decision, evaluation)


def run_evaluation(
    data: pd.DataFrame,
    *,
    start: Any,
    refit_every: int,
    thread_count: int,
    params: CandidateParams | None = None,
) -> dict[str, Any]:
    """Long walk-forward (candidate and every baseline) plus SHAP importance of the last fit.

    Returns the JSON-ready evaluation with two extra in-memory entries for the charts:
    ``forecasts`` (the out-of-sample frame) and ``importance`` (mean |SHAP| per feature of
    the last refit's model over the test period).
    """
    params = params or CandidateParams()
    features = tuple(c for c in data.columns if c not in ("date", LABEL))
    factories = {
        CANDIDATE: candidate_factory(params, features, thread_count),
        **baseline_factories(),
    }
    forecasts = walk_forward(
        data,
        start=start,
        refit_every=refit_every,
        model_factories=factories,
        thread_count=thread_count,
    )
    report = evaluate(forecasts, candidate=CANDIDATE, reference=REFERENCE)
    last_train = data.loc[data["date"] <= forecasts["train_end"].iloc[-1]]
    model = candidate_factory(params, features, thread_count)()
    model.fit(last_train.loc[:, list(features)], last_train[LABEL].to_numpy(dtype=np.float64))
    tested = data.loc[data["date"] >= forecasts["date"].iloc[0], list(features)]
    report["candidate_params"] = asdict(params)
    report["forecasts"] = forecasts
    report["importance"] = mean_abs_shap(model, tested)
    return report
