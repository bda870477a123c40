"""Pipeline steps as plain functions of (context, dates). Flows and the CLI only call these.

Each step reads what it needs from the lake, validates, and writes whole partitions; a
violation raises before anything of that step is written. Each returns a typed summary
(core.steps.summaries) whose ``to_dict()`` is the JSON the CLI prints.
"""

from core.errors import IngestError, NoModelError, StaleDataError
from core.steps.context import Context, lake_source
from core.steps.data import (
    DERIVED_STEPS,
    backfill,
    check_complete,
    compact,
    curate_market,
    derive,
    features,
    ingest,
    labels,
)
from core.steps.freshness import PredictionFreshness, prediction_freshness
from core.steps.jobs import (
    CORE_STEPS,
    NO_MODEL_YET,
    EveningSteps,
    MainJobResult,
    daily,
    first_champion,
    run_main_job,
)
from core.steps.macro import MACRO_SOURCE, macro
from core.steps.model import (
    EVALUATION_FILES,
    PromoteResult,
    TrainResult,
    VersionStep,
    canary_check,
    ensure_champion,
    evaluate,
    infer,
    latest_forecast,
    model_registry,
    promote,
    serving_status,
    serving_version,
    store_evaluation,
    train,
    training_table,
)
from core.steps.summaries import Skipped, StepSummary, Summary, as_dicts

__all__ = [
    "CORE_STEPS",
    "DERIVED_STEPS",
    "EVALUATION_FILES",
    "MACRO_SOURCE",
    "NO_MODEL_YET",
    "Context",
    "EveningSteps",
    "IngestError",
    "MainJobResult",
    "NoModelError",
    "PredictionFreshness",
    "PromoteResult",
    "Skipped",
    "StaleDataError",
    "StepSummary",
    "Summary",
    "TrainResult",
    "VersionStep",
    "as_dicts",
    "backfill",
    "canary_check",
    "check_complete",
    "compact",
    "curate_market",
    "daily",
    "derive",
    "ensure_champion",
    "evaluate",
    "features",
    "first_champion",
    "infer",
    "ingest",
    "labels",
    "lake_source",
    "latest_forecast",
    "macro",
    "model_registry",
    "prediction_freshness",
    "promote",
    "run_main_job",
    "serving_status",
    "serving_version",
    "store_evaluation",
    "train",
    "training_table",
]
