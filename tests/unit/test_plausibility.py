"""Plausibility checks: well-formed bars that no market produced are found, named and refused;
ordinary days are not; a recorded acceptance lets a checked bar through, never silently."""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.lake import Lake
from core.market import raw_bars
from core.plausibility import (
    ACCEPTED_KEY,
    LIMITS,
    REFERENCE_SESSIONS,
    AcceptedBar,
    PlausibilityError,
    accept_bar,
    accepted_bars,
    find_implausible,
    screen,
)
from tests.raw_frames import download_frame

START, END = "2023-06-01", "2024-03-28"
GLITCH = "2024-02-14"
PRICES = ["open", "high", "low", "close", "adj_close"]


@pytest.fixture(scope="module")
def clean() -> pd.DataFrame:
    return download_frame(START, END, seed=3)


def hit(frame: pd.DataFrame, symbol: str, day: str) -> pd.Series:
    return (frame["symbol"] == symbol) & (frame["date"] == pd.Timestamp(day))


def scaled(frame: pd.DataFrame, symbol: str, day: str, factor: float, cols=PRICES) -> pd.DataFrame:
    out = frame.copy()
    out.loc[hit(out, symbol, day), cols] *= factor
    return out


def found(bars: pd.DataFrame) -> set[tuple[str, str, str]]:
    f = find_implausible(bars)
    return set(zip(f["symbol"], f["date"], f["check"], strict=True))


def test_ordinary_data_has_no_findings(clean: pd.DataFrame) -> None:
    assert find_implausible(raw_bars(clean)).empty


def test_a_print_100x_off_that_reverts_is_found_with_its_values(clean: pd.DataFrame) -> None:
    """Issue 13's HYG 2024-02-14: open/high/low/close x100, back to normal the next day."""
    bars = raw_bars(scaled(clean, "HYG", GLITCH, 100.0))
    findings = find_implausible(bars).set_index(["date", "check"])
    hyg = clean.loc[clean["symbol"] == "HYG"].set_index("date")["adj_close"]
    up = math.log(100 * hyg[GLITCH] / hyg[:GLITCH].iloc[-2])
    down = math.log(hyg["2024-02-15"] / (100 * hyg[GLITCH]))
    assert up == pytest.approx(4.6, abs=0.03) and down == pytest.approx(-4.6, abs=0.03)
    assert set(findings.index) == {
        (GLITCH, "abs_log_return"),
        (GLITCH, "reverting_spike"),
        ("2024-02-15", "abs_log_return"),
    }
    assert (findings["symbol"] == "HYG").all()
    assert findings.loc[(GLITCH, "abs_log_return"), "value"] == pytest.approx(up, abs=1e-6)
    assert findings.loc[(GLITCH, "abs_log_return"), "bound"] == LIMITS["HYG"].max_abs_ret
    assert findings.loc[("2024-02-15", "abs_log_return"), "value"] == pytest.approx(down, abs=1e-6)
    spike = findings.loc[(GLITCH, "reverting_spike")]
    assert spike["through"] == "2024-02-15" and f"{down:+.4f}" in spike["detail"]


# Sibling inputs: each kind of glitch, on each kind of symbol, and what each check alone sees.
SIBLINGS = {
    # name: (symbol, factor, columns, expected checks on GLITCH)
    "ETF x100 (the issue)": ("HYG", 100.0, PRICES, {"abs_log_return", "reverting_spike"}),
    "ETF /100": ("TLT", 0.01, PRICES, {"abs_log_return", "reverting_spike"}),
    "SPY x10": ("SPY", 10.0, PRICES, {"abs_log_return", "reverting_spike"}),
    "SPY x1.2, reverting": ("SPY", 1.2, PRICES, {"reverting_spike"}),
    "TLT x1.14, reverting": ("TLT", 1.14, PRICES, {"reverting_spike"}),
    "VIX x3": ("VIX", 3.0, PRICES, {"reverting_spike"}),
    "VIX x100": ("VIX", 100.0, PRICES, {"abs_log_return", "reverting_spike"}),
    "VIX3M /5": ("VIX3M", 0.2, PRICES, {"abs_log_return", "reverting_spike"}),
    "high x100 only": ("SPY", 100.0, ["high"], {"range_vs_recent"}),
    "low /100 only": ("HYG", 0.01, ["low"], {"range_vs_recent"}),
    "VIX high x100 only": ("VIX", 100.0, ["high"], {"range_vs_recent"}),
}


@pytest.mark.parametrize("name", list(SIBLINGS))
def test_each_kind_of_glitch_is_found_by_its_check(clean: pd.DataFrame, name: str) -> None:
    symbol, factor, cols, checks = SIBLINGS[name]
    got = found(raw_bars(scaled(clean, symbol, GLITCH, factor, cols)))
    assert {c for s, d, c in got if (s, d) == (symbol, GLITCH)} == checks
    assert {s for s, _, _ in got} == {symbol}  # nothing else is flagged


def test_an_unadjusted_split_is_a_level_shift_not_a_spike(clean: pd.DataFrame) -> None:
    """A 2:1 split missing from the adjustment: every bar from the day on is halved."""
    out = clean.copy()
    later = (out["symbol"] == "TLT") & (out["date"] >= pd.Timestamp(GLITCH))
    out.loc[later, PRICES] *= 0.5
    assert found(raw_bars(out)) == {("TLT", GLITCH, "abs_log_return")}


def test_large_real_moves_within_the_bounds_pass(clean: pd.DataFrame) -> None:
    """A crash that stays (SPY -12%) and a half-reverted VIX doubling are market data."""
    out = clean.copy()
    crash = (out["symbol"] == "SPY") & (out["date"] >= pd.Timestamp(GLITCH))
    out.loc[crash, PRICES] *= 0.88
    out = scaled(out, "VIX", GLITCH, 2.0)  # +0.69 in a day, then -0.69: reverts fully ...
    out = scaled(out, "VIX", "2024-02-15", 1.5)  # ... unless the next day stays up (-0.29)
    assert found(raw_bars(out)) == set()


