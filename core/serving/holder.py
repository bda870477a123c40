"""Loading the serving snapshot from the lake and keeping it current without a restart.

``ServingHolder.state`` is one reference to an immutable ServingState. ``refresh`` polls what
can change (the PRODUCTION pointer or the pin, new features_daily and predictions_daily
partitions), builds a new snapshot off to the side and swaps the reference: a Python attribute
assignment is atomic, so a request sees the old snapshot or the new one, never a mix, and no
request waits for a load. A refresh that fails (a pointer to a missing version, S3 down) keeps
the current snapshot and records the error for /health.

A poll costs one small GET (the pointer) plus, per table, a GET per session after the newest
one held up to the latest closed session (usually one, or none): its cost does not grow with
history. The first load reads each table's listing and per-year snapshots (core.snapshots):
~25 requests per table for 20 years.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import pandas as pd

from core import contracts
from core.calendar import latest_trading_day
from core.config import Settings
from core.explain import Driver
from core.lake import Lake
from core.models.registry import POINTER_KEY, ModelRegistry
from core.monitoring import lag_sessions
from core.polling import Poller
from core.serving.state import FeatureTable, Forecast, Freshness, ServedVersion, ServingState

log = logging.getLogger(__name__)

#: How far past the newest partition a poll looks for new ones (calendar days).
_POLL_HORIZON_DAYS = 400
#: The pointer token before the first poll: differs from every real token, None included.
_NEVER_POLLED = object()


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class ServingHolder:
    """Owns the current ServingState and its refresh (see the module docstring)."""

    def __init__(self, settings: Settings, lake: Lake | None = None):
        self.settings = settings
        self.lake = lake or Lake(settings.lake_uri, settings.aws_endpoint_url, settings.aws_region)
        self.registry = ModelRegistry(self.lake)
        self.last_refresh_at: dt.datetime | None = None
        self.last_refresh_error: str | None = None
        self._token: object = _NEVER_POLLED
        self._lock = threading.Lock()  # one refresh at a time (poll thread vs. an explicit call)
        self._poller = Poller(self.refresh, name="volcast-refresh")
        self._state = self._empty_state()
        #: Called with a newly read version before it is swapped in (the scoring process loads
        #: its model then); an error aborts the swap.
        self.before_swap: list[Callable[[ServedVersion], None]] = []

    @property
    def state(self) -> ServingState:
        return self._state

    # -- refresh ------------------------------------------------------------------------------
    def refresh(self) -> bool:
        """Poll the lake and swap in a new snapshot if anything changed; True if it did.

        Never raises: an error keeps the current snapshot and is kept in last_refresh_error.
        """
        with self._lock:
            try:
                changed = self._refresh()
                self.last_refresh_error = None
                return changed
            except Exception as exc:
                self.last_refresh_error = f"{type(exc).__name__}: {exc}"
                log.exception("serving refresh failed; still serving the previous snapshot")
                if self._state.model is None:
                    reason = f"no model could be loaded: {self.last_refresh_error}"
                    self._state = replace(self._state, no_model_reason=reason)
                return False
            finally:
                self.last_refresh_at = _utcnow()

    def _refresh(self) -> bool:
        current = self._state
        # The tables are read while the model loads (and a scoring process warms up): at start-up
        # one waits on the network and the other mostly on CPU.
        with ThreadPoolExecutor(2, thread_name_prefix="volcast-refresh") as pool:
            polled_features = pool.submit(self._poll_features, current.features)
            polled_predictions = pool.submit(self._poll_predictions, current.predictions)
            model, reason, model_changed = self._poll_model(current)
            features, predictions = polled_features.result(), polled_predictions.result()
        freshness = self._freshness(features, predictions)
        changed = (
            model_changed
            or features is not current.features
            or predictions is not current.predictions
        )
        selector = current.selector
        if changed:
            selector = features.selector(model.names) if model is not None else None
        self._state = replace(
            current,
            model=model,
            no_model_reason=reason,
            model_reason=_why_serving(self._token) if model is not None else None,
            features=features,
            predictions=predictions,
            freshness=freshness,
            selector=selector,
            # a new version starts an empty cache; the same version keeps what it computed
            computed={} if model_changed else current.computed,
            synthetic_data=self._synthetic(current.synthetic_data),
        )
        if model_changed:
            log.info("serving model %s", model.version if model else None)
        return changed

    def _poll_model(self, current: ServingState) -> tuple[ServedVersion | None, str | None, bool]:
        pinned = self.settings.model_version
        token: bytes | str | None = pinned or self._pointer_bytes()
        if token == self._token and (current.model is not None or token is None):
            return current.model, current.no_model_reason, False
        version = self.registry.resolve(pinned)
        if version is None:
            self._token = token
            changed = current.model is not None
            return None, "no model is promoted yet (artifacts/model/PRODUCTION is absent)", changed
        if current.model is not None and current.model.version == version:
            self._token = token  # the pointer was rewritten to the same version
            return current.model, None, False
        loaded = self._read_version(version)
        self._token = token
        return loaded, None, True

    def _synthetic(self, known: bool | None) -> bool | None:
        """Whether the lake holds simulated prices: read from its source marker until the
        lake has one (a lake's source never changes once claimed), then kept."""
        if known is not None:
            return known
        source = self.lake.source()
        return bool(source.get("synthetic")) if source else None

    def _pointer_bytes(self) -> bytes | None:
        try:
            return self.lake.get_bytes(POINTER_KEY)
        except FileNotFoundError:
            return None

    def _read_version(self, version: str) -> ServedVersion:
        """The version as its metadata.json describes it (this process never loads the model
        itself), once every ``before_swap`` hook has prepared it: the scoring process loads the
        model, checks its files' sha256 and that its features are the metadata's, before any
        request needs it. ``loaded_at`` is when that was done."""
        served = ServedVersion.from_metadata(version, self.registry.metadata(version), _utcnow())
        for prepare in self.before_swap:
            prepare(served)
        return replace(served, loaded_at=_utcnow())

    def _new_rows(self, table: str, newest: dt.date | None) -> pd.DataFrame:
        """Rows of ``table`` dated after ``newest`` (all rows when None), up to the latest
        closed session (no partition can be newer) and at most _POLL_HORIZON_DAYS on: usually
        a session or none, so a GET or no request at all, whatever the length of history."""
        if newest is None:
            return self.lake.read(table)
        start = newest + dt.timedelta(days=1)
        horizon = start + dt.timedelta(days=_POLL_HORIZON_DAYS)
        return self.lake.read(table, start, min(horizon, latest_trading_day().date()))

    def _poll_features(self, table: FeatureTable) -> FeatureTable:
        frame = self._new_rows(contracts.FEATURES, table.newest)
        if frame.empty:
            return table
        columns = tuple(c for c in frame.columns if c != "date")
        if table.rows and columns != table.columns:
            log.info("features_daily columns changed: re-reading the whole table")
            return FeatureTable().extended(self.lake.read(contracts.FEATURES))
        return table.extended(frame)

    def _poll_predictions(self, stored: dict[dt.date, Forecast]) -> dict[dt.date, Forecast]:
        frame = self._new_rows(contracts.PREDICTIONS, max(stored) if stored else None)
        if frame.empty:
            return stored
        added = {
            day.date(): Forecast(
                day.date(), float(vol), _drivers(drivers), str(version), _bound(lo), _bound(hi)
            )
            for day, vol, drivers, version, lo, hi in zip(
                pd.DatetimeIndex(frame["date"]),
                frame["rv_5d_hat"].to_numpy(),
                frame["top_drivers"],
                frame["model_version"],
                frame["rv_5d_lo"].to_numpy(),
                frame["rv_5d_hi"].to_numpy(),
                strict=True,
            )
        }
        return {**stored, **added}

    def _freshness(self, features: FeatureTable, predictions: dict[dt.date, Forecast]) -> Freshness:
        latest = latest_trading_day().date()
        newest_prediction = max(predictions) if predictions else None
        return Freshness(
            checked_at=_utcnow(),
            latest_trading_day=latest,
            latest_feature_date=features.newest,
            latest_prediction_date=newest_prediction,
            feature_lag_sessions=lag_sessions(features.newest, latest),
            prediction_lag_sessions=lag_sessions(newest_prediction, latest),
        )

    def _empty_state(self) -> ServingState:
        return ServingState(
            model=None,
            features=FeatureTable(),
            predictions={},
            freshness=Freshness(_utcnow(), latest_trading_day().date(), None, None, None, None),
            no_model_reason="not loaded yet",
        )

    # -- background polling -------------------------------------------------------------------
    def start(self, interval_s: float) -> None:
        """Poll every ``interval_s`` seconds in a daemon thread until ``stop``."""
        self._poller.start(interval_s)

    def stop(self) -> None:
        self._poller.stop()


def _bound(value: float) -> float | None:
    """A stored band bound (NaN in partitions written without a band: None)."""
    return None if value != value else float(value)


def _why_serving(token: object) -> str | None:
    """Why the served version serves: the pin, or the reason the PRODUCTION pointer records."""
    if isinstance(token, str):
        return "pinned by VOLCAST_MODEL_VERSION"
    if not isinstance(token, bytes):
        return None
    try:
        pointer = json.loads(token)
    except ValueError:
        return "set by hand (a plain-text pointer)"
    return pointer.get("reason") if isinstance(pointer, dict) else None


def _drivers(stored: list[dict]) -> list[Driver]:
    """predictions_daily drivers (dicts from Arrow structs) as plain, typed dicts."""
    return [
        {"feature": str(d["feature"]), "value": float(d["value"]), "shap": float(d["shap"])}
        for d in stored
    ]
