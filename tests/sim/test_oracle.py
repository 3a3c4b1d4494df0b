"""Tests of the analytic oracle models (unbinned.sim.oracle)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from scipy import stats

from unbinned.exceptions import ConfigError, DataError, SchemaError
from unbinned.sim.oracle import (
    INFERNO_SETTINGS,
    INFERNO_SIGMA_S,
    GaussianConstraint,
    InfernoBenchmark,
    OracleModel,
    OracleSample,
    ResonanceModel,
    inferno_benchmark,
)

# ----------------------------------------------------------------------------- quadrature
# Per model: per feature (bin edges, maximum panel width, Gauss-Legendre order). The outer
# edges enclose all but ~1e-9 of every density at the nuisance points used below.
GRIDS = {
    "resonance_3d": [
        (np.linspace(50.0, 200.0, 11), 15.0, 8),
        (np.array([0.0, 15, 30, 45, 60, 80, 110, 160, 1000]), 20.0, 6),
        (np.linspace(-1.0, 1.0, 5), 0.5, 4),
    ],
    "inferno_3d": [
        (np.array([-12.0, -3, -1.5, -0.5, 0.5, 1.5, 3, 5, 16]), 1.5, 6),
        (np.array([-20.0, -4, -1, 0, 1, 4, 20]), 2.0, 6),
        (np.array([0.0, 0.1, 0.25, 0.5, 1.0, 10.0]), 0.4, 6),
    ],
}

NU_VARIED = {
    "resonance_3d": {"energy_scale": 1.04, "resolution": 0.8, "mix_frac": 0.4, "peak_norm": 1.0},
    "inferno_3d": {"r": 0.5, "lambda": 2.5, "b": 1100.0},
}
# points 0.1 (resonance: mix_frac) or 0.2 (INFERNO: r) away: negative control of the GOF test
NU_WRONG = {
    "resonance_3d": {"energy_scale": 1.04, "resolution": 0.8, "mix_frac": 0.5},
    "inferno_3d": {"r": 0.3, "lambda": 2.5},
}


def _panels(edges: np.ndarray, h: float, order: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    g, gw = np.polynomial.legendre.leggauss(order)
    xs, ws, starts, count = [], [], [], 0
    for a, b in itertools.pairwise(edges):
        starts.append(count)
        cuts = np.linspace(a, b, max(1, math.ceil((b - a) / h)) + 1)
        for pa, pb in itertools.pairwise(cuts):
            xs.append(0.5 * (pb - pa) * g + 0.5 * (pa + pb))
            ws.append(0.5 * (pb - pa) * gw)
            count += order
    return np.concatenate(xs), np.concatenate(ws), np.array(starts)


def bin_probabilities(model: OracleModel, process: str, nu: dict | None) -> np.ndarray:
    """Integrate the exact density over every bin of the model's grid (tensor Gauss-Legendre)."""
    nodes = [_panels(*spec) for spec in GRIDS[model.name]]
    mesh = np.meshgrid(*[n[0] for n in nodes], indexing="ij")
    x = np.stack([m.ravel() for m in mesh], axis=1)
    dens = np.exp(model.log_density(x, process, nu)).reshape(mesh[0].shape)
    w = nodes[0][1][:, None, None] * nodes[1][1][None, :, None] * nodes[2][1][None, None, :]
    prob = dens * w
    for axis, n in enumerate(nodes):
        prob = np.add.reduceat(prob, n[2], axis=axis)
    return prob


def chi2_pvalue(model: OracleModel, x: np.ndarray, prob: np.ndarray) -> float:
    """Pearson chi2 p-value of a histogram of x against the integrated density."""
    edges = [spec[0] for spec in GRIDS[model.name]]
    counts, _ = np.histogramdd(x, bins=edges)
    n = len(x)
    expected = prob * n
    small = expected < 10
    obs = np.append(counts[~small], counts[small].sum() + (n - counts.sum()))
    exp = np.append(expected[~small], expected[small].sum() + n * (1 - prob.sum()))
    if exp[-1] < 10:  # pooled bin too small for chi2: require it to be (nearly) empty instead
        assert obs[-1] <= exp[-1] + 5 * math.sqrt(exp[-1]) + 3
        obs, exp = obs[:-1], exp[:-1] * (obs[:-1].sum() / exp[:-1].sum())
    chi2 = float(np.sum((obs - exp) ** 2 / exp))
    return float(stats.chi2.sf(chi2, len(obs) - 1))


