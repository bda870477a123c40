"""What the API serves from: one immutable snapshot of the served version (its metadata, not
the model: that lives in the scoring process), features and stored predictions.

A request reads ``holder.state`` once and works on that snapshot only, so a refresh that swaps
in a new snapshot (new model, new partitions) never changes what a request in flight sees.

Two kinds of traffic:
- by date: the stored prediction (predictions_daily, written by the infer step with the same
  model version) is a lookup; a date with features but no stored prediction of this version is
  scored once (SHAP included) and kept in the snapshot's per-version cache (``remember``).
- a posted feature vector: checked and put in model order here (``row_from_mapping``), then
  scored in the scoring process by ``ServingModel.score_row``: numpy only, one SHAP call. The
  forecast is derived from that call (expected value + sum of contributions == raw
  prediction, exactly), so the request pays for SHAP and not for a separate predict.
"""

from __future__ import annotations

import datetime as dt
import math
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from core.errors import NoModelError
from core.explain import Driver, rank_drivers
from core.features import feature_domain
from core.models.bands import Band
from core.models.inference import STORED_DRIVERS
from core.models.servable import ModelKind, ServableModel, model_kind


class NoFeaturesError(LookupError):
    """No features_daily row for the requested date (not a session, or not built yet)."""


class FeatureVectorError(ValueError):
    """A posted feature vector does not fit the model: names the offending features."""

    def __init__(
        self,
        unknown: list[str],
        missing: list[str],
        non_finite: list[str],
        out_of_domain: dict[str, tuple[float, float]] | None = None,
    ):
        self.unknown, self.missing, self.non_finite = unknown, missing, non_finite
        #: feature -> the [lo, hi] its value lies outside (core.features.feature_domain)
        self.out_of_domain = out_of_domain or {}
        parts = []
        if unknown:
            parts.append(f"unknown features {unknown}")
        if missing:
            parts.append(f"missing features {missing}")
        if non_finite:
            parts.append(f"non-finite values for {non_finite}")
        if self.out_of_domain:
            parts.append(f"values outside their domain for {sorted(self.out_of_domain)}")
        super().__init__("; ".join(parts))


@dataclass(frozen=True)
class Forecast:
    """One answer: the forecast and its top drivers (largest |shap| first)."""

    as_of: dt.date | None
    rv_5d_hat: float
    top_drivers: list[Driver]
    model_version: str
    #: The 80% forecast band (annualized vol); None when the version has none.
    rv_5d_lo: float | None = None
    rv_5d_hi: float | None = None


@dataclass(frozen=True)
class ServedVersion:
    """What the API worker knows of the version it serves: read from the version's metadata,
    not from its files. The model itself is loaded by the scoring process only (ServingModel,
    core.serving.scorer), which checks that its features are these ``names``, in this order."""

    version: str
    #: The model's features, in its input order (metadata ``features``).
    names: tuple[str, ...]
    created_at: str | None
    loaded_at: dt.datetime
    kind: ModelKind = "catboost"
    #: The version's forecast band (metadata ``band``); None for versions without one.
    band: Band | None = None
    positions: dict[str, int] = field(init=False)
    #: values -> tuple of the values of ``names``, in order (one C call).
    pick: Callable[[Mapping[str, float]], tuple[float, ...]] = field(init=False)
    #: Each feature's domain bounds in ``names`` order (core.features.feature_domain).
    lower: NDArray[np.float64] = field(init=False)
    upper: NDArray[np.float64] = field(init=False)

    def __post_init__(self) -> None:
        names = self.names
        object.__setattr__(self, "positions", {n: i for i, n in enumerate(names)})
        getter = operator.itemgetter(*names)
        pick = getter if len(names) > 1 else (lambda values: (getter(values),))
        object.__setattr__(self, "pick", pick)
        bounds = np.array([feature_domain(n) for n in names], dtype=np.float64).reshape(-1, 2)
        object.__setattr__(self, "lower", bounds[:, 0])
        object.__setattr__(self, "upper", bounds[:, 1])

    @classmethod
    def from_metadata(
        cls, version: str, metadata: Mapping[str, Any], loaded_at: dt.datetime
    ) -> ServedVersion:
        """The version as its metadata.json (``ModelRegistry.metadata``) describes it;
        ValueError for an unknown kind."""
        return cls(
            version,
            tuple(str(n) for n in metadata["features"]),
            metadata.get("created_at"),
            loaded_at,
            model_kind(metadata),
            Band.from_metadata(metadata),
        )

    def forecast(self, as_of: dt.date | None, vol: float, drivers: list[Driver]) -> Forecast:
        """A scored row as a Forecast of this version, with its band."""
        if self.band is None:
            return Forecast(as_of, vol, drivers, self.version)
        lo, hi = self.band.interval(vol)
        return Forecast(as_of, vol, drivers, self.version, float(lo), float(hi))

    def row_from_mapping(
        self, values: Mapping[str, float], ignorable: frozenset[str] = frozenset()
    ) -> NDArray[np.float64]:
        """The model's input row from a name -> value mapping; FeatureVectorError if it does not
        fit (every problem named at once, so one correction fixes the request).

        Names in ``ignorable`` (the features_daily columns this model does not use) are
        accepted and ignored, so a full feature row scores whichever kind of model serves.
        """
        try:  # the usual case: one pass, no per-name checks
            row = np.array(self.pick(values), dtype=np.float64)
        except (KeyError, TypeError, ValueError, OverflowError):
            row = None
        in_domain = row is not None and bool(((row >= self.lower) & (row <= self.upper)).all())
        if in_domain:  # also finite: NaN compares False, infinities are outside every bound
            if len(values) == len(self.names):  # every model feature and nothing else
                return row
            if all(n in self.positions or n in ignorable for n in values):
                return row
        unknown = sorted(n for n in values if n not in self.positions and n not in ignorable)
        missing = [n for n in self.names if n not in values]
        non_finite = [
            n for n, v in values.items() if n in self.positions and not _is_finite_number(v)
        ]
        bounds = {
            n: (float(self.lower[i]), float(self.upper[i])) for n, i in self.positions.items()
        }
        out_of_domain = {
            n: bounds[n]
            for n, v in values.items()
            if n in bounds and n not in non_finite and not bounds[n][0] <= v <= bounds[n][1]
        }
        raise FeatureVectorError(unknown, missing, non_finite, out_of_domain)


