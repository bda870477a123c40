"""A loopback HTTP server that answers like FRED's ``fred/series/observations``, and the small
vintage histories it serves (generated, seeded).

What it imitates (https://fred.stlouisfed.org/docs/api/fred/series_observations.html and
realtime_period.html): ``output_type=1`` rows with ``realtime_start``/``realtime_end`` (a row is
in force from its ``realtime_start`` to the day before the next vintage of the same date),
clipped to the requested real-time period; ``observation_start``/``observation_end``;
``limit``/``offset`` pages with ``count``; '.' for no value; JSON errors
``{"error_code", "error_message"}`` for a bad key or series and for a real-time period holding
more vintage dates than allowed (2,000 on FRED). Only vintages published by ``today`` exist.
Faults queued with :meth:`FakeFred.fail_next` answer the next requests with a status (429 with
``Retry-After``, 500) or a delay, in order.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import numpy as np
import pandas as pd

from loadtest.run import free_port

API_KEY = "abcdefghijklmnopqrstuvwxyz123456"  # FRED keys are 32 lower-case alphanumerics
EARLIEST, LATEST = "1776-07-04", "9999-12-31"


@dataclass
class Fault:
    status: int | None = None  # answer this status instead of the data
    delay_s: float = 0.0  # sleep first (a slow server: the client's timeout fires)
    retry_after: str | None = None


@dataclass
class FakeFred:
    """FRED with a fixed vintage history; ``today`` says which vintages are published."""

    history: pd.DataFrame  # series_id, date, value (NaN: '.'; a str goes as is), realtime_start
    today: pd.Timestamp
    api_key: str = API_KEY
    max_vintages: int = 2000
    faults: deque[Fault] = field(default_factory=deque)
    requests: list[dict[str, str]] = field(default_factory=list)  # params without the key
    statuses: list[int] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def fail_next(self, *faults: Fault) -> None:
        with self._lock:
            self.faults.extend(faults)

    def publish(self, history: pd.DataFrame, today: str | pd.Timestamp) -> None:
        """Replace the history (e.g. with revisions) and move the server's clock."""
        with self._lock:
            self.history, self.today = history, pd.Timestamp(today)

    def visible(self) -> pd.DataFrame:
        """The rows FRED publishes as of ``today``: what a client must end up with."""
        return self.history.loc[self.history["realtime_start"] <= self.today].reset_index(drop=True)

    # -- the endpoint ----------------------------------------------------------------------
    def answer(self, path: str, query: dict[str, str]) -> tuple[int, dict, dict[str, str]]:
        with self._lock:
            fault = self.faults.popleft() if self.faults else None
            self.requests.append({k: v for k, v in query.items() if k != "api_key"})
        if fault is not None:
            time.sleep(fault.delay_s)
            if fault.status is not None:
                headers = {"Retry-After": fault.retry_after} if fault.retry_after else {}
                message = _STATUS_TEXT.get(fault.status, "Error.")
                return fault.status, _error(fault.status, message), headers
        if path != "/fred/series/observations":
            return 404, _error(404, "Not Found."), {}
        if query.get("api_key") != self.api_key:
            return 400, _error(400, _BAD_KEY), {}
        if query.get("file_type") != "json":
            return 400, _error(400, "Bad Request.  Only file_type=json here."), {}
        with self._lock:
            history, today = self.history, self.today
        rows = history.loc[
            (history["series_id"] == query.get("series_id")) & (history["realtime_start"] <= today)
        ]
        if not (history["series_id"] == query.get("series_id")).any():
            return 400, _error(400, "Bad Request.  The series does not exist."), {}
        rt_lo = pd.Timestamp(query.get("realtime_start", today.date().isoformat()))
        rt_hi_text = query.get("realtime_end", today.date().isoformat())
        rt_hi = pd.Timestamp.max if rt_hi_text == LATEST else pd.Timestamp(rt_hi_text)
        vintages = rows["realtime_start"].drop_duplicates().sort_values()
        in_force = vintages.loc[vintages <= rt_lo].tail(1)
        counted = pd.concat([in_force, vintages.loc[(vintages > rt_lo) & (vintages <= rt_hi)]])
        if len(counted) > self.max_vintages:
            return (
                400,
                _error(
                    400,
                    f"Bad Request.  There are {len(counted)} vintage dates in the specified "
                    f"real-time period: {rt_lo.date()} to {rt_hi_text}.  This exceeds the "
                    f"maximum number of vintage dates allowed ({self.max_vintages}).",
                ),
                {},
            )
        obs_lo = pd.Timestamp(query.get("observation_start", EARLIEST))
        obs_hi_text = query.get("observation_end", LATEST)
        obs_hi = pd.Timestamp.max if obs_hi_text == LATEST else pd.Timestamp(obs_hi_text)
        table = _periods(rows)
        table = table.loc[
            table["date"].between(obs_lo, obs_hi)
            & (table["realtime_start"] <= rt_hi)
            & (table["realtime_end"] >= rt_lo)
        ].sort_values(["date", "realtime_start"])
        limit = int(query.get("limit", 100000))
        offset = int(query.get("offset", 0))
        if not 1 <= limit <= 100000:
            return 400, _error(400, "Bad Request.  Variable limit is not between 1 and 100000."), {}
        page = table.iloc[offset : offset + limit]
        starts = page["realtime_start"].clip(lower=rt_lo)
        ends = page["realtime_end"].clip(upper=rt_hi)
        observations = [
            {
                "realtime_start": s.date().isoformat(),
                "realtime_end": LATEST if e == pd.Timestamp.max else e.date().isoformat(),
                "date": d.date().isoformat(),
                "value": _text(v),
            }
            for s, e, d, v in zip(starts, ends, page["date"], page["value"], strict=True)
        ]
        body = {
            "realtime_start": rt_lo.date().isoformat(),
            "realtime_end": rt_hi_text,
            "observation_start": obs_lo.date().isoformat(),
            "observation_end": obs_hi_text,
            "units": "lin",
            "output_type": int(query.get("output_type", 1)),
            "file_type": "json",
            "order_by": "observation_date",
            "sort_order": "asc",
            "count": len(table),
            "offset": offset,
            "limit": limit,
            "observations": observations,
        }
        return 200, body, {}

    @contextmanager
    def serve(self) -> Iterator[str]:
        """Run on a free 127.0.0.1 port; yields the API root (``.../fred``)."""
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                url = urlparse(self.path)
                query = {k: v[-1] for k, v in parse_qs(url.query).items()}
                status, body, headers = fake.answer(url.path, query)
                data = json.dumps(body).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json; charset=UTF-8")
                    self.send_header("Content-Length", str(len(data)))
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client timed out and left
                with fake._lock:
                    fake.statuses.append(status)

            def log_message(self, format: str, *args: object) -> None:
                pass  # quiet (and the request line carries the key)

        server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_address[1]}/fred"
        finally:
            server.shutdown()
            server.server_close()
            thread.join(10)