@pytest.fixture(scope="module")
def resonance() -> ResonanceModel:
    return ResonanceModel()


@pytest.fixture(scope="module")
def inferno() -> InfernoBenchmark:
    return InfernoBenchmark(setting=4)


@pytest.fixture(params=["resonance", "inferno"])
def model(request: pytest.FixtureRequest) -> OracleModel:
    return request.getfixturevalue(request.param)


# ----------------------------------------------------------------------------- normalisation
@pytest.mark.parametrize("varied", [False, True])
def test_densities_integrate_to_one(model: OracleModel, varied: bool) -> None:
    nu = NU_VARIED[model.name] if varied else None
    for process in model.processes:
        total = bin_probabilities(model, process, nu).sum()
        assert total == pytest.approx(1.0, abs=2e-6), (process, total)


def test_sampler_agrees_with_density(model: OracleModel) -> None:
    nu = NU_VARIED[model.name]
    for i, process in enumerate(model.processes):
        sample = model.sample_process(process, 40_000, nu, seed=100 + i)
        p = chi2_pvalue(model, sample.x, bin_probabilities(model, process, nu))
        assert p > 1e-3, (process, p)


def test_goodness_of_fit_has_power(model: OracleModel) -> None:
    process = model.processes[-1]
    sample = model.sample_process(process, 40_000, NU_VARIED[model.name], seed=7)
    p = chi2_pvalue(model, sample.x, bin_probabilities(model, process, NU_WRONG[model.name]))
    assert p < 1e-10


def test_vary_gives_exact_samples_of_the_same_events(model: OracleModel) -> None:
    nu = NU_VARIED[model.name]
    process = model.processes[-1]
    nominal = model.sample_process(process, 40_000, seed=11)
    varied = model.vary(nominal, nu)
    assert np.array_equal(varied.latent, nominal.latent)
    assert dict(varied.nu) == {**model.nominal, **nu}
    assert chi2_pvalue(model, varied.x, bin_probabilities(model, process, nu)) > 1e-3
    back = model.vary(varied, None)
    np.testing.assert_array_equal(back.x, nominal.x)


def test_vary_is_smooth_for_scale_and_width(resonance: ResonanceModel) -> None:
    sample = resonance.sample_process("signal", 1000, seed=3)
    shifted = resonance.vary(sample, {"energy_scale": 1.02})
    # quantile matching inside the window: nearly x -> k x (the signal acceptance is ~1)
    np.testing.assert_allclose(shifted.x[:, :2], 1.02 * sample.x[:, :2], rtol=1e-6)
    np.testing.assert_array_equal(shifted.x[:, 2], sample.x[:, 2])
    order = np.argsort(sample.x[:, 0])
    assert np.all(np.diff(shifted.x[order, 0]) >= 0)  # monotone
    wider = resonance.vary(sample, {"resolution": 1.3})
    centre = 125.0
    assert np.all(np.abs(wider.x[:, 0] - centre) >= np.abs(sample.x[:, 0] - centre) - 1e-9)
    inferno = InfernoBenchmark(2)
    bkg = inferno.sample_process("background", 1000, seed=4)
    moved = inferno.vary(bkg, {"r": 0.3, "lambda": 2.0})
    np.testing.assert_allclose(moved.x[:, 0], bkg.x[:, 0] + 0.3, rtol=1e-12)
    np.testing.assert_allclose(moved.x[:, 2], bkg.x[:, 2] * 3.0 / 2.0, rtol=1e-12)


