"""Purged, expanding-window walk-forward backtest and its JSON-ready evaluation.

Clock: the row index of the date-sorted ``data`` (features joined with labels) is the
trading-day clock. rv_5d on row i is known at the close of row i+5, so at a refit on row r the
model may learn from rows <= r - purge (purge=5: every label already realized at r). If rows
are missing, the row clock only purges more calendar days, never fewer.

Every model is fitted on exactly the same rows at each refit, then forecasts rows
r .. next_refit - 1 out of sample.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from core.definitions import HORIZON_SESSIONS, LABEL
from core.models import metrics
from core.models.baselines import VolModel

META_COLUMNS = ("date", LABEL, "refit_date", "train_start", "train_end", "n_train")


def _feature_columns(data: pd.DataFrame) -> list[str]:
    return [c for c in data.columns if c not in ("date", LABEL)]


def refit_rows(first: int, last: int, refit_every: int) -> list[int]:
    """Row positions of the refits: first, first + refit_every, ... <= last."""
    return list(range(first, last + 1, refit_every))


def walk_forward(
    data: pd.DataFrame,
    *,
    start: Any,
    end: Any = None,
    refit_every: int = 5,
    purge: int = HORIZON_SESSIONS,
    min_train: int = 500,
    model_factories: Mapping[str, Callable[[], VolModel]],
    thread_count: int = 2,
) -> pd.DataFrame:
    """Out-of-sample forecasts, one column per model, for rows dated in [start, end].

    ``data``: date, feature columns, rv_5d. Models exposing a ``thread_count`` attribute get
    ``thread_count`` set before fitting. The first refit is the first row >= start with at
    least ``min_train`` training rows. Returns date, rv_5d, refit_date, train_start,
    train_end (last training row's date), n_train and one forecast column per model.
    """
    if refit_every < 1 or purge < HORIZON_SESSIONS or min_train < 1:
        raise ValueError(f"need refit_every >= 1, purge >= {HORIZON_SESSIONS}, min_train >= 1")
    if not model_factories:
        raise ValueError("no models")
    frame = data.sort_values("date").reset_index(drop=True)
    if frame["date"].duplicated().any():
        raise ValueError("duplicate dates in data")
    cols = _feature_columns(frame)
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
    for r in refit_rows(first, last, refit_every):
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


def loss_table(
    predictions: pd.DataFrame,
    *,
    candidate: str = "catboost",
    reference: str = "harx_vix",
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
    lags = metrics.default_dm_lags(n)
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
        dm[other] = {
            "qlike_stat": q_stat,
            "qlike_p": q_p,
            "rmse_variance_stat": s_stat,  # DM on the squared errors RMSE(var) averages
            "rmse_variance_p": s_p,
        }
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


#: The report's sub-periods (inclusive ISO bounds): calm 2012-2015, 2016-2019, and 2020 on
#: (the March 2020 crash, 2022, April 2025). Fixed before any result was read (issue 12).
PERIODS: dict[str, tuple[str, str]] = {
    "2012-2015": ("2012-01-01", "2015-12-31"),
    "2016-2019": ("2016-01-01", "2019-12-31"),
    "2020-2026": ("2020-01-01", "2026-12-31"),
}


def period_report(
    predictions: pd.DataFrame,
    *,
    reference: str = "harx_vix",
    periods: Mapping[str, tuple[str, str]] | None = None,
) -> dict[str, dict[str, Any]]:
    """Per period ("full" plus ``periods``): for every model, QLIKE and RMSE(var), the
    improvement over ``reference`` in % (100 * (1 - model/reference)) and the Diebold-Mariano
    p-values of model vs reference on QLIKE and squared variance error (HAC,
    ``default_dm_lags(n)`` of the period, >= 5). Periods with fewer than 20 rows are left out.
    """
    dates = pd.to_datetime(predictions["date"])
    chosen = {"full": (dates.min(), dates.max())}
    for name, (lo, hi) in (PERIODS if periods is None else periods).items():
        chosen[name] = (pd.Timestamp(lo), pd.Timestamp(hi))
    out: dict[str, dict[str, Any]] = {}
    for name, (lo, hi) in chosen.items():
        part = predictions.loc[(dates >= lo) & (dates <= hi)]
        if len(part) < 20:
            continue
        realized = part[LABEL].to_numpy(dtype=np.float64)
        lags = metrics.default_dm_lags(len(part))
        ref_fc = part[reference].to_numpy(dtype=np.float64)
        ref_q = metrics.qlike_loss(realized, ref_fc)
        ref_s = metrics.squared_error_variance(realized, ref_fc)
        models: dict[str, dict[str, float | None]] = {}
        for model in model_columns(part):
            fc = part[model].to_numpy(dtype=np.float64)
            q, s = metrics.qlike_loss(realized, fc), metrics.squared_error_variance(realized, fc)
            entry: dict[str, float | None] = {
                "qlike": float(q.mean()),
                "rmse_variance": float(np.sqrt(s.mean())),
                "qlike_vs_reference_pct": 100.0 * (1.0 - q.mean() / ref_q.mean()),
                "rmse_variance_vs_reference_pct": 100.0
                * (1.0 - np.sqrt(s.mean()) / np.sqrt(ref_s.mean())),
                "dm_qlike_p": None,
                "dm_rmse_variance_p": None,
            }
            if model != reference:
                entry["dm_qlike_p"] = metrics.diebold_mariano(q, ref_q, lags)[1]
                entry["dm_rmse_variance_p"] = metrics.diebold_mariano(s, ref_s, lags)[1]
            models[model] = entry
        out[name] = {
            "start": part["date"].min().date().isoformat(),
            "end": part["date"].max().date().isoformat(),
            "n": len(part),
            "dm_lags": lags,
            "models": models,
        }
    return out


def trimmed_rmse(
    predictions: pd.DataFrame, *, model: str, reference: str = "harx_vix", days: int = 10
) -> dict[str, Any]:
    """RMSE(var) of ``model`` vs ``reference`` without the ``days`` rows where ``model`` gained
    most on ``reference`` and the ``days`` rows where it lost most (by squared-error
    difference): how much of the difference a handful of days decides. Improvements in %."""
    realized = predictions[LABEL].to_numpy(dtype=np.float64)
    s_model = metrics.squared_error_variance(realized, predictions[model].to_numpy(np.float64))
    s_ref = metrics.squared_error_variance(realized, predictions[reference].to_numpy(np.float64))
    order = np.argsort(s_model - s_ref, kind="stable")
    dropped = np.concatenate([order[:days], order[-days:]])
    keep = np.ones(len(order), dtype=bool)
    keep[dropped] = False
    dates = pd.to_datetime(predictions["date"]).to_numpy()

    def gain(mask: NDArray[np.bool_]) -> float:
        return 100.0 * (1.0 - np.sqrt(s_model[mask].mean()) / np.sqrt(s_ref[mask].mean()))

    return {
        "model": model,
        "reference": reference,
        "days_dropped_each_side": days,
        "rmse_variance_vs_reference_pct": gain(np.ones(len(order), dtype=bool)),
        "rmse_variance_vs_reference_pct_trimmed": gain(keep),
        "best_days": [pd.Timestamp(d).date().isoformat() for d in dates[order[:days]]],
        "worst_days": [pd.Timestamp(d).date().isoformat() for d in dates[order[-days:]]],
    }


def cumulative_loss_difference(
    predictions: pd.DataFrame, *, reference: str = "harx_vix"
) -> pd.DataFrame:
    """date, then per model (not the reference) the running sum of its loss minus the
    reference's, for QLIKE and squared variance error (``<model>:qlike``, ``<model>:se_var``):
    below zero is where the model gained. The chart of where gains and losses happen."""
    realized = predictions[LABEL].to_numpy(dtype=np.float64)
    ref_fc = predictions[reference].to_numpy(dtype=np.float64)
    ref_q = metrics.qlike_loss(realized, ref_fc)
    ref_s = metrics.squared_error_variance(realized, ref_fc)
    out = {"date": pd.to_datetime(predictions["date"]).to_numpy()}
    for model in model_columns(predictions):
        if model == reference:
            continue
        fc = predictions[model].to_numpy(dtype=np.float64)
        out[f"{model}:qlike"] = np.cumsum(metrics.qlike_loss(realized, fc) - ref_q)
        out[f"{model}:se_var"] = np.cumsum(metrics.squared_error_variance(realized, fc) - ref_s)
    return pd.DataFrame(out)