_STATUS_TEXT = {429: "Too Many Requests.", 500: "Internal Server Error.", 503: "Unavailable."}
_BAD_KEY = (
    "Bad Request.  The value for variable api_key is not registered.  Read "
    "https://fred.stlouisfed.org/docs/api/api_key.html for more information."
)


def _text(value: object) -> str:
    """FRED sends values as text, '.' for none; a str in the history goes out as it is."""
    if isinstance(value, str):
        return value
    return "." if np.isnan(value) else repr(float(value))


def _error(code: int, message: str) -> dict:
    return {"error_code": code, "error_message": message}


def _periods(rows: pd.DataFrame) -> pd.DataFrame:
    """Each vintage row with its realtime_end: the day before the next vintage of its date."""
    ordered = rows.sort_values(["date", "realtime_start"]).reset_index(drop=True)
    following = ordered.groupby("date")["realtime_start"].shift(-1)
    end = (following - pd.Timedelta(days=1)).fillna(pd.Timestamp.max)
    return ordered.assign(realtime_end=end)


# ---------------------------------------------------------------------------------------------
# Vintage histories that behave like the default series (timing from core.macro.CATALOGUE).
# ---------------------------------------------------------------------------------------------
def _next_weekday(days: pd.DatetimeIndex) -> pd.DatetimeIndex:
    return days + pd.offsets.BDay(1)


def vintage_history(start: str, end: str, seed: int = 0) -> pd.DataFrame:
    """Every vintage of BAMLH0A0HYM2, T10Y2Y, DGS10, ICSA and NFCI for [start, end].

    Daily series: a row per weekday, first published the next weekday; DGS10 and T10Y2Y are
    '.' on bond-market holidays (Presidents' Day, Columbus Day) and have a value on Good Friday
    (not an XNYS session). ICSA: weeks ending Saturday, published on Thursday (+5 days), revised
    a week later. NFCI: weeks ending Friday, published on Wednesday (+5 days); each release
    re-estimates the four weeks before it.
    """
    rng = np.random.default_rng(seed)
    weekdays = pd.bdate_range(start, end)
    bond_holidays = weekdays[
        ((weekdays.month == 2) & (weekdays.day_of_week == 0) & weekdays.day.isin(range(15, 22)))
        | ((weekdays.month == 10) & (weekdays.day_of_week == 0) & weekdays.day.isin(range(8, 15)))
    ]
    frames = []
    for series_id, level, step in (
        ("BAMLH0A0HYM2", 3.5, 0.05),
        ("T10Y2Y", -0.3, 0.03),
        ("DGS10", 4.2, 0.04),
    ):
        values = np.round(level + np.cumsum(rng.normal(0, step, len(weekdays))), 2)
        if series_id != "BAMLH0A0HYM2":
            values[weekdays.isin(bond_holidays)] = np.nan
        frames.append(_rows(series_id, weekdays, values, _next_weekday(weekdays)))

    saturdays = pd.date_range(start, end, freq="W-SAT")
    first = np.round(220_000 + rng.normal(0, 8_000, len(saturdays)), -3)
    revised = first + 1_000 * rng.choice([-3, -2, -1, 1, 2, 3], len(saturdays))
    frames.append(_rows("ICSA", saturdays, first, saturdays + pd.Timedelta(days=5)))
    frames.append(_rows("ICSA", saturdays, revised, saturdays + pd.Timedelta(days=12)))

    fridays = pd.date_range(start, end, freq="W-FRI")
    nfci = np.round(-0.5 + np.cumsum(rng.normal(0, 0.02, len(fridays))), 5)
    for k, release in enumerate(fridays + pd.Timedelta(days=5)):
        weeks = np.arange(max(0, k - 4), k + 1)  # this week, and four re-estimated ones
        restated = nfci[weeks] + 0.001 * (k - weeks)  # every re-estimate moves the value
        frames.append(_rows("NFCI", fridays[weeks], restated, [release] * len(weeks)))
    history = pd.concat(frames, ignore_index=True)
    return history.sort_values(["series_id", "date", "realtime_start"], ignore_index=True)


def _rows(series_id: str, dates, values, published) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "series_id": series_id,
            "date": pd.DatetimeIndex(dates).astype("datetime64[ns]"),
            "value": np.asarray(values, dtype="float64"),
            "realtime_start": pd.DatetimeIndex(published).astype("datetime64[ns]"),
        }
    )
