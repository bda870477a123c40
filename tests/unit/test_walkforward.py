"""Walk-forward: purge, identical training windows, cadence, and the evaluation summary."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Self

import numpy as np
import pandas as pd
import pytest

from core.models import baselines
from core.models.candidate import CandidateModel, CandidateParams
from core.models.walkforward import evaluate, walk_forward

N = 160


def synthetic_data(n: int = N, seed: int = 0) -> pd.DataFrame:
    """Business-day frame with HAR-like features and a positive rv_5d label."""
    rng = np.random.default_rng(seed)
    level = np.exp(np.cumsum(rng.normal(0, 0.05, n)) + np.log(0.15))
    frame = pd.DataFrame(
        {
            "date": pd.bdate_range("2020-01-01", periods=n),
            "rv_cc_1d": level * np.exp(rng.normal(0, 0.4, n)),
            "rv_cc_5d": level * np.exp(rng.normal(0, 0.2, n)),
            "rv_cc_22d": level * np.exp(rng.normal(0, 0.1, n)),
            "vix": level * 1.2,
            "rv_ewma_094": level,
        }
    )
    frame["rv_5d"] = level * np.exp(rng.normal(0, 0.3, n))
    return frame


@dataclass
class Recorder:
    """A model that remembers every training window it was given (per instance)."""

    name: str = "recorder"
    log: list[tuple[pd.Timestamp, int, float]] = field(default_factory=list)
    thread_count: int = -1
    seen_dates: pd.Series | None = None

    def fit(self, X: pd.DataFrame, y_vol: np.ndarray) -> Self:
        self.seen_n = len(X)
        self.seen_sum = float(np.sum(y_vol))
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return np.full(len(X), 0.1 + 1e-9 * self.seen_n)


def test_purge_and_refit_cadence_are_recorded() -> None:
    data = synthetic_data()
    out = walk_forward(
        data,
        start=data.date.iloc[60],
        refit_every=10,
        purge=5,
        min_train=40,
        model_factories={"har_rv": baselines.har_rv},
    )
    pos = {d: i for i, d in enumerate(data.date)}
    assert out.date.iloc[0] == data.date.iloc[60]
    assert out.date.iloc[-1] == data.date.iloc[-1]
    assert len(out) == N - 60  # every test row forecast exactly once
    refit_pos = out.refit_date.map(pos)
    train_end_pos = out.train_end.map(pos)
    # the last training label is exactly `purge` sessions before the refit: known at refit
    assert (refit_pos - train_end_pos == 5).all()
    assert (out.n_train == train_end_pos + 1).all()
    # refits every 10 rows, and each test row is at or after its refit, before the next one
    assert sorted(set(refit_pos)) == list(range(60, N, 10))
    row_pos = out.date.map(pos)
    assert ((row_pos >= refit_pos) & (row_pos < refit_pos + 10)).all()
    assert out.attrs["refit_every"] == 10


def test_labels_inside_the_purge_never_reach_training() -> None:
    data = synthetic_data()
    kwargs = dict(
        start=data.date.iloc[100],
        end=data.date.iloc[109],  # one refit at row 100, tested on rows 100..109
        refit_every=10,
        purge=5,
        min_train=40,
        model_factories={"harx_vix": baselines.harx_vix, "har_rv": baselines.har_rv},
    )
    clean = walk_forward(data, **kwargs)
    poisoned = data.copy()
    poisoned.loc[96:100, "rv_5d"] = 1e3  # rows 96..100: labels not yet known at row 100
    out = walk_forward(poisoned, **kwargs)
    for name in ("harx_vix", "har_rv"):
        assert np.array_equal(out[name].to_numpy(), clean[name].to_numpy())
    # control: the last label inside the training window (row 95) does move the forecasts
    control = data.copy()
    control.loc[95, "rv_5d"] = 1e3
    moved = walk_forward(control, **kwargs)
    assert not np.allclose(moved["har_rv"].to_numpy(), clean["har_rv"].to_numpy())


def test_every_model_sees_the_same_window_and_gets_thread_count() -> None:
    data = synthetic_data()
    made: list[Recorder] = []

    def factory() -> Recorder:
        made.append(Recorder())
        return made[-1]

    walk_forward(
        data,
        start=data.date.iloc[80],
        refit_every=20,
        min_train=40,
        model_factories={"a": factory, "b": factory},
        thread_count=1,
    )
    assert len(made) == 2 * 4  # rows 80..159, refits at 80, 100, 120, 140
    for a, b in zip(made[::2], made[1::2], strict=True):
        assert (a.seen_n, a.seen_sum) == (b.seen_n, b.seen_sum)
    assert [m.seen_n for m in made[::2]] == [76, 96, 116, 136]
    assert all(m.thread_count == 1 for m in made)


def test_min_train_delays_the_first_refit() -> None:
    data = synthetic_data()
    out = walk_forward(
        data, start=data.date.iloc[0], min_train=50, model_factories={"h": baselines.har_rv}
    )
    assert out.n_train.min() == 50
    assert out.date.iloc[0] == data.date.iloc[54]  # 50 labels known at row 54 (purge 5)
    with pytest.raises(ValueError, match="min_train"):
        walk_forward(
            data, start=data.date.iloc[0], min_train=500, model_factories={"h": baselines.har_rv}
        )


def test_rejects_purge_shorter_than_the_label_horizon() -> None:
    with pytest.raises(ValueError):
        walk_forward(
            synthetic_data(), start="2020-01-01", purge=3, model_factories={"h": baselines.har_rv}
        )


def test_walk_forward_with_candidate_and_evaluate_is_json_ready() -> None:
    data = synthetic_data(200)
    params = CandidateParams(iterations=20, depth=3)
    out = walk_forward(
        data,
        start=data.date.iloc[120],
        refit_every=40,
        min_train=100,
        model_factories={
            "catboost": lambda: CandidateModel(params=params),
            "harx_vix": baselines.harx_vix,
            "har_rv": baselines.har_rv,
            "ewma_094": baselines.EwmaBaseline,
        },
    )
    assert list(out.columns[-4:]) == ["catboost", "harx_vix", "har_rv", "ewma_094"]
    assert (out[["catboost", "harx_vix", "har_rv", "ewma_094"]] > 0).all().all()
    report = evaluate(out)
    text = json.dumps(report)  # JSON-ready: no numpy scalars, no NaN surprises
    assert "NaN" not in text
    assert report["n"] == 80 and report["refit_every"] == 40
    assert report["dm_lags"] >= 5
    assert set(report["dm_vs_candidate"]) == {"harx_vix", "har_rv", "ewma_094"}
    q = report["models"]
    expected = 100 * (1 - q["catboost"]["qlike"] / q["harx_vix"]["qlike"])
    assert report["improvement_pct"]["qlike"] == pytest.approx(expected)


def test_evaluate_ranks_a_perfect_forecast_first() -> None:
    rng = np.random.default_rng(5)
    realized = np.exp(rng.normal(np.log(0.15), 0.4, 300))
    predictions = pd.DataFrame(
        {
            "date": pd.bdate_range("2021-01-01", periods=300),
            "rv_5d": realized,
            "catboost": realized * np.exp(rng.normal(0, 0.05, 300)),
            "harx_vix": realized * np.exp(rng.normal(0, 0.4, 300)),
        }
    )
    report = evaluate(predictions, refit_every=5)
    assert report["improvement_pct"]["qlike"] > 50
    assert report["improvement_pct"]["rmse_variance"] > 50
    dm = report["dm_vs_candidate"]["harx_vix"]
    assert dm["qlike_stat"] < 0 and dm["qlike_p"] < 0.01
    assert report["start"] == "2021-01-01" and report["refit_every"] == 5


def test_charts_write_png_files(tmp_path) -> None:
    from core.models.charts import plot_forecasts, plot_importance

    data = synthetic_data(60)
    predictions = data[["date", "rv_5d"]].assign(catboost=0.15, harx_vix=data.rv_cc_22d)
    for written in (
        plot_forecasts(predictions, tmp_path / "f.png"),
        plot_importance(["a", "b", "c"], [0.3, 0.1, 0.2], tmp_path / "i.png"),
    ):
        assert written.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError):
        plot_importance(["a"], [0.1, 0.2], tmp_path / "x.png")


def _two_regimes() -> pd.DataFrame:
    """catboost is near-perfect in 2012-2015 and noisy after; harx_vix the reverse."""
    rng = np.random.default_rng(9)
    dates = pd.bdate_range("2012-01-02", "2021-12-31")
    realized = np.exp(rng.normal(np.log(0.15), 0.4, len(dates)))
    early = dates < "2016-01-01"
    good, bad = np.exp(rng.normal(0, 0.05, len(dates))), np.exp(rng.normal(0, 0.5, len(dates)))
    return pd.DataFrame(
        {
            "date": dates,
            "rv_5d": realized,
            "catboost": realized * np.where(early, good, bad),
            "harx_vix": realized * np.where(early, bad, good),
        }
    )


def test_period_report_splits_by_period_with_improvements_and_dm() -> None:
    from core.models.walkforward import period_report

    report = period_report(_two_regimes())
    assert list(report) == ["full", "2012-2015", "2016-2019", "2020-2026"]
    early, middle = report["2012-2015"], report["2016-2019"]
    assert early["start"] == "2012-01-02" and early["end"] == "2015-12-31"
    assert early["n"] == len(pd.bdate_range("2012-01-02", "2015-12-31"))
    assert early["models"]["catboost"]["qlike_vs_reference_pct"] > 50
    assert middle["models"]["catboost"]["qlike_vs_reference_pct"] < -50
    assert early["models"]["catboost"]["dm_qlike_p"] < 0.01
    ref = early["models"]["harx_vix"]
    assert ref["qlike_vs_reference_pct"] == 0.0 and ref["dm_qlike_p"] is None
    assert all(p["dm_lags"] >= 5 for p in report.values())
    frame = _two_regimes()
    short = frame.loc[frame["date"] < "2012-01-20"]  # too short for every sub-period
    assert list(period_report(short)) == []


def test_trimmed_rmse_drops_the_days_that_decide() -> None:
    from core.models.walkforward import trimmed_rmse

    frame = _two_regimes()
    frame["catboost"] = frame["harx_vix"]
    crash = frame.index[[100, 900, 2000]]
    frame.loc[crash, "rv_5d"] = 1.5  # three crash weeks the challenger saw coming
    frame.loc[crash, "catboost"] = 1.5
    result = trimmed_rmse(frame, model="catboost", days=3)
    assert result["rmse_variance_vs_reference_pct"] > 10  # decided by three days...
    assert result["rmse_variance_vs_reference_pct_trimmed"] == pytest.approx(0.0, abs=1e-9)
    assert sorted(result["best_days"]) == [d.date().isoformat() for d in frame.loc[crash, "date"]]


def test_cumulative_loss_difference_falls_where_the_model_gains(tmp_path) -> None:
    from core.models.charts import plot_cumulative_loss_difference
    from core.models.walkforward import cumulative_loss_difference

    cumulative = cumulative_loss_difference(_two_regimes())
    assert list(cumulative.columns) == ["date", "catboost:qlike", "catboost:se_var"]
    series = cumulative.set_index("date")["catboost:qlike"]
    assert series["2015-12-31"] < 0  # gained in 2012-2015
    assert series["2021-12-31"] > series["2015-12-31"]  # gave it back after
    png = plot_cumulative_loss_difference(cumulative, tmp_path / "d.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
