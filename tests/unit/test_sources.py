"""Sources: CSV parsing, get_source wiring, the yfinance conversion and YahooSource retries."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.config import Settings
from core.sources import (
    RAW_COLUMNS,
    CsvFolderSource,
    MarketSource,
    SourceError,
    SyntheticSource,
    YahooSource,
    get_source,
)
from core.sources.yahoo import from_yfinance
from tests.conftest import free_port

# 2024-07-04 (Independence Day) and 2024-07-06 (Saturday) are not XNYS sessions.
YAHOO_CSV = """Date,Open,High,Low,Close,Adj Close,Volume
2024-07-05,10.5,11.0,10.0,10.8,10.6,1200
2024-07-02,10.0,10.5,9.5,10.2,10.0,1000
2024-07-03,10.2,10.9,10.1,10.7,10.5,900
2024-07-04,10.7,10.7,10.7,10.7,10.5,0
2024-07-08,10.8,11.2,10.6,11.1,10.9,1100
"""
ADJUSTED_CSV = """Date,Open,High,Low,Close,Volume
2024-07-02,90.0,91.0,89.5,90.5,5000
2024-07-03,90.5,91.5,90.0,,4000
2024-07-05,91.0,92.0,90.5,91.5,"12,000"
"""
CBOE_CSV = """DATE,OPEN,HIGH,LOW,CLOSE
07/02/2024,12.5,13.0,12.0,12.4
07/03/2024,12.4,12.9,12.1,12.2
07/04/2024,12.2,12.6,12.0,12.3
07/05/2024,12.3,12.7,11.9,12.0
07/06/2024,12.0,12.1,11.9,12.0
"""
CBOE_ISO_CSV = """Date,Open,High,Low,Close
2024-07-02,14.1,14.5,13.9,14.3
2024-07-03,14.3,14.4,14.0,14.1
"""


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "SPY.csv").write_text(YAHOO_CSV)
    (tmp_path / "TLT.csv").write_text(ADJUSTED_CSV)
    (tmp_path / "^VIX.csv").write_text(CBOE_CSV)
    (tmp_path / "VIX3M.csv").write_text(CBOE_ISO_CSV)
    (tmp_path / "SPY_alt_yahoo.csv").write_text("not,a,market,file\n1,2,3,4\n")
    (tmp_path / "notes.txt").write_text("ignored")
    return tmp_path


def rows(frame: pd.DataFrame, symbol: str) -> pd.DataFrame:
    return frame.loc[frame["symbol"] == symbol].set_index("date")


# --- csv -----------------------------------------------------------------------------------


def test_csv_frame_shape_and_order(folder: Path) -> None:
    frame = CsvFolderSource(folder).fetch(["VIX", "SPY", "TLT"], "2024-07-01", "2024-07-31")
    assert tuple(frame.columns) == RAW_COLUMNS
    assert frame["date"].dtype == "datetime64[ns]"
    assert all(frame[c].dtype == "float64" for c in RAW_COLUMNS[2:])
    assert frame["symbol"].tolist() == ["SPY"] * 4 + ["TLT"] * 3 + ["VIX"] * 3
    assert frame.equals(frame.sort_values(["symbol", "date"]).reset_index(drop=True))


def test_csv_yahoo_format_keeps_raw_close_and_adj_close(folder: Path) -> None:
    spy = rows(CsvFolderSource(folder).fetch(["SPY"], "2024-07-01", "2024-07-31"), "SPY")
    assert spy.index.tolist() == list(
        pd.to_datetime(["2024-07-02", "2024-07-03", "2024-07-05", "2024-07-08"])
    )
    assert spy.loc["2024-07-05", "close"] == 10.8
    assert spy.loc["2024-07-05", "adj_close"] == 10.6
    assert spy.loc["2024-07-05", "volume"] == 1200


def test_csv_adjusted_only_format_uses_close_as_adj_close_and_keeps_empty_cells(
    folder: Path,
) -> None:
    tlt = rows(CsvFolderSource(folder).fetch(["TLT"], "2024-07-01", "2024-07-31"), "TLT")
    assert len(tlt) == 3
    assert tlt["adj_close"].equals(tlt["close"])
    # An empty close stays NaN, for the contract to reject with the row's date.
    assert np.isnan(tlt.loc["2024-07-03", "close"])
    assert tlt.loc["2024-07-05", "volume"] == 12000


def test_csv_cboe_format_us_dates_no_volume_and_holidays_dropped(
    folder: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="core.sources.base"):
        vix = rows(CsvFolderSource(folder).fetch(["^VIX"], "2024-07-01", "2024-07-31"), "VIX")
    assert vix.index.tolist() == list(pd.to_datetime(["2024-07-02", "2024-07-03", "2024-07-05"]))
    assert vix["volume"].isna().all()
    assert vix["adj_close"].equals(vix["close"])
    assert "dropped 2 VIX row(s) on non-trading days: 2024-07-04, 2024-07-06" in caplog.text


def test_csv_cboe_layout_with_iso_dates_and_title_case(folder: Path) -> None:
    vix3m = CsvFolderSource(folder).fetch(["VIX3M"], "2024-07-02", "2024-07-02")
    assert vix3m["date"].tolist() == [pd.Timestamp("2024-07-02")]
    assert vix3m["close"].tolist() == [14.3]


def test_csv_range_is_inclusive(folder: Path) -> None:
    spy = CsvFolderSource(folder).fetch(["SPY"], "2024-07-03", "2024-07-05")
    assert spy["date"].dt.strftime("%Y-%m-%d").tolist() == ["2024-07-03", "2024-07-05"]


def test_csv_symbol_without_rows_in_range_is_not_an_error(folder: Path) -> None:
    frame = CsvFolderSource(folder).fetch(["SPY", "VIX3M"], "2024-07-05", "2024-07-08")
    assert set(frame["symbol"]) == {"SPY"}


def test_csv_unknown_header_names_file_and_expected_headers(folder: Path) -> None:
    (folder / "HYG.csv").write_text("When,Price\n2024-07-02,80\n")
    with pytest.raises(SourceError, match=r"HYG\.csv.*unknown header.*Date,Open,High,Low,Close"):
        CsvFolderSource(folder).fetch(["HYG"], "2024-07-01", "2024-07-31")


def test_csv_missing_file_is_an_error(folder: Path) -> None:
    (folder / "HYG_alt.csv").write_text(YAHOO_CSV)  # a look-alike is not the symbol's file
    with pytest.raises(SourceError, match=r"no file for HYG.*HYG\.csv"):
        CsvFolderSource(folder).fetch(["SPY", "HYG"], "2024-07-01", "2024-07-31")


def test_csv_missing_folder_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="does not exist"):
        CsvFolderSource(tmp_path / "nope").fetch(["SPY"], "2024-07-01", "2024-07-31")


def test_csv_bad_dates_are_an_error(folder: Path) -> None:
    (folder / "HYG.csv").write_text("Date,Open,High,Low,Close,Volume\nyesterday,1,1,1,1,1\n")
    with pytest.raises(SourceError, match=r"HYG\.csv has dates.*HYG\.csv line 2: 'yesterday'"):
        CsvFolderSource(folder).fetch(["HYG"], "2024-07-01", "2024-07-31")


# --- csv: what real vendor exports get wrong (issue 13) --------------------------------------

HEADER = "Date,Open,High,Low,Close,Adj Close,Volume\n"


def _spy(folder: Path, body: str) -> pd.DataFrame:
    (folder / "SPY.csv").write_text(HEADER + body)
    return rows(CsvFolderSource(folder).fetch(["SPY"], "2024-03-01", "2024-03-31"), "SPY")


def test_quoted_thousands_separators_are_read(folder: Path) -> None:
    """Every cell quoted, volumes written "96,294,886" (SPY 2024-03-28, issue 13)."""
    spy = _spy(
        folder,
        '"2024-03-27","521.71","523.21","519.49","523.17","509.4","82,999,800"\n'
        '"2024-03-28","523.21","524.61","522.78","523.07","509.3314484","96,294,886"\n',
    )
    assert spy.loc["2024-03-28", "volume"] == 96294886
    assert spy.loc["2024-03-27", "volume"] == 82999800
    assert spy.loc["2024-03-28", "adj_close"] == 509.3314484


@pytest.mark.parametrize(
    ("cell", "value"),
    [('"1,234.5"', 1234.5), ('"-1,000"', -1000.0), ('" 12,345 "', 12345.0), ("1e3", 1000.0)],
)
def test_grouped_numbers_of_every_shape_are_read(folder: Path, cell: str, value: float) -> None:
    spy = _spy(folder, f"2024-03-28,523.21,524.61,522.78,523.07,509.33,{cell}\n")
    assert spy.loc["2024-03-28", "volume"] == value


@pytest.mark.parametrize(
    "cell",
    ['"96,29x,886"', '"523,07"', '"1,23,456"', "12k", '"1.234,5"', "n/a!", '"9,6294,886"'],
)
def test_a_cell_that_is_not_a_number_stops_the_read(folder: Path, cell: str) -> None:
    """A decimal comma or a typo is refused, naming file, line, date and column: a NaN kept
    in its place would go into the immutable raw table (volume may be null there)."""
    with pytest.raises(SourceError) as info:
        _spy(
            folder,
            "2024-03-27,521.71,523.21,519.49,523.17,509.4,82999800\n"
            f"2024-03-28,523.21,524.61,522.78,523.07,509.33,{cell}\n",
        )
    message = str(info.value)
    assert "column 'volume'" in message and "SPY.csv line 3 (2024-03-28)" in message


def test_ragged_rows_name_file_line_and_date(folder: Path) -> None:
    """TLT's volume written 44,191600 unquoted: 7 fields under a 6-field header (issue 13)."""
    (folder / "TLT.csv").write_text(
        "Date,Open,High,Low,Close,Volume\n"
        "2024-02-13,83.1,83.9,82.8,83.2,30000000\n"
        "\n"  # a blank line is skipped, and line numbers still count it
        "2024-02-14,82.931578,83.605453,82.868683,83.398795,44,191600\n"
        "2024-02-15,83.0,83.7,82.9,83.5\n"
    )
    with pytest.raises(SourceError) as info:
        CsvFolderSource(folder).fetch(["TLT"], "2024-02-01", "2024-02-29")
    message = str(info.value)
    assert "TLT.csv line 4 (2024-02-14): 7 fields, header has 6" in message
    assert "TLT.csv line 5 (2024-02-15): 5 fields, header has 6" in message
    assert "2 row(s)" in message


