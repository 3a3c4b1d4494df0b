"""The fused CPU evaluator equals the straightforward network-by-network evaluation."""

import dataclasses

import numpy as np
import pandas as pd
import pytest
import torch

from unbinned.data.schema import FEATURES, MISSING
from unbinned.ml import ClassifierNet, FeatureTransform, ResponseNet, SurrogateModel
from unbinned.ml._evaluator import FusedEvaluator
from unbinned.ml.classifier import ProcessClassifier
from unbinned.ml.design import default_design
from unbinned.ml.networks import MLP
from unbinned.ml.response import ProcessResponse
from unbinned.ml.sources import HTAUTAU_SHAPE_NUISANCES, Region
from unbinned.ml.training import seeded
from unbinned.ml.yields import PolynomialYieldModel


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _frame(n: int, seed: int = 0) -> pd.DataFrame:
    """Challenge-named features with heavy tails and missing jets (-25 markers)."""
    rng = np.random.default_rng(seed)
    data = {c: rng.normal(size=n) * 2.0 for c in FEATURES}
    for c in FEATURES:
        if c.endswith("_pt") or c.startswith("DER_mass") or c == "PRI_met":
            data[c] = rng.lognormal(3.5, 0.6, size=n)
    n_jets = rng.integers(0, 4, size=n)
    data["PRI_n_jets"] = n_jets.astype(float)
    for c in ("PRI_jet_leading_pt", "PRI_jet_leading_eta", "PRI_jet_leading_phi"):
        data[c] = np.where(n_jets >= 1, data[c], MISSING)
    for c in (
        "PRI_jet_subleading_pt",
        "PRI_jet_subleading_eta",
        "PRI_jet_subleading_phi",
        "DER_deltaeta_jet_jet",
        "DER_mass_jet_jet",
        "DER_prodeta_jet_jet",
        "DER_lep_eta_centrality",
    ):
        data[c] = np.where(n_jets >= 2, data[c], MISSING)
    return pd.DataFrame(data)


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return _frame(5000)


@pytest.fixture(scope="module")
def transform(frame) -> FeatureTransform:
    tf = FeatureTransform.fit(frame.to_numpy(), FEATURES)
    assert len(tf.missing_groups) == 2
    assert len(tf.log_features) > 5
    return tf


def _nets(n_in: int, activations=("silu",) * 5) -> list[MLP]:
    with seeded(1):
        nets: list[MLP] = [ClassifierNet(n_in, 4, (64, 64), activations[0])]
        nets += [ResponseNet(n_in, 9, (32, 32), a, zero_last=False) for a in activations[1:]]
    return nets


def _reference(tf: FeatureTransform, nets, x: np.ndarray) -> list[np.ndarray]:
    with torch.inference_mode():
        inputs = torch.from_numpy(tf(x))
        return [net(inputs).double().numpy() for net in nets]


def _fused(tf, nets, base, columns=None, chunk=512, threads=1) -> list[np.ndarray]:
    n = len(base)
    outs = [np.full((n, net.n_outputs), np.nan) for net in nets]
    FusedEvaluator(tf, nets, chunk=chunk).run(
        base, columns, [(o, 0) for o in outs], threads=threads
    )
    return outs


def _close(a: np.ndarray, b: np.ndarray) -> None:
    # float32 products in another order: relative 1e-5 of the output scale
    scale = max(float(np.abs(b).max()), 1e-3)
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5 * scale)


@pytest.mark.parametrize("chunk", [1, 333, 4096])
def test_fused_equals_network_by_network(frame, transform, chunk):
    nets = _nets(transform.n_outputs)
    x = frame.to_numpy()[:1200]
    for got, want in zip(
        _fused(transform, nets, x, chunk=chunk), _reference(transform, nets, x), strict=True
    ):
        _close(got, want)


def test_fused_layouts_dtypes_columns_and_threads(frame, transform):
    nets = _nets(transform.n_outputs)
    x = frame.to_numpy()
    ref = _reference(transform, nets, x)
    for base in (np.ascontiguousarray(x), np.asfortranarray(x)):
        for got, want in zip(_fused(transform, nets, base, threads=2), ref, strict=True):
            _close(got, want)
    # a wider table whose columns are picked (reordered, an extra one)
    wide = pd.concat([frame[list(FEATURES[::-1])], frame[["PRI_met"]].add_suffix("_x")], axis=1)
    cols = np.array([list(wide.columns).index(c) for c in FEATURES])
    for got, want in zip(
        _fused(transform, nets, wide.to_numpy(), cols, chunk=700), ref, strict=True
    ):
        _close(got, want)
    # float32 input: the transform casts it the same way
    x32 = x.astype(np.float32)
    for got, want in zip(
        _fused(transform, nets, x32), _reference(transform, nets, x32), strict=True
    ):
        _close(got, want)


