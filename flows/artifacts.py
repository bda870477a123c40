"""What a person sees in the Prefect UI: gate decisions, forecasts and evaluation charts.

Rendering only: every figure comes from a core.steps summary.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from prefect.artifacts import (
    create_image_artifact,
    create_link_artifact,
    create_markdown_artifact,
    create_table_artifact,
)

from core.links import ObjectLink
from core.models.gate import METRICS
from core.steps import TrainResult
from core.steps.reports import (
    MODEL_NAMES,
    ForecastReport,
    GateFigure,
    gate_figures,
    models_table,
    train_verdict,
)
from flows.runtime import run_day


def _title_day(as_of: str, day: str | None) -> str:
    """ "as of D" and, when the run's own day (its name's) differs, "(run R)": a run named
    train-2026-11-30 that trains on data as of 2026-11-27 says both."""
    day = day or run_day()
    if day != as_of:
        return f"as of {as_of} (run {day})"
    return f"as of {as_of}"


def publish_train(result: TrainResult, run_day: str | None = None) -> None:
    """The gate's verdict with its reason and figures, who serves and how it got there, and
    every model of the gate window side by side (numbers, roles, % vs HAR-X)."""
    name, message = train_verdict(result)
    lines = [f"# Training {_title_day(result.asof, run_day)}: {name.upper()}", ""]
    if result.synthetic_data:
        lines += ["**SYNTHETIC DATA**: simulated prices, not market data", ""]
    lines += [f"- verdict: {message}"]
    challenger = result.challenger
    again = " (reused: identical to an earlier run)" if challenger.reused else ""
    lines.append(f"- challenger: `{challenger.version}`{again}")
    lines += [f"  - {_gate_line(figure)}" for figure in gate_figures(result.gate)]
    if result.baseline is not None:
        base = result.baseline
        again = " (reused: identical to an earlier run)" if base.reused else ""
        lines.append(
            f"- champion upkeep: HAR-X(VIX) baseline `{base.version}`{again}: {base.reason}"
        )
    before, after = result.production_before, result.production_after
    if before == after:
        lines.append(f"- production: unchanged (`{after}`)")
    else:
        lines.append(f"- production: `{before}` -> `{after}`")
    serving = MODEL_NAMES.get(result.serving_kind or "", result.serving_kind)
    lines.append(f"- serving: **{serving}** `{after}`: {result.serving_reason}")
    lines.append(f"- gate window: {result.gate_window} ({result.training_rows} training rows)")
    if challenger.canary is not None:
        lines.append(f"- canary: {_canary_line(challenger.canary)}")
    create_markdown_artifact(
        "\n".join(lines),
        key="train-gate",
        description=f"Training {_title_day(result.asof, run_day)}",
    )
    create_table_artifact(
        models_table(result),
        key="train-models",
        description=f"Out-of-sample losses on the gate window {result.gate_window} (lower is "
        "better; % vs HAR-X = 100 (1 - model / HAR-X), positive = better than HAR-X)",
    )


def _gate_line(figure: GateFigure) -> str:
    gain = figure.improvement_vs_harx_pct
    if gain is None:
        verdict = "not comparable"
    elif gain >= 0:
        verdict = f"{gain:.1f}% better than HAR-X"
    else:
        verdict = f"{-gain:.1f}% worse than HAR-X"
    p_value = figure.dm_p_value
    dm = f", DM p {p_value:.2f}" if p_value is not None else ""
    figures = f"challenger {_fmt(figure.candidate)} vs HAR-X {_fmt(figure.harx)}"
    return f"{figure.label}: {figures}: {verdict}{dm}"


def _canary_line(canary: Mapping[str, Any]) -> str:
    state = "passed" if canary.get("passed") else "FAILED"
    return f"{state} ({canary.get('reason', '')})"


def _fmt(value: Any) -> str:
    return f"{value:.5g}" if isinstance(value, int | float) else str(value)


def publish_forecast(report: ForecastReport | None, run_day: str | None = None) -> None:
    """The day's forecast in context: annualized, the sessions it covers, the previous one,
    realized vol and VIX, the drivers in words, and which model serves and why."""
    if report is None:
        create_markdown_artifact(
            "# No forecast yet\n\nNo stored prediction for that day.",
            key="forecast",
            description="No forecast",
        )
        return
    synthetic = " (SYNTHETIC DATA)" if report.synthetic else ""
    vol = 100 * report.rv_5d_hat
    lines = [f"# Forecast {_title_day(report.as_of, run_day)}{synthetic}", ""]
    if report.synthetic:
        lines += ["**SYNTHETIC DATA**: simulated prices, not market data", ""]
    lines += [
        f"SPY volatility over the next {len(report.horizon)} sessions "
        f"({report.horizon[0]} to {report.horizon[-1]}): **{vol:.2f}% annualized** "
        f"(one standard deviation of the 5-session move: about "
        f"{vol * (len(report.horizon) / 252) ** 0.5:.2f}%).",
        "",
        f"- sessions covered: {', '.join(report.horizon)}",
    ]
    if report.rv_5d_lo is not None and report.rv_5d_hi is not None:
        lines.append(
            f"- {report.band_level:.0%} band: **{100 * report.rv_5d_lo:.2f}% to "
            f"{100 * report.rv_5d_hi:.2f}%** (from the model's own out-of-sample errors)"
        )
    else:
        lines.append("- band: none (this model version stores no out-of-sample errors)")
    if report.previous_rv_5d_hat is not None:
        lines.append(
            f"- previous forecast (as of {report.previous_as_of}): "
            f"{100 * report.previous_rv_5d_hat:.2f}%, change {report.change_vol_points:+.2f} "
            "vol points"
        )
    else:
        lines.append("- previous forecast: none stored")
    if report.realized_vol_22d is not None:
        lines.append(f"- realized vol, last 22 sessions: {100 * report.realized_vol_22d:.2f}%")
    if report.vix is not None:
        lines.append(f"- VIX: {100 * report.vix:.2f}%")
    now = "serves now" if report.serving_now else "no longer serves"
    lines += [
        f"- model: **{report.model_label}** `{report.model_version}` (kind `{report.model_kind}`, "
        f"{now}): {report.how_it_serves}",
        f"- data: {report.data_source}",
        "",
        "| driver | what it is | value | effect on the forecast |",
        "| --- | --- | ---: | --- |",
        *(
            f"| {d.feature} | {d.description} | {d.value_text} | {d.sentence} |"
            for d in report.drivers
        ),
    ]
    lines += _drift_lines(report.drift)
    create_markdown_artifact(
        "\n".join(lines),
        key="forecast",
        description=f"Forecast {_title_day(report.as_of, run_day)}: {vol:.2f}% annualized",
    )


def _drift_lines(drift: Mapping[str, Any] | None) -> list[str]:
    """The top drifting model features: PSI of the last sessions against the training bins,
    and the excess over what any window of the training data showed (the alarm's figure)."""
    if not drift:
        return ["", "Feature drift: not available (a model version without training bins)."]
    verdict = "**DRIFTING**" if drift["drifting"] else "within what training showed"
    lines = [
        "",
        f"Feature drift over {drift['sessions']} sessions ({drift['start']} to {drift['end']}): "
        f"{verdict} (max excess PSI {drift['max_excess_psi']:.3f} on "
        f"{drift['max_excess_feature']}, alarm above {drift['threshold']}; max PSI "
        f"{drift['max_psi']:.3f} on {drift['max_psi_feature']})",
        "",
        "| feature | PSI | training windows' max PSI | excess |",
        "| --- | ---: | ---: | ---: |",
    ]
    lines += [
        f"| {f['feature']} | {f['psi']:.3f} | {f['null_psi']:.3f} | {f['excess']:.3f} |"
        for f in drift["top"]
    ]
    return lines


def publish_evaluation(
    report: Mapping[str, Any], stored: Mapping[str, str], links: Mapping[str, ObjectLink]
) -> None:
    """The headline improvements over HAR-X, and the charts one click away: embedded in the
    summary (a local lake) or behind presigned HTTPS links with their expiry (S3), also as
    link and image artifacts. Synthetic data is said in the title and on the charts."""
    synthetic = bool((report.get("data") or {}).get("synthetic"))
    mark = " (SYNTHETIC DATA)" if synthetic else ""
    for file, link in links.items():
        if link.url.startswith(("https://", "http://")):
            key = "evaluation-" + file.replace(".", "-").replace("_", "-")
            create_link_artifact(
                link.url,
                link_text=f"{file}{mark} ({link.expiry_note})",
                key=key,
                description=f"evaluation chart {file}{mark}",
            )
            create_image_artifact(link.url, key=f"{key}-image", description=f"{file}{mark}")
    lines = [f"# Walk-forward evaluation {report.get('start')}..{report.get('end')}{mark}", ""]
    if synthetic:
        lines += ["**SYNTHETIC DATA**: simulated prices, not market data", ""]
    lines.append("Out of sample, the CatBoost challenger against the HAR-X(VIX) baseline:")
    lines += [
        f"- {METRICS.get(k, k)}: {_improvement_words(v)}"
        for k, v in (report.get("improvement_pct") or {}).items()
    ]
    candidate = report.get("candidate", "catboost")
    periods = report.get("periods") or {}
    if periods:
        lines += [
            "",
            f"{candidate} vs HAR-X(VIX) by period (improvement %, + = better; DM p-value):",
            "",
            "| period | n | QLIKE % | DM p | RMSE(var) % | DM p |",
            "| --- | ---: | ---: | ---: | ---: | ---: |",
            *(
                f"| {name} | {p['n']} | {c['qlike_vs_reference_pct']:+.1f} | "
                f"{c['dm_qlike_p']:.3f} | {c['rmse_variance_vs_reference_pct']:+.1f} | "
                f"{c['dm_rmse_variance_p']:.3f} |"
                for name, p in periods.items()
                if (c := p["models"].get(candidate))
            ),
        ]
    lines += ["", "Charts:"]
    for file, link in links.items():
        lines += ["", f"**{file}** ({link.expiry_note}):", "", f"![{file}]({link.url})"]
        if link.expires_at is not None:
            lines.append(f"[open {file}]({link.url})")
    lines += ["", "Stored:", *(f"- {file}: `{address}`" for file, address in stored.items())]
    create_markdown_artifact("\n".join(lines), key="evaluation", description="Backtest summary")


def _improvement_words(pct: Any) -> str:
    """ "3.90% better than HAR-X(VIX)": improvement = 100 (1 - challenger / HAR-X)."""
    if not isinstance(pct, int | float):
        return "not comparable"
    way = "better" if pct >= 0 else "worse"
    return f"the challenger is {abs(pct):.2f}% {way} than HAR-X(VIX)"
