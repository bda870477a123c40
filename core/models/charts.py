"""PNG charts for the training report (matplotlib, headless Agg backend).

Charts of synthetic data say so: SYNTHETIC DATA across the plot and in the title, and in the
PNG's Description text chunk (``SYNTHETIC_NOTE``), so a chart shown alone is never mistaken
for a market-data result.

matplotlib is imported by the first chart, not with this module: core.steps imports it, and
every `volcast` command would otherwise pay ~0.5 s of CPU for pyplot (docs/benchmarks.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from matplotlib.figure import Figure

SYNTHETIC_NOTE = "SYNTHETIC DATA: simulated prices, not market data"


def _save(fig: Figure, out: Path, title: str, synthetic: bool) -> None:
    """Title (marked SYNTHETIC when it is), a watermark across the axes, PNG text chunks."""
    ax = fig.axes[0]
    ax.set_title(f"SYNTHETIC DATA - {title}" if synthetic else title)
    if synthetic:
        ax.text(
            0.5,
            0.5,
            "SYNTHETIC DATA",
            transform=ax.transAxes,
            ha="center",
            va="center",
            rotation=20,
            fontsize=32,
            color="tab:red",
            alpha=0.25,
        )
    fig.tight_layout()
    metadata = {"Title": title, "Description": SYNTHETIC_NOTE if synthetic else "market data"}
    fig.savefig(out, format="png", metadata=metadata)
    _pyplot().close(fig)


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
    synthetic: bool = False,
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
    ax.legend(loc="upper left", frameon=False)
    ax.grid(alpha=0.3)
    _save(fig, out, "Next-5-day SPY volatility: walk-forward forecasts vs realized", synthetic)
    return out


def plot_importance(
    names: Sequence[str],
    mean_abs_shap: Sequence[float] | np.ndarray,
    path: str | Path,
    *,
    top: int = 20,
    synthetic: bool = False,
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
    _save(fig, out, "Feature importance", synthetic)
    return out


def plot_cumulative_loss_difference(
    cumulative: pd.DataFrame,
    path: str | Path,
    *,
    reference: str = "harx_vix",
    synthetic: bool = False,
) -> Path:
    """Two panels (QLIKE, squared variance error): each model's running sum of its loss minus
    ``reference``'s, from ``walkforward.cumulative_loss_difference``. Falling = gaining."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    dates = pd.to_datetime(cumulative["date"])
    plt = _pyplot()
    fig, axes = plt.subplots(2, 1, figsize=(11, 6.5), dpi=100, sharex=True)
    for ax, (loss, title) in zip(
        axes, (("qlike", "QLIKE"), ("se_var", "squared error of variance")), strict=True
    ):
        for column in cumulative.columns:
            if column.endswith(f":{loss}"):
                ax.plot(dates, cumulative[column], lw=1.0, label=column.split(":")[0])
        ax.axhline(0.0, color="0.3", lw=0.6)
        ax.set_ylabel(f"cumulative {title}\nminus {reference}")
        ax.grid(alpha=0.3)
    axes[0].legend(loc="lower left", frameon=False, ncol=3)
    title = f"Where gains and losses vs {reference} happen (below 0 = better)"
    _save(fig, out, title, synthetic)
    return out


def plot_bands(
    bands: dict[str, pd.DataFrame],
    path: str | Path,
    *,
    level: float = 0.8,
    synthetic: bool = False,
) -> Path:
    """One panel per model: realized rv_5d, the forecast and its band (core.models.bands
    .rolling_bands output: date, rv_5d, rv_5d_hat, rv_5d_lo, rv_5d_hi), vol in %, log scale;
    realized values outside the band are marked."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    plt = _pyplot()
    fig, axes = plt.subplots(len(bands), 1, figsize=(11, 3.6 * len(bands)), dpi=100, sharex=True)
    axes = np.atleast_1d(axes)
    for ax, (name, frame) in zip(axes, bands.items(), strict=True):
        dates = pd.to_datetime(frame["date"])
        realized = 100 * frame["rv_5d"]
        lo, hi = 100 * frame["rv_5d_lo"], 100 * frame["rv_5d_hi"]
        ax.fill_between(
            dates, lo, hi, color="tab:blue", alpha=0.25, lw=0, label=f"{level:.0%} band"
        )
        ax.plot(dates, 100 * frame["rv_5d_hat"], color="tab:blue", lw=0.8, label=f"{name} forecast")
        ax.plot(dates, realized, color="0.35", lw=0.6, label="realized rv_5d")
        outside = (realized < lo) | (realized > hi)
        ax.scatter(
            dates[outside], realized[outside], s=3, color="tab:red", label="outside the band"
        )
        ax.set_yscale("log")
        ax.set_ylabel("annualized vol, %")
        ax.grid(alpha=0.3)
        ax.legend(loc="upper left", frameon=False, ncol=4, fontsize=8)
    title = f"{level:.0%} forecast bands (rolling conformal, past errors only) vs realized"
    _save(fig, out, title, synthetic)
    return out
