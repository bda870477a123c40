"""CatBoost candidate: boosts a correction on top of the HAR-X(VIX) log-variance forecast.

Target and loss: log of next-5-day annualized variance, RMSE, mapped back with Duan's
smearing factor mean(exp(training residual)), so exp(raw + log_bias) targets E[s2 | x] and
not its geometric mean (which QLIKE and RMSE on variance would both punish as a bias).
Boosting starts from the HAR-X(VIX) log forecast (CatBoost ``baseline``) fitted by OLS on the
same training rows, so the trees only learn what the linear reference misses (range
estimators, term structure, credit, asymmetry) and the forecast extrapolates like HAR-X where
trees cannot (beyond the training range).

Why these choices (log-RMSE over a QLIKE-shaped objective, the HAR-X offset, early-stopped
tree counts, the offset menu that is not the default): the research log in docs/models.md,
"How the challenger was chosen". ``objective="qlike"`` keeps the Tweedie variant and
``offset_menu`` the menu, each fit picking its offset on its own validation tail.

Raw prediction and SHAP: ``raw_prediction(X) = offset(X) + trees(X)`` with
``offset(X) = log h_harx(X)`` and vol = exp((raw + log_bias_) / 2). ``shap_values`` splits raw
exactly: trees by CatBoost's TreeSHAP (tabulated per leaf, core.models.tree_shap), the linear
offset by its exact linear SHAP values (coef * (log x^2 - training mean)), so contributions +
expected_value == raw prediction.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Self

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from core.definitions import HORIZON_SESSIONS
from core.models.baselines import HAR_COLUMNS, VAR_FLOOR, LinearVarianceModel
from core.models.tree_shap import ObliviousTreeShap

if TYPE_CHECKING:  # imported where used: a HAR-X(VIX) champion's evening never loads CatBoost
    from catboost import CatBoostRegressor, Pool

MODEL_FILE = "model.cbm"
META_FILE = "candidate.json"
BLEND_FILE = "blend.json"

Objective = Literal["qlike", "log_rmse"]


@dataclass
class CandidateParams:
    """Hyper-parameters; small trees keep native SHAP of one row cheap."""

    objective: Objective = "log_rmse"
    boost_from_harx: bool = True
    # Regressors (vol columns, used squared, in logs) of the linear offset the trees correct.
    offset_columns: tuple[str, ...] = (*HAR_COLUMNS, "vix")
    # Non-empty: at each fit the offset is chosen among these column sets (offset_columns is
    # then ignored) by the boosted model's loss on the purged validation tail of the training
    # rows, the one that also picks the number of trees. Needs validation_fraction > 0.
    offset_menu: tuple[tuple[str, ...], ...] = ()
    # > 0: the last share of the training rows (after a 5-row purge) picks the number of
    # trees by early stopping, then the model is refitted on all rows with that many trees.
    # The trees then shrink to ~0 (pure HAR-X offset) whenever they do not help out of sample.
    validation_fraction: float = 0.2
    iterations: int = 500
    depth: int = 4
    learning_rate: float = 0.03
    l2_leaf_reg: float = 30.0
    rsm: float = 1.0
    random_seed: int = 0
    tweedie_power: float = 1.99
    # Non-empty: the challenger is an equal-weight blend, in log variance, of one model per
    # column set here, each boosted from that offset and otherwise configured by these params
    # (offset_columns and offset_menu are then ignored); see BlendedCandidate.
    blend_offsets: tuple[tuple[str, ...], ...] = ()

    def __post_init__(self) -> None:  # JSON round trips give lists
        self.offset_columns = tuple(self.offset_columns)
        self.offset_menu = tuple(tuple(cols) for cols in self.offset_menu)
        self.blend_offsets = tuple(tuple(cols) for cols in self.blend_offsets)

    def catboost_kwargs(self, thread_count: int) -> dict[str, Any]:
        loss = (
            f"Tweedie:variance_power={self.tweedie_power}" if self.objective == "qlike" else "RMSE"
        )
        return {
            "loss_function": loss,
            "iterations": self.iterations,
            "depth": self.depth,
            "learning_rate": self.learning_rate,
            "l2_leaf_reg": self.l2_leaf_reg,
            "rsm": self.rsm,
            "random_seed": self.random_seed,
            "thread_count": thread_count,
            "allow_writing_files": False,
            "verbose": False,
            "bootstrap_type": "No",  # deterministic: no row sampling noise across refits
        }


@dataclass
class CandidateModel:
    """CatBoost forecast of next-5-day annualized vol (see the module docstring)."""

    feature_names: tuple[str, ...] | None = None
    params: CandidateParams = field(default_factory=CandidateParams)
    thread_count: int = 2
    name: str = "catboost"
    booster_: CatBoostRegressor | None = field(default=None, init=False, repr=False)
    harx_: LinearVarianceModel | None = field(default=None, init=False, repr=False)
    log_bias_: float = field(default=0.0, init=False)
    best_iterations_: int = field(default=0, init=False)
    # offset_menu only: index of the chosen offset and every entry's validation loss.
    offset_choice_: int | None = field(default=None, init=False)
    offset_losses_: tuple[float, ...] = field(default=(), init=False)
    # A cache: the SHAP tables of ``_shap_tables_of`` (see build_shap_tables).
    _shap_tables: ObliviousTreeShap | None = field(
        default=None, init=False, repr=False, compare=False
    )
    _shap_tables_of: CatBoostRegressor | None = field(
        default=None, init=False, repr=False, compare=False
    )

    # -- fitting -------------------------------------------------------------------------
    def _matrix(self, X: pd.DataFrame | NDArray[np.float64]) -> NDArray[np.float64]:
        if isinstance(X, pd.DataFrame):
            assert self.feature_names is not None
            missing = [c for c in self.feature_names if c not in X.columns]
            if missing:
                raise KeyError(f"{self.name}: missing feature columns {missing}")
            return X.loc[:, list(self.feature_names)].to_numpy(dtype=np.float64)
        arr = np.asarray(X, dtype=np.float64)
        if arr.ndim == 1:
            arr = arr[None, :]
        if self.feature_names is None or arr.shape[1] != len(self.feature_names):
            raise ValueError("numpy input must have one column per feature_names entry")
        return arr

    def _offset_design(self, M: NDArray[np.float64]) -> NDArray[np.float64]:
        assert self.harx_ is not None and self.feature_names is not None
        idx = [self.feature_names.index(c) for c in self.harx_.columns]
        return self.harx_.design_matrix(M[:, idx])

    def _offset(self, M: NDArray[np.float64]) -> NDArray[np.float64]:
        """log forecast variance of the linear offset (zeros without one): numpy only."""
        if self.harx_ is None:
            return np.zeros(len(M))
        return np.log(self.harx_.variance_from_design(self._offset_design(M)))

    def _fit_offset(
        self, M: NDArray[np.float64], y: NDArray[np.float64], columns: tuple[str, ...]
    ) -> None:
        assert self.feature_names is not None
        self.harx_ = None
        if not self.params.boost_from_harx:
            return
        harx = LinearVarianceModel("offset", tuple(columns), "log")
        missing = [c for c in harx.columns if c not in self.feature_names]
        if missing:
            raise KeyError(f"boost_from_harx needs features {missing}")
        idx = [self.feature_names.index(c) for c in harx.columns]
        self.harx_ = harx.fit(pd.DataFrame(M[:, idx], columns=list(harx.columns)), y)

    def _pool(self, M: NDArray[np.float64], y: NDArray[np.float64]) -> Pool:
        from catboost import Pool

        target = y**2 if self.params.objective == "qlike" else np.log(y**2)
        return Pool(
            M, target, feature_names=list(self.feature_names or ()), baseline=self._offset(M)
        )

    def _best_iterations(
        self, M: NDArray[np.float64], y: NDArray[np.float64], columns: tuple[str, ...]
    ) -> tuple[int, float]:
        """(trees, loss) minimising the loss on the last rows, offset and trees fit on the rest.

        The loss is the objective's metric (RMSE of log variance, or Tweedie deviance) of
        offset + trees on the validation rows; NaN when too few rows to hold any out.
        """
        n_valid = round(self.params.validation_fraction * len(M))
        n_fit = len(M) - n_valid - HORIZON_SESSIONS
        if n_valid < 20 or n_fit < 50:
            return self.params.iterations, float("nan")
        from catboost import CatBoostRegressor

        self._fit_offset(M[:n_fit], y[:n_fit], columns)
        train, valid = self._pool(M[:n_fit], y[:n_fit]), self._pool(M[-n_valid:], y[-n_valid:])
        probe = CatBoostRegressor(**self.params.catboost_kwargs(self.thread_count))
        probe.fit(train, eval_set=valid, use_best_model=True)
        loss = float(next(iter(probe.get_best_score()["validation"].values())))
        return max(1, int(probe.get_best_iteration()) + 1), loss

    def fit(self, X: pd.DataFrame, y_vol: NDArray[np.float64]) -> Self:
        if self.feature_names is None:
            self.feature_names = tuple(str(c) for c in X.columns if c not in ("date", "rv_5d"))
        y = np.asarray(y_vol, dtype=np.float64).ravel()
        if not np.all(np.isfinite(y)) or np.any(y <= 0.0):
            raise ValueError("y_vol must be finite and strictly positive")
        M = self._matrix(X)
        p = self.params
        kwargs = p.catboost_kwargs(self.thread_count)
        columns = p.offset_columns
        self.offset_choice_, self.offset_losses_ = None, ()
        if p.offset_menu and p.boost_from_harx:
            if p.validation_fraction <= 0.0:
                raise ValueError("offset_menu needs validation_fraction > 0")
            probes = [self._best_iterations(M, y, cols) for cols in p.offset_menu]
            self.offset_losses_ = tuple(loss for _, loss in probes)
            # first entry on ties or without a validation tail (NaN losses)
            finite = [i for i, loss in enumerate(self.offset_losses_) if np.isfinite(loss)]
            choice = min(finite, key=lambda i: self.offset_losses_[i]) if finite else 0
            self.offset_choice_ = choice
            columns = p.offset_menu[choice]
            kwargs["iterations"] = probes[choice][0]
        elif p.validation_fraction > 0.0:
            kwargs["iterations"] = self._best_iterations(M, y, columns)[0]
        self.best_iterations_ = int(kwargs["iterations"])
        self._fit_offset(M, y, columns)
        pool = self._pool(M, y)
        from catboost import CatBoostRegressor

        booster = CatBoostRegressor(**kwargs)
        booster.fit(pool)
        self.booster_ = booster
        self.log_bias_ = 0.0
        if p.objective == "log_rmse":  # Duan smearing on the training residuals
            resid = np.log(y**2) - (self._offset(M) + self._trees(M))
            self.log_bias_ = float(np.log(np.mean(np.exp(resid))))
        return self

    # -- prediction ----------------------------------------------------------------------
    def _trees(self, M: NDArray[np.float64]) -> NDArray[np.float64]:
        if self.booster_ is None:
            raise RuntimeError(f"{self.name} is not fitted")
        return np.asarray(self.booster_.predict(M, prediction_type="RawFormulaVal"), np.float64)

    def raw_prediction(self, X: pd.DataFrame | NDArray[np.float64]) -> NDArray[np.float64]:
        """log variance before the bias term: vol = exp((raw + log_bias_) / 2)."""
        M = self._matrix(X)
        return self._offset(M) + self._trees(M)

    def predict_vol(self, X: pd.DataFrame | NDArray[np.float64]) -> NDArray[np.float64]:
        return self.vol_from_raw(self.raw_prediction(X))

    def vol_from_raw(self, raw: NDArray[np.float64] | float) -> NDArray[np.float64]:
        """Annualized vol from raw predictions (e.g. expected_value + the sum of SHAP values)."""
        var = np.exp(np.asarray(raw, dtype=np.float64) + self.log_bias_)
        return np.sqrt(np.maximum(var, VAR_FLOOR))

    predict = predict_vol

    def shap_values(
        self, X: pd.DataFrame | NDArray[np.float64]
    ) -> tuple[NDArray[np.float64], float]:
        """(contributions[n, n_features], expected_value) with rows summing to raw - expected.

        Trees: CatBoost's TreeSHAP, from per-leaf tables built once per booster
        (core.models.tree_shap; CatBoost's own call for trees the tables do not cover).
        HAR-X offset: exact linear SHAP, coef_j times the regressor's deviation from its
        training mean, credited to the regressor's feature.
        The offset's clip to the training range is the one non-linear part: where it binds,
        the clipped excess is credited to the first HAR feature so the sum stays exact.
        """
        M = self._matrix(X)
        assert self.booster_ is not None and self.feature_names is not None
        contrib, expected = self._tree_shap(M)
        if self.harx_ is not None:
            design = self._offset_design(M)
            unclipped = self.harx_.raw_from_design(design)
            offset = np.log(self.harx_.variance_from_raw(unclipped))  # == self._offset(M)
            linear, base = self.harx_.linear_shap(design)
            clip_gap = offset - unclipped
            for j, col in enumerate(self.harx_.columns):
                contrib[:, self.feature_names.index(col)] += linear[:, j]
            contrib[:, self.feature_names.index(self.harx_.columns[0])] += clip_gap
            expected += base
        return contrib, expected

    def prepare_serving(self) -> None:
        """Build the SHAP tables now, not in the first request that needs SHAP."""
        self.build_shap_tables()

    def build_shap_tables(self) -> bool:
        """Tabulate the trees' SHAP values now (else the first ``shap_values`` call does);
        False when the trees need CatBoost's own call instead."""
        if self.booster_ is None or self.feature_names is None:
            raise RuntimeError(f"{self.name} is not fitted")
        if self._shap_tables_of is not self.booster_:  # once per fitted or loaded booster
            self._shap_tables = ObliviousTreeShap.from_catboost(
                self.booster_, len(self.feature_names)
            )
            self._shap_tables_of = self.booster_
        return self._shap_tables is not None

    def _tree_shap(self, M: NDArray[np.float64]) -> tuple[NDArray[np.float64], float]:
        assert self.booster_ is not None
        self.build_shap_tables()
        if self._shap_tables is not None:
            return self._shap_tables.values(M)
        from catboost import Pool

        # thread_count on the Pool too: its default (all cores) starts a helper thread per call
        # that spins in the kernel, ~1 ms of CPU per single-row call (docs/benchmarks.md).
        native = self.booster_.get_feature_importance(
            Pool(M, thread_count=self.thread_count),
            type="ShapValues",
            thread_count=self.thread_count,
        )
        return np.asarray(native[:, :-1], dtype=np.float64), float(native[0, -1])

    # -- persistence ---------------------------------------------------------------------
    def save(self, folder: str | Path) -> list[Path]:
        """Write model.cbm and candidate.json (features, params, HAR-X offset) into folder."""
        if self.booster_ is None:
            raise RuntimeError(f"{self.name} is not fitted")
        out = Path(folder)
        out.mkdir(parents=True, exist_ok=True)
        self.booster_.save_model(str(out / MODEL_FILE), format="cbm")
        harx = self.harx_.to_dict() if self.harx_ is not None else None
        meta = {
            "name": self.name,
            "feature_names": list(self.feature_names or ()),
            "params": asdict(self.params),
            "log_bias": self.log_bias_,
            "harx_offset": harx,
            "offset_choice": self.offset_choice_,
            "offset_losses": [x if np.isfinite(x) else None for x in self.offset_losses_],
            "raw_to_vol": "vol = exp((raw_prediction + log_bias) / 2)",
        }
        (out / META_FILE).write_text(json.dumps(meta, indent=2, sort_keys=True))
        return [out / MODEL_FILE, out / META_FILE]

    @classmethod
    def load(cls, folder: str | Path, thread_count: int = 2) -> CandidateModel:
        src = Path(folder)
        meta = json.loads((src / META_FILE).read_text())
        model = cls(
            feature_names=tuple(meta["feature_names"]),
            params=CandidateParams(**meta["params"]),
            thread_count=thread_count,
            name=meta["name"],
        )
        from catboost import CatBoostRegressor

        booster = CatBoostRegressor()
        booster.load_model(str(src / MODEL_FILE), format="cbm")
        model.booster_ = booster
        model.log_bias_ = float(meta["log_bias"])
        model.offset_choice_ = meta.get("offset_choice")
        losses = meta.get("offset_losses", ())
        model.offset_losses_ = tuple(float("nan") if x is None else float(x) for x in losses)
        if meta["harx_offset"] is not None:
            model.harx_ = LinearVarianceModel.from_dict(meta["harx_offset"])
        return model


@dataclass
class BlendedCandidate:
    """Equal-weight blend, in log variance, of CandidateModels that differ only in their
    linear offset (``params.blend_offsets``): raw = mean of the members' raw predictions,
    vol = exp((raw + log_bias_) / 2) with Duan's smearing fitted on the blend's own training
    residuals (log-RMSE objective; none for the QLIKE-shaped one, whose raw is already a log
    mean).

    A fixed 0.5 weight, not fitted: weights fitted by MSE went to the corners and lost out of
    sample in research (docs/models.md). Averaging in logs rather than in variance keeps the
    explanation exact: the blend's SHAP values are the mean of the members' (each exact), so
    they sum with the mean expected value to the blend's raw prediction.
    """

    feature_names: tuple[str, ...] | None = None
    params: CandidateParams = field(default_factory=CandidateParams)
    thread_count: int = 2
    name: str = "catboost"
    members_: list[CandidateModel] = field(default_factory=list, init=False, repr=False)
    log_bias_: float = field(default=0.0, init=False)

    def __post_init__(self) -> None:
        if len(self.params.blend_offsets) < 2:
            raise ValueError("a blend needs at least two offsets in params.blend_offsets")

    def member_params(self) -> list[CandidateParams]:
        """Each member's params: these, with one offset and no blend or menu."""
        return [
            replace(self.params, offset_columns=cols, offset_menu=(), blend_offsets=())
            for cols in self.params.blend_offsets
        ]

    def fit(self, X: pd.DataFrame, y_vol: NDArray[np.float64]) -> Self:
        if self.feature_names is None:
            self.feature_names = tuple(str(c) for c in X.columns if c not in ("date", "rv_5d"))
        y = np.asarray(y_vol, dtype=np.float64).ravel()
        self.members_ = [
            CandidateModel(self.feature_names, params, self.thread_count).fit(X, y)
            for params in self.member_params()
        ]
        self.log_bias_ = 0.0
        if self.params.objective == "log_rmse":
            resid = np.log(y**2) - self.raw_prediction(X)
            self.log_bias_ = float(np.log(np.mean(np.exp(resid))))
        return self

    def _fitted(self) -> list[CandidateModel]:
        if not self.members_:
            raise RuntimeError(f"{self.name} is not fitted")
        return self.members_

    def raw_prediction(self, X: pd.DataFrame | NDArray[np.float64]) -> NDArray[np.float64]:
        """Mean of the members' log-variance raw predictions (before the blend's bias)."""
        members = self._fitted()
        return np.mean([m.raw_prediction(X) for m in members], axis=0)

    def vol_from_raw(self, raw: NDArray[np.float64] | float) -> NDArray[np.float64]:
        var = np.exp(np.asarray(raw, dtype=np.float64) + self.log_bias_)
        return np.sqrt(np.maximum(var, VAR_FLOOR))

    def predict_vol(self, X: pd.DataFrame | NDArray[np.float64]) -> NDArray[np.float64]:
        return self.vol_from_raw(self.raw_prediction(X))

    predict = predict_vol

    def shap_values(
        self, X: pd.DataFrame | NDArray[np.float64]
    ) -> tuple[NDArray[np.float64], float]:
        """The mean of the members' exact SHAP values and expected values."""
        parts = [m.shap_values(X) for m in self._fitted()]
        contributions = np.mean([c for c, _ in parts], axis=0)
        return contributions, float(np.mean([e for _, e in parts]))

    def prepare_serving(self) -> None:
        for member in self._fitted():
            member.prepare_serving()

    def save(self, folder: str | Path) -> list[Path]:
        """Each member in ``member-<i>/`` and BLEND_FILE (features, params, bias) beside."""
        out = Path(folder)
        out.mkdir(parents=True, exist_ok=True)
        paths = [p for i, m in enumerate(self._fitted()) for p in m.save(out / f"member-{i}")]
        meta = {
            "name": self.name,
            "feature_names": list(self.feature_names or ()),
            "params": asdict(self.params),
            "log_bias": self.log_bias_,
            "members": [f"member-{i}" for i in range(len(self.members_))],
            "raw_to_vol": "vol = exp((mean of members' raw_prediction + log_bias) / 2)",
        }
        (out / BLEND_FILE).write_text(json.dumps(meta, indent=2, sort_keys=True))
        return [*paths, out / BLEND_FILE]

    @classmethod
    def load(cls, folder: str | Path, thread_count: int = 2) -> BlendedCandidate:
        src = Path(folder)
        meta = json.loads((src / BLEND_FILE).read_text())
        model = cls(
            feature_names=tuple(meta["feature_names"]),
            params=CandidateParams(**meta["params"]),
            thread_count=thread_count,
            name=meta["name"],
        )
        model.members_ = [CandidateModel.load(src / m, thread_count) for m in meta["members"]]
        model.log_bias_ = float(meta["log_bias"])
        return model


Challenger = CandidateModel | BlendedCandidate


def make_candidate(
    params: CandidateParams, features: tuple[str, ...] | None, thread_count: int
) -> Challenger:
    """An unfitted challenger for ``params``: a blend when ``params.blend_offsets`` is set."""
    if params.blend_offsets:
        return BlendedCandidate(features, params, thread_count)
    return CandidateModel(features, params, thread_count)


def load_candidate(folder: str | Path, thread_count: int = 2) -> Challenger:
    """A challenger ``save`` wrote into ``folder``, a blend or a single model."""
    if (Path(folder) / BLEND_FILE).exists():
        return BlendedCandidate.load(folder, thread_count)
    return CandidateModel.load(folder, thread_count)
