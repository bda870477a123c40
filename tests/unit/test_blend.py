"""The blended challenger: an equal-weight log-variance average of two offsets' models, with
exact SHAP values and a registry round trip (members in sub-folders)."""

from __future__ import annotations

import numpy as np
import pytest

from core.lake import Lake
from core.models import servable
from core.models.baselines import HAR_COLUMNS
from core.models.candidate import BlendedCandidate, CandidateModel, CandidateParams, make_candidate
from core.models.registry import ModelRegistry
from tests.unit.test_baselines import FEATURES, synthetic_features

OFFSETS = ((*HAR_COLUMNS, "vix"), ("rv_pk_5d", "vix"))
PARAMS = CandidateParams(iterations=40, depth=3, blend_offsets=OFFSETS)


@pytest.fixture(scope="module")
def data():
    X = synthetic_features(700, seed=11)
    noise = np.random.default_rng(12).normal(0, 0.3, len(X))
    y = X["rv_cc_22d"].to_numpy() * np.exp(0.5 * noise) * np.where(X["spy_ret_5d"] < 0, 1.4, 0.9)
    return X, y


@pytest.fixture(scope="module")
def blend(data) -> BlendedCandidate:
    X, y = data
    model = make_candidate(PARAMS, FEATURES, thread_count=1)
    assert isinstance(model, BlendedCandidate)
    return model.fit(X, y)


def test_members_are_the_single_offset_models(blend, data) -> None:
    X, y = data
    for params, member in zip(blend.member_params(), blend.members_, strict=True):
        alone = CandidateModel(FEATURES, params, thread_count=1).fit(X, y)
        np.testing.assert_array_equal(alone.predict_vol(X), member.predict_vol(X))
    raw = np.mean([m.raw_prediction(X) for m in blend.members_], axis=0)
    np.testing.assert_array_equal(blend.raw_prediction(X), raw)


def test_smearing_makes_the_blend_unbiased_in_variance_on_training_rows(blend, data) -> None:
    X, y = data
    # Duan: the blend's own bias, not its members', makes E[s2 / h] = 1 in sample
    assert blend.log_bias_ != pytest.approx(np.mean([m.log_bias_ for m in blend.members_]))
    assert np.mean(y**2 / np.exp(blend.raw_prediction(X) + blend.log_bias_)) == pytest.approx(1.0)


def test_shap_values_are_exact(blend, data) -> None:
    X, _ = data
    contributions, expected = blend.shap_values(X.iloc[:50])
    raw = blend.raw_prediction(X.iloc[:50])
    np.testing.assert_allclose(expected + contributions.sum(axis=1), raw, atol=1e-9)
    np.testing.assert_allclose(
        blend.vol_from_raw(expected + contributions.sum(axis=1)), blend.predict_vol(X.iloc[:50])
    )


def test_registry_round_trip_keeps_members_apart(blend, data, tmp_path) -> None:
    X, _ = data
    files = servable.model_files(blend)
    assert set(files) == {
        "blend.json",
        "member-0/model.cbm",
        "member-0/candidate.json",
        "member-1/model.cbm",
        "member-1/candidate.json",
    }
    registry = ModelRegistry(Lake(str(tmp_path / "lake")))
    metadata = {
        "kind": "catboost",
        "features": list(FEATURES),
        "training_data": {"start": "2020-01-02", "end": "2022-10-31", "content_hash": "cd" * 32},
        "params": {},
        "metrics": {},
        "gate": {"passed": True, "reason": "test", "figures": {}},
    }
    version = registry.register(files, metadata)
    loaded, _ = servable.load_version(registry, version)
    assert isinstance(loaded, BlendedCandidate)
    np.testing.assert_array_equal(loaded.predict_vol(X), blend.predict_vol(X))
    loaded.prepare_serving()  # SHAP tables per member
    np.testing.assert_allclose(loaded.shap_values(X.iloc[:5])[0], blend.shap_values(X.iloc[:5])[0])


def test_a_blend_needs_two_offsets() -> None:
    with pytest.raises(ValueError, match="at least two offsets"):
        BlendedCandidate(FEATURES, CandidateParams(blend_offsets=(OFFSETS[0],)))