def test_many_ragged_rows_are_counted_not_all_listed(folder: Path) -> None:
    body = "".join(f"2024-03-{d:02d},1,2,0.5,1,1.0,5,6\n" for d in range(1, 29))
    with pytest.raises(SourceError, match=r"28 row\(s\).*\(\+23 more\)") as info:
        _spy(folder, body)
    assert str(info.value).count("8 fields, header has 7") == 5


@pytest.mark.parametrize(
    "date", ["2024-03-28 00:00:00-04:00", "2024-03-28T04:00:00Z", "2024-03-28 00:00+0000"]
)
def test_time_zone_offsets_are_refused_in_plain_words(folder: Path, date: str) -> None:
    with pytest.raises(SourceError, match="time-zone offsets in dates") as info:
        _spy(folder, f"{date},523.21,524.61,522.78,523.07,509.33,1\n")
    assert f"SPY.csv line 2: '{date}'" in str(info.value)


def test_dates_with_a_time_but_no_offset_are_the_session(folder: Path) -> None:
    spy = _spy(folder, "2024-03-28 00:00:00,523.21,524.61,522.78,523.07,509.33,1\n")
    assert spy.index.tolist() == [pd.Timestamp("2024-03-28")]


def test_a_file_that_is_not_utf8_is_refused(folder: Path) -> None:
    (folder / "SPY.csv").write_bytes(HEADER.encode() + b"2024-03-28,5\xe9,1,1,1,1,1\n")
    with pytest.raises(SourceError, match="not UTF-8 text"):
        CsvFolderSource(folder).fetch(["SPY"], "2024-03-01", "2024-03-31")


