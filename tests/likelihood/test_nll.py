from __future__ import annotations

import numpy as np
import pytest

from _models import gaussian_location, two_process
from unbinned.exceptions import ConfigError, DataError
from unbinned.likelihood import CountingRegion, EventTensors, Likelihood, UnbinnedRegion
from unbinned.model import ModelSpec


def _fd_grad(f, x, h=1e-6):
    g = np.zeros_like(x)
    for i in range(x.size):
        e = np.zeros_like(x)
        e[i] = h
        g[i] = (f(x + e) - f(x - e)) / (2 * h)
    return g


def test_gradient_and_hessian_match_finite_differences():
    lik = two_process()
    x = np.array([1.3, 0.4, 1.02])
    assert np.allclose(lik.grad(x), _fd_grad(lik, x), rtol=1e-6, atol=1e-5)
    h = lik.hessian(x)
    h_fd = np.stack([_fd_grad(lambda y, i=i: lik.grad(y)[i], x, 1e-5) for i in range(3)])
    assert np.allclose(h, h.T)
    assert np.allclose(h, h_fd, rtol=1e-5, atol=1e-4)


def test_powered_shape_parameter_enters_as_its_square():
    """ν = alpha² (ShapeParameter.power = 2): same event terms as ν = alpha at alpha²."""
    linear, squared = two_process(), two_process(power=2)
    x = np.array([1.3, 0.7, 1.02])
    # the Gaussian constraint of alpha (width 1) is alpha²; remove it from both
    assert squared(x) - 0.7**2 == pytest.approx(linear([1.3, 0.49, 1.02]) - 0.49**2, rel=1e-12)
    assert np.allclose(squared.grad(x), _fd_grad(squared, x), rtol=1e-6, atol=1e-5)
    h = squared.hessian(x)
    h_fd = np.stack([_fd_grad(lambda y, i=i: squared.grad(y)[i], x, 1e-5) for i in range(3)])
    assert np.allclose(h, h_fd, rtol=1e-5, atol=1e-4)


def test_gaussian_location_is_quadratic():
    lik, x = gaussian_location()
    n = x.size
    q0 = lik(np.array([x.mean()]))
    for m in (-0.2, 0.1, 0.7):
        assert lik(np.array([m])) - q0 == pytest.approx(n * (m - x.mean()) ** 2, rel=1e-9)


def test_empty_region_contributes_expected_yield_only():
    lik = two_process()
    sr = lik.regions[0]
    empty = UnbinnedRegion(
        "sr",
        sr.processes,
        sr.data.select(np.zeros(sr.data.n_events, bool)),
        integration=sr.integration,
        response=sr.response,
    )
    lik0 = Likelihood(lik.spec, [empty, lik.regions[1]])
    x = lik.vector()
    expected = lik0.expected_yields(x)["sr"].sum()
    only_cr = Likelihood(lik.spec, [lik.regions[1]])
    assert lik0(x) == pytest.approx(2 * expected + only_cr(x))
    assert np.all(np.isfinite(lik0.grad(x)))


def test_zero_weight_nan_and_bounds_are_errors():
    with pytest.raises(DataError, match="zero total weight"):
        UnbinnedRegion(
            "r", ("p",), EventTensors(np.ones((3, 1)), np.zeros(3)), nominal_yields=np.array([1.0])
        )
    with pytest.raises(DataError, match="NaN or infinite"):
        EventTensors(np.array([[np.nan], [1.0]]), np.ones(2))
    lik = two_process()
    with pytest.raises(DataError, match="'bnorm' = 3.0 is outside its bounds"):
        lik(np.array([1.0, 0.0, 3.0]))
    with pytest.raises(DataError, match="expected 3 parameter values"):
        lik(np.array([1.0]))


def test_declaration_mismatches_are_named():
    spec = two_process().spec
    with pytest.raises(ConfigError, match="region 'nope' is not declared"):
        Likelihood(spec, [CountingRegion("nope", ("s", "b"), 1.0, np.ones(2))])
    with pytest.raises(ConfigError, match="declared unbinned but given as counting"):
        Likelihood(spec, [CountingRegion("sr", ("s", "b"), 1.0, np.ones(2))])
    with pytest.raises(ConfigError, match=r"process\(es\) \['x'\] are not declared"):
        Likelihood(spec, [CountingRegion("cr", ("s", "x"), 1.0, np.ones(2))])


