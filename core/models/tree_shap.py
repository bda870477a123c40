"""Exact TreeSHAP for CatBoost's oblivious trees, from per-leaf tables built once per model.

In an oblivious (symmetric) tree every node of a level tests the same condition, so a row's
whole path is fixed by its leaf, and so are its path-dependent TreeSHAP values: they are a
function of (tree, leaf) alone. Tabulating them once per model leaves per row a leaf lookup and
a sum: ~1/17 of CatBoost's per-row call (0.15-0.24 ms against 2.6-3.9 ms for 463 trees of
depth 4; docs/benchmarks.md). CatBoost tabulates likewise inside a call for large batches, but
redoes it on every call. The values are CatBoost's own ``ShapValues`` (tests hold them to 1e-9
on trained models, borders and missing values included).

Per tree: the cover of a node is the summed training weight of the leaves below it. v(S), the
tree's expected output when only the features in S are known, follows the row's branch at
levels testing a feature in S and both branches, weighted by child cover / node cover, at the
others. Shapley values over the tree's distinct features (at most its depth) then come from
v(S) for every subset S.
"""

from __future__ import annotations

import json
import math
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

if TYPE_CHECKING:
    from catboost import CatBoost

#: Deeper trees go to CatBoost's call: tables and their build grow as 4**depth per tree.
MAX_DEPTH = 8
#: Floats in the largest temporary of one vectorized pass (~64 MB).
WORK_FLOATS = 2**23


