"""Plausibility checks: well-formed bars that no market produced, and the user's overrides.

The contract (core.contracts) judges each row on its own: finite positive prices, high above
open and close, and so on. A vendor print 100x off (HYG 2024-02-14, open/high/low/close all
multiplied by 100, back to normal the next day) passes every one of those checks and would
put a 1,500-2,200% volatility into every feature row for a month. These checks compare a bar
with its own symbol's neighbours, per symbol, with bounds set from the real history
2007-2026 (docs/data-contracts.md lists each bound, the largest real value and its date):

``abs_log_return``
    ``|ret_t| <= max_abs_ret``. SPY's largest since 2007 is 0.1356 (2008-10-13); its bound
    0.25 is also above a close-to-close fall of 20% (log 0.223), where the market-wide
    circuit breaker stops trading for the day. VIX moves far more (0.768 on 2018-02-05).
``reverting_spike``
    ``ret_t`` and ``ret_{t+1}`` of opposite signs, each at least ``spike_leg`` in size, that
    cancel to within ``REVERT_SHARE`` of the smaller one: a print that is undone the next
    session. Real reversals this large do not cancel this closely (SPY 2020-03-12/13: -0.101
    then +0.082). Flags the day of the spike, t.
``range_vs_recent``
    ``log(high_t / low_t) <= range_ratio * max(median of the previous RANGE_WINDOW sessions'
    log(high / low), RANGE_FLOOR)``, once at least ``RANGE_MIN_SESSIONS`` previous sessions
    exist: a high or a low 100x off that leaves the bar well-formed. Ratios within a day do not
    depend on dividend adjustment.

Every statistic of a row reads that row, the previous ``REFERENCE_SESSIONS`` sessions and (for
the reversal) the next one, so the ingest step downloads that much history before the days it
writes, and an incremental day and a backfill judge each bar the same way.

A user who has checked a flagged bar against another source accepts it with
``volcast data accept SYMBOL DATE --reason ...``: the acceptance is recorded in the lake
(``_meta/accepted_bars.json``) with its reason and time, and every step that lets such a bar
through lists it in its summary and log. Nothing is accepted silently.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Collection, Sequence
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from core.calendar import DateLike, is_trading_day, to_day
from core.config import SYMBOLS
from core.lake import Lake

log = logging.getLogger(__name__)

#: A reverting spike's two legs cancel to within this share of the smaller leg.
REVERT_SHARE = 0.25
#: The range check's reference: the median daily log range of the previous sessions.
RANGE_WINDOW = 63
RANGE_MIN_SESSIONS = 21
#: Floor of that median (0.1%): early thin HYG days print open = high = low = close.
RANGE_FLOOR = 1e-3
#: Sessions before the first day being judged that a check reads (the range window).
REFERENCE_SESSIONS = RANGE_WINDOW

ACCEPTED_KEY = "_meta/accepted_bars.json"
CHECKS = ("abs_log_return", "reverting_spike", "range_vs_recent")
FINDING_COLUMNS = ("symbol", "date", "check", "value", "bound", "detail")


@dataclass(frozen=True)
class Limits:
    """One symbol's bounds (log units; ``range_ratio`` is a multiple of the recent median)."""

    max_abs_ret: float
    spike_leg: float
    range_ratio: float


#: Per symbol, about twice the largest value seen 2007-04-11..2026-08-20 (the table and the
#: margins are in docs/data-contracts.md; tests/integration/test_plausibility_real.py checks
#: that the real files pass).
LIMITS: dict[str, Limits] = {
    "SPY": Limits(max_abs_ret=0.25, spike_leg=0.16, range_ratio=25.0),
    "VIX": Limits(max_abs_ret=1.5, spike_leg=0.40, range_ratio=35.0),
    "VIX3M": Limits(max_abs_ret=1.0, spike_leg=0.40, range_ratio=40.0),
    "TLT": Limits(max_abs_ret=0.15, spike_leg=0.12, range_ratio=30.0),
    "HYG": Limits(max_abs_ret=0.25, spike_leg=0.12, range_ratio=40.0),
}


