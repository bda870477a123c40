"""Each table's contract rejects bad rows with an error naming table, column, check and row."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core import contracts
from core.contracts import ContractError, validate
from tests.raw_frames import raw_market_frame


@pytest.fixture
def raw() -> pd.DataFrame:
    return raw_market_frame("2024-04-01", "2024-04-05")


def _failure(table: str, frame: pd.DataFrame) -> pd.DataFrame:
    with pytest.raises(ContractError) as info:
        validate(table, frame)
    assert info.value.table == table
    assert table in str(info.value)
    return info.value.failures


def test_valid_raw_passes_and_is_coerced(raw: pd.DataFrame) -> None:
    out = validate(contracts.RAW_MARKET, raw)
    assert out["date"].dtype == "datetime64[ns]"
    assert len(out) == len(raw)


def test_negative_price_names_column_and_row(raw: pd.DataFrame) -> None:
    raw.loc[(raw["symbol"] == "HYG") & (raw["date"] == "2024-04-03"), "low"] = -2.0
    failures = _failure(contracts.RAW_MARKET, raw)
    row = failures.loc[failures["column"] == "low"].iloc[0]
    assert row["check"] == "greater_than(0.0)"
    assert (row["symbol"], row["date"]) == ("HYG", "2024-04-03")


def test_nan_price_is_rejected(raw: pd.DataFrame) -> None:
    raw.loc[raw.index[3], "close"] = np.nan
    failures = _failure(contracts.RAW_MARKET, raw)
    assert "close" in set(failures["column"])


def test_duplicate_symbol_date_is_rejected(raw: pd.DataFrame) -> None:
    doubled = pd.concat([raw, raw.iloc[[0]]], ignore_index=True)
    failures = _failure(contracts.RAW_MARKET, doubled)
    assert failures["check"].str.contains("uniqueness").any()


def test_non_trading_day_is_rejected(raw: pd.DataFrame) -> None:
    raw.loc[raw["date"] == "2024-04-05", "date"] = pd.Timestamp("2024-04-06")  # a Saturday
    failures = _failure(contracts.RAW_MARKET, raw)
    bad = failures.loc[failures["column"] == "date"]
    assert bad["check"].str.contains("xnys_trading_day").all()
    assert set(bad["date"]) == {"2024-04-06"}


def test_high_below_close_beyond_tolerance(raw: pd.DataFrame) -> None:
    i = raw.index[raw["symbol"] == "SPY"][0]
    raw.loc[i, "high"] = max(raw.loc[i, "open"], raw.loc[i, "close"]) * (1 - 0.005)
    failures = _failure(contracts.RAW_MARKET, raw)
    assert failures["check"].str.contains("high_ge_open_close").any()


def test_vendor_rounding_within_tolerance_passes(raw: pd.DataFrame) -> None:
    # HYG 2026-08-21 in the real data: open 79.66 above high 79.65 (a 1.3 bp quirk).
    i = raw.index[raw["symbol"] == "HYG"][0]
    raw.loc[i, "open"] = raw.loc[i, "high"] * 1.00013
    raw.loc[i, "close"] = raw.loc[i, ["close"]].clip(upper=raw.loc[i, "high"]).iloc[0]
    assert len(validate(contracts.RAW_MARKET, raw)) == len(raw)


def test_date_without_spy_is_rejected(raw: pd.DataFrame) -> None:
    raw = raw.loc[~((raw["symbol"] == "SPY") & (raw["date"] == "2024-04-02"))]
    failures = _failure(contracts.RAW_MARKET, raw)
    assert failures["check"].str.contains("spy_present").any()


def test_unknown_symbol_and_extra_column(raw: pd.DataFrame) -> None:
    raw.loc[raw.index[0], "symbol"] = "^VIX"
    failures = _failure(contracts.RAW_MARKET, raw.assign(extra=1.0))
    assert {"symbol", "extra"} <= set(failures["column"]) | set(failures["value"].astype(str))


def test_features_must_be_finite() -> None:
    frame = pd.DataFrame(
        {
            "date": pd.to_datetime(["2024-04-01", "2024-04-02"]),
            "vix": [0.2, np.inf],
            "rv": [0.1, 0.1],
        }
    )
    failures = _failure(contracts.FEATURES, frame)
    assert failures[["column", "check", "date"]].values.tolist() == [
        ["vix", "finite", "2024-04-02"]
    ]


def test_labels_must_be_positive() -> None:
    frame = pd.DataFrame({"date": pd.to_datetime(["2024-04-01"]), "rv_5d": [0.0]})
    failures = _failure(contracts.LABELS, frame)
    assert failures["check"].tolist() == ["greater_than(0.0)"]


def _prediction(drivers: object) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "date": pd.to_datetime(["2024-04-01"]),
            "rv_5d_hat": [0.14],
            "top_drivers": [drivers],
            "model_version": ["20240401T000000-abc"],
            "regime": [None],
            "regime_prob": [np.nan],
        }
    )


def test_predictions_with_well_formed_drivers_pass() -> None:
    drivers = [{"feature": "vix", "value": 0.2, "shap": 0.03}]
    out = validate(contracts.PREDICTIONS, _prediction(drivers))
    assert out["top_drivers"].iloc[0] == drivers


@pytest.mark.parametrize(
    "drivers",
    [[], [{"feature": "vix", "value": np.nan, "shap": 0.1}], [{"value": 1.0, "shap": 0.1}]],
    ids=["empty", "nan-value", "no-feature-name"],
)
def test_predictions_with_malformed_drivers_fail(drivers: object) -> None:
    failures = _failure(contracts.PREDICTIONS, _prediction(drivers))
    assert failures["check"].tolist() == ["drivers_well_formed"]


def test_unknown_table() -> None:
    with pytest.raises(KeyError, match="unknown table"):
        contracts.spec("nope")