# --- get_source ----------------------------------------------------------------------------


def test_get_source_by_settings(tmp_path: Path) -> None:
    synthetic = get_source(Settings(source="synthetic", synthetic_seed=11))
    assert isinstance(synthetic, SyntheticSource) and synthetic.seed == 11
    assert synthetic.is_synthetic and synthetic.name == "synthetic"

    csv = get_source(Settings(source="csv", csv_dir=tmp_path))
    assert isinstance(csv, CsvFolderSource) and csv.folder == tmp_path
    assert not csv.is_synthetic

    yahoo = get_source(Settings(source="yahoo"))
    assert isinstance(yahoo, YahooSource) and not yahoo.is_synthetic
    for source in (synthetic, csv, yahoo):
        assert isinstance(source, MarketSource)


def test_get_source_csv_without_folder_is_an_error() -> None:
    with pytest.raises(SourceError, match="VOLCAST_CSV_DIR"):
        get_source(Settings(source="csv", csv_dir=None))


# --- yahoo: vendor conversion (pure) ---------------------------------------------------------


def yf_frame(tickers: list[str], dates: list[str]) -> pd.DataFrame:
    """A frame shaped like ``yf.download(..., auto_adjust=False)``: (Price, Ticker) columns."""
    fields = ["Adj Close", "Close", "High", "Low", "Open", "Volume"]
    columns = pd.MultiIndex.from_product([fields, tickers], names=["Price", "Ticker"])
    index = pd.DatetimeIndex(pd.to_datetime(dates), name="Date").astype("datetime64[s]")
    base = {"Open": 100.0, "High": 102.0, "Low": 99.0, "Close": 101.0, "Adj Close": 100.5}
    values = [
        [base.get(f, 5e6) + i + 10 * j for f in fields for j, _ in enumerate(tickers)]
        for i in range(len(dates))
    ]
    return pd.DataFrame(values, index=index, columns=columns)


