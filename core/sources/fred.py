"""FRED / ALFRED observations with every vintage, over plain HTTP (httpx), with retries.

One call, ``fred/series/observations`` with ``output_type=1`` ("observations by real-time
period"), answers which value FRED gave for each observation date from which day on
(``realtime_start``). Three properties of the API shape this client:

- ALFRED refuses a request whose real-time period holds more than 2,000 vintage dates
  ("This exceeds the maximum number of vintage dates allowed (2000)"), which a daily series
  reaches in eight years. Requests therefore cover real-time windows of REALTIME_WINDOW_DAYS
  calendar days (at most that many vintage dates each).
- A row in force when a window opens is reported from the window's first day, not from when
  it was published. Windows are joined by dropping rows that repeat the value in force just
  before them (core.macro.collapse_vintages). The first window opens on the first observation
  date asked for, which no observation of these series precedes in publication.
- Pages hold at most 100,000 rows (``limit``/``offset``); the answer's ``count`` says how many
  rows the window has. FRED allows 120 requests a minute per key and answers 429 past it.

429 and 5xx answers, timeouts and connection failures are retried with exponential backoff
(honouring ``Retry-After``); after the last attempt they raise SourceUnavailable (transient for
the orchestrator). Other answers (a bad series id, a rejected key) raise SourceError with
FRED's own message. The API key travels as a query parameter, as FRED requires: it is never
put in a message, and httpx's request log lines are redacted.

References: https://fred.stlouisfed.org/docs/api/fred/series_observations.html,
https://fred.stlouisfed.org/docs/api/fred/realtime_period.html,
https://fred.stlouisfed.org/docs/api/fred/errors.html; the 2,000-vintage limit as quoted in
github.com/mortada/fredapi/issues/48.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Sequence

import httpx
import pandas as pd
from pydantic import SecretStr
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt

from core.calendar import DateLike
from core.macro import KEY, RAW_COLUMNS, collapse_vintages, empty_raw
from core.sources.base import SourceError, SourceUnavailable, date_bounds

log = logging.getLogger(__name__)

FRED_API_URL = "https://api.stlouisfed.org/fred"
#: FRED's largest page (``limit``).
MAX_PAGE_ROWS = 100_000
#: Calendar days of real time per request: below ALFRED's 2,000 vintage dates per request.
REALTIME_WINDOW_DAYS = 1800
LATEST_REALTIME = "9999-12-31"

_API_KEY_PARAM = re.compile(r"(api_key=)[^&\s'\"]+")


class _RedactApiKey(logging.Filter):
    """httpx logs every request URL at INFO; FRED's URLs carry the key."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = _API_KEY_PARAM.sub(r"\1***", message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


_REDACT = _RedactApiKey()
if _REDACT not in logging.getLogger("httpx").filters:
    logging.getLogger("httpx").addFilter(_REDACT)


