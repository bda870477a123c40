"""Data contracts: one pandera schema per lake table, and the one function that applies them.

Every lake write and read goes through :func:`validate`. A violation raises
:class:`ContractError` naming the table, the column, the check and the offending rows, so a bad
vendor print stops the step before anything downstream is written.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pyarrow

from core.calendar import trading_days
from core.config import SYMBOLS

#: Relative tolerance for high >= max(open, close) and low <= min(open, close).
#: Vendors round adjusted OHLC independently (yfinance auto_adjust) and publish preliminary
#: bars (HYG 2026-08-21: open 79.66 above high 79.65): 10 bp absorbs such rounding quirks
#: while a genuinely broken bar (a 1% inversion) still fails.
OHLC_TOLERANCE = 1e-3

RAW_MARKET = "raw.market"
CURATED_MARKET = "curated.market_daily"
RAW_MACRO = "raw.macro"
CURATED_MACRO = "curated.macro_release_aligned"
FEATURES = "features_daily"
LABELS = "labels_daily"
PREDICTIONS = "predictions_daily"
#: Not a lake table: a source's frame, checked before ingest derives raw.market rows from it.
MARKET_DOWNLOAD = "market download"

#: Tables whose partitions never change once written (a changed re-download is a conflict).
#: raw.macro is a revision log instead: rows are only ever added (core.macro.merge_vintages).
IMMUTABLE_TABLES = frozenset({RAW_MARKET})
#: Tables dated by calendar day, not by XNYS session (ICSA is dated on Saturdays).
CALENDAR_DAY_TABLES = frozenset({RAW_MACRO})


class ContractError(ValueError):
    """A table failed its contract. ``failures`` has one row per (column, check, row)."""

    def __init__(self, table: str, failures: pd.DataFrame):
        self.table = table
        self.failures = failures
        shown = failures.head(20).to_string(index=False)
        more = f"\n... and {len(failures) - 20} more" if len(failures) > 20 else ""
        super().__init__(f"table {table!r} violates its contract:\n{shown}{more}")


def _on_trading_days(dates: pd.Series) -> pd.Series:
    days = pd.DatetimeIndex(dates)
    if len(days) == 0:
        return pd.Series(True, index=dates.index)
    sessions = trading_days(days.min(), days.max())
    return pd.Series(days.isin(sessions), index=dates.index)


def _date_column() -> pa.Column:
    return pa.Column(
        "datetime64[ns]",
        checks=pa.Check(
            _on_trading_days, name="xnys_trading_day", error="xnys_trading_day: not an XNYS session"
        ),
        coerce=True,
        nullable=False,
    )


def _finite(**bounds: float) -> list[pa.Check]:
    checks = [
        pa.Check(lambda s: pd.Series(np.isfinite(s.to_numpy(dtype=float)), s.index), name="finite")
    ]
    if "gt" in bounds:
        checks.append(pa.Check.gt(bounds["gt"]))
    if "ge" in bounds:
        checks.append(pa.Check.ge(bounds["ge"]))
    if "le" in bounds:
        checks.append(pa.Check.le(bounds["le"]))
    return checks


def _finite_or_null() -> pa.Check:
    return pa.Check(
        lambda s: pd.Series(~np.isinf(s.to_numpy(dtype=float)), s.index),
        name="finite_or_null",
        error="finite_or_null: +-inf is not a value",
    )


def _price() -> pa.Column:
    return pa.Column(float, checks=_finite(gt=0.0), coerce=True, nullable=False)


def _ohlc_checks() -> list[pa.Check]:
    tol = OHLC_TOLERANCE
    return [
        pa.Check(
            lambda df: df["high"] >= df[["open", "close"]].max(axis=1) * (1 - tol),
            name="high_ge_open_close",
            error=f"high_ge_open_close: high < max(open, close) beyond {tol:.0e} tolerance",
        ),
        pa.Check(
            lambda df: df["low"] <= df[["open", "close"]].min(axis=1) * (1 + tol),
            name="low_le_open_close",
            error=f"low_le_open_close: low > min(open, close) beyond {tol:.0e} tolerance",
        ),
    ]


def _spy_present(df: pd.DataFrame) -> pd.Series:
    """Every stored date carries SPY, the series everything is forecast for.

    Other symbols may start later (VIX3M's history begins 2009-09-18); gaps after a symbol's
    first day are caught by the ingest step, which knows which days it asked for.
    """
    spy_dates = df.loc[df["symbol"] == "SPY", "date"]
    return df["date"].isin(spy_dates)


def _market_schema(name: str, extra: dict[str, pa.Column]) -> pa.DataFrameSchema:
    columns = {
        "symbol": pa.Column(str, pa.Check.isin(SYMBOLS), nullable=False),
        "date": _date_column(),
        "open": _price(),
        "high": _price(),
        "low": _price(),
        "close": _price(),
        **extra,
    }
    return pa.DataFrameSchema(
        columns,
        checks=[
            *_ohlc_checks(),
            pa.Check(_spy_present, name="spy_present", error="spy_present: date without SPY"),
        ],
        unique=["symbol", "date"],
        strict=True,
        ordered=True,
        name=name,
    )


def _top_drivers_ok(values: pd.Series) -> pd.Series:
    def ok(drivers: object) -> bool:
        if drivers is None or isinstance(drivers, str | bytes) or len(drivers) == 0:
            return False
        for d in drivers:
            if not (isinstance(d, dict) and isinstance(d.get("feature"), str)):
                return False
            if not (np.isfinite(d.get("value", np.nan)) and np.isfinite(d.get("shap", np.nan))):
                return False
        return True

    # A per-row loop is unavoidable for nested lists; predictions have one row per day.
    return values.map(ok).astype(bool)


#: Nullable bounds of the forecast band in predictions_daily (annualized vol, decimal).
BAND_COLUMNS = ("rv_5d_lo", "rv_5d_hi")


def _positive_or_null() -> pa.Check:
    def ok(s: pd.Series) -> pd.Series:
        values = s.to_numpy(dtype=float)
        return pd.Series(np.isnan(values) | (np.isfinite(values) & (values > 0)), s.index)

    return pa.Check(ok, name="finite_positive_or_null")


def _band_brackets_forecast(df: pd.DataFrame) -> pd.Series:
    """rv_5d_lo <= rv_5d_hat <= rv_5d_hi wherever the band is present."""
    ok = pd.Series(True, index=df.index)
    if "rv_5d_lo" in df.columns:
        ok &= df["rv_5d_lo"].isna() | (df["rv_5d_lo"] <= df["rv_5d_hat"])
    if "rv_5d_hi" in df.columns:
        ok &= df["rv_5d_hi"].isna() | (df["rv_5d_hi"] >= df["rv_5d_hat"])
    return ok


def _return() -> pa.Column:
    """A day's log total return; null where the download had no previous close (first day)."""
    return pa.Column(
        float,
        pa.Check(lambda s: ~s.isin([np.inf, -np.inf]), name="not_infinite"),
        coerce=True,
        nullable=True,
    )


SCHEMAS: dict[str, pa.DataFrameSchema] = {
    MARKET_DOWNLOAD: _market_schema(
        MARKET_DOWNLOAD,
        {
            "adj_close": _price(),
            "volume": pa.Column(float, pa.Check.ge(0), coerce=True, nullable=True),
        },
    ),
    RAW_MARKET: _market_schema(
        RAW_MARKET,
        {
            "ret": _return(),
            "volume": pa.Column(float, pa.Check.ge(0), coerce=True, nullable=True),
        },
    ),
    CURATED_MARKET: _market_schema(CURATED_MARKET, {"ret": _return()}),
    # FRED's '.' (no value) is null; a revision is a new row with a later realtime_start.
    RAW_MACRO: pa.DataFrameSchema(
        {
            "series_id": pa.Column(
                str, pa.Check.str_matches(r"^[A-Z0-9][A-Z0-9_]*$"), nullable=False
            ),
            "date": pa.Column("datetime64[ns]", coerce=True, nullable=False),
            "value": pa.Column(float, _finite_or_null(), coerce=True, nullable=True),
            "realtime_start": pa.Column("datetime64[ns]", coerce=True, nullable=False),
        },
        unique=["series_id", "date", "realtime_start"],
        strict=True,
        name=RAW_MACRO,
    ),
    CURATED_MACRO: pa.DataFrameSchema(
        {
            "date": _date_column(),
            r"^(?!date$).+": pa.Column(
                float, _finite_or_null(), coerce=True, nullable=True, regex=True
            ),
        },
        unique=["date"],
        name=CURATED_MACRO,
    ),
    FEATURES: pa.DataFrameSchema(
        {
            "date": _date_column(),
            r"^(?!date$).+": pa.Column(float, _finite(), coerce=True, nullable=False, regex=True),
        },
        unique=["date"],
        name=FEATURES,
    ),
    LABELS: pa.DataFrameSchema(
        {
            "date": _date_column(),
            "rv_5d": pa.Column(float, _finite(gt=0.0), coerce=True, nullable=False),
        },
        unique=["date"],
        strict=True,
        ordered=True,
        name=LABELS,
    ),
    PREDICTIONS: pa.DataFrameSchema(
        {
            "date": _date_column(),
            "rv_5d_hat": pa.Column(float, _finite(gt=0.0), coerce=True, nullable=False),
            "top_drivers": pa.Column(
                object,
                pa.Check(_top_drivers_ok, name="drivers_well_formed"),
                nullable=False,
            ),
            "model_version": pa.Column(str, pa.Check.str_length(min_value=1), nullable=False),
            "regime": pa.Column(str, coerce=True, nullable=True),
            "regime_prob": pa.Column(float, coerce=True, nullable=True),
            # The 80% forecast band (core.models.bands), added later: partitions written
            # before it lack both columns and stay valid; null where a version has no band.
            **{
                bound: pa.Column(
                    float, _positive_or_null(), coerce=True, nullable=True, required=False
                )
                for bound in BAND_COLUMNS
            },
        },
        checks=[pa.Check(_band_brackets_forecast, name="band_brackets_forecast")],
        unique=["date"],
        strict=True,
        ordered=True,
        name=PREDICTIONS,
    ),
}


#: Arrow types that pandas cannot infer (nested drivers, all-null columns): fixed per table so
#: every partition of a table has the same Parquet schema.
DRIVER_TYPE = pyarrow.list_(
    pyarrow.struct(
        [("feature", pyarrow.string()), ("value", pyarrow.float64()), ("shap", pyarrow.float64())]
    )
)
_ARROW_OVERRIDES: dict[str, pyarrow.DataType] = {
    "symbol": pyarrow.string(),
    "series_id": pyarrow.string(),
    "volume": pyarrow.float64(),
    "top_drivers": DRIVER_TYPE,
    "model_version": pyarrow.string(),
    "regime": pyarrow.string(),
    "regime_prob": pyarrow.float64(),
    "rv_5d_lo": pyarrow.float64(),
    "rv_5d_hi": pyarrow.float64(),
}


def table_arrow_schema(table: str) -> pyarrow.Schema | None:
    """The Parquet schema of every column a partition of ``table`` may hold (the partition key
    ``date`` aside), optional ones included; None when the contract names its columns by a
    pattern (features_daily, curated.macro_release_aligned). Reading with it gives partitions
    written before a nullable column existed that column as nulls."""
    columns = spec(table).schema.columns
    if any(col.regex for col in columns.values()):
        return None
    empty = pd.DataFrame(
        {name: pd.Series(dtype=_pandas_dtype(col)) for name, col in columns.items()}
    )
    return arrow_schema(table, empty.drop(columns="date"))


def _pandas_dtype(column: pa.Column) -> str:
    text = str(column.dtype)
    return (
        "datetime64[ns]"
        if text.startswith("datetime64")
        else "float64"
        if text == "float64"
        else "object"
    )


def arrow_schema(table: str, body: pd.DataFrame) -> pyarrow.Schema:
    """The Parquet schema of a partition body (all columns but the partition key ``date``)."""
    fields = []
    for name in body.columns:
        if name in _ARROW_OVERRIDES:
            fields.append(pyarrow.field(name, _ARROW_OVERRIDES[name]))
        elif pd.api.types.is_datetime64_any_dtype(body[name]):
            fields.append(pyarrow.field(name, pyarrow.timestamp("ns")))
        else:
            fields.append(pyarrow.field(name, pyarrow.float64()))
    return pyarrow.schema(fields)


@dataclass(frozen=True)
class TableSpec:
    name: str
    schema: pa.DataFrameSchema
    immutable: bool


def spec(table: str) -> TableSpec:
    try:
        schema = SCHEMAS[table]
    except KeyError:
        raise KeyError(f"unknown table {table!r}; known: {sorted(SCHEMAS)}") from None
    return TableSpec(table, schema, table in IMMUTABLE_TABLES)


def validate(table: str, df: pd.DataFrame, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """Validate ``df`` against ``table``'s contract and return it coerced.

    ``columns`` validates a projection (a read of some columns): only those columns' own
    checks apply, since table-wide checks need columns that were not read.
    """
    schema = spec(table).schema
    if columns is not None:
        kept = {c: col for c, col in schema.columns.items() if c in columns}
        schema = pa.DataFrameSchema(kept, name=schema.name)
    try:
        return schema.validate(df, lazy=True)
    except pa.errors.SchemaErrors as exc:
        raise ContractError(table, _describe(exc.failure_cases, df)) from None


def _describe(cases: pd.DataFrame, df: pd.DataFrame) -> pd.DataFrame:
    """Failure cases with the offending rows' keys (symbol, date) next to column and check.

    pandera repeats a table-wide check's failure once per column; those are folded into one
    line per row, with the column reported as ``*``.
    """
    out = cases.loc[:, ["schema_context", "column", "check", "failure_case", "index"]].copy()
    table_wide = out["schema_context"].eq("DataFrameSchema") & out["index"].notna()
    out.loc[table_wide, ["column", "failure_case"]] = ["*", None]
    out = out.drop(columns="schema_context").rename(
        columns={"index": "row", "failure_case": "value"}
    )
    out = out.drop_duplicates(subset=["column", "check", "row"]).reset_index(drop=True)
    rows = pd.Index(out["row"])
    present = rows.isin(df.index)
    for key in ("symbol", "series_id", "date"):
        if key in df.columns:
            out[key] = None
            out.loc[present, key] = df.loc[rows[present], key].astype(str).to_numpy()
    return out
