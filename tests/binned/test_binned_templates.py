"""HistFactory templates: building them from variation points, and pyhf's interpolation codes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from unbinned.binned import (
    RegionTemplates,
    ScoredEvents,
    Templates,
    build_templates,
    interpolate,
    interpolation_coefficients,
)
from unbinned.binned._toy import toy_problem
from unbinned.exceptions import ConfigError, DataError
from unbinned.model import ModelSpec

pyhf = pytest.importorskip("pyhf")


@pytest.mark.parametrize("code", ["code0", "code4p"])
def test_interpolation_equals_pyhf(code: str) -> None:
    rng = np.random.default_rng(0)
    nom = rng.uniform(5, 10, (3, 6))
    down = nom * rng.uniform(0.8, 1.0, (2, 3, 6))
    up = nom * rng.uniform(1.0, 1.3, (2, 3, 6))
    alphas = np.array([[-2.5, -1.0, -0.7, 0.0, 0.3, 1.0, 1.7], [1.2, -0.2, 0.9, -1.4, 0.0, 2, -3]])
    # pyhf: histogramssets (n_syst, n_hist, 3 = [down, nom, up], n_bins)
    hs = np.stack([np.stack([down[k], nom, up[k]], axis=1) for k in range(2)])
    previous = pyhf.get_backend()
    pyhf.set_backend("numpy")
    try:
        interp = getattr(pyhf.interpolators, code)(hs.tolist())
        deltas = np.asarray(interp(pyhf.tensorlib.astensor(alphas)))  # (syst, hist, alpha, bin)
    finally:
        pyhf.set_backend(*previous)
    for i in range(alphas.shape[1]):
        ours = interpolate(
            torch.tensor(alphas[:, i]),
            torch.tensor(nom),
            torch.tensor(down),
            torch.tensor(up),
            code,
        ).numpy()
        assert np.allclose(ours, nom + deltas[:, :, i, :].sum(0), rtol=1e-13, atol=1e-12)


def test_code4p_is_smooth_and_hits_the_variations() -> None:
    a = torch.linspace(-2, 2, 4001, dtype=torch.float64, requires_grad=True)
    ca, cb = interpolation_coefficients(a, "code4p")
    val = ca * 1.3 + cb * 0.7  # Δ⁺ = 1.3, Δ⁻ = 0.7
    (g,) = torch.autograd.grad(val.sum(), a)
    assert torch.max(torch.abs(torch.diff(g))) < 1e-2  # no jump in the derivative
    pa, pb = interpolation_coefficients(
        torch.tensor([-1.0, 0.0, 1.0], dtype=torch.float64), "code4p"
    )
    assert (pa * 1.3 + pb * 0.7).tolist() == pytest.approx([-0.7, 0.0, 1.3])
    with pytest.raises(ConfigError, match="unknown interpolation"):
        interpolation_coefficients(a, "code9")


def test_build_templates_from_variation_points() -> None:
    spec, nominal, variations = toy_problem(n_mc=500)
    t = build_templates(spec, nominal, variations, n_bins=6)
    assert t.region_names == ("low", "high")
    assert t.shape_nuisances == ("tes", "jes")
    assert t.variation_points["tes"] == pytest.approx((0.99, 1.01))
    low = t.region("low")
    assert low.nominal.shape == (4, low.n_bins)
    assert low.n_bins <= 6
    # yields are conserved per process (flow folded in)
    in_low = nominal.in_region("low")
    for j, p in enumerate(spec.process_names):
        assert low.nominal[j].sum() == pytest.approx(in_low.weights[in_low.process == p].sum())
    # the shape nuisance does not touch diboson: its templates equal the nominal
    j = spec.process_names.index("diboson")
    assert np.array_equal(low.up["tes"][j], low.nominal[j])
    assert not np.allclose(low.up["tes"][0], low.nominal[0])
    assert "shape nuisances ['tes', 'jes']" in repr(t)
    counts = t.histogram_observed(nominal)
    assert np.allclose(counts["low"], low.nominal.sum(0))


def test_build_templates_with_explicit_edges_and_integer_labels() -> None:
    spec, nominal, variations = toy_problem(regions=("inclusive",), n_mc=300)
    labels = np.array([spec.process_names.index(p) for p in nominal.process])  # type: ignore[union-attr]
    ints = ScoredEvents(nominal.score, nominal.weights, labels)
    var = [(pt, ScoredEvents(ev.score, ev.weights, labels)) for pt, ev in variations]
    edges = np.linspace(0, 1, 5)
    t = build_templates(spec, ints, var, edges=edges)
    assert np.array_equal(t.region("inclusive").edges, edges)
    assert t.region("inclusive").nominal.sum() == pytest.approx(nominal.weights.sum())


def test_missing_or_unknown_variation_points_are_rejected() -> None:
    spec, nominal, variations = toy_problem(n_mc=200)
    no_tes_up = [(pt, ev) for pt, ev in variations if pt != {"tes": 1.01}]
    with pytest.raises(ConfigError, match="tes = 0.99 and 1.01"):
        build_templates(spec, nominal, no_tes_up)
    with pytest.raises(ConfigError, match="not shape nuisances"):
        build_templates(spec, nominal, [*variations, ({"mu": 2.0}, nominal)])
    with pytest.raises(ConfigError, match="not declared"):
        build_templates(spec, nominal, variations, regions=["nowhere"])
    bad = ScoredEvents(nominal.score, nominal.weights, np.full(nominal.n_events, "qcd"),
                       nominal.region)  # fmt: skip
    with pytest.raises(DataError, match="not model processes"):
        build_templates(spec, bad, variations)


def test_shape_nuisance_without_width_needs_fixed_prior() -> None:
    spec = ModelSpec.from_dict(
        {
            "pois": [{"name": "mu"}],
            "nuisances": [{"name": "jes", "nominal": 1.0, "prior": "uniform",
                           "bounds": [0.9, 1.1], "acts_on": "shape"}],
            "processes": [{"name": "s", "signal": True, "modifiers": [{"parameter": "mu"}]}],
        }
    )  # fmt: skip
    ev = ScoredEvents(np.linspace(0, 1, 50), np.ones(50), np.full(50, "s"))
    with pytest.raises(ConfigError, match="without a width"):
        build_templates(spec, ev, [({"jes": 1.05}, ev)], n_bins=2)


def test_region_templates_validate_shapes_and_population() -> None:
    nom = np.array([[1.0, 0.0], [2.0, 0.0]])
    with pytest.raises(DataError, match="no positive nominal yield"):
        RegionTemplates("r", np.array([0, 0.5, 1]), ("a", "b"), nom, nom)
    with pytest.raises(DataError, match="expected \\(2, 2\\)"):
        RegionTemplates("r", np.array([0, 0.5, 1]), ("a", "b"), np.ones((2, 3)), np.ones((2, 2)))
    ok = RegionTemplates("r", np.array([0, 0.5, 1]), ("a", "b"), np.ones((2, 2)), np.ones((2, 2)))
    with pytest.raises(ConfigError, match="not unique"):
        Templates((ok, ok))
    assert "2 bins" in repr(ok)
