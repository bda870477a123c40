"""PNG charts for the training report (matplotlib, headless Agg backend).

matplotlib is imported by the first chart, not with this module: core.steps imports it, and
every `volcast` command would otherwise pay ~0.5 s of CPU for pyplot (docs/benchmarks.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd


@cache
def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")  # headless: training runs in containers without a display
    import matplotlib.pyplot as plt

    return plt


def plot_forecasts(
    predictions: pd.DataFrame,
    path: str | Path,
    *,
    models: Sequence[str] = ("catboost", "harx_vix"),
    label: str = "rv_5d",
) -> Path:
    """Realized rv_5d and each model's out-of-sample forecast over time (vol, in %)."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    dates = pd.to_datetime(predictions["date"])
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(11, 4.5), dpi=100)
    ax.plot(dates, 100 * predictions[label], color="0.6", lw=0.7, label=f"realized {label}")
    for name in models:
        if name in predictions:
            ax.plot(dates, 100 * predictions[name], lw=1.0, label=name)
    ax.set_ylabel("annualized vol, %")
    ax.set_yscale("log")
    ax.set_title("Next-5-day SPY volatility: walk-forward forecasts vs realized")
    ax.legend(loc="upper left", frameon=False)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out, format="png")
    plt.close(fig)
    return out


def plot_importance(
    names: Sequence[str],
    mean_abs_shap: Sequence[float] | np.ndarray,
    path: str | Path,
    *,
    top: int = 20,
) -> Path:
    """Horizontal bars of mean |SHAP| (log-variance units), largest at the top."""
    values = np.asarray(mean_abs_shap, dtype=np.float64)
    if len(names) != values.size:
        raise ValueError("names and mean_abs_shap differ in length")
    order = np.argsort(values)[::-1][:top][::-1]
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 0.3 * len(order) + 1.2), dpi=100)
    ax.barh([names[i] for i in order], values[order], color="tab:blue")
    ax.set_xlabel("mean |SHAP| on log variance")
    ax.set_title("Feature importance")
    fig.tight_layout()
    fig.savefig(out, format="png")
    plt.close(fig)
    return out
