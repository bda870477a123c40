"""The project's definitions, once (ARCHITECTURE.md, "Definitions"): what is forecast, over
which horizon, from which series, in which units.

- ``ret`` = log(adj_close_t / adj_close_{t-1}) (core.market).
- ``LABEL`` (rv_5d) at t = sqrt(ANNUALIZATION / HORIZON_SESSIONS * sum_{i=1..5} ret_{t+i}^2):
  annualized, forward-looking, known only after the close of t + HORIZON_SESSIONS
  (core.labels). Features at t use data up to the close of t.
- Walk-forward evaluation purges HORIZON_SESSIONS sessions between the last training label
  and the first test date (core.models.walkforward), and early stopping purges as many rows
  between its fit and validation rows (core.models.candidate): labels overlap by
  HORIZON_SESSIONS - 1 sessions.

Everything here is a plain constant: no module of the project is imported.
"""

from __future__ import annotations

#: Sessions ahead the label looks: rv_5d at t is known at the close of t + 5.
HORIZON_SESSIONS = 5
#: Trading sessions a year: variances are annualized with 252 / n for an n-session window.
ANNUALIZATION = 252
#: The forecast target's column name (labels_daily, the walk-forward frames).
LABEL = "rv_5d"
#: The five series volcast ingests, by their canonical names (no vendor prefixes like ^VIX).
SYMBOLS: tuple[str, ...] = ("SPY", "VIX", "VIX3M", "TLT", "HYG")
#: curated.market_daily's columns, in order (core.market writes them, core.features reads them).
CURATED_COLUMNS: tuple[str, ...] = ("symbol", "date", "open", "high", "low", "close", "ret")