class PlausibilityError(ValueError):
    """Bars failed the plausibility checks; nothing was written. ``findings`` has one row each."""

    def __init__(self, table: str, findings: pd.DataFrame):
        self.table = table
        self.findings = findings
        shown = findings.loc[:, list(FINDING_COLUMNS)].head(20).to_string(index=False)
        more = f"\n... and {len(findings) - 20} more" if len(findings) > 20 else ""
        keys = findings.drop_duplicates(["symbol", "date"]).head(5)
        commands = "\n".join(
            f'  volcast data accept {s} {d} --reason "<what you checked>"'
            for s, d in zip(keys["symbol"], keys["date"], strict=True)
        )
        super().__init__(
            f"table {table!r}: {len(findings)} bar(s) fail the plausibility checks "
            f"(well-formed, but implausible as market data); nothing written:\n{shown}{more}\n"
            "Compare these bars with another source. If the vendor's file is wrong, fix it or "
            "wait for its correction, then re-run. If a bar is right, accept it (recorded in "
            f"the lake, listed by every run that uses it):\n{commands}"
        )


@dataclass(frozen=True)
class AcceptedBar:
    """A user's recorded decision that a flagged bar is real market data."""

    symbol: str
    date: str  # YYYY-MM-DD
    reason: str
    accepted_at: str  # ISO 8601, UTC


@dataclass(frozen=True)
class Screening:
    """Findings on the days being written: refused ones stop the step, accepted ones pass."""

    refused: pd.DataFrame
    accepted: pd.DataFrame

    def raise_if_refused(self, table: str) -> None:
        if not self.refused.empty:
            raise PlausibilityError(table, self.refused)

    def accepted_summary(self) -> list[dict[str, object]]:
        """One entry per accepted bar: what fired and the recorded reason (for step summaries)."""
        grouped = self.accepted.groupby(["symbol", "date"], sort=True)
        return [
            {
                "symbol": symbol,
                "date": date,
                "checks": sorted(rows["check"].unique().tolist()),
                "reason": rows["reason"].iloc[0],
            }
            for (symbol, date), rows in grouped
        ]


def bar_statistics(bars: pd.DataFrame) -> pd.DataFrame:
    """What the checks measure, per bar: sorted ``bars`` plus these columns.

    ``next_ret``/``next_date``: the symbol's next session; ``reverting_leg``: the smaller of
    |ret| and |next_ret| when they have opposite signs and cancel to within ``REVERT_SHARE``
    of it (NaN otherwise); ``log_range``: log(high / low); ``recent_range``: the median
    log range of the previous ``RANGE_WINDOW`` sessions (NaN before ``RANGE_MIN_SESSIONS``),
    floored at ``RANGE_FLOOR``; ``range_ratio``: their ratio. Units: log returns.
    """
    frame = bars.sort_values(["symbol", "date"], kind="stable").reset_index(drop=True)
    by_symbol = frame.groupby("symbol", sort=False)
    ret = frame["ret"].astype("float64")
    following = by_symbol["ret"].shift(-1).astype("float64")
    legs = np.minimum(ret.abs(), following.abs())
    reverts = (np.sign(ret) * np.sign(following) < 0) & (
        (ret + following).abs() <= REVERT_SHARE * legs
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        log_range = pd.Series(np.log(frame["high"] / frame["low"]), index=frame.index)
    median = log_range.groupby(frame["symbol"], sort=False).transform(
        lambda s: s.shift(1).rolling(RANGE_WINDOW, min_periods=RANGE_MIN_SESSIONS).median()
    )
    recent = np.maximum(median, RANGE_FLOOR)  # NaN (too little history) stays NaN
    return frame.assign(
        next_ret=following,
        next_date=by_symbol["date"].shift(-1),
        reverting_leg=legs.where(reverts),
        log_range=log_range,
        recent_range=recent,
        range_ratio=log_range / recent,
    )


def find_implausible(bars: pd.DataFrame) -> pd.DataFrame:
    """Every finding in ``bars`` (raw.market rows of consecutive sessions, any symbols).

    Returns ``FINDING_COLUMNS`` plus ``through`` (the last session a finding involves: t+1 for
    a reverting spike, else the bar's own date); dates as YYYY-MM-DD text. Rows whose
    statistic cannot be computed (no previous close, too little history) are not flagged.
    """
    stats = bar_statistics(bars)
    day = stats["date"].dt.strftime("%Y-%m-%d")
    next_day = stats["next_date"].dt.strftime("%Y-%m-%d").fillna("")

    def bound(field: str) -> pd.Series:
        limits = {sym: getattr(lim, field) for sym, lim in LIMITS.items()}
        return stats["symbol"].map(limits).astype("float64")

    ret = stats["ret"]
    max_abs, leg, ratio = bound("max_abs_ret"), bound("spike_leg"), bound("range_ratio")
    checks = [
        ("abs_log_return", ret.abs() > max_abs, ret, max_abs, "close-to-close log return", day),
        (
            "reverting_spike",
            stats["reverting_leg"] >= leg,
            ret,
            leg,
            "undone on " + next_day + " by " + stats["next_ret"].map("{:+.4f}".format),
            next_day,
        ),
        (
            "range_vs_recent",
            stats["range_ratio"] > ratio,
            stats["log_range"],
            ratio * stats["recent_range"],
            "log(high/low), "
            + stats["range_ratio"].map("{:.1f}".format)
            + f"x the median of the previous {RANGE_WINDOW} sessions",
            day,
        ),
    ]
    found = [
        pd.DataFrame(
            {
                "symbol": stats.loc[mask, "symbol"],
                "date": day[mask],
                "check": name,
                "value": value[mask].round(6),
                "bound": limit[mask].round(6),
                "detail": detail[mask] if isinstance(detail, pd.Series) else detail,
                "through": through[mask],
            }
        )
        for name, mask, value, limit, detail, through in checks
        if mask.any()
    ]
    if not found:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in (*FINDING_COLUMNS, "through")})
    out = pd.concat(found, ignore_index=True)
    return out.sort_values(["date", "symbol", "check"], kind="stable", ignore_index=True)


