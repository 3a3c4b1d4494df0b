import numpy as np
import pandas as pd
import pytest

from unbinned.data import EventSet
from unbinned.data.schema import FEATURES, MISSING
from unbinned.exceptions import SchemaError
from unbinned.ml._features import (
    FeatureTransform,
    MissingGroup,
    default_missing_groups,
    feature_matrix,
)


def _challenge_like(n=200, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(1.0, 100.0, size=(n, len(FEATURES)))
    idx = {c: j for j, c in enumerate(FEATURES)}
    n_jets = rng.integers(0, 4, n)
    x[:, idx["PRI_n_jets"]] = n_jets
    jet1 = [c for c in FEATURES if c.startswith("PRI_jet_leading")]
    jet2 = [c for c in FEATURES if c.startswith("PRI_jet_subleading")] + [
        "DER_deltaeta_jet_jet",
        "DER_mass_jet_jet",
        "DER_prodeta_jet_jet",
        "DER_lep_eta_centrality",
    ]
    for c in jet1:
        x[n_jets < 1, idx[c]] = MISSING
    for c in jet2:
        x[n_jets < 2, idx[c]] = MISSING
    return x, n_jets, idx, jet1, jet2


def test_challenge_groups():
    groups = default_missing_groups(FEATURES)
    assert [g.name for g in groups] == ["has_jet1", "has_jet2"]
    assert groups[0].key == "PRI_jet_leading_pt"
    assert len(groups[1].columns) == 7
    assert default_missing_groups(["a", "b"]) == ()


def test_indicators_and_neutral_missing():
    x, n_jets, idx, _jet1, jet2 = _challenge_like()
    tf = FeatureTransform.fit(x, FEATURES)
    out = tf(x)
    assert out.shape == (len(x), 30)
    assert out.dtype == np.float32
    assert tf.output_names[-2:] == ("has_jet1", "has_jet2")
    np.testing.assert_array_equal(out[:, 28], n_jets >= 1)
    np.testing.assert_array_equal(out[:, 29], n_jets >= 2)
    for c in jet2:
        assert np.all(out[n_jets < 2, idx[c]] == 0.0)
    # the marker never enters the standardisation: present values have mean 0 and std 1
    j = idx["PRI_jet_subleading_pt"]
    present = out[n_jets >= 2, j]
    assert abs(present.mean()) < 1e-5
    assert abs(present.std() - 1) < 1e-4
    assert np.all(np.isfinite(out))


def test_transform_dict_round_trip():
    x, *_ = _challenge_like()
    tf = FeatureTransform.fit(x, FEATURES)
    again = FeatureTransform.from_dict(tf.to_dict())
    np.testing.assert_array_equal(tf(x), again(x))


def test_generic_features_without_groups():
    x = np.random.default_rng(1).normal(size=(100, 2))
    tf = FeatureTransform.fit(x, ["a", "b"])
    assert tf.n_outputs == 2
    assert tf.missing_groups == ()
    custom = FeatureTransform.fit(
        x, ["a", "b"], missing_groups=[MissingGroup("has_b", "b", ("b",))]
    )
    assert custom.n_outputs == 3


def test_feature_matrix_by_name_and_errors():
    x = np.arange(12.0).reshape(4, 3)
    df = pd.DataFrame(x, columns=["c", "a", "b"])
    np.testing.assert_array_equal(feature_matrix(df, ["a", "b"]), x[:, [1, 2]])
    ev = EventSet.from_numpy(x, feature_names=["c", "a", "b"])
    np.testing.assert_array_equal(feature_matrix(ev, ["b", "c"]), x[:, [2, 0]])
    with pytest.raises(SchemaError, match="missing feature column.*'d'"):
        feature_matrix(df, ["a", "d"])
    with pytest.raises(SchemaError, match="reordered.*'a'"):
        feature_matrix(x[:, :2], ["a", "c"], names=["c", "a"])
    with pytest.raises(SchemaError, match="unexpected column.*'b'"):
        feature_matrix(x, ["c", "a"], names=["c", "a", "b"])
    with pytest.raises(SchemaError, match="no column names"):
        feature_matrix(x, ["c", "a", "b"])
