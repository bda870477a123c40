"""The ``volcast`` command: a thin shell over core.steps (no business logic here).

Summaries go to stdout as JSON, logs and progress bars to stderr, so output can be piped.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import typer

from core import steps
from core.calendar import latest_trading_day
from core.config import SourceName, settings_with

app = typer.Typer(
    help="volcast: daily SPY 5-day realized-volatility forecasts.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

SourceOpt = Annotated[
    SourceName | None, typer.Option("--source", help="synthetic | csv | yahoo (VOLCAST_SOURCE)")
]
CsvDirOpt = Annotated[
    Path | None, typer.Option("--csv-dir", help="Folder of per-symbol CSVs (VOLCAST_CSV_DIR)")
]
DateOpt = Annotated[dt.datetime | None, typer.Option("--date", formats=["%Y-%m-%d"])]
StartOpt = Annotated[dt.datetime | None, typer.Option("--start", formats=["%Y-%m-%d"])]
EndOpt = Annotated[dt.datetime | None, typer.Option("--end", formats=["%Y-%m-%d"])]


def _context(
    source: str | None = None, csv_dir: Path | None = None, reads_lake: bool = True
) -> steps.Context:
    ctx = steps.Context.from_settings(settings_with(source, csv_dir))
    # The lake's own record of its source wins: `infer` on a CSV lake is not synthetic.
    stored = steps.lake_source(ctx) if reads_lake else {}
    synthetic = stored["synthetic"] if stored else ctx.settings.source == "synthetic"
    if synthetic:
        typer.secho("SYNTHETIC DATA: simulated prices, not market data", err=True, fg="yellow")
    return ctx


def _range(date: dt.datetime | None, start: dt.datetime | None, end: dt.datetime | None):
    if date is not None and (start is not None or end is not None):
        raise typer.BadParameter("use either --date or --start/--end")
    if date is not None:
        return date.date(), date.date()
    last = latest_trading_day().date()
    return (start.date() if start else last), (end.date() if end else last)


def _emit(result: object) -> None:
    typer.echo(json.dumps(result, indent=2, default=str))


@app.callback()
def main(verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


@app.command()
def ingest(
    date: DateOpt = None,
    start: StartOpt = None,
    end: EndOpt = None,
    source: SourceOpt = None,
    csv_dir: CsvDirOpt = None,
) -> None:
    """Download raw daily bars into raw.market (immutable partitions)."""
    lo, hi = _range(date, start, end)
    _emit(steps.ingest(_context(source, csv_dir), lo, hi))


@app.command()
def features(date: DateOpt = None, start: StartOpt = None, end: EndOpt = None) -> None:
    """Curate stored raw bars, build features and the labels that became known."""
    lo, hi = _range(date, start, end)
    ctx = _context()
    _emit(
        [
            steps.curate_market(ctx, lo, hi),
            steps.features(ctx, lo, hi),
            steps.labels(ctx, lo, hi),
        ]
    )


@app.command()
def backfill(
    start: StartOpt = None,
    end: EndOpt = None,
    source: SourceOpt = None,
    csv_dir: CsvDirOpt = None,
) -> None:
    """Ingest, curate, and build features and labels over a range (default: all history)."""
    ctx = _context(source, csv_dir)
    lo = start.date() if start else ctx.settings.history_start
    hi = end.date() if end else latest_trading_day().date()
    _emit(steps.backfill(ctx, lo, hi))


@app.command()
def compact(
    table: Annotated[str | None, typer.Option("--table", help="One table (default: all)")] = None,
) -> None:
    """Rebuild the per-year snapshots that disagree with their daily partitions (or are missing)."""
    _emit(steps.compact(_context(), table))


@app.command()
def daily(date: DateOpt = None, source: SourceOpt = None, csv_dir: CsvDirOpt = None) -> None:
    """One evening's run for a trading day (default: the latest closed session)."""
    day = date.date() if date else latest_trading_day().date()
    _emit(steps.daily(_context(source, csv_dir), day))


@app.command()
def train(
    asof: Annotated[dt.datetime | None, typer.Option("--asof", formats=["%Y-%m-%d"])] = None,
) -> None:
    """Fit a candidate, gate it against HAR-X(VIX) and production; promote only if it passes.

    Exits 0 whether or not it promoted (the JSON says which and why), and 1 when a candidate
    that passed the gate failed its canary: that is a broken model, which alarms should see.
    """
    result = steps.train(_context(), asof.date() if asof else None)
    _emit(result)
    if not result.get("canary", {"passed": True})["passed"]:
        raise SystemExit(1)


