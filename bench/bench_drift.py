"""Feature drift on the real data: what PSI says day by day since 2012, and what it costs.

Behaviour: every session from 2012-01-03, the last 20 sessions' features against the training
bins a weekly train would have stored (core.models.drift.drift_reference on the rows whose
labels were known at the last Friday train), for the challenger's features (all of
features_daily) and HAR-X(VIX)'s four. Per feature set: the share of sessions whose raw max PSI
exceeds 0.25, the share whose max excess PSI (over the training windows' own largest PSI)
does, the sessions on which the drift alarm's rule (excess > 0.25 on 3 sessions in a row)
fires, grouped into episodes, and which features held the maximum.

Cost: ``drift_reference`` for every feature on the full history (once per train), and the
daily infer's share, ``steps.model.feature_drift_at`` (read 20 features_daily partitions of a
local lake and compute PSI per feature), median and p95 over repeated calls.

Run: `python -m bench.bench_drift` (one JSON document).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bench.bench_model import real_table
from bench.common import emit, loadavg, machine, time_calls
from core import contracts
from core.config import Settings
from core.models.baselines import harx_vix
from core.models.drift import THRESHOLD, WINDOW, drift_reference, feature_drift
from core.models.walkforward import LABEL, LABEL_HORIZON
from core.steps.context import Context
from core.steps.model import feature_drift_at

FIRST_DAY = "2012-01-03"
ALARM_SESSIONS = 3
COST_REPS = 50


def daily_drift(data: pd.DataFrame, features: list[str]) -> pd.DataFrame:
    """One row per session from FIRST_DAY: raw max PSI, max excess and their features, with
    the reference refitted every Friday (the weekly train) on labels known by then."""
    dates = pd.to_datetime(data["date"])
    rows = []
    reference: dict[str, Any] | None = None
    for i in np.flatnonzero((dates >= pd.Timestamp(FIRST_DAY)).to_numpy()):
        if reference is None or dates.iloc[i].dayofweek == 4:
            known = data.iloc[: i - LABEL_HORIZON + 1]  # labels realized by this close
            reference = drift_reference(known, features)
        report = feature_drift(data.iloc[i - WINDOW + 1 : i + 1], reference)
        rows.append(
            {
                "date": dates.iloc[i],
                "max_psi": report.max_psi.psi,
                "max_psi_feature": report.max_psi.feature,
                "max_excess": report.max_excess.excess,
                "max_excess_feature": report.max_excess.feature,
            }
        )
    return pd.DataFrame(rows)


def summarize(drift: pd.DataFrame) -> dict[str, Any]:
    over = drift["max_excess"] > THRESHOLD
    run = over.groupby((~over).cumsum()).cumsum()  # sessions in a row above the threshold
    alarm = run >= ALARM_SESSIONS
    starts = drift.loc[alarm & ~alarm.shift(1, fill_value=False), "date"]
    return {
        "sessions": len(drift),
        "from": drift["date"].min().date().isoformat(),
        "to": drift["date"].max().date().isoformat(),
        "raw_max_psi_median": round(float(drift["max_psi"].median()), 3),
        "raw_max_psi_over_threshold_share": round(float((drift["max_psi"] > THRESHOLD).mean()), 4),
        "excess_over_threshold_share": round(float(over.mean()), 4),
        "alarm_sessions": int(alarm.sum()),
        "alarm_share": round(float(alarm.mean()), 4),
        "alarm_episodes": [d.date().isoformat() for d in starts],
        "excess_over_threshold_by_year": {
            str(y): int(n) for y, n in over.groupby(drift["date"].dt.year).sum().items() if n
        },
        "top_excess_features": drift.loc[over, "max_excess_feature"]
        .value_counts()
        .head(5)
        .to_dict(),
        "top_raw_psi_features": drift["max_psi_feature"].value_counts().head(5).to_dict(),
    }


def costs(data: pd.DataFrame, features: list[str], work: Path) -> dict[str, Any]:
    """drift_reference on the full history, and feature_drift_at on a local lake."""
    reference_cost = time_calls(lambda: drift_reference(data, features), reps=5)
    lake_root = work / "lake"
    ctx = Context.from_settings(Settings(lake_uri=str(lake_root)))
    recent = data.drop(columns=[LABEL]).tail(60)
    ctx.lake.write_partitions(contracts.FEATURES, recent)
    metadata = {"drift": drift_reference(data, features)}
    day = recent["date"].iloc[-1]
    daily = time_calls(lambda: feature_drift_at(ctx, metadata, day), reps=COST_REPS)
    compute_only = time_calls(
        lambda: feature_drift(recent.tail(WINDOW), metadata["drift"]), reps=COST_REPS
    )
    return {
        "features": len(features),
        "training_rows": len(data),
        "drift_reference_at_train": reference_cost.to_dict("ms"),
        "daily_feature_drift_at_local_lake": daily.to_dict("ms"),
        "daily_psi_compute_only": compute_only.to_dict("ms"),
    }


def main() -> None:
    info = machine()
    data = real_table()
    challenger = [c for c in data.columns if c not in ("date", LABEL)]
    champion = list(harx_vix().feature_names)
    load_before = loadavg()
    with tempfile.TemporaryDirectory(prefix="volcast-bench-drift-") as folder:
        cost = costs(data, challenger, Path(folder))
    behaviour = {
        "catboost_features": summarize(daily_drift(data, challenger)),
        "harx_vix_features": summarize(daily_drift(data, champion)),
    }
    emit(
        {
            "benchmark": "drift",
            "machine": info,
            "window_sessions": WINDOW,
            "threshold": THRESHOLD,
            "alarm_rule": f"excess > {THRESHOLD} on {ALARM_SESSIONS} sessions in a row",
            "cost": cost,
            "behaviour": behaviour,
            "loadavg_before": load_before,
            "loadavg_after": loadavg(),
        }
    )


if __name__ == "__main__":
    main()
