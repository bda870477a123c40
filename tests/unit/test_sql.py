"""`volcast sql`: DuckDB over the lake's partitions, read-only, the same names as Glue; on a
local folder here and on S3 (moto) in tests/integration/test_sql_s3.py."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from core import contracts
from core.lake import Lake
from core.sql import SqlError, query, render

#: The README's query: each forecast beside what was realized over its five sessions.
FORECAST_VS_REALIZED = """
SELECT p.date, p.rv_5d_hat, p.rv_5d_lo, p.rv_5d_hi, l.rv_5d AS realized,
       l.rv_5d BETWEEN p.rv_5d_lo AND p.rv_5d_hi AS inside_band
FROM predictions_daily p JOIN labels_daily l USING (date)
ORDER BY p.date
"""

DAYS = pd.DatetimeIndex(["2024-01-02", "2024-01-03", "2024-01-04", "2024-01-05", "2024-01-08"])


def fill(lake: Lake) -> pd.DataFrame:
    """Labels for the five days; predictions for them, the first two written before the band
    existed (no rv_5d_lo/rv_5d_hi columns at all)."""
    hat = np.array([0.10, 0.12, 0.15, 0.11, 0.13])
    realized = np.array([0.09, 0.20, 0.14, 0.10, 0.16])
    drivers = [[{"feature": "vix", "value": 0.2, "shap": 0.1}]] * 5
    predictions = pd.DataFrame(
        {
            "date": DAYS,
            "rv_5d_hat": hat,
            "top_drivers": drivers,
            "model_version": "v1",
            "regime": None,
            "regime_prob": np.nan,
            "rv_5d_lo": hat * 0.8,
            "rv_5d_hi": hat * 1.25,
        }
    )
    old = predictions.head(2).drop(columns=["rv_5d_lo", "rv_5d_hi"])
    lake.write_partitions(contracts.PREDICTIONS, old)
    lake.write_partitions(contracts.PREDICTIONS, predictions.tail(3))
    lake.write_partitions(contracts.LABELS, pd.DataFrame({"date": DAYS, "rv_5d": realized}))
    return predictions.assign(realized=realized)


@pytest.fixture
def lake(tmp_path: Path) -> Lake:
    return Lake(str(tmp_path / "lake"))


def check_forecast_vs_realized(lake: Lake, expected: pd.DataFrame) -> None:
    got = query(lake, FORECAST_VS_REALIZED)
    assert list(got.columns) == [
        "date", "rv_5d_hat", "rv_5d_lo", "rv_5d_hi", "realized", "inside_band"
    ]  # fmt: skip
    assert pd.to_datetime(got["date"]).tolist() == list(DAYS)
    np.testing.assert_allclose(got["rv_5d_hat"], expected["rv_5d_hat"])
    np.testing.assert_allclose(got["realized"], expected["realized"])
    # partitions written before the band read it as null, later ones as stored
    assert got["rv_5d_lo"].head(2).isna().all() and got["inside_band"].head(2).isna().all()
    np.testing.assert_allclose(got["rv_5d_hi"].tail(3), expected["rv_5d_hi"].tail(3))
    # 0.14 in [0.12, 0.1875], 0.10 in [0.088, 0.1375], 0.16 in [0.104, 0.1625]
    assert got["inside_band"].tail(3).tolist() == [True, True, True]


def test_predictions_join_labels_into_forecast_vs_realized(lake: Lake) -> None:
    check_forecast_vs_realized(lake, fill(lake))


def test_the_date_partition_is_a_date_column_that_filters(lake: Lake) -> None:
    fill(lake)
    got = query(lake, "SELECT date, rv_5d FROM labels_daily WHERE date = DATE '2024-01-04'")
    assert got["rv_5d"].tolist() == [0.14]
    kinds = query(lake, "SELECT typeof(date) AS t FROM labels_daily LIMIT 1")
    assert kinds["t"].tolist() == ["DATE"]
    drivers = query(lake, "SELECT top_drivers[1].feature AS f FROM predictions_daily LIMIT 1")
    assert drivers["f"].tolist() == ["vix"]


def test_output_formats(lake: Lake) -> None:
    fill(lake)
    frame = query(lake, "SELECT date, rv_5d FROM labels_daily ORDER BY date LIMIT 2")
    csv = pd.read_csv(io.StringIO(render(frame, "csv")))
    assert csv.columns.tolist() == ["date", "rv_5d"] and csv["rv_5d"].tolist() == [0.09, 0.2]
    records = json.loads(render(frame, "json"))
    assert records[0] == {"date": "2024-01-02", "rv_5d": 0.09}
    table = render(frame, "table").splitlines()
    assert table[0].split() == ["date", "rv_5d"] and len(table) == 3
    empty = query(lake, "SELECT date, rv_5d FROM labels_daily WHERE rv_5d > 1")
    assert render(empty, "table") == "date  rv_5d\n(0 rows)\n"
    with pytest.raises(ValueError, match="unknown format"):
        render(frame, "xml")


def test_queries_cannot_write_or_read_beside_the_lake(lake: Lake, tmp_path: Path) -> None:
    fill(lake)
    target = tmp_path / "out.csv"
    with pytest.raises(SqlError):
        query(lake, f"COPY (SELECT * FROM labels_daily) TO '{target}'")
    assert not target.exists()
    with pytest.raises(SqlError):
        query(lake, f"SELECT * FROM read_parquet('{lake.root}/labels_daily/*/*.parquet')")
    with pytest.raises(SqlError):
        query(lake, "SET enable_external_access = true")


def test_an_unknown_table_names_the_tables_there_are(lake: Lake) -> None:
    fill(lake)
    with pytest.raises(SqlError, match=r"labels_daily, predictions_daily"):
        query(lake, "SELECT * FROM features_daily")
    with pytest.raises(SqlError, match="none yet"):
        query(Lake(str(lake.root) + "-empty"), "SELECT 1 FROM labels_daily")


def test_the_cli_prints_csv_and_a_clear_error(lake: Lake, monkeypatch) -> None:
    from flows.cli import app, run_cli

    fill(lake)
    monkeypatch.setenv("VOLCAST_LAKE_URI", lake.root)
    runner = CliRunner()
    done = runner.invoke(app, ["sql", FORECAST_VS_REALIZED, "--format", "csv"])
    assert done.exit_code == 0, done.output
    printed = pd.read_csv(io.StringIO(done.stdout))
    assert len(printed) == 5 and printed["realized"].iloc[1] == 0.2
    monkeypatch.setattr("sys.argv", ["volcast", "sql", "SELECT nothing FROM labels_daily"])
    with pytest.raises(SystemExit) as stop:
        run_cli()
    assert stop.value.code == 1


def test_csv_and_json_keep_every_value(lake: Lake) -> None:
    """Full float precision, nested drivers as JSON, NaN as null/empty: a user's script reads
    back what the lake holds."""
    fill(lake)
    exact = 0.1288098315051254
    sql = f"""SELECT date, top_drivers, rv_5d_lo, {exact}::DOUBLE AS x, 'nan'::DOUBLE AS n
              FROM predictions_daily ORDER BY date LIMIT 1"""
    frame = query(lake, sql)
    records = json.loads(render(frame, "json"))
    assert records == [
        {
            "date": "2024-01-02",
            "top_drivers": [{"feature": "vix", "value": 0.2, "shap": 0.1}],
            "rv_5d_lo": None,
            "x": exact,
            "n": None,
        }
    ]
    row = pd.read_csv(io.StringIO(render(frame, "csv"))).iloc[0]
    assert row["x"] == exact and np.isnan(row["n"]) and row["date"] == "2024-01-02"
    assert json.loads(row["top_drivers"]) == records[0]["top_drivers"]


def test_one_statement_with_rows_and_no_progress_bar(lake: Lake) -> None:
    """Empty text and several statements are refused by name (DuckDB would show only the
    last result); the progress bar, which DuckDB prints on stdout ahead of the result of a
    query over ~2 s, is off."""
    fill(lake)
    for text, count in (("", 0), (" ; ", 0), ("SELECT 1; SELECT 2", 2)):
        with pytest.raises(SqlError, match=f"one SQL statement expected, got {count}"):
            query(lake, text)
    got = query(lake, "SELECT current_setting('enable_progress_bar') AS on")
    assert got["on"].tolist() == [False]