@dataclass(frozen=True)
class ObliviousTreeShap:
    """SHAP tables of one model: ``values(X)`` == CatBoost ShapValues without the last column."""

    features: NDArray[np.intp]  # [trees, depth]: feature tested at each level
    borders: NDArray[np.float32]  # [trees, depth]: go right when value > border
    nan_right: NDArray[np.bool_]  # [trees, depth]: where a missing value goes
    contributions: NDArray[np.float64]  # [trees, 2**depth, depth]: per leaf, per level's player
    players: NDArray[np.intp]  # [trees, depth]: feature credited for each player slot
    expected_value: float
    n_features: int

    def values(self, X: NDArray[np.float64]) -> tuple[NDArray[np.float64], float]:
        """(contributions[n, n_features], expected value) for the rows of ``X``."""
        with np.errstate(over="ignore"):  # beyond float32's range is +-inf, as in CatBoost
            rows = np.atleast_2d(X).astype(np.float32)  # CatBoost compares float32 values
        tested = rows[:, self.features]  # [n, trees, depth]
        right = np.where(np.isnan(tested), self.nan_right, tested > self.borders)
        leaves = right @ (1 << np.arange(self.features.shape[1]))  # [n, trees]
        per_slot = self.contributions[np.arange(len(self.features)), leaves]  # [n, trees, depth]
        n = len(rows)
        cells = (np.arange(n)[:, None, None] * self.n_features + self.players).ravel()
        summed = np.bincount(cells, weights=per_slot.ravel(), minlength=n * self.n_features)
        return summed.reshape(n, self.n_features), self.expected_value

    @classmethod
    def from_catboost(cls, booster: CatBoost, n_features: int) -> ObliviousTreeShap | None:
        """Tables for ``booster``; None for what they do not cover (non-symmetric trees,
        categorical or text splits, multi-dimensional output): callers use CatBoost then."""
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "model.json"
            booster.save_model(str(path), format="json")
            spec = json.loads(path.read_text())
        trees = spec.get("oblivious_trees")
        if not trees or any(
            s.get("split_type") != "FloatFeature" for t in trees for s in t["splits"]
        ):
            return None
        if any(len(t["leaf_values"]) != len(t["leaf_weights"]) for t in trees):
            return None  # more than one output dimension
        if max(len(t["splits"]) for t in trees) > MAX_DEPTH:
            return None
        scale, biases = spec.get("scale_and_bias", [1.0, [0.0]])
        nan_right = {
            f["flat_feature_index"]: f.get("nan_value_treatment") == "AsTrue"
            for f in spec["features_info"].get("float_features", [])
        }
        depth = max(len(t["splits"]) for t in trees)
        n_trees = len(trees)
        features = np.zeros((n_trees, depth), np.intp)
        borders = np.full((n_trees, depth), np.inf, np.float32)  # padding never goes right
        missing_right = np.zeros((n_trees, depth), bool)
        players = np.zeros((n_trees, depth), np.intp)
        contributions = np.zeros((n_trees, 2**depth, depth))
        expected = 0.0
        # Trees with the same pattern of repeated features (depth included) share the Shapley
        # arithmetic: one vectorized pass per pattern.
        patterns: dict[tuple[int, ...], list[int]] = {}
        for i, tree in enumerate(trees):
            tested = [int(s["float_feature_index"]) for s in tree["splits"]]
            distinct = list(dict.fromkeys(tested))  # player j = the j-th distinct feature
            features[i, : len(tested)] = tested
            borders[i, : len(tested)] = [float(s["border"]) for s in tree["splits"]]
            missing_right[i, : len(tested)] = [nan_right.get(f, False) for f in tested]
            players[i, : len(distinct)] = distinct
            patterns.setdefault(tuple(distinct.index(f) for f in tested), []).append(i)
        for pattern, same in patterns.items():
            level_masks, shapley = _shapley_weights(pattern)
            n_leaves, m = 2 ** len(pattern), shapley.shape[1]
            per_pass = max(1, WORK_FLOATS // (n_leaves * n_leaves * max(len(pattern), 1)))
            for start in range(0, len(same), per_pass):  # bounded memory for deep trees
                members = same[start : start + per_pass]
                leaf_values = np.array([trees[i]["leaf_values"] for i in members], np.float64)
                leaf_weights = np.array([trees[i]["leaf_weights"] for i in members], np.float64)
                v = _subset_values(leaf_values, leaf_weights)  # [tree, leaf, level mask]
                contributions[np.ix_(members, range(n_leaves), range(m))] = (
                    v[:, :, level_masks] @ shapley
                )
                expected += float(v[:, 0, 0].sum())
        return cls(
            features=features,
            borders=borders,
            nan_right=missing_right,
            contributions=scale * contributions,
            players=players,
            expected_value=float(scale * expected + sum(biases)),
            n_features=n_features,
        )


def _shapley_weights(level_player: tuple[int, ...]) -> tuple[NDArray[np.intp], NDArray]:
    """For a tree whose level l tests player ``level_player[l]``: the level mask of each player
    subset S (bit j set = player j in S) and W[S, j] with phi_j = sum over S of W[S, j] v(S):
    (|S|-1)! (m-|S|)! / m! where j is in S, minus |S|! (m-|S|-1)! / m! where it is not."""
    m = max(level_player, default=-1) + 1
    subsets = np.arange(2**m)
    member = (subsets[:, None] >> np.arange(m)) & 1  # [subset, player]
    level_masks = (member[:, list(level_player)] << np.arange(len(level_player))).sum(axis=1)
    size = member.sum(axis=1)
    share = np.array([math.factorial(s) * math.factorial(m - s - 1) for s in range(m)])
    share = share / math.factorial(m)
    joined = np.where(member == 1, share[np.maximum(size - 1, 0)][:, None], 0.0)
    left_out = np.where(member == 0, share[np.minimum(size, m - 1)][:, None], 0.0)
    return level_masks.astype(np.intp), joined - left_out


def _subset_values(values: NDArray[np.float64], weights: NDArray[np.float64]) -> NDArray:
    """v[tree, leaf, mask] for trees of one depth d: a tree's expected output for a row in
    ``leaf`` when the levels in ``mask`` follow the row and the others split by cover. The
    root tests the last level (leaf bit d-1), as in CatBoost."""
    n_leaves = values.shape[1]
    d = n_leaves.bit_length() - 1
    leaves = np.arange(n_leaves)
    # cover[tree, leaf, k]: weight of the node at depth k on the way to leaf (its top k bits).
    cover = np.stack([_group_sums(weights, leaves >> (d - k)) for k in range(d + 1)], axis=2)
    with np.errstate(divide="ignore", invalid="ignore"):
        down = np.where(cover[..., :-1] > 0, cover[..., 1:] / cover[..., :-1], 0.0)
    ratio = down[..., ::-1]  # [tree, leaf, level]: level l is tested at depth d - 1 - l
    fixed = (leaves[:, None] >> np.arange(d)) & 1  # [mask, level]
    # Probability of reaching each leaf when the free levels split by cover: [tree, mask, leaf].
    reach = np.prod(np.where(fixed[None, :, None, :] == 1, 1.0, ratio[:, None]), axis=3)
    agree = ((leaves[:, None, None] ^ leaves[None, None, :]) & leaves[None, :, None]) == 0
    return np.einsum("lmk,tmk->tlm", agree, reach * values[:, None, :])


def _group_sums(weights: NDArray[np.float64], group: NDArray[np.intp]) -> NDArray[np.float64]:
    """For every tree and leaf, the summed weight of the leaves in the same ``group``."""
    sums = np.zeros((len(weights), group.max() + 1))
    np.add.at(sums, (slice(None), group), weights)
    return sums[:, group]