def test_from_yfinance_maps_tickers_and_columns() -> None:
    vendor = yf_frame(["SPY", "^VIX"], ["2024-07-02", "2024-07-03", "2024-07-04"])
    vendor.loc["2024-07-04", (slice(None), "SPY")] = np.nan  # outer-join artifact
    vendor.loc["2024-07-03", ("Low", "SPY")] = np.nan  # a real gap: kept
    out = from_yfinance(vendor)
    assert tuple(out.columns) == RAW_COLUMNS
    assert out["date"].dtype == "datetime64[ns]"
    assert sorted(out["symbol"].unique()) == ["SPY", "VIX"]
    spy = rows(out, "SPY")
    assert spy.index.tolist() == list(pd.to_datetime(["2024-07-02", "2024-07-03"]))
    assert spy.loc["2024-07-02", ["open", "high", "low", "close", "adj_close"]].tolist() == [
        100.0,
        102.0,
        99.0,
        101.0,
        100.5,
    ]
    assert np.isnan(spy.loc["2024-07-03", "low"])
    assert spy["volume"].notna().all()
    vix = rows(out, "VIX")
    assert len(vix) == 3 and vix["volume"].isna().all()
    assert vix.loc["2024-07-02", "close"] == 111.0


def test_from_yfinance_accepts_group_by_ticker_layout() -> None:
    vendor = yf_frame(["SPY", "^VIX3M"], ["2024-07-02"])
    by_ticker = vendor.swaplevel(0, 1, axis=1)
    assert from_yfinance(by_ticker).equals(from_yfinance(vendor))


def test_from_yfinance_rejects_adjusted_only_frames() -> None:
    vendor = yf_frame(["SPY"], ["2024-07-02"]).drop(columns="Adj Close", level=0)
    with pytest.raises(SourceError, match="auto_adjust=False"):
        from_yfinance(vendor)


def test_from_yfinance_empty_frame() -> None:
    out = from_yfinance(pd.DataFrame())
    assert out.empty and tuple(out.columns) == RAW_COLUMNS


# --- yahoo: retries and the yf.download call ---------------------------------------------------


class FakeDownload:
    """Stands in for ``yfinance.download``: returns queued frames and records the calls."""

    def __init__(self, *frames: pd.DataFrame) -> None:
        self.frames = list(frames)
        self.calls: list[dict[str, object]] = []

    def __call__(self, tickers: list[str], **kwargs: object) -> pd.DataFrame:
        self.calls.append({"tickers": tickers, **kwargs})
        return self.frames.pop(0) if len(self.frames) > 1 else self.frames[0]


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    recorded: list[float] = []
    monkeypatch.setattr(time, "sleep", recorded.append)
    return recorded


