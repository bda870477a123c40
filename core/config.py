"""One Settings object, read from VOLCAST_* environment variables (and AWS_ENDPOINT_URL)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

SourceName = Literal["synthetic", "csv", "yahoo"]


class Settings(BaseSettings):
    """Everything that differs between a laptop and AWS is here; code paths are the same."""

    model_config = SettingsConfigDict(env_prefix="VOLCAST_", extra="ignore", frozen=True)

    lake_uri: str = Field("./lake", description="Local folder, file:// URI or s3://bucket/prefix.")
    aws_endpoint_url: str | None = Field(
        None,
        validation_alias=AliasChoices("VOLCAST_AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL"),
        description="S3-compatible endpoint (a moto server in tests); None means AWS itself.",
    )
    aws_region: str = Field(
        "us-east-1",
        validation_alias=AliasChoices("VOLCAST_AWS_REGION", "AWS_REGION", "AWS_DEFAULT_REGION"),
        description="AWS region of the lake's S3 and the DynamoDB mirror (ECS sets AWS_REGION).",
    )
    code_version: str | None = Field(
        None,
        description="Git SHA of the code (the image build sets it; else git HEAD is asked).",
    )
    source: SourceName = "synthetic"
    csv_dir: Path | None = None
    synthetic_seed: int = 7
    history_start: dt.date = dt.date(2007, 4, 11)

    # `volcast evaluate` and the evaluate flow: the long backtest's defaults.
    evaluate_start: dt.date = Field(
        dt.date(2012, 1, 3), description="First out-of-sample session of the long backtest."
    )
    evaluate_refit_every: int = Field(
        21, ge=1, description="Sessions between refits in the long backtest (21 = monthly)."
    )

    gate_min_improvement: float = Field(0.025, ge=0.0, lt=1.0)
    # 3 years with quarterly refits: the window with power inside the weekly-train budget
    # (bench/bench_gate_window.py; docs/models.md, "The gate's window").
    gate_window_sessions: int = Field(756, ge=20, description="Out-of-sample days the gate judges.")
    gate_refit_every: int = Field(63, ge=1, description="Refit cadence inside the gate window.")
    model_version: str | None = Field(None, description="Pin a model version (rollback path).")
    thread_count: int = Field(2, ge=1)
    canary_days: int = Field(20, ge=1)
    canary_max_jump: float = Field(
        0.5, gt=0.0, description="Max relative change vs previous model."
    )
    dynamodb_table: str | None = None
    fred_api_key: SecretStr | None = Field(
        None, description="FRED API key; without one the macro step is skipped."
    )
    fred_series: Annotated[tuple[str, ...] | None, NoDecode] = Field(
        None, description="Comma-separated FRED series ids (default: core.macro.DEFAULT_SERIES)."
    )
    fred_api_url: str = Field("https://api.stlouisfed.org/fred", description="FRED API root.")
    retry_attempts: int = Field(
        3, ge=0, le=10, description="Retries of a step after a transient failure (orchestrated)."
    )
    retry_backoff_seconds: float = Field(
        30.0, ge=0.0, le=3600.0, description="First retry delay; doubles on every retry."
    )
    link_expiry_seconds: int = Field(
        12 * 3600,
        ge=60,
        le=7 * 24 * 3600,
        description="Life of the presigned HTTPS links to charts on an S3 lake (upper bound).",
    )
    api_keys: str | None = Field(
        None,
        description="Where the API key hashes live: a Secrets Manager ARN or "
        "secretsmanager:<name>, or a file path; unset = /predict is open (core/api_keys.py).",
    )
    api_keys_refresh_seconds: float = Field(
        60.0, gt=0.0, le=3600.0, description="How often the API re-reads its API keys."
    )
    serving_refresh_seconds: float = Field(
        30.0,
        gt=0.0,
        le=3600.0,
        description="How often the API polls the PRODUCTION pointer and new partitions.",
    )

    @field_validator("fred_api_key", mode="before")
    @classmethod
    def _blank_key_is_none(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("fred_series", mode="before")
    @classmethod
    def _split_series(cls, value: object) -> object:
        if isinstance(value, str):
            ids = tuple(s.strip().upper() for s in value.split(",") if s.strip())
            return ids or None
        return value


def settings_with(source: str | None = None, csv_dir: str | Path | None = None) -> Settings:
    """Settings from the environment, with a run's explicit source overrides on top."""
    overrides: dict[str, object] = {}
    if source is not None:
        overrides["source"] = source
    if csv_dir is not None:
        overrides["csv_dir"] = Path(csv_dir)
    return Settings(**overrides)
