"""What each step returns: a typed summary, and ``to_dict()``, the JSON the CLI prints and the
flows return (its shape is what scripts and docs read: keep it stable). Code reads the
attributes; a summary is also a read-only Mapping over its ``to_dict()`` (``JsonView``), so
what reads the JSON form (benchmarks, tests, ``summary_line``) reads the summary itself alike.

Every summary that wrote something has its step, its range of sessions and one entry per table
written (``WriteReport.summary()``: written / unchanged / conflict counts, and the conflicting
days), followed by the step's own figures. A step that did not run says why (``Skipped``).
"""

from __future__ import annotations

import logging
from abc import abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import pandas as pd

from core.lake import WriteReport

if TYPE_CHECKING:
    from core.models.drift import DriftReport
    from core.steps.model import VersionStep

log = logging.getLogger(__name__)


class JsonView(Mapping[str, Any]):
    """A read-only Mapping over ``to_dict()``; equal to any mapping with the same JSON."""

    __slots__ = ()

    @abstractmethod
    def to_dict(self) -> dict[str, Any]:
        """The summary's JSON form (what the CLI prints and the flows return)."""

    def __getitem__(self, key: str) -> Any:
        return self.to_dict()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.to_dict())

    def __len__(self) -> int:
        return len(self.to_dict())


@dataclass(frozen=True, eq=False)
class StepSummary(JsonView):
    """A step over sessions [start, end] (ISO dates) and what each of its table writes did."""

    step: str
    start: str
    end: str
    writes: tuple[WriteReport, ...] = ()

    def figures(self) -> dict[str, Any]:
        """The step's own JSON figures, after the table entries (none for curate and labels)."""
        return {}

    def to_dict(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "start": self.start,
            "end": self.end,
            **{r.table: r.summary() for r in self.writes},
            **self.figures(),
        }

    def logged(self) -> StepSummary:
        """Log the summary as one line (``summary_line``) and return it: the run's log then
        says what each step wrote."""
        log.info("%s", summary_line(self.to_dict()))
        return self


@dataclass(frozen=True, eq=False)
class IngestSummary(StepSummary):
    source: str = ""
    synthetic_data: bool = False
    #: Symbols whose series starts inside the range: their first session (ISO).
    series_start: dict[str, str] = field(default_factory=dict)
    #: Bars the plausibility checks flagged that a recorded acceptance let through.
    accepted_bars: list[dict[str, object]] = field(default_factory=list)

    def figures(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "source": self.source,
            "synthetic_data": self.synthetic_data,
            "series_start": self.series_start,
        }
        if self.accepted_bars:
            out["accepted_bars"] = self.accepted_bars
        return out


@dataclass(frozen=True, eq=False)
class FeaturesSummary(StepSummary):
    #: Sessions of the range without a feature row (the warm-up of the longest window).
    days_without_features: int = 0

    def figures(self) -> dict[str, Any]:
        return {"days_without_features": self.days_without_features}


@dataclass(frozen=True, eq=False)
class InferSummary(StepSummary):
    model_version: str = ""
    #: Feature drift of the newest day (None for versions without training bins).
    drift: DriftReport | None = None
    #: Items upserted into the DynamoDB mirror (None without a mirror).
    dynamodb_items_written: int | None = None

    def figures(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "model_version": self.model_version,
            "drift": self.drift.to_dict() if self.drift is not None else None,
        }
        if self.dynamodb_items_written is not None:
            out["dynamodb_items_written"] = self.dynamodb_items_written
        return out


@dataclass(frozen=True, eq=False)
class MacroSummary(StepSummary):
    source: str = ""
    new_vintages: int = 0
    conflicting_vintages: int = 0
    #: Per series, the newest observation date published by the range's last session.
    latest_observation: dict[str, str] = field(default_factory=dict)

    def figures(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "new_vintages": self.new_vintages,
            "conflicting_vintages": self.conflicting_vintages,
            "latest_observation": self.latest_observation,
        }


@dataclass(frozen=True, eq=False)
class ChampionSummary(JsonView):
    """The first champion's promotion on an evening (``first_champion``)."""

    champion: VersionStep
    step: str = "champion"

    def to_dict(self) -> dict[str, Any]:
        return {"step": self.step, **asdict(self.champion)}


@dataclass(frozen=True, eq=False)
class Skipped(JsonView):
    """A step that did not run, and why."""

    step: str
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"step": self.step, "skipped": self.reason}


#: What one step of a chain (backfill, an evening) returns.
Summary = StepSummary | ChampionSummary | Skipped


def span(days: pd.DatetimeIndex) -> dict[str, str]:
    """``start`` and ``end`` of a summary from a step's sessions."""
    return {"start": days[0].date().isoformat(), "end": days[-1].date().isoformat()}


def as_dicts(summaries: Sequence[Summary]) -> list[dict[str, Any]]:
    """A chain's summaries as the JSON list the CLI prints and the flows return."""
    return [s.to_dict() for s in summaries]


def summary_line(summary: Mapping[str, Any]) -> str:
    """A step summary (its ``to_dict``) as one line for people: "ingest 2022-07-01: raw.market
    1 partition written, 0 unchanged; source csv" (SYNTHETIC DATA said when it is synthetic)."""
    start, end = summary.get("start"), summary.get("end")
    when = start if start == end else f"{start}..{end}"
    parts = []
    for table, counts in summary.items():
        if isinstance(counts, dict) and "written" in counts:
            written = counts["written"]
            text = f"{table} {written} partition{'s' if written != 1 else ''} written, "
            text += f"{counts.get('unchanged', 0)} unchanged"
            if counts.get("conflict"):
                text += f", {counts['conflict']} conflicting (kept aside)"
            parts.append(text)
    if summary.get("days_without_features"):
        parts.append(f"{summary['days_without_features']} session(s) without features (warm-up)")
    if "model_version" in summary:
        parts.append(f"model {summary['model_version']}")
    if "source" in summary:
        synthetic = "SYNTHETIC DATA, " if summary.get("synthetic_data") else ""
        parts.append(f"{synthetic}source {summary['source']}")
    return f"{summary.get('step')} {when}: " + ("; ".join(parts) or "nothing to write")
