"""The volcast command as a person runs it: exit codes, JSON on stdout, one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

VOLCAST = Path(sys.executable).with_name("volcast")


def _run(args: list[str], lake: Path, **env: str) -> subprocess.CompletedProcess[str]:
    full_env = {
        **os.environ,
        "VOLCAST_LAKE_URI": str(lake),
        "VOLCAST_HISTORY_START": "2018-01-02",
        "VOLCAST_GATE_WINDOW_SESSIONS": "60",
        "VOLCAST_GATE_REFIT_EVERY": "30",
        **env,
    }
    return subprocess.run(
        [str(VOLCAST), *args], env=full_env, capture_output=True, text=True, timeout=600
    )


def test_main_job_prints_a_forecast_and_who_serves(tmp_path: Path) -> None:
    done = _run(["run"], tmp_path / "lake")
    assert done.returncode == 0, done.stderr
    assert "SYNTHETIC DATA" in done.stderr
    result = json.loads(done.stdout)
    assert result["data_steps"][0]["start"] == "2018-01-02"
    gate = result["train"]["gate"]
    assert set(gate["figures"]["metrics"]) == {"qlike", "rmse_variance"}
    assert all(0 <= m["dm_p_value"] <= 1 for m in gate["figures"]["metrics"].values())
    forecast = result["forecast"]  # there is always a forecast: the baseline serves first
    assert 0.02 < forecast["rv_5d_hat"] < 2.5
    assert forecast["data_source"]["synthetic"] is True
    assert forecast["model_kind"] == result["serving"]["kind"]
    lines = done.stderr.splitlines()
    serving = [line for line in lines if line.startswith("serving: ")]
    assert serving == [
        f"serving: {forecast['model_kind']} {forecast['model_version']}: "
        f"{result['serving']['reason']}"
    ]
    shown = [line for line in lines if line.startswith(f"forecast as of {forecast['as_of']}")]
    assert len(shown) == 1 and "annualized over the next 5 sessions" in shown[0]
    assert sum("pushes the forecast" in line for line in lines) == len(forecast["top_drivers"])
    assert any("DM p" in line for line in lines)

    # SQL on the same lake, as its own process: the rows, and a clean stderr at exit (the
    # console script skips the exit's last collection, but not after DuckDB, whose bindings
    # report every object alive at exit as a leak)
    query = "SELECT count(*) AS n FROM predictions_daily"
    sql = _run(["sql", query, "--format", "json"], tmp_path / "lake")
    assert sql.returncode == 0, sql.stderr
    assert json.loads(sql.stdout) == [{"n": 1}]
    assert "leak" not in sql.stderr


@pytest.mark.realdata
def test_main_job_as_of_a_past_session_on_real_csvs(tmp_path: Path, market_dir: Path) -> None:
    """A CSV folder that ends before today works end to end with --asof."""
    done = _run(
        ["run", "--asof", "2026-07-22", "--source", "csv", "--csv-dir", str(market_dir)],
        tmp_path / "lake",
        VOLCAST_HISTORY_START="2019-01-02",
        VOLCAST_GATE_WINDOW_SESSIONS="252",
        VOLCAST_GATE_REFIT_EVERY="126",
    )
    assert done.returncode == 0, done.stderr
    assert "SYNTHETIC" not in done.stderr
    result = json.loads(done.stdout)
    assert result["data_steps"][0]["end"] == "2026-07-22"
    forecast = result["forecast"]
    assert forecast["as_of"] == "2026-07-22" and forecast["data_source"]["synthetic"] is False
    assert 0.05 < forecast["rv_5d_hat"] < 0.6  # SPY's vol in July 2026, annualized
    assert len(forecast["top_drivers"]) >= 4


def test_bad_date_is_one_clear_line(tmp_path: Path) -> None:
    done = _run(["daily", "--date", "2021-12-25"], tmp_path / "lake")
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1].startswith("error: no XNYS trading day")
    assert "Traceback" not in done.stderr


def test_csv_source_without_folder_is_a_clear_error(tmp_path: Path) -> None:
    done = _run(["ingest", "--date", "2024-03-01", "--source", "csv"], tmp_path / "lake")
    assert done.returncode == 1
    assert "VOLCAST_CSV_DIR is not set" in done.stderr
    assert not (tmp_path / "lake").exists()  # nothing written


def test_evaluate_writes_report_and_charts(tmp_path: Path) -> None:
    out = tmp_path / "eval"
    done = _run(
        ["evaluate", "--out", str(out), "--start", "2024-01-02", "--refit-every", "126"],
        tmp_path / "lake",
    )
    assert done.returncode == 0, done.stderr
    report = json.loads((out / "evaluation.json").read_text())
    assert report["data"]["synthetic"] is True
    assert set(report["models"]) >= {"catboost", "harx_vix", "har_rv", "ewma_094", "vix_recal"}
    assert report["start"] >= "2024-01-02"
    for name in ("forecasts.png", "loss_difference.png", "shap_importance.png", "bands.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # the band of each servable kind, measured with past errors only, by period
    for kind in ("catboost", "harx_vix"):
        served = report["bands"][kind]["served"]
        assert {"full", "top_decile_rv"} <= set(served)
        assert served["full"]["n"] > 0 and 0.0 <= served["full"]["coverage"] <= 1.0
    assert not (tmp_path / "lake").exists()  # research reads the source, never the lake


@pytest.mark.realdata
def test_evaluate_on_real_market_data(tmp_path: Path, market_dir: Path) -> None:
    """Opt-in (minutes): VOLCAST_REALDATA_EVAL=1 runs the 2012.. walk-forward on real data."""
    if os.environ.get("VOLCAST_REALDATA_EVAL") != "1":
        pytest.skip("opt-in: set VOLCAST_REALDATA_EVAL=1 to run the real-data walk-forward")
    out = tmp_path / "eval"
    done = _run(
        ["evaluate", "--source", "csv", "--csv-dir", str(market_dir), "--out", str(out)],
        tmp_path / "lake",
        VOLCAST_HISTORY_START="2007-04-11",
    )
    assert done.returncode == 0, done.stderr
    report = json.loads((out / "evaluation.json").read_text())
    assert report["start"] == "2012-01-03" and report["n"] > 3000
    assert report["data"] == {**report["data"], "source": "csv", "synthetic": False}
    for model in report["models"].values():
        assert 0 < model["qlike"] < 1.0  # sane losses for every model