def test_yahoo_download_call_and_inclusive_end(
    monkeypatch: pytest.MonkeyPatch, sleeps: list[float]
) -> None:
    import yfinance as yf

    fake = FakeDownload(yf_frame(["SPY", "^VIX"], ["2024-07-02", "2024-07-03", "2024-07-05"]))
    monkeypatch.setattr(yf, "download", fake)
    out = YahooSource(timeout_s=7).fetch(["SPY", "VIX"], "2024-07-02", "2024-07-03")
    call = fake.calls[0]
    assert call["tickers"] == ["SPY", "^VIX"]
    assert (call["start"], call["end"]) == ("2024-07-02", "2024-07-04")  # end is exclusive
    assert call["auto_adjust"] is False and call["actions"] is False
    assert call["threads"] is False and call["progress"] is False and call["timeout"] == 7
    assert out["date"].max() == pd.Timestamp("2024-07-03")  # 07-05 was outside the range
    assert len(out) == 4 and sleeps == []


def test_yahoo_retries_a_partial_answer_with_backoff(
    monkeypatch: pytest.MonkeyPatch, sleeps: list[float]
) -> None:
    import yfinance as yf

    dates = ["2024-07-02", "2024-07-03"]
    partial = yf_frame(["SPY", "^VIX"], dates)
    partial.loc[:, (slice(None), "^VIX")] = np.nan
    fake = FakeDownload(pd.DataFrame(), partial, yf_frame(["SPY", "^VIX"], dates))
    monkeypatch.setattr(yf, "download", fake)
    out = YahooSource(retries=3, backoff_s=2.0).fetch(["SPY", "VIX"], dates[0], dates[1])
    assert len(fake.calls) == 3
    assert sleeps == [2.0, 4.0]
    assert set(out["symbol"]) == {"SPY", "VIX"}


def test_yahoo_partial_after_all_retries_returns_what_it_has(
    monkeypatch: pytest.MonkeyPatch, sleeps: list[float], caplog: pytest.LogCaptureFixture
) -> None:
    import yfinance as yf

    partial = yf_frame(["SPY", "^VIX3M"], ["2024-07-02"])
    partial.loc[:, (slice(None), "^VIX3M")] = np.nan
    monkeypatch.setattr(yf, "download", FakeDownload(partial))
    out = YahooSource(retries=2, backoff_s=1.0).fetch(["SPY", "VIX3M"], "2024-07-02", "2024-07-02")
    assert set(out["symbol"]) == {"SPY"}
    assert sleeps == [1.0]
    assert "returning without ['VIX3M']" in caplog.text


def test_yahoo_empty_answers_raise_source_error(
    monkeypatch: pytest.MonkeyPatch, sleeps: list[float]
) -> None:
    import yfinance as yf

    def offline(tickers: list[str], **kwargs: object) -> pd.DataFrame:
        logging.getLogger("yfinance").error("Failed to get ticker 'SPY' reason: DNS down")
        return pd.DataFrame()

    monkeypatch.setattr(yf, "download", offline)
    with pytest.raises(SourceError, match=r"after 2 attempt.*network.*DNS down"):
        YahooSource(retries=2, backoff_s=0.5).fetch(["SPY"], "2024-07-02", "2024-07-03")
    assert sleeps == [0.5]


def test_yahoo_no_sessions_in_range_does_not_call_yahoo(monkeypatch: pytest.MonkeyPatch) -> None:
    import yfinance as yf

    def fail(*args: object, **kwargs: object) -> pd.DataFrame:
        raise AssertionError("yfinance must not be called for a weekend-only range")

    monkeypatch.setattr(yf, "download", fail)
    assert YahooSource().fetch(["SPY"], "2024-07-06", "2024-07-07").empty


def test_yahoo_unknown_symbol_is_an_error_before_any_download() -> None:
    with pytest.raises(SourceError, match=r"unknown symbol.*AAPL"):
        YahooSource().fetch(["SPY", "AAPL"], "2024-07-02", "2024-07-03")


def test_yahoo_offline_raises_a_clear_source_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """The real path, offline: yfinance gets a connection error and returns an empty frame.

    Traffic is routed to a closed port on 127.0.0.1 through the proxy variables curl honours,
    so the test needs no network and sends nothing (not even a DNS query) off the machine.
    """
    closed = f"http://127.0.0.1:{free_port()}"
    for var in ("HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy", "ALL_PROXY"):
        monkeypatch.setenv(var, closed)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    started = time.perf_counter()
    with pytest.raises(SourceError, match=r"(?s)network.*Yahoo"):
        YahooSource(retries=1, backoff_s=0, timeout_s=3).fetch(
            ["SPY", "VIX"], "2024-07-01", "2024-07-31"
        )
    assert time.perf_counter() - started < 20
