"""What a person sees in the Prefect UI: gate decisions, forecasts and evaluation charts.

Rendering only: every figure comes from a core.steps summary.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from prefect.artifacts import (
    create_link_artifact,
    create_markdown_artifact,
    create_table_artifact,
)

_METRICS = ("qlike", "rmse_variance", "rmse_vol", "mz_slope")


def _fmt(value: Any) -> str:
    return f"{value:.5g}" if isinstance(value, int | float) else str(value)


def publish_train(summary: Mapping[str, Any]) -> None:
    """The gate decision with its reason, and candidate vs baselines on the gate window."""
    gate = summary["gate"]
    lines = [
        f"# Training {summary['asof']}: {summary.get('decision', 'refused').upper()}",
        "",
        f"- version: `{summary['version']}`",
        f"- gate: **{'passed' if gate['passed'] else 'refused'}**: {gate['reason']}",
        f"- production: `{summary.get('production_before')}` -> "
        f"`{summary.get('production_after')}`",
        f"- gate window: {summary['gate_window']} ({summary['training_rows']} training rows)",
    ]
    if summary.get("synthetic_data"):
        lines.append("- **SYNTHETIC DATA**: simulated prices, not market data")
    if "canary" in summary:
        lines.append(f"- canary: {summary['canary']}")
    lines.append(f"- serving: **{summary.get('serving_kind')}**: {summary['serving_reason']}")
    create_markdown_artifact(
        "\n".join(lines), key="train-gate", description="Gate decision of the latest training"
    )
    rows = [
        {"model": name, **{m: _fmt(losses.get(m)) for m in _METRICS}}
        for name, losses in summary["models"].items()
    ]
    create_table_artifact(
        rows, key="train-models", description="Out-of-sample losses on the gate window"
    )


def publish_forecast(forecast: Mapping[str, Any]) -> None:
    """The day's forecast and its top drivers."""
    synthetic = forecast.get("data_source", {}).get("synthetic")
    lines = [
        f"# Forecast {forecast['as_of']}{' (SYNTHETIC DATA)' if synthetic else ''}",
        "",
        f"Next-5-day realized volatility: **{100 * forecast['rv_5d_hat']:.2f}%** "
        f"(model `{forecast['model_version']}`)",
        "",
        "| feature | value | SHAP (log variance) |",
        "| --- | ---: | ---: |",
        *(
            f"| {d['feature']} | {d['value']:+.4f} | {d['shap']:+.4f} |"
            for d in forecast["top_drivers"]
        ),
    ]
    create_markdown_artifact(
        "\n".join(lines), key="forecast", description="Latest rv_5d_hat and its SHAP drivers"
    )


def publish_evaluation(report: Mapping[str, Any], stored: Mapping[str, str]) -> None:
    """Links to the stored charts, and the headline improvement figures."""
    for file, address in stored.items():
        key = "evaluation-" + file.replace(".", "-").replace("_", "-")
        create_link_artifact(address, link_text=file, key=key, description=f"evaluation: {file}")
    improvement = report.get("improvement_pct", {})
    candidate = report.get("candidate", "catboost")
    periods = report.get("periods", {})
    lines = [
        f"# Walk-forward evaluation {report.get('start')}..{report.get('end')}",
        "",
        *(f"- {k}: {_fmt(v)}%" for k, v in improvement.items()),
        "",
        f"{candidate} vs HAR-X(VIX) by period (improvement %, DM p-value):",
        "",
        "| period | n | QLIKE | DM p | RMSE(var) | DM p |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
        *(
            f"| {name} | {p['n']} | {c['qlike_vs_reference_pct']:+.1f} | {c['dm_qlike_p']:.3f} "
            f"| {c['rmse_variance_vs_reference_pct']:+.1f} | {c['dm_se_var_p']:.3f} |"
            for name, p in periods.items()
            if (c := p["models"].get(candidate))
        ),
        "",
        *(f"- [{file}]({address})" for file, address in stored.items()),
    ]
    create_markdown_artifact("\n".join(lines), key="evaluation", description="Backtest summary")