@dataclass(frozen=True)
class ServingModel:
    """A loaded model version that scores rows: the scoring process's (core.serving.scorer);
    the API worker holds a ServedVersion instead."""

    version: str
    model: ServableModel
    names: tuple[str, ...] = field(init=False)
    positions: dict[str, int] = field(init=False)

    def __post_init__(self) -> None:
        names = tuple(self.model.feature_names or ())
        object.__setattr__(self, "names", names)
        object.__setattr__(self, "positions", {n: i for i, n in enumerate(names)})

    def score_row(self, row: NDArray[np.float64], k: int = STORED_DRIVERS) -> tuple[float, list]:
        """(rv_5d_hat, top k drivers) of one row in ``names`` order: one SHAP call."""
        matrix = row.reshape(1, -1)
        contributions, expected = self.model.shap_values(matrix)
        vol = float(self.model.vol_from_raw(expected + float(contributions[0].sum())))
        return vol, rank_drivers(self.names, matrix, contributions, k)[0]


def _is_finite_number(value: object) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an int beyond float range
        return False


@dataclass(frozen=True)
class FeatureTable:
    """features_daily in memory: one float row per date, in ``columns`` order."""

    columns: tuple[str, ...] = ()
    rows: dict[dt.date, NDArray[np.float64]] = field(default_factory=dict)
    newest: dt.date | None = None
    #: ``columns`` as a set (what a posted vector may name beyond the model's features).
    names: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "names", frozenset(self.columns))

    def extended(self, frame: pd.DataFrame) -> FeatureTable:
        """A new table with ``frame``'s rows (a features_daily read) added or replaced."""
        if frame.empty:
            return self
        columns = tuple(c for c in frame.columns if c != "date")
        if self.rows and columns != self.columns:
            # A new feature set: rebuild every row on the union is not possible from here, so
            # the caller re-reads the whole table (see ServingHolder).
            raise ValueError("features_daily columns changed")
        matrix = frame.loc[:, list(columns)].to_numpy(dtype=np.float64)
        days = [d.date() for d in pd.DatetimeIndex(frame["date"])]
        rows = {**self.rows, **dict(zip(days, matrix, strict=True))}
        return FeatureTable(columns, rows, max(rows))

    def selector(self, names: tuple[str, ...]) -> NDArray[np.intp] | None:
        """Positions of ``names`` in this table's columns; None when some are absent."""
        index = {c: i for i, c in enumerate(self.columns)}
        if not all(n in index for n in names):
            return None
        return np.array([index[n] for n in names], dtype=np.intp)


@dataclass(frozen=True)
class Freshness:
    """How current the served data is, computed at each refresh (not per request)."""

    checked_at: dt.datetime
    latest_trading_day: dt.date
    latest_feature_date: dt.date | None
    latest_prediction_date: dt.date | None
    feature_lag_sessions: int | None
    prediction_lag_sessions: int | None


@dataclass(frozen=True)
class ServingState:
    """One immutable snapshot; ``computed`` is the per-model-version cache of scored dates."""

    model: ServedVersion | None
    features: FeatureTable
    predictions: dict[dt.date, Forecast]
    freshness: Freshness
    no_model_reason: str | None = None
    #: Why the model serves (the PRODUCTION pointer's reason, or the pin).
    model_reason: str | None = None
    computed: dict[dt.date, Forecast] = field(default_factory=dict)
    selector: NDArray[np.intp] | None = None
    #: The lake holds simulated prices (its source marker); None while it holds no data.
    synthetic_data: bool | None = None

    def require_model(self) -> ServedVersion:
        if self.model is None:
            raise NoModelError(self.no_model_reason or "no model is promoted yet")
        return self.model

    def resolve_day(self, day: dt.date | None) -> dt.date:
        """The requested date, or the latest date with features; NoFeaturesError if none."""
        if day is None:
            if self.features.newest is None:
                raise NoFeaturesError("features_daily is empty: no date can be forecast yet")
            return self.features.newest
        if day not in self.features.rows:
            newest = self.features.newest
            hint = f"latest date with features is {newest}" if newest else "no features yet"
            raise NoFeaturesError(f"no features for {day.isoformat()} ({hint})")
        return day

    def known_forecast(self, day: dt.date) -> Forecast | None:
        """The stored or already computed forecast of ``day`` by this version, if any."""
        model = self.require_model()
        stored = self.predictions.get(day)
        if stored is not None and stored.model_version == model.version:
            return stored
        return self.computed.get(day)

    def row_for_day(self, day: dt.date) -> NDArray[np.float64]:
        """The model's input row for a date with features (``resolve_day`` first)."""
        model = self.require_model()
        if self.selector is None:
            lacking = [n for n in model.names if n not in self.features.columns]
            raise NoModelError(
                f"model {model.version} needs features that features_daily lacks: {lacking}"
            )
        return self.features.rows[day][self.selector]

    def remember(self, forecast: Forecast) -> None:
        """Keep a computed dated forecast for the rest of this version's life. Whoever computes
        a date first, the value is the same: a plain dict store needs no lock."""
        if forecast.as_of is not None:
            self.computed[forecast.as_of] = forecast
