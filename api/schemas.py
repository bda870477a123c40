"""Request and response models of the HTTP API (they are its OpenAPI schema)."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Literal, Self

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError
from typing_extensions import TypedDict

from core.labels import HORIZON_SESSIONS
from core.models.inference import STORED_DRIVERS
from core.models.servable import ModelKind

#: A posted vector has one value per model feature; this bounds the body, far above any model.
MAX_POSTED_FEATURES = 500


def _json_number(value: object) -> object:
    """Only a JSON number is a feature value: pydantic's lax mode would score ``true`` as 1.0
    and ``"0.25"`` as 0.25, a client bug turned into a forecast."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PydanticCustomError("number_type", "must be a number")
    return value


FiniteFloat = Annotated[float, BeforeValidator(_json_number), Field(allow_inf_nan=False)]
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _iso_date_text(value: object) -> object:
    """Only YYYY-MM-DD text is a date here (pydantic alone would take 0 as 1970-01-01)."""
    if value is not None and not (isinstance(value, str) and _ISO_DATE.match(value)):
        raise ValueError("as_of must be a date as YYYY-MM-DD text, or null")
    return value


IsoDate = Annotated[dt.date, BeforeValidator(_iso_date_text)]


class PredictRequest(BaseModel):
    """Either a date (``as_of``, default: the latest date with features) or a feature vector."""

    # Examples come from what is served (api.docs): a real row of the serving model's features.
    model_config = ConfigDict(extra="forbid")

    as_of: IsoDate | None = Field(
        None,
        description="A date YYYY-MM-DD with features; null (default) = the latest such date.",
        examples=["2022-12-30"],
    )
    features: dict[str, FiniteFloat] | None = Field(
        None,
        min_length=1,
        max_length=MAX_POSTED_FEATURES,
        description="A feature vector to score: every model feature by name, finite values "
        "in the feature's unit (GET /version lists the names). Excludes as_of.",
    )
    top_k: int = Field(
        5,
        ge=1,
        le=STORED_DRIVERS,
        strict=True,
        description=f"How many SHAP drivers to return (1..{STORED_DRIVERS}).",
    )

    @model_validator(mode="after")
    def _one_of(self) -> Self:
        if self.as_of is not None and self.features is not None:
            raise ValueError("give either as_of or features, not both")
        return self


class Driver(TypedDict):
    """One feature's contribution, in the model's raw space (log variance).

    A TypedDict, not a model: drivers are plain dicts in core.serving, and serializing them
    as they are avoids building 5-10 objects per response on the hot path.
    """

    feature: Annotated[str, Field(examples=["vix"])]
    value: Annotated[
        float,
        Field(
            description="The feature's value in the scored row, in its unit (vols are "
            "annualized decimals; see the request's features field)."
        ),
    ]
    shap: Annotated[
        float,
        Field(
            description="SHAP contribution to the log-variance forecast: the feature moves "
            "rv_5d_hat by a factor exp(shap / 2) (+0.1 = about +5%)."
        ),
    ]


class PredictResponse(BaseModel):
    """A forecast (examples: a stored one, from what is served; see api.docs)."""

    as_of: dt.date | None = Field(
        description="The forecast's date (made at its close); null for a posted vector."
    )
    rv_5d_hat: float = Field(
        description="Forecast of SPY's realized vol over the next horizon_sessions sessions, "
        "annualized, as a decimal (0.1238 = 12.38% a year; the 5-session standard deviation "
        "is rv_5d_hat * sqrt(5 / 252), about 1.7% for 0.1238)."
    )
    top_drivers: list[Driver] = Field(description="Largest |shap| first.")
    model_version: str
    horizon_sessions: int = Field(
        HORIZON_SESSIONS,
        description="Trading sessions the forecast covers: t+1..t+5 after as_of.",
    )
    annualized: bool = Field(True, description="rv_5d_hat is annualized (always true).")
    synthetic_data: bool = Field(
        False,
        description="True when the served data are simulated prices (the offline default "
        "source), not market data.",
    )
    regime: str | None = Field(
        None, description="Reserved: null until market regimes exist (additive, later)."
    )
    regime_prob: float | None = Field(
        None, description="Reserved: null until market regimes exist (additive, later)."
    )
    rv_5d_lo: float | None = Field(
        None,
        description="Lower bound of the forecast band (annualized vol, decimal): realized vol "
        "fell below it on about (1 - band_level) / 2 of past out-of-sample days. Null for a "
        "model version without a band.",
    )
    rv_5d_hi: float | None = Field(
        None,
        description="Upper bound of the forecast band (annualized vol, decimal); null for a "
        "model version without a band.",
    )
    band_level: float | None = Field(
        None,
        description="Nominal coverage of [rv_5d_lo, rv_5d_hi] (0.8): split conformal on the "
        "model's own out-of-sample log errors (docs/models.md, measured coverage there).",
    )


class ErrorMessage(BaseModel):
    detail: str = Field(examples=["no features for 2022-12-25 (latest date with features ...)"])


class HealthResponse(BaseModel):
    """200 with status ok when a model is loaded; 503 with status no_model otherwise."""

    status: Literal["ok", "no_model"]
    detail: str | None = Field(None, description="Why no model is loaded, when none is.")
    model_version: str | None
    model_kind: ModelKind | None = Field(
        None, description="harx_vix (the HAR-X(VIX) baseline champion) or catboost (challenger)."
    )
    model_reason: str | None = Field(
        None, description="Why this model serves (gate, first champion, refit, rollback, pin)."
    )
    model_created_at: str | None
    model_loaded_at: dt.datetime | None
    latest_trading_day: dt.date
    latest_feature_date: dt.date | None
    latest_prediction_date: dt.date | None
    feature_lag_sessions: int | None = Field(
        description="Sessions between the latest feature date and the latest closed session."
    )
    prediction_lag_sessions: int | None
    last_refresh_at: dt.datetime | None
    last_refresh_error: str | None


class VersionResponse(BaseModel):
    api_version: str = Field(description="The volcast package version.")
    code_version: str = Field(description="Git SHA of the code (VOLCAST_CODE_VERSION in images).")
    model_version: str | None
    model_kind: ModelKind | None = Field(
        None, description="harx_vix (the HAR-X(VIX) baseline champion) or catboost (challenger)."
    )
    model_reason: str | None = Field(None, description="Why this model serves.")
    model_features: list[str] = Field(description="Feature names a posted vector must carry.")