def test_fused_mixed_activations_and_architectures(frame, transform):
    nets = _nets(transform.n_outputs, ("silu", "tanh", "gelu", "relu", "softplus"))
    with seeded(2):
        nets.append(ResponseNet(transform.n_outputs, 9, (16,), zero_last=False))
    x = frame.to_numpy()[:900]
    for got, want in zip(
        _fused(transform, nets, x, chunk=256), _reference(transform, nets, x), strict=True
    ):
        _close(got, want)


def test_threads_give_identical_results(frame, transform):
    nets = _nets(transform.n_outputs)
    x = frame.to_numpy()
    one = _fused(transform, nets, x, chunk=256, threads=1)
    two = _fused(transform, nets, x, chunk=256, threads=3)
    for a, b in zip(one, two, strict=True):
        np.testing.assert_array_equal(a, b)


def test_unsupported_networks(transform):
    nets = _nets(transform.n_outputs)
    assert FusedEvaluator.supported(transform, nets)
    assert not FusedEvaluator.supported(transform, [*nets, MLP(transform.n_outputs, 2, ())])
    assert not FusedEvaluator.supported(transform, [nets[0].double()])
    assert not FusedEvaluator.supported(transform, [MLP(3, 2)])
    with pytest.raises(ValueError, match="not supported"):
        FusedEvaluator(transform, [MLP(3, 2)])


def _model(transform: FeatureTransform) -> SurrogateModel:
    nets = _nets(transform.n_outputs)
    procs = ("htautau", "ztautau", "ttbar", "diboson")
    clf = ProcessClassifier(
        procs,
        transform,
        nets[0],  # type: ignore[arg-type]
        np.log(np.array([0.01, 0.8, 0.15, 0.04])),
        temperature=1.3,
        bias=np.array([0.1, -0.2, 0.05, 0.0]),
    )
    nuis = HTAUTAU_SHAPE_NUISANCES
    names = tuple(n.name for n in nuis)
    design = default_design(nuis)
    responses: dict[str, ProcessResponse | None] = {}
    for p, net in zip(procs, nets[1:], strict=True):
        ym = PolynomialYieldModel(len(nuis))
        ym.fit(design.points, np.zeros(len(design)))
        responses[p] = ProcessResponse(
            p,
            names,
            transform,
            net,  # type: ignore[arg-type]
            ym,
            design,
            np.zeros(len(design)),
        )
    return SurrogateModel(
        procs, nuis, Region("inclusive"), dict.fromkeys(procs, 1.0), clf, responses
    )


def test_surrogate_precompute_fast_path_equals_straightforward(frame, transform, tmp_path):
    model = _model(transform)
    t = model.precompute(frame, batch_size=1000)
    want = model.classifier.fractions(frame)
    np.testing.assert_allclose(t.fractions, want, rtol=1e-5, atol=1e-12)
    np.testing.assert_allclose(t.fractions.sum(1), 1.0, rtol=1e-12)
    for j, p in enumerate(model.processes):
        _close(t.delta[:, j], model.responses[p].delta(frame))  # type: ignore[union-attr]
    assert t.fractions.dtype == t.delta.dtype == np.float64
    # threads and batch size change nothing; save/load gives identical outputs
    again = model.precompute(frame, num_threads=2)
    np.testing.assert_array_equal(again.fractions, t.fractions)
    np.testing.assert_array_equal(again.delta, t.delta)
    model.save(tmp_path / "m")
    loaded = SurrogateModel.load(tmp_path / "m").precompute(frame)
    np.testing.assert_array_equal(loaded.fractions, t.fractions)
    np.testing.assert_array_equal(loaded.delta, t.delta)
    # a process without response: zeros
    partial = dataclasses.replace(model, responses={**model.responses, "ttbar": None})
    out = partial.precompute(frame)
    assert np.all(out.delta[:, 2] == 0.0)
    np.testing.assert_array_equal(out.delta[:, 3], t.delta[:, 3])
