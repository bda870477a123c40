"""The weekly train: fit a candidate, measure it out of sample beside the baselines, gate it.

Everything here works on an in-memory table (date, features..., rv_5d) whose labels were all
known at ``asof``; reading and writing the lake is the caller's (core.steps) job.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from core.definitions import HORIZON_SESSIONS, LABEL
from core.explain import mean_abs_shap
from core.models import gate
from core.models.bands import MIN_ERRORS, band_report, calibrate, rolling_bands
from core.models.baselines import baseline_factories
from core.models.candidate import CandidateParams, Challenger, make_candidate
from core.models.drift import drift_reference
from core.models.servable import (
    CHALLENGER_KIND,
    REFERENCE_KIND,
    ServableModel,
    model_files,
    model_kind,
    new_reference,
)
from core.models.walkforward import (
    loss_table,
    period_report,
    trimmed_rmse,
    walk_forward,
)

#: Labelled sessions the HAR-X(VIX) champion needs before it may serve: a year of weekly
#: overlapping labels gives its five coefficients ~50 independent observations.
MIN_REFERENCE_ROWS = 252

#: Forecast columns of the gate's walk-forward: the challenger, HAR-X(VIX) (the reference,
#: named like its model kind) and the champion re-fitted by its own recipe.
CANDIDATE = CHALLENGER_KIND
REFERENCE = REFERENCE_KIND
PRODUCTION = "production"

#: A CatBoost recipe: hyper-parameters and the features, in order.
CandidateRecipe = tuple[CandidateParams, tuple[str, ...]]
#: How the champion is re-fitted inside the gate window: a CatBoost recipe, or REFERENCE when
#: the champion is the HAR-X(VIX) baseline (then its figures are HAR-X's own).
ProductionRecipe = CandidateRecipe | Literal["harx_vix"]


@dataclass(frozen=True)
class GateWindow:
    """The recent out-of-sample window the gate judges on (defaults: core.config.Settings).

    Three years with quarterly refits: a one-year window held ~50 independent 5-day labels and
    let a challenger that is not better pass in 18% of weekly gates since 2016 (7.5% with three
    years), flipping its verdict ~3 times as often (docs/models.md, "The gate's window").
    """

    sessions: int = 756
    refit_every: int = 63
    min_train: int = 500


@dataclass(frozen=True)
class FittedVersion:
    """A model fitted on every labelled row, ready to register: its files and metadata."""

    model: ServableModel
    files: dict[str, bytes]
    metadata: dict[str, Any]


@dataclass(frozen=True)
class TrainOutcome:
    """The challenger fitted on every labelled row, and the gate's verdict on its recipe."""

    candidate: Challenger
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
) -> Callable[[], Challenger]:
    def make() -> Challenger:
        return make_candidate(params, features, thread_count)

    return make


def production_recipe(metadata: Mapping[str, Any]) -> ProductionRecipe:
    """How to re-fit the production model inside the gate window, from its metadata.json."""
    if model_kind(metadata) == REFERENCE_KIND:
        return REFERENCE
    params = dict(metadata["params"])
    params["offset_columns"] = tuple(params.get("offset_columns", ()))
    return CandidateParams(**params), tuple(metadata["features"])


