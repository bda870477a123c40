"""Model benchmarks on the real data: the weekly train, the walk-forward evaluation (with its
quality table), SHAP top drivers / predict latency of a fitted candidate, and what scoring one
posted vector costs with each kind of served model (the HAR-X(VIX) champion, CatBoost).

Run: `python -m bench.bench_model [--shap-only]` (prints one JSON document).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bench.bench_pipeline import REAL_END, REAL_START, backfill_real
from bench.common import Timing, emit, loadavg, machine, market_dir, run_in_child, time_calls
from core import contracts, steps
from core.config import Settings
from core.definitions import LABEL, SYMBOLS
from core.explain import top_drivers
from core.features import build_features
from core.labels import build_labels
from core.market import curate, raw_bars
from core.models.candidate import CandidateModel
from core.models.servable import new_reference
from core.serving import ServingModel
from core.sources import CsvFolderSource

TRAIN_REPS = 2
EVAL_START = "2012-01-03"
EVAL_REFIT_EVERY = 21
SHAP_ONE_ROW_REPS = 200
SHAP_BATCH_ROWS = 1000
SHAP_BATCH_REPS = 10
PREDICT_REPS = 500


def _csv_settings(lake: str, csv_dir: str) -> Settings:
    return Settings(lake_uri=lake, source="csv", csv_dir=Path(csv_dir))


def train_real(lake: str, csv_dir: str) -> dict[str, Any]:
    """One steps.train on a real-data lake (runs in a child process)."""
    ctx = steps.Context.from_settings(_csv_settings(lake, csv_dir))
    summary = steps.train(ctx, REAL_END).to_dict()
    keep = ("asof", "training_rows", "gate_window", "improvement_vs_harx_pct", "decision")
    out = {k: summary[k] for k in keep if k in summary}
    out["dm_p_value"] = {
        metric: row.get("dm_p_value")
        for metric, row in summary["gate"]["figures"]["metrics"].items()
    }
    out["serving_reason"] = summary["serving_reason"]
    return out


def evaluate_real(out_dir: str, csv_dir: str, refit_every: int) -> dict[str, Any]:
    """One steps.evaluate walk-forward on the real CSVs (runs in a child process)."""
    settings = _csv_settings(str(Path(out_dir) / "unused_lake"), csv_dir)
    return steps.evaluate(settings, Path(out_dir), start=EVAL_START, refit_every=refit_every)


def weekly_train(real_lake: Path, work: Path) -> dict[str, Any]:
    """steps.train wall time; each repetition on a fresh copy of the lake (empty registry)."""
    csv_dir = str(market_dir())
    load_before = loadavg()
    runs = []
    for rep in range(TRAIN_REPS):
        lake = work / f"train_lake_{rep}"
        shutil.copytree(real_lake, lake)
        runs.append(run_in_child(train_real, str(lake), csv_dir))
        shutil.rmtree(lake)
    settings = Settings()
    return {
        "what": "steps.train(ctx, asof): gate walk-forward (candidate + baselines) + final fit",
        "data": "real (lake backfilled from ../shared/data/market)",
        "gate_window_sessions": settings.gate_window_sessions,
        "gate_refit_every": settings.gate_refit_every,
        "thread_count": settings.thread_count,
        "wall": Timing.of([r["seconds"] for r in runs]).to_dict(),
        "peak_rss_mb": max(r["peak_rss_mb"] for r in runs),
        "rss_before_step_mb": runs[0]["rss_before_mb"],
        "summary": runs[0]["value"],
        "loadavg_before": load_before,
        "loadavg_after": loadavg(),
    }


def _quality(report: dict[str, Any]) -> dict[str, Any]:
    candidate = report["candidate"]
    table = {}
    for name, m in report["models"].items():
        dm = report["dm_vs_candidate"].get(name, {})
        table[name] = {
            "qlike": round(m["qlike"], 5),
            "rmse_variance": round(m["rmse_variance"], 5),
            "rmse_vol": round(m["rmse_vol"], 5),
            "dm_qlike_p": None if name == candidate else round(dm["qlike_p"], 4),
            "dm_rmse_variance_p": None if name == candidate else round(dm["rmse_variance_p"], 4),
        }
    return {
        "candidate": candidate,
        "reference": report["reference"],
        "n": report["n"],
        "oos": f"{report['start']}..{report['end']}",
        "refit_every": report["refit_every"],
        "dm_lags": report["dm_lags"],
        "models": table,
        "candidate_improvement_vs_reference_pct": {
            k: round(v, 2) for k, v in report["improvement_pct"].items()
        },
    }


def walk_forward_evaluation(work: Path, refit_every: int = EVAL_REFIT_EVERY) -> dict[str, Any]:
    """steps.evaluate wall time (1 repetition) and its quality table."""
    load_before = loadavg()
    result = run_in_child(evaluate_real, str(work / "evaluation"), str(market_dir()), refit_every)
    return {
        "what": f"steps.evaluate(start={EVAL_START}, refit_every={refit_every}), in a child",
        "data": "real (../shared/data/market)",
        "repetitions": 1,
        "wall_s": result["seconds"],
        "peak_rss_mb": result["peak_rss_mb"],
        "quality": _quality(result["value"]),
        "data_range": result["value"]["data"],
        "loadavg_before": load_before,
        "loadavg_after": loadavg(),
    }


def real_table() -> pd.DataFrame:
    """Features joined with labels from the real CSVs, built in memory (no lake)."""
    download = CsvFolderSource(market_dir()).fetch(SYMBOLS, REAL_START, REAL_END)
    raw = contracts.validate(contracts.RAW_MARKET, raw_bars(download))
    curated = curate(raw, raw["date"].min())
    return build_features(curated).merge(build_labels(curated), on="date", validate="one_to_one")


def shap_latency() -> dict[str, Any]:
    """top_drivers and predict_vol latency of a default CandidateModel fitted on real data."""
    data = real_table()
    features = [c for c in data.columns if c not in ("date", LABEL)]
    model = CandidateModel(thread_count=Settings().thread_count)
    model.fit(data.loc[:, features], data[LABEL].to_numpy(dtype=np.float64))
    X = data.loc[:, features]
    one_row = X.iloc[[-1]]
    batch = X.iloc[-SHAP_BATCH_ROWS:]
    row_np = one_row.to_numpy(dtype=np.float64)
    load_before = loadavg()
    one = time_calls(lambda: top_drivers(model, one_row, k=5), SHAP_ONE_ROW_REPS)
    many = time_calls(lambda: top_drivers(model, batch, k=5), SHAP_BATCH_REPS)
    predict_np = time_calls(lambda: model.predict_vol(row_np), PREDICT_REPS)
    predict_df = time_calls(lambda: model.predict_vol(one_row), PREDICT_REPS)
    # What a posted vector costs in the scoring process, per kind of served model: the
    # HAR-X(VIX) champion (a dot product) and the CatBoost challenger (SHAP tables).
    champion = new_reference().fit(X, data[LABEL].to_numpy(dtype=np.float64))
    served = {"harx_vix": ServingModel("bench", champion), "catboost": ServingModel("bench", model)}
    for serving in served.values():
        serving.model.prepare_serving()
    rows = {
        kind: X.loc[:, list(s.names)].iloc[-1].to_numpy(np.float64) for kind, s in served.items()
    }
    score_row = {
        kind: time_calls(lambda s=s, r=rows[kind]: s.score_row(r, 5), SHAP_ONE_ROW_REPS).to_dict(
            "ms"
        )
        for kind, s in served.items()
    }
    return {
        "what": "CandidateModel (default params) fitted on all labelled real rows",
        "data": "real (../shared/data/market), features+labels built in memory",
        "training_rows": len(data),
        "features": len(features),
        "trees": model.booster_.tree_count_ if model.booster_ is not None else None,
        "top_drivers_k5_one_row": one.to_dict("ms"),
        f"top_drivers_k5_{SHAP_BATCH_ROWS}_rows": many.to_dict("ms"),
        "predict_vol_one_numpy_row": predict_np.to_dict("ms"),
        "predict_vol_one_row_dataframe": predict_df.to_dict("ms"),
        "score_row_posted_vector_k5_by_kind": score_row,
        "loadavg_before": load_before,
        "loadavg_after": loadavg(),
    }


def run(work: Path, real_lake: Path | None = None) -> dict[str, Any]:
    """All model benchmarks; backfills a real-data lake under ``work`` if none is given."""
    if real_lake is None:
        real_lake = work / "real_lake"
        run_in_child(backfill_real, str(real_lake), str(market_dir()))
    return {
        "weekly_train": weekly_train(real_lake, work),
        "walk_forward_evaluation": walk_forward_evaluation(work),
        "shap_top_drivers": shap_latency(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shap-only", action="store_true", help="only the SHAP/predict timings")
    args = parser.parse_args()
    if args.shap_only:
        emit({"machine": machine(), "model": {"shap_top_drivers": shap_latency()}})
        return
    with tempfile.TemporaryDirectory(prefix="volcast-bench-") as folder:
        emit({"machine": machine(), "model": run(Path(folder))})


if __name__ == "__main__":
    main()