class _Retryable(SourceUnavailable):
    """One failed attempt worth repeating; ``retry_after`` is the server's wish, in seconds."""

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class FredSource:
    """Every vintage of FRED series, as raw.macro rows (series_id, date, value, realtime_start).

    Args:
        api_key: the FRED API key (a SecretStr keeps it out of reprs).
        base_url: the API root; tests point it at a loopback server.
        timeout_s: per-request connect/read timeout.
        attempts: tries per request before giving up (>= 1).
        backoff_s, max_backoff_s: first retry delay (doubling), and its cap (also caps
            ``Retry-After``).
        min_interval_s: least time between two requests (FRED: 120 a minute per key).
        page_rows: rows per page (FRED's maximum is 100,000).
        realtime_window_days: real-time days per request (see the module docstring).
    """

    name = "fred"
    is_synthetic = False

    def __init__(
        self,
        api_key: str | SecretStr,
        base_url: str = FRED_API_URL,
        *,
        timeout_s: float = 60.0,
        attempts: int = 5,
        backoff_s: float = 1.0,
        max_backoff_s: float = 60.0,
        min_interval_s: float = 0.5,
        page_rows: int = MAX_PAGE_ROWS,
        realtime_window_days: int = REALTIME_WINDOW_DAYS,
    ) -> None:
        key = api_key.get_secret_value() if isinstance(api_key, SecretStr) else api_key
        if not key:
            raise SourceError("fred source: no API key (set VOLCAST_FRED_API_KEY)")
        if attempts < 1 or not 1 <= page_rows <= MAX_PAGE_ROWS or realtime_window_days < 1:
            raise ValueError("attempts >= 1, 1 <= page_rows <= 100000, realtime_window_days >= 1")
        self._key = key
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self.attempts = attempts
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.min_interval_s = min_interval_s
        self.page_rows = page_rows
        self.realtime_window_days = realtime_window_days
        self._last_request = float("-inf")

    def __repr__(self) -> str:  # never the key
        return f"FredSource(base_url={self.base_url!r}, attempts={self.attempts})"

    def fetch(self, series_ids: Sequence[str], start: DateLike, end: DateLike) -> pd.DataFrame:
        """Rows of every vintage of ``series_ids`` for observations dated [start, end].

        Sorted by (series_id, date, realtime_start); '.' values are NaN.
        Raises SourceUnavailable (retry later) or SourceError (fix the request or the key).
        """
        lo, hi = date_bounds(start, end)
        frames = []
        with httpx.Client(timeout=self.timeout_s, follow_redirects=False) as client:
            for series_id in series_ids:
                frames.append(self._series(client, series_id, lo, hi))
        rows = [f for f in frames if not f.empty]
        if not rows:
            return empty_raw()
        return pd.concat(rows, ignore_index=True).sort_values(KEY, ignore_index=True)

    # -- one series --------------------------------------------------------------------------
    def _series(
        self, client: httpx.Client, series_id: str, lo: pd.Timestamp, hi: pd.Timestamp
    ) -> pd.DataFrame:
        records: list[dict] = []
        for rt_start, rt_end in self._realtime_windows(lo):
            params = {
                "series_id": series_id,
                "observation_start": lo.date().isoformat(),
                "observation_end": hi.date().isoformat(),
                "realtime_start": rt_start,
                "realtime_end": rt_end,
                "output_type": 1,
                "sort_order": "asc",
            }
            records += self._all_pages(client, series_id, params)
        if not records:
            return empty_raw()
        frame = _to_raw(series_id, records)
        frame = frame.loc[frame["date"].between(lo, hi)]
        return collapse_vintages(frame)

    def _realtime_windows(self, first: pd.Timestamp) -> list[tuple[str, str]]:
        """Consecutive real-time windows from ``first`` to today; the last one is open-ended."""
        today = pd.Timestamp.now(tz="UTC").tz_localize(None).normalize()
        step = pd.Timedelta(days=self.realtime_window_days)
        starts = pd.date_range(first, max(first, today), freq=step)
        ends = [(s + step - pd.Timedelta(days=1)).date().isoformat() for s in starts[:-1]]
        return list(zip(starts.strftime("%Y-%m-%d"), [*ends, LATEST_REALTIME], strict=True))

    def _all_pages(self, client: httpx.Client, series_id: str, params: dict) -> list[dict]:
        rows: list[dict] = []
        while True:
            page = self._get(
                client,
                "series/observations",
                {**params, "limit": self.page_rows, "offset": len(rows)},
                series_id,
            )
            observations = page.get("observations")
            count = page.get("count")
            if not isinstance(observations, list) or not isinstance(count, int):
                raise SourceError(
                    f"fred source: {series_id}: answer without 'observations' and 'count'"
                )
            rows += observations
            if len(rows) >= count:
                return rows
            if not observations:
                raise SourceError(
                    f"fred source: {series_id}: FRED counts {count} rows but the page at "
                    f"offset {len(rows)} is empty"
                )

    # -- HTTP --------------------------------------------------------------------------------
    def _get(self, client: httpx.Client, path: str, params: dict, series_id: str) -> dict:
        retrying = Retrying(
            stop=stop_after_attempt(self.attempts),
            wait=self._wait,
            retry=retry_if_exception_type(_Retryable),
            before_sleep=self._log_retry,
            reraise=True,
        )
        try:
            for attempt in retrying:
                with attempt:
                    return self._get_once(client, path, params, series_id)
        except _Retryable as exc:
            raise SourceUnavailable(
                f"{exc}; gave up after {self.attempts} attempt(s). FRED may be down or "
                "throttling this key: retry later."
            ) from None
        raise AssertionError("unreachable: tenacity either returns or raises")

    def _get_once(self, client: httpx.Client, path: str, params: dict, series_id: str) -> dict:
        wait = self._last_request + self.min_interval_s - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        self._last_request = time.monotonic()
        where = f"fred source: {series_id}"
        try:
            response = client.get(f"{self.base_url}/{path}", params={**params, **self._auth()})
        except httpx.TimeoutException:
            raise _Retryable(f"{where}: no answer within {self.timeout_s:g} s") from None
        except httpx.TransportError as exc:
            raise _Retryable(f"{where}: {type(exc).__name__}: {self._redact(str(exc))}") from None
        status = response.status_code
        if status == 429 or status >= 500:
            raise _Retryable(
                f"{where}: HTTP {status} {self._fred_message(response)}".rstrip(),
                _retry_after(response),
            )
        if status != 200:
            raise SourceError(
                f"{where}: HTTP {status}: {self._fred_message(response) or 'no message'}. "
                "Check the series id (VOLCAST_FRED_SERIES) and VOLCAST_FRED_API_KEY."
            )
        try:
            return response.json()
        except ValueError:
            raise SourceError(f"{where}: the answer is not JSON") from None

    def _auth(self) -> dict[str, str]:
        return {"api_key": self._key, "file_type": "json"}

    def _wait(self, state: RetryCallState) -> float:
        exponential = min(self.backoff_s * 2 ** (state.attempt_number - 1), self.max_backoff_s)
        exc = state.outcome.exception() if state.outcome else None
        asked = getattr(exc, "retry_after", None)
        return exponential if asked is None else min(asked, self.max_backoff_s)

    def _log_retry(self, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        log.warning(
            "%s (attempt %d/%d, next in %.1f s)",
            exc,
            state.attempt_number,
            self.attempts,
            state.upcoming_sleep,
        )

    def _redact(self, text: str) -> str:
        return _API_KEY_PARAM.sub(r"\1***", text).replace(self._key, "***")

    def _fred_message(self, response: httpx.Response) -> str:
        """FRED's ``error_message`` (JSON errors), else a short piece of the body."""
        try:
            body = response.json()
            text = str(body.get("error_message", "")) if isinstance(body, dict) else ""
        except ValueError:
            text = response.text[:200]
        return self._redact(" ".join(text.split())).rstrip(" .")


def _retry_after(response: httpx.Response) -> float | None:
    """``Retry-After`` in seconds when given as a number (the HTTP-date form is ignored)."""
    try:
        return max(0.0, float(response.headers["Retry-After"]))
    except (KeyError, ValueError):
        return None


def _to_raw(series_id: str, records: list[dict]) -> pd.DataFrame:
    """FRED observation records -> raw.macro rows; '.' is FRED's missing value."""
    try:
        frame = pd.DataFrame.from_records(records, columns=["date", "value", "realtime_start"])
        dates = {
            c: pd.to_datetime(frame[c], format="%Y-%m-%d").astype("datetime64[ns]")
            for c in ("date", "realtime_start")
        }
    except (ValueError, TypeError, KeyError) as exc:
        raise SourceError(f"fred source: {series_id}: malformed observations ({exc})") from None
    text = frame["value"].astype(str).str.strip()
    value = pd.to_numeric(text.where(text != "."), errors="coerce")
    bad = value.isna() & text.ne(".")
    if bad.any():
        shown = frame.loc[bad, ["date", "value"]].head(5).to_dict("records")
        raise SourceError(f"fred source: {series_id}: values that are not numbers: {shown}")
    out = pd.DataFrame({"series_id": series_id, **dates, "value": value.astype("float64")})
    return out.loc[:, list(RAW_COLUMNS)]
