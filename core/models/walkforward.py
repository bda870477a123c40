"""Purged, expanding-window walk-forward backtest and its JSON-ready evaluation.

Clock: the row index of the date-sorted ``data`` (features joined with labels) is the
trading-day clock. rv_5d on row i is known at the close of row i+5, so at a refit on row r the
model may learn from rows <= r - purge (purge=5: every label already realized at r). If rows
are missing, the row clock only purges more calendar days, never fewer.

Every model is fitted on exactly the same rows at each refit, then forecasts rows
r .. next_refit - 1 out of sample.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from core.models import metrics
from core.models.baselines import VolModel

LABEL = "rv_5d"
LABEL_HORIZON = 5
META_COLUMNS = ("date", LABEL, "refit_date", "train_start", "train_end", "n_train")


def _feature_columns(data: pd.DataFrame, feature_columns: Sequence[str] | None) -> list[str]:
    if feature_columns is not None:
        return list(feature_columns)
    return [c for c in data.columns if c not in ("date", LABEL)]


def refit_rows(n_rows: int, first: int, last: int, refit_every: int) -> list[int]:
    """Row positions of the refits: first, first + refit_every, ... <= last."""
    return list(range(first, last + 1, refit_every))


def walk_forward(
    data: pd.DataFrame,
    *,
    start: Any,
    end: Any = None,
    refit_every: int = 5,
    purge: int = LABEL_HORIZON,
    min_train: int = 500,
    model_factories: Mapping[str, Callable[[], VolModel]],
    thread_count: int = 2,
    feature_columns: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Out-of-sample forecasts, one column per model, for rows dated in [start, end].

    ``data``: date, feature columns, rv_5d. Models exposing a ``thread_count`` attribute get
    ``thread_count`` set before fitting. The first refit is the first row >= start with at
    least ``min_train`` training rows. Returns date, rv_5d, refit_date, train_start,
    train_end (last training row's date), n_train and one forecast column per model.
    """
    if refit_every < 1 or purge < LABEL_HORIZON or min_train < 1:
        raise ValueError(f"need refit_every >= 1, purge >= {LABEL_HORIZON}, min_train >= 1")
    if not model_factories:
        raise ValueError("no models")
    frame = data.sort_values("date").reset_index(drop=True)
    if frame["date"].duplicated().any():
        raise ValueError("duplicate dates in data")
    cols = _feature_columns(frame, feature_columns)
    dates = pd.to_datetime(frame["date"])
    end_ts = dates.iloc[-1] if end is None else pd.Timestamp(end)
    in_range = np.flatnonzero((dates >= pd.Timestamp(start)).to_numpy() & (dates <= end_ts))
    if in_range.size == 0:
        raise ValueError("no rows between start and end")
    first = max(int(in_range[0]), min_train - 1 + purge)
    last = int(in_range[-1])
    if first > last:
        raise ValueError(f"fewer than min_train={min_train} training rows before {end_ts.date()}")

    X_all = frame[cols]
    y_all = frame[LABEL].to_numpy(dtype=np.float64)
    blocks: list[pd.DataFrame] = []
    for r in refit_rows(len(frame), first, last, refit_every):
        train_stop = r - purge + 1  # training rows [0, train_stop): labels known at row r
        test = slice(r, min(r + refit_every, last + 1))
        X_train, y_train = X_all.iloc[:train_stop], y_all[:train_stop]
        X_test = X_all.iloc[test]
        block = pd.DataFrame(
            {
                "date": dates.iloc[test].to_numpy(),
                LABEL: y_all[test],
                "refit_date": dates.iloc[r],
                "train_start": dates.iloc[0],
                "train_end": dates.iloc[train_stop - 1],
                "n_train": train_stop,
            }
        )
        for name, factory in model_factories.items():
            model = factory()
            if hasattr(model, "thread_count"):
                model.thread_count = thread_count
            model.fit(X_train, y_train)
            block[name] = np.asarray(model.predict(X_test), dtype=np.float64)
        blocks.append(block)
    out = pd.concat(blocks, ignore_index=True)
    out.attrs["refit_every"] = refit_every
    out.attrs["purge"] = purge
    return out


def model_columns(predictions: pd.DataFrame) -> list[str]:
    return [c for c in predictions.columns if c not in META_COLUMNS]


def evaluate(
    predictions: pd.DataFrame,
    *,
    candidate: str = "catboost",
    reference: str = "harx_vix",
    dm_lags: int | None = None,
    refit_every: int | None = None,
) -> dict[str, Any]:
    """Per-model losses, Mincer-Zarnowitz, DM tests of the candidate vs every other model.

    DM stats are candidate minus other (negative = candidate better); ``improvement_pct`` is
    100 * (1 - candidate/reference) for QLIKE and RMSE on variance, the gate's two figures.
    """
    names = model_columns(predictions)
    if candidate not in names or reference not in names:
        raise KeyError(f"need columns {candidate!r} and {reference!r}, have {names}")
    realized = predictions[LABEL].to_numpy(dtype=np.float64)
    n = realized.size
    lags = metrics.default_dm_lags(n) if dm_lags is None else dm_lags
    models: dict[str, dict[str, float]] = {}
    losses: dict[str, dict[str, np.ndarray]] = {}
    for name in names:
        fc = predictions[name].to_numpy(dtype=np.float64)
        intercept, slope = metrics.mincer_zarnowitz(realized**2, fc**2)
        models[name] = {
            "qlike": metrics.qlike(realized, fc),
            "rmse_variance": metrics.rmse_variance(realized, fc),
            "rmse_vol": metrics.rmse_vol(realized, fc),
            "mz_intercept": intercept,
            "mz_slope": slope,
        }
        losses[name] = {
            "qlike": metrics.qlike_loss(realized, fc),
            "se_variance": metrics.squared_error_variance(realized, fc),
        }
    dm: dict[str, dict[str, float]] = {}
    for other in names:
        if other == candidate:
            continue
        q_stat, q_p = metrics.diebold_mariano(
            losses[candidate]["qlike"], losses[other]["qlike"], lags
        )
        s_stat, s_p = metrics.diebold_mariano(
            losses[candidate]["se_variance"], losses[other]["se_variance"], lags
        )
        dm[other] = {"qlike_stat": q_stat, "qlike_p": q_p, "se_var_stat": s_stat, "se_var_p": s_p}
    cand, ref = models[candidate], models[reference]
    dates = pd.to_datetime(predictions["date"])
    cadence = refit_every if refit_every is not None else predictions.attrs.get("refit_every")
    return {
        "candidate": candidate,
        "reference": reference,
        "n": int(n),
        "start": dates.min().date().isoformat(),
        "end": dates.max().date().isoformat(),
        "refit_every": None if cadence is None else int(cadence),
        "dm_lags": int(lags),
        "models": models,
        "dm_vs_candidate": dm,
        "improvement_pct": {
            "qlike": 100.0 * metrics.improvement(cand["qlike"], ref["qlike"]),
            "rmse_variance": 100.0
            * metrics.improvement(cand["rmse_variance"], ref["rmse_variance"]),
        },
    }