def screen(
    bars: pd.DataFrame, days: Sequence[pd.Timestamp], accepted: Collection[AcceptedBar]
) -> Screening:
    """The findings that involve one of ``days`` (the days a step writes), split into those a
    recorded acceptance covers (by symbol and date) and those that stop the step."""
    findings = find_implausible(bars)
    wanted = pd.DatetimeIndex(days).strftime("%Y-%m-%d")
    findings = findings.loc[findings["date"].isin(wanted) | findings["through"].isin(wanted)]
    reasons = {(a.symbol, a.date): a.reason for a in accepted}  # the latest record wins
    keys = list(zip(findings["symbol"], findings["date"], strict=True))
    findings = findings.assign(reason=[reasons.get(k) for k in keys])
    covered = findings["reason"].notna()
    passed = findings.loc[covered].reset_index(drop=True)
    for row in passed.itertuples():  # a handful of rows at most: each is logged on its own
        log.warning(
            "accepted implausible bar %s %s (%s, value %s): recorded reason: %s",
            row.symbol,
            row.date,
            row.check,
            row.value,
            row.reason,
        )
    return Screening(
        refused=findings.loc[~covered].drop(columns="reason").reset_index(drop=True),
        accepted=passed,
    )


def accepted_bars(lake: Lake) -> list[AcceptedBar]:
    """The recorded acceptances of this lake, oldest first ([] when none)."""
    if not lake.exists(ACCEPTED_KEY):
        return []
    return [AcceptedBar(**record) for record in json.loads(lake.get_bytes(ACCEPTED_KEY))]


def accept_bar(lake: Lake, symbol: str, day: DateLike, reason: str) -> AcceptedBar:
    """Record that the bar of ``symbol`` on ``day`` is real despite a plausibility finding.

    Raises ValueError for an unknown symbol, a day that is not an XNYS session, or an empty
    reason (the record is what a later reader has to go on).
    """
    symbol = symbol.strip().upper().lstrip("^")
    if symbol not in SYMBOLS:
        raise ValueError(f"unknown symbol {symbol!r}; one of {', '.join(SYMBOLS)}")
    when = to_day(day)
    if not is_trading_day(when):
        raise ValueError(f"{when.date()} is not an XNYS session: no bar to accept")
    if not reason.strip():
        raise ValueError("give a reason: what you checked the bar against")
    record = AcceptedBar(
        symbol=symbol,
        date=when.date().isoformat(),
        reason=reason.strip(),
        accepted_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    )
    records = [asdict(r) for r in accepted_bars(lake)] + [asdict(record)]
    lake.put_bytes(ACCEPTED_KEY, json.dumps(records, indent=1).encode())
    return record
