"""Pipeline steps as plain functions of (context, dates). Flows and the CLI only call these.

Each step reads what it needs from the lake, validates, and writes whole partitions; a
violation raises before anything of that step is written. Each returns a JSON-ready summary.
"""

from core.steps.context import Context, IngestError, NoModelError, StaleDataError, lake_source
from core.steps.data import (
    backfill,
    check_complete,
    compact,
    curate_market,
    features,
    ingest,
    labels,
)
from core.steps.jobs import daily, first_champion, run_main_job
from core.steps.macro import MACRO_SOURCE, macro
from core.steps.model import (
    EVALUATION_FILES,
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

__all__ = [
    "EVALUATION_FILES",
    "MACRO_SOURCE",
    "Context",
    "IngestError",
    "NoModelError",
    "StaleDataError",
    "TrainResult",
    "VersionStep",
    "backfill",
    "canary_check",
    "check_complete",
    "compact",
    "curate_market",
    "daily",
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
    "promote",
    "run_main_job",
    "serving_status",
    "serving_version",
    "store_evaluation",
    "train",
    "training_table",
]