def gate_evaluation(
    data: pd.DataFrame,
    params: CandidateParams,
    features: tuple[str, ...],
    window: GateWindow,
    thread_count: int,
    production: ProductionRecipe | None = None,
) -> dict[str, Any]:
    """Walk-forward on the last ``window.sessions`` rows: candidate, baselines, production.

    The production model is re-fitted by its own recipe on exactly the candidate's training
    windows, so the comparison is out of sample for both. When the recipe is the candidate's
    own, its figures are the candidate's (same code, same seed, same rows); when production is
    the HAR-X(VIX) baseline, its figures are HAR-X's.
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
    same_as: str | None = None
    if production == REFERENCE:
        same_as = REFERENCE
    elif production == (params, features):
        same_as = CANDIDATE
    elif production is not None:
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
    if same_as is not None:
        forecasts[PRODUCTION] = forecasts[same_as]
    report = loss_table(forecasts, candidate=CANDIDATE, reference=REFERENCE)
    report["bands"] = gate_bands(forecasts)
    return report


def gate_bands(forecasts: pd.DataFrame) -> dict[str, Any]:
    """The forecast band of each servable kind from its own out-of-sample errors on the gate
    window (core.models.bands): what a version of that kind stores as ``band``."""
    out: dict[str, Any] = {}
    for kind in (CANDIDATE, REFERENCE):
        source = f"gate walk-forward, {kind} out of sample"
        band = calibrate(forecasts, kind, source=source)
        out[kind] = band.to_dict() if band is not None else None
    return out


def training_metadata(
    data: pd.DataFrame,
    asof: pd.Timestamp,
    source: Mapping[str, Any] | None,
    features: tuple[str, ...],
) -> dict[str, Any]:
    """The ``features``, ``training_data`` and ``drift`` (training bins of each feature,
    core.models.drift) entries every version's metadata.json holds."""
    return {
        "features": list(features),
        "drift": drift_reference(data, features),
        "training_data": {
            "start": data["date"].iloc[0].date().isoformat(),
            "end": data["date"].iloc[-1].date().isoformat(),
            "rows": len(data),
            "asof": asof.date().isoformat(),
            "content_hash": content_hash(data),
            "source": dict(source or {}),
        },
    }


def train_candidate(
    data: pd.DataFrame,
    *,
    asof: pd.Timestamp,
    min_improvement: float,
    thread_count: int,
    window: GateWindow,
    params: CandidateParams | None = None,
    production: ProductionRecipe | None = None,
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
        dm_p_values=dm_vs_reference(evaluation),
    )
    model = make_candidate(params, features, thread_count)
    model.fit(data.loc[:, list(features)], data[LABEL].to_numpy(dtype=np.float64))
    metadata = {
        "kind": CHALLENGER_KIND,
        **training_metadata(data, asof, source, features),
        "params": asdict(params),
        "metrics": {k: v for k, v in models[CANDIDATE].items() if isinstance(v, int | float)},
        "evaluation": evaluation,
        "band": evaluation["bands"][CANDIDATE],
        "gate": decision.to_dict(),
    }
    return TrainOutcome(model, model_files(model), metadata, decision, evaluation)


def dm_vs_reference(evaluation: Mapping[str, Any]) -> dict[str, float]:
    """The Diebold-Mariano p-values of candidate vs HAR-X for the gate's two losses."""
    dm = evaluation["dm_vs_candidate"][REFERENCE]
    return {metric: dm[f"{metric}_p"] for metric in ("qlike", "rmse_variance")}


def fit_reference(
    data: pd.DataFrame,
    *,
    asof: pd.Timestamp,
    reason: str,
    evaluation: Mapping[str, Any] | None = None,
    source: Mapping[str, Any] | None = None,
) -> FittedVersion:
    """The HAR-X(VIX) champion fitted on every labelled row of ``data``: the gate's reference
    recipe (core.models.baselines.harx_vix), so it needs no gate.

    ``evaluation`` (the gate window's, when there was one) supplies its out-of-sample figures:
    they are HAR-X's own on that window. ``reason`` says why it was fitted (first champion,
    weekly refit) and is stored as its gate entry. Raises ValueError when ``data`` has fewer
    than MIN_REFERENCE_ROWS rows.
    """
    if len(data) < MIN_REFERENCE_ROWS:
        raise ValueError(
            f"the HAR-X(VIX) champion needs at least {MIN_REFERENCE_ROWS} labelled days; "
            f"the lake has {len(data)}: backfill more history"
        )
    model = new_reference()
    model.fit(data.loc[:, list(model.feature_names)], data[LABEL].to_numpy(dtype=np.float64))
    metrics = dict(evaluation["models"][REFERENCE]) if evaluation is not None else {}
    # The gate window's own HAR-X errors when it had enough; else a HAR-X-only walk-forward.
    gate_band = (evaluation or {}).get("bands", {}).get(REFERENCE)
    band = gate_band if gate_band is not None else reference_band(data)
    metadata = {
        "kind": REFERENCE_KIND,
        **training_metadata(data, asof, source, model.feature_names),
        "params": {"columns": list(model.columns), "space": model.space},
        "metrics": metrics,
        "evaluation": dict(evaluation) if evaluation is not None else None,
        "band": band,
        "gate": {"passed": True, "reason": reason, "figures": {"reference": True}},
    }
    return FittedVersion(model, model_files(model), metadata)