def test_simulate_variations(model: OracleModel) -> None:
    process = model.processes[-1]
    nu = NU_VARIED[model.name]
    nominal, varied = model.simulate_variations(process, 120_000, [None, nu], seed=31)
    # each is an exact sample of the varied density ...
    assert chi2_pvalue(model, varied.x, bin_probabilities(model, process, nu)) > 1e-3
    # ... its summed weights estimate n_p^0 Y_p(nu) (rate factors excluded) ...
    n0 = model.expected_yields()[process]
    for sample, point in ((nominal, None), (varied, nu)):
        expected = n0 * model.yield_ratio(process, point)
        n_sel = len(sample)
        assert sample.weights.sum() == pytest.approx(expected, rel=4 / math.sqrt(n_sel))
    # ... and the same generated events are paired by event_index
    common, i_nom, i_var = np.intersect1d(
        nominal.event_index, varied.event_index, return_indices=True
    )
    assert len(common) > 0.3 * len(nominal)
    if model.name == "resonance_3d":
        k = nu["energy_scale"]
        # the mixture fraction moves some events to the other component, the rest keep cos_theta
        same_comp = np.isclose(varied.x[i_var, 2], nominal.x[i_nom, 2])
        assert np.mean(same_comp) > 0.7
        scale_only = model.simulate_variations("signal", 1000, [None, {"energy_scale": k}], seed=2)
        a, b = scale_only
        _, ia, ib = np.intersect1d(a.event_index, b.event_index, return_indices=True)
        np.testing.assert_allclose(b.x[ib, :2], k * a.x[ia, :2], rtol=1e-12)
    else:
        np.testing.assert_allclose(varied.x[i_var, 0], nominal.x[i_nom, 0] + 0.5, rtol=1e-12)


# ----------------------------------------------------------------------------- exact formulas
def test_densities_match_scipy(resonance: ResonanceModel) -> None:
    inferno = InfernoBenchmark(1)
    x = inferno.sample(seed=5).x
    nu = {"r": 0.3, "lambda": 2.2}
    ref_b = (
        stats.norm.logpdf(x[:, 0], 2.3, math.sqrt(5))
        + stats.norm.logpdf(x[:, 1], 0, 3)
        + stats.expon.logpdf(x[:, 2], scale=1 / 2.2)
    )
    ref_s = (
        stats.norm.logpdf(x[:, 0])
        + stats.norm.logpdf(x[:, 1])
        + stats.expon.logpdf(x[:, 2], scale=0.5)
    )
    np.testing.assert_allclose(inferno.log_density(x, "background", nu), ref_b, rtol=1e-12)
    np.testing.assert_allclose(inferno.log_density(x, "signal", nu), ref_s, rtol=1e-12)

    k, w = 1.03, 1.2
    xr = resonance.sample(seed=6).x
    sd = 12.5 * k * w
    trunc = stats.truncnorm((50 - 125 * k) / sd, (200 - 125 * k) / sd, loc=125 * k, scale=sd)
    ref = trunc.logpdf(xr[:, 0]) + stats.gamma.logpdf(xr[:, 1], 4, scale=12 * k) + math.log(0.5)
    got = resonance.log_density(xr, "signal", {"energy_scale": k, "resolution": w})
    np.testing.assert_allclose(got, ref, rtol=1e-10)


def test_yield_ratio_is_the_window_acceptance(resonance: ResonanceModel) -> None:
    k, f = 1.05, 0.5
    nu = {"energy_scale": k, "mix_frac": f}

    def acc(tau: float, scale: float) -> float:
        return stats.expon.cdf(200 / scale, scale=tau) - stats.expon.cdf(50 / scale, scale=tau)

    ratio = (f * acc(30, k) + (1 - f) * acc(80, k)) / (0.6 * acc(30, 1) + 0.4 * acc(80, 1))
    assert resonance.yield_ratio("cont_bkg", nu) == pytest.approx(ratio, rel=1e-12)
    yields = resonance.expected_yields(2.0, {**nu, "cont_norm": 1.1, "peak_norm": -1.0})
    assert yields["cont_bkg"] == pytest.approx(6000 * 1.1 * ratio, rel=1e-12)
    assert yields["peak_bkg"] == pytest.approx(
        3000 / 1.1 * resonance.yield_ratio("peak_bkg", nu), rel=1e-12
    )
    assert yields["signal"] == pytest.approx(400 * resonance.yield_ratio("signal", nu), rel=1e-12)
    # the window acceptance of the continuum is what the sampler realises: count what falls inside
    rng = np.random.default_rng(8)
    n = 400_000
    steep = rng.random(n) < f
    m = k * np.where(steep, rng.exponential(30, n), rng.exponential(80, n))
    inside = np.mean((m >= 50) & (m <= 200))
    assert inside == pytest.approx(f * acc(30, k) + (1 - f) * acc(80, k), abs=4e-3)