def test_asimov_fit_point_is_stationary():
    lik = two_process()
    truth = {"mu": 1.7, "alpha": 0.5, "bnorm": 1.03}
    asimov = lik.asimov(truth)
    g = asimov.grad(asimov.vector(truth))
    # the constraint terms pull towards the nominal; the data terms are stationary
    expected = np.array([0.0, 2 * 0.5, 2 * 0.03 / 0.05**2])
    assert np.allclose(g, expected, atol=1e-8)


def test_spec_yaml_round_trip_and_errors(tmp_path):
    spec = two_process().spec
    path = tmp_path / "m.yaml"
    path.write_text(spec.to_yaml())
    assert ModelSpec.from_yaml(path) == spec
    bad = spec.model_dump(mode="json")
    bad["nuisances"][1]["width"] = -1
    with pytest.raises(ConfigError, match=r"nuisances\.1.*positive 'width'"):
        ModelSpec.from_dict(bad)
    bad = spec.model_dump(mode="json")
    bad["processes"][0]["modifiers"][0]["parameter"] = "nu"
    with pytest.raises(ConfigError, match="modifier parameter 'nu' is not declared"):
        ModelSpec.from_dict(bad)
    bad = spec.model_dump(mode="json")
    bad["pois"][0]["colour"] = "red"
    with pytest.raises(ConfigError, match=r"pois\.0\.colour: Extra inputs are not permitted"):
        ModelSpec.from_dict(bad)


@pytest.mark.parametrize("mode", ["integration", "nominal", "normalised"])
def test_closed_form_derivatives_equal_autodiff(mode):
    import dataclasses

    import torch

    lik = two_process()
    if mode == "normalised":
        sr = dataclasses.replace(lik.regions[0], normalised=True)
        lik = Likelihood(lik.spec, [sr, lik.regions[1]])
    if mode == "nominal":
        sr = lik.regions[0]
        nominal = np.array([100.0, 450.0])
        sr = UnbinnedRegion(
            "sr", sr.processes, sr.data, nominal_yields=nominal, response=sr.response
        )
        lik = Likelihood(lik.spec, [sr, lik.regions[1]])
    x = np.array([1.3, 0.4, 1.02])
    t = torch.tensor(x, requires_grad=True)
    q = lik.q_torch(t)
    (g,) = torch.autograd.grad(q, t)
    h = torch.autograd.functional.hessian(lik.q_torch, torch.tensor(x)).numpy()
    val, grad = lik.value_and_grad(x)
    assert val == pytest.approx(float(q.detach()), rel=1e-12)
    assert lik(x + 1e-3) == pytest.approx(float(lik.q_torch(torch.tensor(x + 1e-3))), rel=1e-12)
    np.testing.assert_allclose(grad, g.numpy(), rtol=1e-10, atol=1e-9)
    np.testing.assert_allclose(lik.hessian(x), h, rtol=1e-10, atol=1e-8)


def test_normalised_region_yields_follow_the_yield_model():
    import dataclasses

    lik = two_process()
    sr = dataclasses.replace(lik.regions[0], normalised=True)
    norm = Likelihood(lik.spec, [sr, lik.regions[1]])
    x = np.array([1.3, 0.4, 1.02])
    s_p = sr.integration.fractions.T @ sr.integration.weights
    resp = sr.response
    nu = 0.4
    y = np.exp(np.array(resp.a) * nu + np.array(resp.b) * nu**2)
    expected = norm.expected_yields(x)["sr"]
    np.testing.assert_allclose(expected, np.array([1.3, 1.02]) * y * s_p, rtol=1e-12)
    # the Asimov dataset of a normalised region holds exactly the expected events
    asimov = norm.asimov(x)
    assert asimov.regions[0].data.sum_weights == pytest.approx(expected.sum(), rel=1e-12)
    # at the nominal point the normalised and the plain integrated model coincide
    x0 = lik.vector({"alpha": 0.0})
    assert norm(x0) == pytest.approx(lik(x0), rel=1e-12)


