"""What a person reads: feature units, a driver's effect in percent of the forecast, a train
run's verdict and models table, a step's log line, and charts that say SYNTHETIC."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from core.explain import vol_effect_pct
from core.features import FEATURE_COLUMNS, FEATURE_UNITS, UNIT_DESCRIPTIONS, format_feature
from core.models.charts import (
    SYNTHETIC_NOTE,
    plot_cumulative_loss_difference,
    plot_forecasts,
    plot_importance,
)
from core.steps import TrainResult, VersionStep
from core.steps.context import summary_line
from core.steps.reports import DriverLine, forecast_horizon, models_table, train_verdict

REFUSED = (
    "not promoted: QLIKE is 4.2% worse than HAR-X (DM p 0.31), below the 2.5% bar; "
    "RMSE(var) improves 1.0% on HAR-X (DM p 0.70), below the 2.5% bar; production stays"
)


def test_every_feature_has_a_unit_and_reads_in_it() -> None:
    assert set(FEATURE_UNITS) == set(FEATURE_COLUMNS)
    assert set(FEATURE_UNITS.values()) <= set(UNIT_DESCRIPTIONS)
    assert format_feature("vix", 0.1585) == "15.85%"  # VIX / 100 reads as VIX in percent
    assert format_feature("rv_cc_22d", 0.18) == "18.00%"
    assert format_feature("spy_ret_5d", -0.012) == "-1.20% (log)"
    assert format_feature("vrp_22d", 0.031) == "+3.10 vol pts"
    assert format_feature("vix_pct_252d", 0.9) == "90%"
    assert format_feature("corr_spy_tlt_63d", -0.0666) == "-0.067"
    assert format_feature("not_a_feature", 1234.5) == "1234"


@pytest.mark.parametrize("shap", [-1.2, -0.1, 0.0, 0.05, 0.8])
def test_a_drivers_effect_is_its_share_of_the_forecast_vol(shap: float) -> None:
    # log variance: exp(raw) is the variance, so vol with / without the driver is exp(shap / 2)
    raw_without = math.log(0.16**2)
    with_it, without = math.sqrt(math.exp(raw_without + shap)), 0.16
    assert vol_effect_pct(shap) == pytest.approx(100 * (with_it / without - 1), rel=1e-12)
    line = DriverLine("vix", "", 0.2, "20.00%", shap, vol_effect_pct(shap))
    way = "down" if shap < 0 else "up"
    assert line.sentence == f"pushes the forecast {way} by {abs(vol_effect_pct(shap)):.1f}%"


def test_the_horizon_is_the_next_five_sessions() -> None:
    assert forecast_horizon("2022-06-30") == (
        "2022-07-01", "2022-07-05", "2022-07-06", "2022-07-07", "2022-07-08"
    )  # fmt: skip


def _result(**changes) -> TrainResult:
    fields = {
        "asof": "2026-11-27",
        "training_rows": 4000,
        "gate_window": "2025-11-20..2026-11-20",
        "models": {
            "catboost": {"qlike": 0.2084, "rmse_variance": 0.0101, "rmse_vol": 0.05, "mz_slope": 1},
            "harx_vix": {"qlike": 0.2, "rmse_variance": 0.0102, "rmse_vol": 0.049, "mz_slope": 0.9},
            "har_rv": {"qlike": 0.25, "rmse_variance": 0.011, "rmse_vol": 0.06, "mz_slope": 0.8},
            "production": {"qlike": 0.2, "rmse_variance": 0.0102, "rmse_vol": 0.049},
        },
        "improvement_vs_harx_pct": {"qlike": -4.2, "rmse_variance": 1.0},
        "gate": {"passed": False, "reason": REFUSED, "figures": {}},
        "challenger": VersionStep("C1", "catboost", None, promoted=False, reason=REFUSED),
        "baseline": VersionStep("B2", "harx_vix", {"passed": True}, True, "weekly refit"),
        "production_before": "B1",
        "production_after": "B2",
        "serving_kind": "harx_vix",
        "serving_reason": "the HAR-X(VIX) baseline B2 serves",
        "synthetic_data": False,
    }
    return TrainResult(**{**fields, **changes})


def test_a_refused_train_run_says_refused_with_the_one_line_reason() -> None:
    name, message = train_verdict(_result())
    assert name == "Refused"
    assert message == (
        "challenger refused: QLIKE is 4.2% worse than HAR-X (DM p 0.31), below the 2.5% bar; "
        "RMSE(var) improves 1.0% on HAR-X (DM p 0.70), below the 2.5% bar; "
        "HAR-X(VIX) baseline B2 serves"
    )
    assert "\n" not in message


def test_a_promoted_and_an_unchanged_train_run() -> None:
    reason = "promoted: QLIKE +5.0% (DM p 0.01), RMSE(var) +4.0% (DM p 0.02) vs HAR-X"
    promoted = _result(
        gate={"passed": True, "reason": reason, "figures": {}},
        challenger=VersionStep("C1", "catboost", {"passed": True}, True, reason),
        baseline=None,
        production_after="C1",
        serving_kind="catboost",
    )
    assert train_verdict(promoted) == (
        "Promoted",
        "challenger C1 promoted: QLIKE +5.0% (DM p 0.01), RMSE(var) +4.0% (DM p 0.02) vs HAR-X",
    )
    same = _result(
        challenger=VersionStep("C1", "catboost", None, False, REFUSED, reused=True),
        baseline=VersionStep("B1", "harx_vix", {"passed": True}, True, "refit", reused=True),
        production_after="B1",
    )
    assert same.unchanged and same.to_dict()["unchanged"] is True
    name, message = train_verdict(same)
    assert name == "Unchanged" and message.startswith("same data and code as C1: nothing new")
    # reused versions while the pointer moved (a rollback undone): not unchanged
    moved = _result(
        challenger=VersionStep("C1", "catboost", None, False, REFUSED, reused=True),
        baseline=VersionStep("B2", "harx_vix", {"passed": True}, True, "refit", reused=True),
    )
    assert not moved.unchanged and train_verdict(moved)[0] == "Refused"


def test_the_models_table_holds_numbers_roles_and_the_gain_over_harx() -> None:
    rows = {row["key"]: row for row in models_table(_result())}
    assert rows["catboost"]["model"] == "CatBoost challenger"
    assert rows["catboost"]["role"] == "candidate"
    assert rows["harx_vix"]["role"] == "reference, champion"  # the baseline was champion
    assert rows["production"]["role"] == "champion" and rows["har_rv"]["role"] == "baseline"
    assert rows["catboost"]["QLIKE"] == 0.2084 and isinstance(rows["har_rv"]["RMSE(vol)"], float)
    assert rows["catboost"]["QLIKE % vs HAR-X"] == -4.2  # 4.2% worse
    assert rows["har_rv"]["QLIKE % vs HAR-X"] == -25.0
    assert rows["harx_vix"]["RMSE(var) % vs HAR-X"] == 0.0
    assert rows["production"]["MZ slope"] is None  # absent, not "nan"
    champion_catboost = models_table(_result(baseline=None))
    assert {r["key"]: r["role"] for r in champion_catboost}["harx_vix"] == "reference"


def test_a_step_summary_is_one_line_for_the_log() -> None:
    summary = {
        "step": "ingest",
        "start": "2022-07-01",
        "end": "2022-07-01",
        "raw.market": {"written": 1, "unchanged": 0, "conflict": 0},
        "source": "synthetic",
        "synthetic_data": True,
    }
    assert summary_line(summary) == (
        "ingest 2022-07-01: raw.market 1 partition written, 0 unchanged; "
        "SYNTHETIC DATA, source synthetic"
    )
    ranged = {
        "step": "labels",
        "start": "2022-06-23",
        "end": "2022-06-24",
        "labels_daily": {"written": 0, "unchanged": 2, "conflict": 1},
    }
    assert summary_line(ranged) == (
        "labels 2022-06-23..2022-06-24: labels_daily 0 partitions written, 2 unchanged, "
        "1 conflicting (kept aside)"
    )


@pytest.mark.parametrize("synthetic", [True, False])
def test_charts_of_synthetic_data_say_so(tmp_path: Path, synthetic: bool) -> None:
    dates = pd.bdate_range("2024-01-01", periods=30)
    frame = pd.DataFrame({"date": dates, "rv_5d": np.linspace(0.1, 0.2, 30)})
    frame["catboost"] = frame["harx_vix"] = frame["rv_5d"] * 1.1
    cumulative = pd.DataFrame(
        {"date": dates, "catboost:qlike": np.linspace(0, -1, 30), "catboost:se_var": 0.0}
    )
    charts = [
        plot_forecasts(frame, tmp_path / "f.png", synthetic=synthetic),
        plot_importance(["vix", "rv_cc_1d"], [0.2, 0.1], tmp_path / "i.png", synthetic=synthetic),
        plot_cumulative_loss_difference(cumulative, tmp_path / "d.png", synthetic=synthetic),
    ]
    for chart in charts:
        with Image.open(chart) as image:
            text = image.text  # the PNG's text chunks
        assert (text["Description"] == SYNTHETIC_NOTE) is synthetic
        assert text["Title"] and "SYNTHETIC" not in text["Title"]