@app.command()
def infer(date: DateOpt = None, start: StartOpt = None, end: EndOpt = None) -> None:
    """Write predictions_daily (rv_5d_hat + SHAP drivers) with the serving model."""
    lo, hi = _range(date, start, end)
    _emit(steps.infer(_context(), lo, hi))


@app.command()
def evaluate(
    out: Annotated[Path, typer.Option("--out", help="Folder for evaluation.json and charts")],
    start: Annotated[dt.datetime, typer.Option("--start", formats=["%Y-%m-%d"])] = dt.datetime(
        2012, 1, 3
    ),
    refit_every: Annotated[int, typer.Option("--refit-every", min=1)] = 21,
    source: SourceOpt = None,
    csv_dir: CsvDirOpt = None,
) -> None:
    """Walk-forward backtest of the candidate and every baseline, straight from a source."""
    ctx = _context(source, csv_dir, reads_lake=False)
    report = steps.evaluate(ctx.settings, out, start.date(), refit_every)
    _emit({k: report[k] for k in ("n", "start", "end", "refit_every", "models", "improvement_pct")})


models_app = typer.Typer(help="The model registry: list, show, promote, rollback.")
app.add_typer(models_app, name="models")


@models_app.command("list")
def models_list(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Registered versions, oldest first; * marks production."""
    infos = steps.model_registry(_context()).list()
    if as_json:
        _emit([asdict(i) for i in infos])
        return
    for i in infos:
        mark = "*" if i.promoted else " "
        gate = "gate passed " if i.gate_passed else "gate refused"
        qlike = i.metrics.get("qlike", float("nan"))
        typer.echo(f"{mark} {i.version}  {i.created_at}  {gate}  qlike={qlike:.4f}")


@models_app.command("show")
def models_show(version: str) -> None:
    """A version's metadata, gate decision and promotion events."""
    _emit(steps.model_registry(_context()).show(version))


@models_app.command("promote")
def models_promote(
    version: str,
    override: Annotated[
        str | None, typer.Option("--override", help="Why to promote against the gate")
    ] = None,
) -> None:
    """Make a version production (after its canary); a gate-refused one needs --override."""
    result = steps.promote(_context(), version, override)
    _emit(result)
    if not result["promoted"]:
        raise SystemExit(1)


@models_app.command("rollback")
def models_rollback() -> None:
    """Point production back at the previous version."""
    registry = steps.model_registry(_context())
    _emit({"production": registry.rollback()})


@app.command()
def run() -> None:
    """The main job: catch up the lake, train with the gate, infer, show the latest forecast."""
    ctx = _context()
    result = steps.run_main_job(ctx)
    _emit(result)
    _explain_main_job(result)


def _say(text: str = "") -> None:
    typer.echo(text, err=True)


def _explain_main_job(result: dict[str, Any]) -> None:
    """A few lines for a person, on stderr (stdout stays one JSON document)."""
    gate = result["train"]["gate"]
    _say()
    _say(f"gate: {gate['reason']}")
    for metric, row in gate.get("figures", {}).get("metrics", {}).items():
        _say(
            f"  {metric:9s} candidate {row['candidate']:.5g}  HAR-X {row['harx']:.5g}"
            f"  ({row['improvement_vs_harx_pct']:+.1f}%)"
        )
    forecast = result.get("forecast")
    if not forecast:
        _say(result.get("message", "no forecast"))
        return
    synthetic = " (SYNTHETIC DATA)" if forecast["data_source"].get("synthetic") else ""
    _say(
        f"forecast for {forecast['as_of']}{synthetic}: next-5-day vol "
        f"{100 * forecast['rv_5d_hat']:.2f}% (model {forecast['model_version']})"
    )
    for d in forecast["top_drivers"]:
        _say(f"  {d['feature']:18s} value {d['value']:+.4f}  shap {d['shap']:+.4f}")


def run_cli() -> None:
    """Entry point that turns known pipeline errors into one clear line and exit code 1."""
    from core.contracts import ContractError
    from core.models.registry import RegistryError
    from core.sources import SourceError

    try:
        app()
    except (
        steps.IngestError,
        steps.NoModelError,
        ContractError,
        SourceError,
        RegistryError,
        ValueError,
    ) as exc:
        typer.secho(f"error: {exc}", err=True, fg="red")
        raise SystemExit(1) from None