def test_log_ratio_definitions(model: OracleModel) -> None:
    nu = NU_VARIED[model.name]
    x = model.sample(seed=9).x
    for process in model.processes:
        assert np.all(model.log_ratio(x, process, None) == 0.0)
        expected = model.log_density(x, process, nu) - model.log_density(x, process, None)
        np.testing.assert_allclose(model.log_shape_ratio(x, process, nu), expected, atol=1e-12)
        lr = model.log_ratio(x, process, nu)
        np.testing.assert_allclose(
            lr, expected + math.log(model.yield_ratio(process, nu)), atol=1e-12
        )
        # Y_p = n_p(ν)/n_p(ν0) with the analytic rate factors divided out
        y = model.expected_yields(1.0, nu)[process] / model.rate_factors(1.0, nu)[process]
        assert model.yield_ratio(process, nu) == pytest.approx(y / model.expected_yields()[process])


def test_fractions(model: OracleModel) -> None:
    x = model.sample(seed=10).x[:500]
    c = model.fractions(x)
    np.testing.assert_allclose(c.sum(axis=1), 1.0, atol=1e-12)
    dens = np.exp(model.log_densities(x)) * np.array(list(model.expected_yields().values()))
    np.testing.assert_allclose(c, dens / dens.sum(axis=1, keepdims=True), rtol=1e-10)
    c2 = model.fractions(x, mu=2.0)
    assert np.all(c2[:, 0] > c[:, 0])


def test_reweighting_is_exact(resonance: ResonanceModel) -> None:
    nu = {"mix_frac": 0.4, "energy_scale": 1.03}
    nominal = resonance.sample_process("cont_bkg", 100_000, seed=12)
    w = resonance.reweight(nominal, nu)
    assert w.mean() == pytest.approx(1.0, abs=0.02)
    varied = resonance.sample_process("cont_bkg", 100_000, nu, seed=13)
    for j in range(3):
        assert np.average(nominal.x[:, j], weights=w) == pytest.approx(
            varied.x[:, j].mean(), abs=4 * varied.x[:, j].std() / math.sqrt(len(w)) * 1.5
        )
    wy = resonance.reweight(nominal, nu, include_yield=True)
    np.testing.assert_allclose(wy, w * resonance.yield_ratio("cont_bkg", nu), rtol=1e-12)


# ----------------------------------------------------------------------------- likelihood
def test_nll_numpy_matches_torch_and_gradient(model: OracleModel) -> None:
    data = model.sample(1.5, NU_VARIED[model.name], seed=14)
    p0 = model.initial_parameters()
    p0[0] = 1.3
    if model.name == "resonance_3d":
        p0[1:] = [1.01, 0.9, 0.5, 0.3, 1.02]
    else:
        p0[1:] = [0.2, 2.8, 1050.0]
    q_np = model.nll(p0, data.x)
    pt = torch.tensor(p0, requires_grad=True)
    q_t = model.nll_torch(pt, torch.as_tensor(data.x))
    assert q_t.dtype == torch.float64
    assert q_t.item() == pytest.approx(q_np, rel=1e-12)
    (grad,) = torch.autograd.grad(q_t, pt)
    fd = np.empty_like(p0)
    for j in range(len(p0)):
        h = 1e-6 * max(1.0, abs(p0[j]))
        up, down = p0.copy(), p0.copy()
        up[j] += h
        down[j] -= h
        fd[j] = (model.nll(up, data.x) - model.nll(down, data.x)) / (2 * h)
    np.testing.assert_allclose(grad.numpy(), fd, rtol=1e-5, atol=1e-3)
    # dict input, weights and OracleSample input give the same numbers
    named = model.params_to_dict(p0)
    assert model.nll(named, data) == pytest.approx(q_np, rel=1e-14)
    assert float(model.nll_torch(named, data.x, np.ones(len(data)))) == pytest.approx(
        q_np, rel=1e-12
    )


