"""The gate's window: how much power each length has, and what the weekly train costs with it.

One expanding walk-forward on the real data (2012-01-03 .., refits every 21 sessions, the
challenger and HAR-X(VIX) on identical rows) gives every out-of-sample forecast. A gate run as
of week w with a window of W sessions judges the last W of them that were known at w (labels
realized by w). For every week from 2016 on and each W, this prints what such a gate would
have seen: the improvements over HAR-X on QLIKE and RMSE(var), their Diebold-Mariano p-values
(HAC, the lags ``evaluate`` uses), and the gate's verdict at the 2.5% bar. Per W it summarizes:

- power: the median DM p-values, and how often they are below 0.05 / 0.10;
- stability: how often the verdict flips from one week to the next (a gate that flips weekly
  is judging noise);
- agreement: how often the sign of the QLIKE and RMSE(var) improvements agrees with the
  full-period sign (labelled: the full period is hindsight, used here only to judge windows).

Then it times ``steps.train`` on a real-data lake for the chosen (window, refit cadence)
pairs: the weekly-train budget is < 60 s on this machine.

Run: `python -m bench.bench_gate_window [--forecasts PATH] [--skip-train]` (one JSON document).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bench.bench_pipeline import REAL_END, backfill_real
from bench.common import Timing, emit, loadavg, machine, market_dir, run_in_child
from core import steps
from core.config import Settings
from core.models import metrics
from core.models.baselines import harx_vix
from core.models.candidate import CandidateParams
from core.models.training import CANDIDATE, REFERENCE, candidate_factory
from core.models.walkforward import LABEL, LABEL_HORIZON, walk_forward

WINDOWS = (252, 504, 756, 1008, 1260)
#: (window sessions, refit cadence) pairs whose weekly train is timed.
TRAIN_CONFIGS = ((252, 21), (756, 63), (756, 126), (1260, 126))
FIRST_WEEK = "2016-01-04"
WEEK = 5
BAR = 0.025


def oos_forecasts(data: pd.DataFrame, thread_count: int) -> pd.DataFrame:
    """The default challenger and HAR-X(VIX), walk-forward from 2012-01-03, refit 21."""
    features = tuple(c for c in data.columns if c not in ("date", LABEL))
    factories = {
        CANDIDATE: candidate_factory(CandidateParams(), features, thread_count),
        REFERENCE: harx_vix,
    }
    return walk_forward(
        data,
        start="2012-01-03",
        refit_every=21,
        model_factories=factories,
        thread_count=thread_count,
    )


def _gate_figures(window: pd.DataFrame) -> dict[str, float]:
    realized = window[LABEL].to_numpy()
    cand, ref = window[CANDIDATE].to_numpy(), window[REFERENCE].to_numpy()
    lags = metrics.default_dm_lags(len(window))
    q_c, q_r = metrics.qlike_loss(realized, cand), metrics.qlike_loss(realized, ref)
    s_c = metrics.squared_error_variance(realized, cand)
    s_r = metrics.squared_error_variance(realized, ref)
    return {
        "qlike_gain": 1.0 - q_c.mean() / q_r.mean(),
        "rmse_gain": 1.0 - np.sqrt(s_c.mean()) / np.sqrt(s_r.mean()),
        "qlike_p": metrics.diebold_mariano(q_c, q_r, lags)[1],
        "rmse_p": metrics.diebold_mariano(s_c, s_r, lags)[1],
    }


def window_power(forecasts: pd.DataFrame, windows: tuple[int, ...] = WINDOWS) -> dict[str, Any]:
    """Per window length, what weekly gates from FIRST_WEEK on would have seen (see module)."""
    frame = forecasts.sort_values("date").reset_index(drop=True)
    full = _gate_figures(frame)
    # a gate as of row a knows labels of rows <= a - LABEL_HORIZON
    weeks = np.arange(int(np.searchsorted(frame["date"], pd.Timestamp(FIRST_WEEK))), len(frame))
    weeks = weeks[::WEEK]
    out: dict[str, Any] = {
        "hindsight_full_period": {
            "note": "figures over every forecast: hindsight, used only to judge the windows",
            **{k: round(float(v), 4) for k, v in full.items()},
        },
        "weeks": len(weeks),
        "first_week": frame["date"].iloc[weeks[0]].date().isoformat(),
        "windows": {},
    }
    for size in windows:
        rows = []
        for asof in weeks:
            last = asof - LABEL_HORIZON
            if last + 1 < size:
                continue
            rows.append(_gate_figures(frame.iloc[last + 1 - size : last + 1]))
        table = pd.DataFrame(rows)
        passed = (table["qlike_gain"] >= BAR) & (table["rmse_gain"] >= BAR)
        out["windows"][str(size)] = {
            "gates": len(table),
            "median_dm_p": {
                "qlike": round(float(table["qlike_p"].median()), 3),
                "rmse_variance": round(float(table["rmse_p"].median()), 3),
            },
            "share_p_below_0.05": {
                "qlike": round(float((table["qlike_p"] < 0.05).mean()), 3),
                "rmse_variance": round(float((table["rmse_p"] < 0.05).mean()), 3),
            },
            "share_p_below_0.10": {
                "qlike": round(float((table["qlike_p"] < 0.10).mean()), 3),
                "rmse_variance": round(float((table["rmse_p"] < 0.10).mean()), 3),
            },
            "verdict_flips_per_year": round(
                float((passed.astype(int).diff().abs() == 1).sum()) / (len(table) * WEEK / 252),
                2,
            ),
            "share_passing": round(float(passed.mean()), 3),
            "sign_agrees_with_hindsight": {
                "qlike": round(
                    float((np.sign(table["qlike_gain"]) == np.sign(full["qlike_gain"])).mean()), 3
                ),
                "rmse_variance": round(
                    float((np.sign(table["rmse_gain"]) == np.sign(full["rmse_gain"])).mean()), 3
                ),
            },
        }
    return out


def _train(lake: str, csv_dir: str, sessions: int, refit_every: int) -> dict[str, Any]:
    settings = Settings(
        lake_uri=lake,
        source="csv",
        csv_dir=Path(csv_dir),
        gate_window_sessions=sessions,
        gate_refit_every=refit_every,
    )
    result = steps.train(steps.Context.from_settings(settings), REAL_END)
    figures = result.gate["figures"]["metrics"]
    return {
        "gate_window": result.gate_window,
        "improvement_vs_harx_pct": {k: round(v, 2) for k, v in figures_gain(figures).items()},
        "dm_p_value": {k: round(v["dm_p_value"], 3) for k, v in figures.items()},
        "decision": result.decision,
        "serving_kind": result.serving_kind,
    }


def figures_gain(figures: dict[str, Any]) -> dict[str, float]:
    return {k: v["improvement_vs_harx_pct"] for k, v in figures.items()}


def train_costs(real_lake: Path, work: Path) -> list[dict[str, Any]]:
    """steps.train wall time and peak memory per (window, refit cadence), fresh lake copies."""
    out = []
    for sessions, refit_every in TRAIN_CONFIGS:
        lake = work / f"lake_{sessions}_{refit_every}"
        shutil.copytree(real_lake, lake)
        load_before = loadavg()
        run = run_in_child(_train, str(lake), str(market_dir()), sessions, refit_every)
        shutil.rmtree(lake)
        out.append(
            {
                "gate_window_sessions": sessions,
                "gate_refit_every": refit_every,
                "wall": Timing.of([run["seconds"]]).to_dict(),
                "peak_rss_mb": run["peak_rss_mb"],
                "summary": run["value"],
                "loadavg_before": load_before,
                "loadavg_after": loadavg(),
            }
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--forecasts", type=Path, help="reuse (or save) the walk-forward here")
    parser.add_argument("--skip-train", action="store_true", help="only the window power")
    args = parser.parse_args()
    settings = Settings()
    with tempfile.TemporaryDirectory(prefix="volcast-gate-") as tmp:
        work = Path(tmp)
        real_lake = work / "real_lake"
        run_in_child(backfill_real, str(real_lake), str(market_dir()))
        if args.forecasts is not None and args.forecasts.exists():
            forecasts = pd.read_parquet(args.forecasts)
        else:
            ctx = steps.Context.from_settings(Settings(lake_uri=str(real_lake)))
            data = steps.training_table(ctx, REAL_END)
            forecasts = oos_forecasts(data, settings.thread_count)
            if args.forecasts is not None:
                forecasts.to_parquet(args.forecasts)
        result: dict[str, Any] = {
            "machine": machine(),
            "what": "gate window power (weekly gates from 2016) and weekly-train cost, real data",
            "window_power": window_power(forecasts),
        }
        if not args.skip_train:
            result["train_costs"] = train_costs(real_lake, work)
    emit(result)


if __name__ == "__main__":
    main()
