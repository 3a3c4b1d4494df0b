"""Templates interpolated in a power of a nuisance (a smearing width enters as its square)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from unbinned.binned import BinnedLikelihood, build_templates, to_pyhf
from unbinned.binned.histograms import ScoredEvents
from unbinned.binned.templates import template_points
from unbinned.exceptions import ConfigError
from unbinned.infer import fit
from unbinned.model import ModelSpec

SPEC = ModelSpec.from_dict(
    {
        "pois": [{"name": "mu", "init": 1.0, "bounds": [0.0, 10.0]}],
        "nuisances": [
            {"name": "smear", "nominal": 1.0, "prior": "lognormal", "width": 1.0,
             "bounds": [0.001, 5.0], "acts_on": "shape"},
            {"name": "tilt", "nominal": 0.0, "prior": "gaussian", "width": 1.0,
             "bounds": [-5.0, 5.0], "acts_on": "shape"},
        ],
        "processes": [{"name": "s", "signal": True, "modifiers": [{"parameter": "mu"}]},
                      {"name": "b"}],
    }
)  # fmt: skip


def _events(smear: float, tilt: float = 0.0) -> ScoredEvents:
    """Bin contents exactly linear in smear² and in tilt (weights only; same scores)."""
    rng = np.random.default_rng(1)
    n = 4000
    score = np.concatenate([rng.beta(5, 2, n), rng.beta(2, 5, n)])
    label = np.repeat(["s", "b"], n)
    w = np.concatenate([np.full(n, 50.0 / n), np.full(n, 2000.0 / n)])
    w = w * (1.0 + 0.02 * (smear**2 - 1.0) * (score - 0.5) + 0.01 * tilt * (score - 0.3))
    return ScoredEvents(score, w, label)


def _templates(powered: bool):
    param = {"smear": (0.0, 2)} if powered else None
    origin, power = (0.0, 2) if powered else (0.0, 1)
    variations = [({"smear": v}, _events(v)) for v in template_points(1.0, 1.0, origin, power)]
    variations += [({"tilt": v}, _events(1.0, v)) for v in (-1.0, 1.0)]
    return build_templates(SPEC, _events(1.0), variations, n_bins=6, parametrisation=param)


def test_template_points() -> None:
    assert template_points(1.0, 0.01) == (0.99, 1.01)
    lo, hi = template_points(1.0, 1.0, 0.0, 2)
    assert (lo, hi) == (0.0, pytest.approx(np.sqrt(2.0)))
    assert template_points(3.0, 1.0, 1.0, 2)[1] == pytest.approx(1.0 + np.sqrt(2 * 4 - 1))
    with pytest.raises(ConfigError, match="below the origin"):
        template_points(1.0, 2.0, 0.0, 2)
    with pytest.raises(ConfigError, match="integer"):
        template_points(1.0, 1.0, 0.0, 0)
    with pytest.raises(ConfigError, match="width > 0"):
        template_points(1.0, 0.0)


def test_powered_templates_extrapolate_a_squared_effect_exactly() -> None:
    powered, linear = _templates(True), _templates(False)
    assert powered.variation_points["smear"] == (0.0, pytest.approx(np.sqrt(2.0)))
    assert powered.parametrisation == {"smear": (0.0, 2)}
    assert linear.parametrisation == {}
    for theta in (0.3, 1.0, 2.5, 4.0):
        truth = powered.histogram_observed(_events(theta))["inclusive"]
        for templates, exact in ((powered, True), (linear, False)):
            lik = BinnedLikelihood(SPEC, templates, "asimov")
            x = lik.vector({"smear": theta})
            nu = lik.expected_counts_torch(torch.tensor(x)).numpy()
            err = np.abs(nu - truth).max() / truth.max()
            if exact:
                assert err < 1e-12, theta
            elif theta > 2.0:
                assert err > 1e-3, theta  # linear in smear: half the change at 4 GeV


def test_powered_derivatives_equal_autodiff() -> None:
    lik = BinnedLikelihood(SPEC, _templates(True), "asimov", staterror=True)
    rng = np.random.default_rng(3)
    lik = lik.with_observed({k: rng.poisson(v).astype(float) for k, v in lik.observed.items()})
    for smear in (0.2, 1.3, 3.5):
        x = lik.vector({"smear": smear, "tilt": 0.4, "mu": 1.3})
        t = torch.tensor(x, dtype=torch.float64, requires_grad=True)
        (g,) = torch.autograd.grad(lik.q_torch(t), t)
        val, grad = lik.value_and_grad(x)
        assert val == pytest.approx(float(lik.q_torch(torch.tensor(x))), rel=1e-12)
        assert np.allclose(grad, g.numpy(), rtol=1e-10, atol=1e-8)
        h_auto = lik.hessian_autodiff(x)
        assert np.allclose(lik.hessian(x), h_auto, rtol=1e-9, atol=1e-8 * np.abs(h_auto).max())


def test_fit_recovers_a_large_smearing() -> None:
    templates = _templates(True)
    observed = templates.histogram_observed(_events(3.0))
    best = fit(BinnedLikelihood(SPEC, templates, observed))
    assert best.valid
    assert best.values["smear"] == pytest.approx(3.0, rel=0.2)


def test_templates_must_match_the_declared_nominal() -> None:
    templates = _templates(True)
    moved = ModelSpec.from_dict(
        {**SPEC.model_dump(mode="json"),
         "nuisances": [{**n.model_dump(mode="json"), "nominal": 1.2} if n.name == "smear"
                       else n.model_dump(mode="json") for n in SPEC.nuisances]}
    )  # fmt: skip
    with pytest.raises(ConfigError, match="not symmetric"):
        BinnedLikelihood(moved, templates, "asimov")


def test_pyhf_export_refuses_a_powered_nuisance() -> None:
    gaussian = ModelSpec.from_dict(
        {**SPEC.model_dump(mode="json"),
         "nuisances": [{**n.model_dump(mode="json"), "prior": "gaussian"}
                       for n in SPEC.nuisances]}
    )  # fmt: skip
    lik = BinnedLikelihood(gaussian, _templates(True), "asimov")
    with pytest.raises(ConfigError, match="power"):
        to_pyhf(lik)


def test_secant_up_template_reaches_a_far_simulated_point() -> None:
    from unbinned.binned import with_secant_up

    linear = _templates(False)
    far = with_secant_up(linear, "smear", 4.0, _events(4.0))
    assert far.secants == {"smear": 4.0}
    assert linear.secants == {}
    assert far.variation_points == linear.variation_points  # same α, same code
    truth = far.histogram_observed(_events(4.0))["inclusive"]
    errors = {}
    for name, templates in (("linear", linear), ("secant", far)):
        lik = BinnedLikelihood(SPEC, templates, "asimov")
        nu = lik.expected_counts_torch(torch.tensor(lik.vector({"smear": 4.0}))).numpy()
        errors[name] = np.abs(nu - truth).max() / truth.max()
    assert errors["secant"] < 1e-12  # equals the simulation at the far point
    assert errors["linear"] > 1e-3
    # powered and secant: still exact everywhere for an effect linear in smear²
    both = with_secant_up(_templates(True), "smear", 4.0, _events(4.0))
    lik = BinnedLikelihood(SPEC, both, "asimov")
    for theta in (0.5, 2.0, 5.0):
        nu = lik.expected_counts_torch(torch.tensor(lik.vector({"smear": theta}))).numpy()
        truth = both.histogram_observed(_events(theta))["inclusive"]
        assert np.abs(nu - truth).max() / truth.max() < 1e-12
    with pytest.raises(ConfigError, match="beyond the up template"):
        with_secant_up(linear, "smear", 1.5, _events(1.5))
    with pytest.raises(ConfigError, match="not a shape nuisance"):
        with_secant_up(linear, "mu", 4.0, _events(4.0))