#: The fallback band's walk-forward (a first champion, before any gate): the gate window's
#: length and cadence, and the fewest rows HAR-X(VIX) is fitted on in it.
_REFERENCE_BAND_WINDOW = GateWindow(sessions=756, refit_every=63, min_train=250)


def reference_band(
    data: pd.DataFrame, window: GateWindow = _REFERENCE_BAND_WINDOW
) -> dict[str, Any] | None:
    """HAR-X(VIX)'s band when no gate evaluation exists yet (a first champion): a walk-forward
    of HAR-X alone over the last ``window.sessions`` rows that have ``window.min_train``
    training rows before them (OLS: milliseconds). None when too few rows for a band."""
    first = window.min_train - 1 + HORIZON_SESSIONS
    start_row = max(first, len(data) - window.sessions)
    if len(data) - start_row < MIN_ERRORS:
        return None
    forecasts = walk_forward(
        data,
        start=data["date"].iloc[start_row],
        refit_every=window.refit_every,
        min_train=window.min_train,
        model_factories={REFERENCE: new_reference},
    )
    band = calibrate(forecasts, REFERENCE, source=f"walk-forward, {REFERENCE} out of sample")
    return band.to_dict() if band is not None else None


def run_evaluation(
    data: pd.DataFrame,
    *,
    start: Any,
    refit_every: int,
    thread_count: int,
    params: CandidateParams | None = None,
) -> dict[str, Any]:
    """Long walk-forward (candidate and every baseline) plus SHAP importance of the last fit.

    The report holds the full-period losses and DM tests (``walkforward.loss_table``), the same
    per sub-period with improvements vs HAR-X (``periods``), and the challenger's RMSE(var)
    gain without its 10 best and 10 worst days (``rmse_variance_trimmed``).
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
    report = loss_table(forecasts, candidate=CANDIDATE, reference=REFERENCE)
    report["periods"] = period_report(forecasts, reference=REFERENCE)
    report["rmse_variance_trimmed"] = trimmed_rmse(forecasts, model=CANDIDATE, reference=REFERENCE)
    report["bands"] = evaluation_bands(forecasts)
    last_train = data.loc[data["date"] <= forecasts["train_end"].iloc[-1]]
    model = candidate_factory(params, features, thread_count)()
    model.fit(last_train.loc[:, list(features)], last_train[LABEL].to_numpy(dtype=np.float64))
    tested = data.loc[data["date"] >= forecasts["date"].iloc[0], list(features)]
    report["candidate_params"] = asdict(params)
    report["forecasts"] = forecasts
    report["importance"] = mean_abs_shap(model, tested)
    return report


#: How ``volcast evaluate`` calibrates the rolling bands it measures: ``served`` is what a
#: weekly train stores (the gate window's 756 out-of-sample errors); ``expanding`` (every past
#: error) is the comparison. Chosen before the real-data run (docs/models.md).
BAND_WINDOWS: dict[str, int | None] = {"served": 756, "expanding": None}


def evaluation_bands(forecasts: pd.DataFrame) -> dict[str, Any]:
    """Coverage of the 80% band of each servable kind on a long walk-forward, calibrated day
    by day on earlier out-of-sample errors only (core.models.bands.rolling_bands), for each
    of BAND_WINDOWS: overall, per sub-period, in the top decile of realized vol, mean width."""
    return {
        kind: {
            name: band_report(rolling_bands(forecasts, kind, window=window))
            for name, window in BAND_WINDOWS.items()
        }
        for kind in (CANDIDATE, REFERENCE)
    }
