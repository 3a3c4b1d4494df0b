"""One contract battery over every network and surrogate: shapes, gradients, round trip, seeds."""

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch

from unbinned.ml import (
    MLP,
    ClassifierNet,
    GaussianToySource,
    ProcessClassifier,
    ProcessResponse,
    ResponseNet,
    SurrogateConfig,
    SurrogateModel,
    TrainConfig,
    load,
    save,
    train_surrogate,
)
from unbinned.ml.runtime import RunOptions
from unbinned.ml.training import seeded

TINY = TrainConfig(hidden=(16, 16), epochs=2, batch_size=512)


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    # the test machine is shared: one thread avoids oversubscription stalls
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _train(seed: int = 0) -> SurrogateModel:
    source = GaussianToySource(1500, seed=11)
    cfg = SurrogateConfig(classifier=TINY, response=TINY, max_events_per_point=800)
    return train_surrogate(source, config=cfg, seed=seed, run=RunOptions(progress=False))


@pytest.fixture(scope="module")
def surrogate() -> SurrogateModel:
    return _train()


@pytest.fixture(scope="module")
def events() -> Any:
    return GaussianToySource(300, seed=5).nominal()


def _net(kind: str) -> torch.nn.Module:
    with seeded(3):
        if kind == "mlp":
            return MLP(4, 3, (8, 8))
        if kind == "classifier_net":
            return ClassifierNet(4, 3, (8,), "tanh")
        return ResponseNet(4, 5, (8, 8), zero_last=False)


NETS = ["mlp", "classifier_net", "response_net"]
SURROGATES = ["classifier", "response", "surrogate"]


def _obj(kind: str, surrogate: SurrogateModel) -> Any:
    if kind in NETS:
        return _net(kind)
    if kind == "classifier":
        return surrogate.classifier
    if kind == "response":
        return surrogate.responses["bkg"]
    return surrogate


def _outputs(obj: Any, events: Any) -> list[np.ndarray]:
    if isinstance(obj, SurrogateModel):
        t = obj.precompute(events, batch_size=128)
        nu = np.array([0.5, -1.0])
        return [t.fractions, t.delta, obj.log_yield(nu)]
    if isinstance(obj, ProcessClassifier):
        return [obj.fractions(events)]
    if isinstance(obj, ProcessResponse):
        return [obj.delta(events), obj.log_ratio(events, np.array([1.0, 1.0]))]
    x = torch.from_numpy(np.random.default_rng(0).normal(size=(10, obj.n_inputs))).float()
    with torch.no_grad():
        return [obj(x).numpy()]


def _expected_shapes(kind: str, n: int) -> list[tuple[int, ...]]:
    return {
        "mlp": [(10, 3)],
        "classifier_net": [(10, 3)],
        "response_net": [(10, 5)],
        "classifier": [(n, 2)],
        "response": [(n, 5), (n,)],
        "surrogate": [(n, 2), (n, 2, 5), (2,)],
    }[kind]


@pytest.mark.parametrize("kind", NETS + SURROGATES)
def test_output_shapes_and_dtypes(kind, surrogate, events):
    outs = _outputs(_obj(kind, surrogate), events)
    assert [o.shape for o in outs] == _expected_shapes(kind, len(events))
    for o in outs:
        assert np.all(np.isfinite(o))
        if kind in SURROGATES:
            assert o.dtype == np.float64
    if kind in ("classifier", "surrogate"):
        np.testing.assert_allclose(outs[0].sum(axis=1), 1.0, rtol=1e-12)


def _modules(kind: str, obj: Any) -> list[torch.nn.Module]:
    if isinstance(obj, SurrogateModel):
        return [obj.classifier.net] + [r.net for r in obj.responses.values() if r is not None]
    if isinstance(obj, ProcessClassifier | ProcessResponse):
        return [obj.net]
    return [obj]