def test_nll_formula(inferno: InfernoBenchmark) -> None:
    data = inferno.sample(seed=15)
    w = np.random.default_rng(0).uniform(0.5, 2.0, len(data))
    point = {"mu": 0.8, "r": 0.1, "lambda": 3.3, "b": 980.0}
    n = inferno.expected_yields(0.8, {k: v for k, v in point.items() if k != "mu"})
    nu = {k: v for k, v in point.items() if k != "mu"}
    dens = sum(n[p] * np.exp(inferno.log_density(data.x, p, nu)) for p in inferno.processes)
    pen = (0.1 / 0.4) ** 2 + (0.3 / 1.0) ** 2 + (20 / 100) ** 2
    expected = 2 * (sum(n.values()) - np.sum(w * np.log(dens))) + pen
    assert inferno.nll(point, data.x, w) == pytest.approx(expected, rel=1e-12)
    assert inferno.penalty(nu) == pytest.approx(pen)
    assert inferno.nll(point, data.x[:0]) == pytest.approx(2 * sum(n.values()) + pen)


def test_asimov_weights_and_score_at_truth(resonance: ResonanceModel) -> None:
    nu = {"energy_scale": 1.01, "mix_frac": 0.55}
    asimov = resonance.asimov(1.2, nu, n_per_process=2**13, seed=1)
    for i, n_p in enumerate(resonance.expected_yields(1.2, nu).values()):
        assert asimov.weights[asimov.process == i].sum() == pytest.approx(n_p, rel=1e-12)
    full = {**resonance.nominal, **nu}
    pt = torch.tensor([1.2] + [full[k] for k in resonance.free_nuisances], requires_grad=True)
    # without constraints the true point is the Asimov minimum: the score vanishes there,
    # which holds only if the yields n_p(mu, nu) are consistent with the densities
    free = ResonanceModel(constraints={})
    (grad,) = torch.autograd.grad(free.nll_torch(pt, asimov), pt)
    names, fisher = free.fisher_information(1.2, nu, n_per_process=2**13, seed=2)
    cov = np.linalg.inv(fisher)
    shift = -cov @ (0.5 * grad.numpy())  # Newton step to the Asimov MLE
    pulls = shift / np.sqrt(np.diag(cov))
    assert np.all(np.abs(pulls) < 0.1), dict(zip(names, pulls, strict=True))


# ----------------------------------------------------------------------------- INFERNO
def test_inferno_settings_and_reference_numbers() -> None:
    assert set(INFERNO_SETTINGS) == {0, 1, 2, 3, 4}
    free = {s: inferno_benchmark(s).free_nuisances for s in range(5)}
    assert free == {
        0: (),
        1: ("r",),
        2: ("r", "lambda"),
        3: ("r", "lambda"),
        4: ("r", "lambda", "b"),
    }
    assert inferno_benchmark(2).constraints == {}
    m4 = inferno_benchmark(4)
    assert m4.constraints == {
        "r": GaussianConstraint(0.0, 0.4),
        "lambda": GaussianConstraint(3.0, 1.0),
        "b": GaussianConstraint(1000.0, 100.0),
    }
    assert set(inferno_benchmark(3).constraints) == {"r", "lambda"}
    assert m4.expected_yields() == {"signal": 50.0, "background": 1000.0}
    assert m4.nominal == {"r": 0.0, "lambda": 3.0, "b": 1000.0}
    assert m4.parameter_names == ("mu", "r", "lambda", "b")
    assert INFERNO_SIGMA_S["analytical_likelihood"] == (14.71, 15.52, 15.65, 15.62, 16.89)
    assert INFERNO_SIGMA_S["nn_classifier"][4] == 26.71
    assert INFERNO_SIGMA_S["inferno"][4] == 18.68
    assert m4.reference_sigma_s["analytical_likelihood"] == 16.89


@pytest.mark.parametrize("setting", range(5))
def test_inferno_fisher_reproduces_the_paper(setting: int) -> None:
    model = inferno_benchmark(setting)
    _, fisher = model.fisher_information(n_per_process=2**15, seed=setting)
    sigma_s = 50.0 * math.sqrt(np.linalg.inv(fisher)[0, 0])
    assert sigma_s == pytest.approx(INFERNO_SIGMA_S["analytical_likelihood"][setting], rel=4e-3)


