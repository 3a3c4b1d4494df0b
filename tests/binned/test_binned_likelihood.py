"""The binned Poisson likelihood: exact derivatives, fits and intervals with the shared engine."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
import torch

from unbinned.binned import BinnedLikelihood, RegionTemplates, Templates, build_templates
from unbinned.binned._toy import toy_problem
from unbinned.exceptions import ConfigError, DataError
from unbinned.infer import fit, profile_interval
from unbinned.likelihood import CountingRegion, Likelihood
from unbinned.model import ModelSpec


@dataclass(frozen=True)
class _Quartic:
    """A custom constraint: ((θ - 1)/0.05)² + ((θ - 1)/0.05)⁴."""

    name: str

    def penalty_torch(self, theta: torch.Tensor) -> torch.Tensor:
        z = (theta - 1.0) / 0.05
        return z**2 + z**4


def _rich_spec(spec: ModelSpec) -> ModelSpec:
    """The toy model plus a κ^θ modifier, a parameter on two processes and a free norm."""
    d = spec.model_dump(mode="json")
    d["nuisances"].append({"name": "lumi_like", "nominal": 0.0, "prior": "gaussian", "width": 1.0})
    d["nuisances"].append({"name": "z_norm", "nominal": 1.0, "prior": "free",
                           "bounds": [0.2, 5.0]})  # fmt: skip
    procs = {p["name"]: p for p in d["processes"]}
    for p in d["processes"]:
        p["modifiers"].append({"parameter": "lumi_like", "kind": "lognormal", "kappa": 1.05})
    procs["ztautau"]["modifiers"].append({"parameter": "z_norm"})
    procs["ttbar"]["modifiers"].append({"parameter": "diboson_scale"})
    return ModelSpec.from_dict(d)


@pytest.fixture(scope="module")
def toy() -> tuple[ModelSpec, Templates]:
    spec, nominal, variations = toy_problem(n_mc=600, seed=5)
    spec = _rich_spec(spec)
    return spec, build_templates(spec, nominal, variations, n_bins=8)


def _random_points(lik: BinnedLikelihood, n: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    x0 = lik.vector()
    scale = np.array([0.3 if k == "mu" else 0.05 if "scale" in k or "norm" in k else
                      0.5 if k == "lumi_like" else 0.02 for k in lik.parameter_names])  # fmt: skip
    scale[[i for i, k in enumerate(lik.parameter_names) if k in ("tes", "jes")]] = 0.015
    return [np.clip(x0 + scale * rng.normal(size=x0.size), lik._lo + 1e-6, lik._hi - 1e-6)
            for _ in range(n)]  # fmt: skip


@pytest.mark.parametrize("code", ["code0", "code4p"])
@pytest.mark.parametrize("staterror", [False, True])
def test_gradient_and_hessian_equal_torch_autodiff(
    toy: tuple[ModelSpec, Templates], code: str, staterror: bool
) -> None:
    spec, templates = toy
    lik = BinnedLikelihood(spec, templates, "asimov", interpolation=code, staterror=staterror,
                           constraints=[_Quartic("diboson_scale")])  # fmt: skip
    rng = np.random.default_rng(3)
    obs = {k: rng.poisson(v).astype(float) for k, v in lik.observed.items()}
    obs["low"][0] = 0.0  # an empty bin: n ln ν = 0
    lik = lik.with_observed(obs)
    for x in _random_points(lik, 3, seed=1):
        t = torch.tensor(x, dtype=torch.float64, requires_grad=True)
        q = lik.q_torch(t)
        (g,) = torch.autograd.grad(q, t)
        val, grad = lik.value_and_grad(x)
        assert val == pytest.approx(float(q.detach()), rel=1e-12, abs=1e-9)
        assert np.allclose(grad, g.numpy(), rtol=1e-10, atol=1e-8)
        h_auto = lik.hessian_autodiff(x)
        assert np.allclose(lik.hessian(x), h_auto, rtol=1e-10, atol=1e-8 * np.abs(h_auto).max())


def test_hessian_matches_finite_differences_of_the_gradient(
    toy: tuple[ModelSpec, Templates],
) -> None:
    spec, templates = toy
    lik = BinnedLikelihood(spec, templates, "asimov", interpolation="code4p")
    x = _random_points(lik, 1, seed=2)[0]
    h = lik.hessian(x)
    eps = 1e-6 * np.maximum(np.abs(x), 1e-2)
    fd = np.empty_like(h)
    for i in range(x.size):
        d = np.zeros_like(x)
        d[i] = eps[i]
        fd[:, i] = (lik.grad(x + d) - lik.grad(x - d)) / (2 * eps[i])
    assert np.allclose(h, fd, rtol=1e-5, atol=1e-5 * np.abs(h).max())


def test_asimov_is_minimal_at_its_point_and_the_fit_returns_it(
    toy: tuple[ModelSpec, Templates],
) -> None:
    spec, templates = toy
    lik = BinnedLikelihood(spec, templates, "asimov", interpolation="code4p")
    q0, g0 = lik.value_and_grad(lik.vector())
    assert q0 == pytest.approx(0.0, abs=1e-9)
    assert np.allclose(g0, 0.0, atol=1e-9)
    truth = lik.vector({"mu": 1.7, "tes": 1.004, "ttbar_scale": 0.97})
    asimov = lik.asimov(truth)
    assert asimov.observed["low"] == pytest.approx(lik.asimov_counts(truth)["low"])
    res = fit(asimov)
    assert res.valid
    # the prior pulls the nuisances back, so only μ-like directions are free: check q at truth
    assert res.fval <= asimov(truth) + 1e-9
    free = fit(asimov, fixed={k: v for k, v in asimov.values(truth).items() if k != "mu"})
    assert free.values["mu"] == pytest.approx(1.7, rel=1e-6)


def test_intervals_work_unchanged_scan_equals_minos(toy: tuple[ModelSpec, Templates]) -> None:
    spec, templates = toy
    lik = BinnedLikelihood(spec, templates, "asimov", interpolation="code4p")
    best = fit(lik)
    scan = profile_interval(lik, "mu", method="scan", best=best)
    minos = profile_interval(lik, "mu", method="minos", best=best)
    assert scan.valid
    assert minos.valid
    assert scan.lower == pytest.approx(minos.lower, abs=2e-3 * best.errors["mu"] + 1e-4)
    assert scan.upper == pytest.approx(minos.upper, abs=2e-3 * best.errors["mu"] + 1e-4)
    assert scan.width / 2 == pytest.approx(best.errors["mu"], rel=0.1)


def test_one_bin_regions_equal_the_counting_likelihood_of_the_engine() -> None:
    spec = ModelSpec.from_dict(
        {
            "pois": [{"name": "mu", "bounds": [0, 10]}],
            "nuisances": [
                {"name": "b1", "nominal": 1.0, "prior": "gaussian", "width": 0.1},
                {"name": "b2", "nominal": 1.0, "prior": "lognormal", "width": 0.2},
                {"name": "k", "nominal": 0.0, "prior": "gaussian", "width": 1.0},
            ],
            "processes": [
                {"name": "s", "signal": True, "modifiers": [{"parameter": "mu"}]},
                {"name": "x", "modifiers": [{"parameter": "b1"}, {"parameter": "k",
                                            "kind": "lognormal", "kappa": 1.1}]},
                {"name": "y", "modifiers": [{"parameter": "b2"}]},
            ],
            "regions": [{"name": "A", "kind": "counting"}, {"name": "B", "kind": "counting"}],
        }
    )  # fmt: skip
    yields = {"A": np.array([5.0, 20.0, 3.0]), "B": np.array([1.0, 8.0, 12.0])}
    observed = {"A": 31.0, "B": 19.0}
    engine = Likelihood(spec, [CountingRegion(r, ("s", "x", "y"), observed[r], yields[r])
                               for r in ("A", "B")])  # fmt: skip
    temps = Templates(tuple(RegionTemplates(r, np.array([0.0, 1.0]), ("s", "x", "y"),
                                            yields[r][:, None], yields[r][:, None])
                            for r in ("A", "B")))  # fmt: skip
    ours = BinnedLikelihood(spec, temps, {r: [observed[r]] for r in ("A", "B")})
    rng = np.random.default_rng(0)
    ref = ours.vector()
    for _ in range(4):
        x = ref + rng.normal(size=4) * [0.3, 0.05, 0.1, 0.5]
        assert ours(x) - ours(ref) == pytest.approx(engine(x) - engine(ref), rel=1e-10, abs=1e-10)
        assert np.allclose(ours.grad(x), engine.grad(x), rtol=1e-10, atol=1e-10)
        assert np.allclose(ours.hessian(x), engine.hessian(x), rtol=1e-9, atol=1e-9)


def test_staterror_parameters_extend_the_declaration(toy: tuple[ModelSpec, Templates]) -> None:
    spec, templates = toy
    lik = BinnedLikelihood(spec, templates, "asimov", staterror=True)
    n = lik.n_bins_total
    assert lik.npar == len(spec.parameter_names) + n
    assert lik.parameter_names[-1] == f"staterror_high[{templates.region('high').n_bins - 1}]"
    assert lik.declared_spec is spec
    gamma = lik.spec.nuisance("staterror_low[0]")
    low = templates.region("low")
    assert gamma.width == pytest.approx(np.sqrt(low.sumw2[:, 0].sum()) / low.nominal[:, 0].sum())
    x = lik.vector({"staterror_low[0]": 1.1})
    assert lik.asimov_counts(x)["low"][0] == pytest.approx(
        1.1 * lik.asimov_counts(lik.vector())["low"][0]
    )
    per_process = lik.expected(x)
    assert np.allclose(per_process["low"].sum(0), lik.asimov_counts(x)["low"])
    assert "staterror on" in repr(lik)


def test_bad_inputs_are_rejected(toy: tuple[ModelSpec, Templates]) -> None:
    spec, templates = toy
    lik = BinnedLikelihood(spec, templates, "asimov")
    with pytest.raises(ConfigError, match="expected exactly"):
        BinnedLikelihood(spec, templates, {"low": lik.observed["low"]})
    with pytest.raises(DataError, match="one per bin"):
        BinnedLikelihood(spec, templates, {"low": [1.0], "high": lik.observed["high"]})
    neg = {"low": -lik.observed["low"], "high": lik.observed["high"]}
    with pytest.raises(DataError, match="finite and >= 0"):
        BinnedLikelihood(spec, templates, neg)
    with pytest.raises(ConfigError, match="'asimov'"):
        BinnedLikelihood(spec, templates, "data")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="observed must be"):
        BinnedLikelihood(spec, templates, [1.0, 2.0])  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="unknown interpolation"):
        BinnedLikelihood(spec, templates, "asimov", interpolation="code1")
    with pytest.raises(DataError, match="outside its bounds"):
        lik(lik.vector({"mu": -1.0}))
    with pytest.raises(DataError, match="expected"):
        lik(np.ones(2))
    with pytest.raises(ConfigError, match="unknown parameter"):
        lik.vector({"nope": 1.0})
    no_jes = Templates(
        tuple(RegionTemplates(r.name, r.edges, r.processes, r.nominal, r.sumw2,
                              {"tes": r.down["tes"]}, {"tes": r.up["tes"]})
              for r in templates.regions),
        ("tes",),
    )  # fmt: skip
    with pytest.raises(ConfigError, match="have no templates"):
        BinnedLikelihood(spec, no_jes, "asimov")


def test_negative_expectation_gives_infinite_q(toy: tuple[ModelSpec, Templates]) -> None:
    spec, templates = toy
    r = templates.region("low")
    up = {k: np.where(np.arange(r.n_bins) == 0, -50 * r.nominal, r.up[k]) for k in r.up}
    low = RegionTemplates(r.name, r.edges, r.processes, r.nominal, r.sumw2, r.down, up)
    bad = Templates((low, templates.region("high")), templates.shape_nuisances)
    lik = BinnedLikelihood(spec, bad, "asimov")
    assert lik(lik.vector({"tes": 1.02})) == np.inf


def _signal_only_bin(fill: float = 0.0) -> BinnedLikelihood:
    """Two signals (a, b) and a background; the last bin holds signal only.

    ``fill``: the background's +1σ template of shape nuisance ``alpha`` in that bin.
    """
    spec = ModelSpec.from_dict(
        {
            "pois": [{"name": "mu_a", "bounds": [0, 5]}, {"name": "mu_b", "bounds": [0, 5]}],
            "nuisances": [
                {"name": "alpha", "nominal": 0.0, "width": 1.0, "bounds": [-3, 3],
                 "acts_on": "shape"},
                {"name": "bnorm", "nominal": 1.0, "width": 0.1, "bounds": [0.5, 1.5]},
            ],
            "processes": [
                {"name": "a", "signal": True, "modifiers": [{"parameter": "mu_a"}]},
                {"name": "b", "signal": True, "modifiers": [{"parameter": "mu_b"}]},
                {"name": "bkg", "modifiers": [{"parameter": "bnorm"}]},
            ],
            "regions": [{"name": "SR"}],
        }
    )  # fmt: skip
    nom = np.array([[2.0, 5.0, 4.0], [3.0, 1.0, 2.0], [50.0, 20.0, 0.0]])
    up, down = nom * 1.05, nom * 0.95
    up[2, 2] = fill
    region = RegionTemplates("SR", np.linspace(0, 1, 4), ("a", "b", "bkg"), nom, nom,
                             {"alpha": down}, {"alpha": up})  # fmt: skip
    temps = Templates((region,), ("alpha",), {"alpha": (-1.0, 1.0)})
    return BinnedLikelihood(spec, temps, "asimov")


def test_observed_events_no_process_can_fill_make_q_infinite_not_nan() -> None:
    """Regression: the binned 2-D scan at μ_a = μ_b = 0 was NaN (a failed fit started where
    q = +∞); the bin holding only signal has observed events and nothing can be expected
    there, so q = +∞ wherever the nuisances are, and Δq = +∞."""
    from unbinned.infer import profile_scan_2d

    lik = _signal_only_bin()
    assert lik.empty_bins({"mu_a": 0.0, "mu_b": 0.0}) == [("SR", 2)]
    assert lik.empty_bins({"mu_a": 0.0, "mu_b": 0.5}) == []
    r = fit(lik, fixed={"mu_a": 0.0, "mu_b": 0.0})
    assert r.fval == np.inf
    assert r.valid
    assert "bin(s) with observed events" in r.status
    best = fit(lik)
    _, _, dq = profile_scan_2d(lik, ("mu_a", "mu_b"), ([0.0, 1.0], [0.0, 1.0]), best=best)
    assert dq[0, 0] == np.inf
    assert np.isfinite(dq[[0, 1, 1], [1, 0, 1]]).all()
    assert dq[1, 1] == pytest.approx(0.0, abs=1e-6)
    # a shape variation that can fill the bin: q is finite, the fit finds it
    filled = _signal_only_bin(fill=5.0)
    assert filled.empty_bins({"mu_a": 0.0, "mu_b": 0.0}) == []
    r = fit(filled, fixed={"mu_a": 0.0, "mu_b": 0.0})
    assert np.isfinite(r.fval)
    assert r.values["alpha"] > 0.0