def test_range_check_needs_history_and_tolerates_flat_days(clean: pd.DataFrame) -> None:
    first = clean["date"].min()
    early = scaled(clean, "SPY", str(first.date()), 100.0, ["high"])  # no history before it
    assert found(raw_bars(early)) == set()
    flat = clean.copy()
    hyg = flat["symbol"] == "HYG"
    for column in ("open", "high", "low"):
        flat.loc[hyg, column] = flat.loc[hyg, "close"]
    flat.loc[hit(flat, "HYG", GLITCH), "high"] *= 1.02  # a 2% range after months of none
    assert found(raw_bars(flat)) == set()  # the floor (0.1%) x 40 = 4%


def test_screen_judges_only_the_days_being_written(clean: pd.DataFrame, tmp_path: Path) -> None:
    bars = raw_bars(scaled(clean, "HYG", GLITCH, 100.0))
    days = pd.DatetimeIndex(pd.to_datetime(["2024-02-13", GLITCH]))
    screening = screen(bars, days, [])
    assert set(screening.refused["check"]) == {"abs_log_return", "reverting_spike"}
    assert set(screening.refused["date"]) == {GLITCH}
    # The next evening alone: the reversal involves the stored spike day, named as such.
    next_day = screen(bars, pd.DatetimeIndex([pd.Timestamp("2024-02-15")]), [])
    assert set(zip(next_day.refused["date"], next_day.refused["check"], strict=True)) == {
        (GLITCH, "reverting_spike"),
        ("2024-02-15", "abs_log_return"),
    }
    before = screen(bars, pd.DatetimeIndex([pd.Timestamp("2024-02-12")]), [])
    assert before.refused.empty and before.accepted.empty


def test_an_acceptance_covers_its_symbol_and_date_only(
    clean: pd.DataFrame, caplog: pytest.LogCaptureFixture
) -> None:
    bars = raw_bars(scaled(clean, "HYG", GLITCH, 100.0))
    days = pd.DatetimeIndex(pd.to_datetime([GLITCH, "2024-02-15"]))
    ok = AcceptedBar("HYG", GLITCH, "issuer NAV confirms", "2026-11-30T00:00:00+00:00")
    other = AcceptedBar("TLT", GLITCH, "unrelated", "2026-11-30T00:00:00+00:00")
    with caplog.at_level(logging.WARNING, logger="core.plausibility"):
        screening = screen(bars, days, [ok, other])
    assert set(screening.refused["date"]) == {"2024-02-15"}
    assert screening.accepted_summary() == [
        {
            "symbol": "HYG",
            "date": GLITCH,
            "checks": ["abs_log_return", "reverting_spike"],
            "reason": "issuer NAV confirms",
        }
    ]
    assert "accepted implausible bar HYG 2024-02-14" in caplog.text  # never silent
    with pytest.raises(PlausibilityError) as info:
        screening.raise_if_refused("raw.market")
    message = str(info.value)
    assert "HYG 2024-02-15" in message and "abs_log_return" in message
    assert 'volcast data accept HYG 2024-02-15 --reason "<what you checked>"' in message


def test_acceptances_are_recorded_in_the_lake(tmp_path: Path) -> None:
    lake = Lake(str(tmp_path / "lake"))
    assert accepted_bars(lake) == []
    first = accept_bar(lake, "^hyg", "2024-02-14", "  checked against the issuer's NAV  ")
    accept_bar(lake, "HYG", "2024-02-15", "the reversal of the 14th")
    records = accepted_bars(lake)
    assert [(r.symbol, r.date, r.reason) for r in records] == [
        ("HYG", "2024-02-14", "checked against the issuer's NAV"),
        ("HYG", "2024-02-15", "the reversal of the 14th"),
    ]
    assert records[0] == first and first.accepted_at.endswith("+00:00")
    stored = json.loads(lake.get_bytes(ACCEPTED_KEY))
    assert [r["date"] for r in stored] == ["2024-02-14", "2024-02-15"]


@pytest.mark.parametrize(
    ("symbol", "day", "reason", "match"),
    [
        ("QQQ", "2024-02-14", "x", "unknown symbol 'QQQ'"),
        ("HYG", "2024-02-17", "x", "not an XNYS session"),
        ("HYG", "2024-02-14", "   ", "give a reason"),
    ],
)
def test_acceptance_needs_a_symbol_a_session_and_a_reason(
    tmp_path: Path, symbol: str, day: str, reason: str, match: str
) -> None:
    lake = Lake(str(tmp_path / "lake"))
    with pytest.raises(ValueError, match=match):
        accept_bar(lake, symbol, day, reason)
    assert not lake.exists(ACCEPTED_KEY)


def test_reference_window_covers_every_statistic() -> None:
    """Row t's statistics read t-REFERENCE_SESSIONS..t+1: a short download judges as a long."""
    long = raw_bars(scaled(download_frame("2022-01-03", END, seed=5), "SPY", GLITCH, 100, ["high"]))
    days = long.loc[long["date"] >= pd.Timestamp("2024-01-02"), "date"].unique()
    short = long.loc[long["date"] >= days[0] - pd.tseries.offsets.BDay(REFERENCE_SESSIONS + 5)]
    a = find_implausible(long)
    b = find_implausible(short)
    a, b = (f.loc[f["date"] >= "2024-01-02"].reset_index(drop=True) for f in (a, b))
    pd.testing.assert_frame_equal(a, b)
    assert not b.empty and np.isfinite(b["value"]).all()