def test_inferno_text_variant_differs() -> None:
    model = InfernoBenchmark(0, signal_mean=(1.0, 1.0))
    _, fisher = model.fisher_information(n_per_process=2**14)
    assert 50.0 * math.sqrt(1.0 / fisher[0, 0]) == pytest.approx(16.13, abs=0.1)


# ----------------------------------------------------------------------------- sampling API
def test_sample_counts_and_reproducibility(model: OracleModel) -> None:
    a = model.sample(seed=21)
    b = model.sample(seed=21)
    np.testing.assert_array_equal(a.x, b.x)
    total = sum(model.expected_yields().values())
    assert abs(len(a) - total) < 5 * math.sqrt(total)
    fixed = model.sample(2.0, n_events=1234, seed=22)
    assert len(fixed) == 1234
    assert np.all(fixed.weights == 1.0)
    assert fixed.process_names == model.processes
    assert "OracleSample(n_events=1234" in repr(fixed)
    sig = fixed.select(model.signal_process)
    assert np.all(sig.process == 0)
    assert np.all(np.isfinite(model.log_densities(fixed)))


def test_to_events(resonance: ResonanceModel) -> None:
    pytest.importorskip("unbinned.data", reason="unbinned.data.EventSet is not available yet")
    from unbinned.data import EventSet

    if not hasattr(EventSet, "from_numpy"):
        pytest.skip("EventSet.from_numpy is not available yet")
    sample = resonance.sample(n_events=300, seed=23)
    events = sample.to_events()
    assert isinstance(events, EventSet)
    assert len(events) == 300


# ----------------------------------------------------------------------------- bad input
def test_bad_inputs(resonance: ResonanceModel) -> None:
    x = resonance.sample(n_events=50, seed=24).x
    with pytest.raises(DataError, match="2D"):
        resonance.log_density(x[:, 0], "signal")
    with pytest.raises(SchemaError, match="expected 3"):
        resonance.log_density(x[:, :2], "signal")
    with pytest.raises(TypeError, match="numpy array"):
        resonance.log_density(x.tolist(), "signal")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="unknown process 'higgs'"):
        resonance.log_density(x, "higgs")
    with pytest.raises(ConfigError, match="outside its allowed range"):
        resonance.log_density(x, "signal", {"energy_scale": 1.5})
    with pytest.raises(ConfigError, match="unknown nuisance 'jes'"):
        resonance.expected_yields(1.0, {"jes": 1.0})
    with pytest.raises(ConfigError, match="outside its allowed range"):
        resonance.nll_torch({"mix_frac": torch.tensor(1.2)}, x)
    with pytest.raises(ConfigError, match="parameter vector has shape"):
        resonance.nll(np.ones(3), x)
    bad = x.copy()
    bad[0, 0] = 20.0
    with pytest.raises(DataError, match="outside the support"):
        resonance.nll({}, bad)
    with pytest.raises(DataError, match="outside the support"):
        resonance.nll_torch({}, bad)
    nan = x.copy()
    nan[1, 1] = np.nan
    with pytest.raises(DataError, match="NaN"):
        resonance.nll({}, nan)
    with pytest.raises(DataError, match="weights have shape"):
        resonance.nll({}, x, np.ones(3))
    assert np.all(np.isneginf(resonance.log_densities(bad)[0]))
    with pytest.raises(ConfigError, match="setting 7"):
        InfernoBenchmark(7)
    with pytest.raises(ConfigError, match="unknown nuisance"):
        ResonanceModel(free=("energy_scale", "tes"))
    with pytest.raises(TypeError, match="GaussianConstraint"):
        ResonanceModel(constraints={"resolution": (1.0, 0.1)})  # type: ignore[dict-item]
    hand = OracleSample(x, np.zeros(len(x), dtype=np.int64), np.ones(len(x)), ("a",), ("b",))
    with pytest.raises(DataError, match="no latent"):
        resonance.vary(hand, {"energy_scale": 1.01})