@pytest.mark.parametrize("kind", NETS + SURROGATES)
def test_gradients_reach_every_parameter(kind, surrogate):
    obj = _obj(kind, surrogate)
    for net in _modules(kind, obj):
        net.zero_grad()
        x = torch.randn(32, net.n_inputs, generator=torch.Generator().manual_seed(1))
        (net(x) ** 2).sum().backward()
        for name, p in net.named_parameters():
            assert p.grad is not None, name
            assert torch.isfinite(p.grad).all(), name
            assert p.grad.abs().sum() > 0, f"no gradient reaches {name}"
        net.zero_grad()
    if isinstance(obj, SurrogateModel):
        nu = torch.tensor([0.4, -0.7], dtype=torch.float64, requires_grad=True)
        value = (obj.log_yield_torch(nu) + obj.monomials_torch(nu).sum()).sum()
        (grad,) = torch.autograd.grad(value, nu)
        assert torch.all(grad != 0)


@pytest.mark.parametrize("kind", NETS + SURROGATES)
def test_save_load_round_trip_identical(kind, surrogate, events, tmp_path):
    obj = _obj(kind, surrogate)
    path = save(obj, tmp_path / "model")
    again = load(path)
    assert type(again) is type(obj)
    for a, b in zip(_outputs(obj, events), _outputs(again, events), strict=True):
        np.testing.assert_array_equal(a, b)
    if isinstance(obj, SurrogateModel):
        assert again.nominal_yields == obj.nominal_yields
        assert again.feature_names == obj.feature_names
        np.testing.assert_array_equal(again.trained_range, obj.trained_range)
        assert again.region == obj.region
        assert again.nuisances == obj.nuisances


@pytest.mark.parametrize("kind", NETS)
def test_network_determinism_under_seed(kind):
    a, b = _net(kind), _net(kind)
    for (na, pa), (nb, pb) in zip(a.named_parameters(), b.named_parameters(), strict=True):
        assert na == nb
        assert torch.equal(pa, pb)


def test_training_determinism_under_seed(surrogate, events):
    again = _train(seed=0)
    other = _train(seed=1)
    for a, b in zip(_outputs(surrogate, events), _outputs(again, events), strict=True):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(_outputs(surrogate, events)[1], _outputs(other, events)[1])


def test_seeded_leaves_global_rng_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    with seeded(0):
        torch.rand(5)
    assert torch.equal(torch.rand(3), expected)


@pytest.mark.parametrize(
    ("builder", "outputs"),
    [(lambda: ResponseNet(4, 5), 5), (lambda: ClassifierNet(4, 2), 2)],
)
def test_response_starts_at_unity(builder: Callable[[], torch.nn.Module], outputs: int):
    net = builder()
    out = net(torch.randn(3, 4))
    assert out.shape == (3, outputs)
    if isinstance(net, ResponseNet):
        assert torch.all(out == 0)


def test_precompute_stacked_and_one_by_one_agree(surrogate, events):
    import dataclasses

    from unbinned.ml.response import ProcessResponse as PR

    stacked = surrogate.precompute(events)
    for j, p in enumerate(surrogate.processes):
        np.testing.assert_allclose(
            stacked.delta[:, j], surrogate.responses[p].delta(events), rtol=1e-5, atol=1e-6
        )
    np.testing.assert_allclose(
        stacked.fractions, surrogate.classifier.fractions(events), rtol=1e-5, atol=1e-7
    )
    # a response of another architecture forces the one-by-one path, exact per network
    with seeded(4):
        other = ResponseNet(surrogate.classifier.transform.n_outputs, 5, (7,), zero_last=False)
    resp = dataclasses.replace(surrogate.responses["sig"], net=other)
    assert isinstance(resp, PR)
    mixed = dataclasses.replace(surrogate, responses={**surrogate.responses, "sig": resp})
    out = mixed.precompute(events, batch_size=100)
    np.testing.assert_allclose(out.delta[:, 0], resp.delta(events), rtol=1e-6, atol=1e-7)


def test_precompute_with_a_response_of_its_own_preprocessing(surrogate, events):
    import dataclasses

    from unbinned.ml import FeatureTransform

    other = GaussianToySource(400, seed=8).nominal()
    tf = FeatureTransform.fit(other.feature_array(), other.feature_names)
    resp = dataclasses.replace(surrogate.responses["bkg"], transform=tf)
    model = dataclasses.replace(surrogate, responses={**surrogate.responses, "bkg": resp})
    out = model.precompute(events)
    np.testing.assert_allclose(out.delta[:, 1], resp.delta(events), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(
        out.fractions, surrogate.classifier.fractions(events), rtol=1e-6, atol=1e-9
    )