def test_integration_moments_reproduce_the_event_sums():
    import dataclasses

    import torch

    from unbinned.likelihood.moments import MomentAccumulator

    lik = two_process()
    sr = dataclasses.replace(lik.regions[0], normalised=True)
    exact = Likelihood(lik.spec, [sr, lik.regions[1]])
    acc = MomentAccumulator()
    integ = sr.integration
    half = integ.n_events // 2
    acc.set_test_points([[0.5, 0.25], [-1.0, 1.0]])
    acc.add(integ.select(np.arange(integ.n_events) < half), keep=1.0)
    acc.add(integ.select(np.arange(integ.n_events) >= half), keep=1.0)
    moments = acc.result()
    assert moments.max_rel_error < 1e-6
    comp = Likelihood(lik.spec, [dataclasses.replace(sr, integration=moments), lik.regions[1]])
    x = np.array([1.3, 0.4, 1.02])
    v1, g1 = exact.value_and_grad(x)
    v2, g2 = comp.value_and_grad(x)
    assert v2 == pytest.approx(v1, rel=1e-9)
    np.testing.assert_allclose(g2, g1, rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(comp.hessian(x), exact.hessian(x), rtol=1e-4, atol=1e-2)
    # closed form = autodiff of the same (series) model
    h = torch.autograd.functional.hessian(comp.q_torch, torch.tensor(x)).numpy()
    np.testing.assert_allclose(comp.hessian(x), h, rtol=1e-9, atol=1e-7)
    # the Asimov dataset uses the kept sample
    assert comp.asimov(x).regions[0].data.n_events == integ.n_events
    with pytest.raises(ConfigError, match="normalised=True"):
        dataclasses.replace(sr, integration=moments, normalised=False)


@pytest.mark.parametrize("mode", ["integration", "normalised"])
def test_blocked_pass_equals_autodiff_over_many_blocks(mode, monkeypatch):
    """The fused pass over many small blocks (a last partial one) = autodiff of q_torch."""
    import dataclasses

    import torch

    from unbinned.likelihood import _events

    monkeypatch.setattr(_events, "CHUNK", 7)
    lik = two_process()
    if mode == "normalised":
        sr = dataclasses.replace(lik.regions[0], normalised=True)
        lik = Likelihood(lik.spec, [sr, lik.regions[1]])
    assert len(lik._compiled[0].data_sum.bounds) > 3
    assert lik.regions[0].data.n_events % 7 != 0
    x = np.array([1.3, 0.4, 1.02])
    h = torch.autograd.functional.hessian(lik.q_torch, torch.tensor(x)).numpy()
    t = torch.tensor(x, requires_grad=True)
    (g,) = torch.autograd.grad(lik.q_torch(t), t)
    val, grad, hess = lik.evaluate(x, 2)
    assert val == pytest.approx(float(lik.q_torch(torch.tensor(x))), rel=1e-12)
    np.testing.assert_allclose(grad, g.numpy(), rtol=1e-10, atol=1e-9)
    np.testing.assert_allclose(hess, h, rtol=1e-10, atol=1e-8)


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_pass_shared_by_threads_equals_one_thread(threads, monkeypatch):
    """The blocks split into one share per torch thread (a pool): the same sums as one thread."""
    import torch

    from unbinned.likelihood import _events

    monkeypatch.setattr(_events, "CHUNK", 5)
    lik = two_process()
    x = np.array([1.3, 0.4, 1.02])
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        ref = lik._evaluate(x, 2)
        torch.set_num_threads(threads)
        out = lik._evaluate(x, 2)
        assert torch.get_num_threads() == threads  # the workers' setting stays theirs
    finally:
        torch.set_num_threads(before)
    assert out[0] == pytest.approx(ref[0], rel=1e-14)
    np.testing.assert_allclose(out[1], ref[1], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(out[2], ref[2], rtol=1e-12, atol=1e-10)
    if threads > 1:
        assert _events._POOLS[threads]._max_workers == threads


def test_passes_are_counted_by_order():
    lik = two_process()
    x = np.array([1.3, 0.4, 1.02])
    assert lik.n_passes == {0: 0, 1: 0, 2: 0}
    lik(x)
    lik.value_and_grad(x)
    lik.hessian(x)
    lik.hessian(x)  # the cached point: no new pass
    lik.value_and_grad(x)
    assert lik.n_passes == {0: 1, 1: 1, 2: 1}


def test_device_is_an_argument_and_checked():
    lik = two_process()
    x = np.array([1.3, 0.4, 1.02])
    on_cpu = Likelihood(lik.spec, lik.regions, device="cpu")
    assert on_cpu.evaluate(x, 2)[0] == lik.evaluate(x, 2)[0]
    with pytest.raises(ConfigError, match="not a torch device"):
        Likelihood(lik.spec, lik.regions, device="abacus")


@pytest.mark.gpu
def test_cuda_passes_equal_cpu():
    import torch

    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA device")
    lik = two_process()
    gpu = Likelihood(lik.spec, lik.regions, device="cuda")
    x = np.array([1.3, 0.4, 1.02])
    v1, g1, h1 = lik.evaluate(x, 2)
    v2, g2, h2 = gpu.evaluate(x, 2)
    assert v2 == pytest.approx(v1, rel=1e-12)
    np.testing.assert_allclose(g2, g1, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(h2, h1, rtol=1e-10, atol=1e-10)
