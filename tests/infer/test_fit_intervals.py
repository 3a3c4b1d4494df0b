from __future__ import annotations

import numpy as np
import pytest
from scipy.special import lambertw

from _models import gaussian_location, two_process
from unbinned.exceptions import ConfigError, FitError
from unbinned.infer import (
    fisher_information,
    fit,
    impacts,
    profile_interval,
    profile_scan,
    profile_scan_2d,
    pulls,
)
from unbinned.likelihood import CountingRegion, EventTensors, Likelihood, UnbinnedRegion
from unbinned.model import ModelSpec


def _poisson_interval(n: float) -> tuple[float, float]:
    """Exact Δq = 1 interval of a Poisson mean λ given n: λ = -n W(-exp(-1 - 1/(2n)))."""
    z = -np.exp(-1 - 1 / (2 * n))
    return -n * lambertw(z, 0).real, -n * lambertw(z, -1).real


def _counting(kind: str, n: float = 25.0, s: float = 10.0) -> Likelihood:
    spec = ModelSpec.from_dict(
        {
            "pois": [{"name": "mu", "bounds": [0, 20]}],
            "processes": [{"name": "s", "signal": True, "modifiers": [{"parameter": "mu"}]}],
            "regions": [{"name": "r", "kind": kind}],
        }
    )
    if kind == "counting":
        return Likelihood(spec, [CountingRegion("r", ("s",), n, np.array([s]))])
    # unbinned with c(x) = 1: q = 2[mu s - n ln mu], the Poisson likelihood again
    data = EventTensors(np.ones((int(n), 1)), np.ones(int(n)))
    return Likelihood(spec, [UnbinnedRegion("r", ("s",), data, nominal_yields=np.array([s]))])


@pytest.mark.parametrize("kind", ["counting", "unbinned"])
def test_poisson_interval_closed_form(kind):
    lik = _counting(kind)
    best = fit(lik)
    assert best.valid
    assert best.values["mu"] == pytest.approx(2.5, rel=1e-5)
    lo, hi = _poisson_interval(25.0)
    iv = profile_interval(lik, "mu", best=best)
    assert iv.valid
    assert (iv.lower, iv.upper) == pytest.approx((lo / 10, hi / 10), abs=2e-5)


def test_gaussian_interval_closed_form_scan_and_minos():
    lik, x = gaussian_location()
    best = fit(lik, init={"m": 0.0})
    assert best.values["m"] == pytest.approx(x.mean(), abs=1e-6)
    assert best.errors["m"] == pytest.approx(1 / np.sqrt(x.size), rel=1e-6)
    sigma = 1 / np.sqrt(x.size)
    # the scan is exact to its root-finding tolerance; MINOS crossings are good to ~1e-2 sigma
    for method, tol in (("newton", 1e-6 * sigma), ("scan", 1e-4 * sigma), ("minos", 1e-2 * sigma)):
        for cl, k in ((0.68, 1.0), (0.95, 1.959964)):
            iv = profile_interval(lik, "m", best=best, method=method, cl=cl)
            assert iv.valid
            assert iv.lower == pytest.approx(x.mean() - k * sigma, abs=tol)
            assert iv.upper == pytest.approx(x.mean() + k * sigma, abs=tol)


def test_minos_and_scan_agree_with_nuisances():
    lik = two_process()
    best = fit(lik)
    assert best.valid, best
    a = profile_interval(lik, "mu", best=best, method="scan")
    b = profile_interval(lik, "mu", best=best, method="minos")
    c = profile_interval(lik, "mu", best=best)  # the default: edges solved by Newton
    assert a.valid
    assert b.valid
    assert c.valid
    assert c.method == "profile (Newton)"
    assert (a.lower, a.upper) == pytest.approx((b.lower, b.upper), abs=2e-3 * a.width)
    assert (c.lower, c.upper) == pytest.approx((a.lower, a.upper), abs=1e-5 * a.width)
    for cl in (0.68, 0.95):
        n = profile_interval(lik, "mu", best=best, cl=cl)
        sc = profile_interval(lik, "mu", best=best, cl=cl, method="scan")
        assert (n.lower, n.upper) == pytest.approx((sc.lower, sc.upper), abs=1e-5 * sc.width)
    # profiling widens the interval compared with fixing the nuisances at their best fit
    fixed = fit(lik, fixed={k: v for k, v in best.values.items() if k != "mu"})
    assert fixed.errors["mu"] < best.errors["mu"]


def test_scan_2d_matches_full_fits_at_each_point():
    lik = two_process()
    best = fit(lik)
    xs, ys = np.array([0.5, 1.5, 3.0]), np.array([0.97, 1.03])
    _, _, dq = profile_scan_2d(lik, ("mu", "bnorm"), (xs, ys), best=best)
    for i, x in enumerate(xs):
        for j, y in enumerate(ys):
            r = fit(lik, fixed={"mu": float(x), "bnorm": float(y)})
            assert dq[i, j] == pytest.approx(r.fval - best.fval, abs=1e-6)
    with pytest.raises(ConfigError, match="unknown parameter"):
        profile_scan_2d(lik, ("mu", "nope"), (xs, ys), best=best)


def test_scans_and_result_reprs():
    lik = two_process()
    best = fit(lik)
    scan = profile_scan(lik, "mu", np.linspace(0, 4, 5), best=best)
    assert scan.valid.all()
    assert scan.delta_q.min() >= -1e-6
    _xs, _ys, dq = profile_scan_2d(lik, ("mu", "bnorm"), ([1.0, 2.0], [0.98, 1.0, 1.02]), best=best)
    assert dq.shape == (2, 3)
    assert np.all(dq >= -1e-6)
    assert "valid minimum" in repr(best)
    assert "<table>" in best._repr_html_()
    assert "profile scan" in repr(profile_interval(lik, "mu", best=best, method="scan"))
    assert "profile (Newton)" in repr(profile_interval(lik, "mu", best=best))


def test_fisher_matches_hesse_on_asimov():
    lik = two_process()
    truth = {"mu": 1.0, "alpha": 0.0, "bnorm": 1.0}
    asimov = lik.asimov(truth)
    best = fit(asimov)
    assert best.values["mu"] == pytest.approx(1.0, abs=1e-4)
    fi = fisher_information(asimov, truth)
    assert fi.sigma("mu") == pytest.approx(best.errors["mu"], rel=1e-3)
    assert fi.profiled_information("mu") == pytest.approx(fi.sigma("mu") ** -2, rel=1e-9)
    assert fi.sigma_fixed("mu") < fi.sigma("mu")


def test_impacts_and_pulls():
    lik = two_process()
    best = fit(lik)
    imp = impacts(lik, "mu", best)
    assert [i.nuisance for i in imp]
    assert {i.nuisance for i in imp} == {"alpha", "bnorm"}
    assert imp[0].size >= imp[-1].size
    assert all(np.isfinite([i.up, i.down, i.prefit_up, i.prefit_down]).all() for i in imp)
    p = {x.nuisance: x for x in pulls(lik, best)}
    assert 0 < p["bnorm"].constraint <= 1.0 + 1e-6


def test_failed_fit_is_reported_not_hidden():
    spec = ModelSpec.from_dict(
        {
            "pois": [{"name": "mu", "bounds": [0, 1e6]}],
            "processes": [{"name": "s", "modifiers": [{"parameter": "mu"}]}],
            "regions": [{"name": "r", "kind": "counting"}],
        }
    )
    # n = 0: the minimum sits on the boundary mu = 0, HESSE cannot be accurate there
    lik = Likelihood(spec, [CountingRegion("r", ("s",), 0.0, np.array([1.0]))])
    res = fit(lik, init={"mu": 3.0}, max_attempts=2)
    assert res.values["mu"] == pytest.approx(0.0, abs=1e-2)
    if not res.valid:
        with pytest.raises(FitError, match="did not converge"):
            fit(lik, init={"mu": 3.0}, max_attempts=2, raise_on_failure=True)


def test_declared_fixed_nuisance_is_not_fitted():
    lik = two_process()
    spec = lik.spec.model_dump(mode="json")
    spec["nuisances"][1]["prior"] = "fixed"
    fixed_lik = Likelihood(ModelSpec.from_dict(spec), lik.regions)
    res = fit(fixed_lik)
    assert res.values["bnorm"] == 1.0
    assert res.errors["bnorm"] == 0.0
    assert "bnorm" in res.fixed


def test_boundary_minimum_is_held_at_the_limit_and_the_interval_starts_there():
    from scipy.optimize import brentq

    n, s, b = 40.0, 20.0, 50.0  # the unconstrained MLE would be mu = -0.5
    lik = _bounded_counting(n, s, b)
    best = fit(lik)
    assert best.valid, best
    assert best.values["mu"] == 0.0
    assert best.at_limit == ("mu",)
    assert "at limit" in repr(best)
    assert best.nfcn < 50

    def q(mu: float) -> float:
        lam = mu * s + b
        return 2 * (lam - n * np.log(lam))

    upper = brentq(lambda m: q(m) - q(0.0) - 1.0, 0.0, 5.0)
    iv = profile_interval(lik, "mu", best=best)
    assert iv.valid
    assert iv.lower == 0.0
    assert iv.upper == pytest.approx(upper, abs=1e-6)


def _bounded_counting(n: float, s: float = 20.0, b: float = 50.0) -> Likelihood:
    """One counting region, n observed, s·mu + b expected, mu in [0, 10]."""
    spec = ModelSpec.from_dict(
        {
            "pois": [{"name": "mu", "bounds": [0.0, 10.0]}],
            "processes": [
                {"name": "s", "signal": True, "modifiers": [{"parameter": "mu"}]},
                {"name": "b"},
            ],
            "regions": [{"name": "c", "kind": "counting"}],
        }
    )
    return Likelihood(spec, [CountingRegion("c", ("s", "b"), n, np.array([s, b]))])


def test_minimum_at_the_upper_bound_is_reported():
    """mu-hat = 12.5 lies above mu's range [0, 10]: the fit ends on the bound and says so."""
    lik = _bounded_counting(300.0)
    best = fit(lik)
    assert best.values["mu"] == pytest.approx(10.0, abs=1e-6)
    assert best.at_limit == ("mu",)
    assert "mu = 10 (upper bound)" in best.status
    assert "(at limit)" in repr(best)
    iv = profile_interval(lik, "mu", best=best)
    assert iv.upper == pytest.approx(10.0, abs=1e-6)
    assert "upper edge at the bound" in iv.note
    assert "upper edge at the bound" in repr(iv)


def test_minos_with_the_poi_held_at_its_bound_falls_back_to_the_scan():
    lik = _bounded_counting(40.0)  # the unconstrained MLE would be mu = -0.5
    best = fit(lik)
    assert best.at_limit == ("mu",)
    minos = profile_interval(lik, "mu", best=best, method="minos")  # was KeyError('mu')
    scan = profile_interval(lik, "mu", best=best, method="scan")
    assert minos.valid
    assert (minos.lower, minos.upper) == (scan.lower, scan.upper)
    assert minos.lower == 0.0
    assert "MINOS not run: mu = 0 held at its bound" in minos.note


@pytest.mark.parametrize("fixed", [{"mu": 1.0}, {"alpha": 0.0}, {"mu": 1.0, "bnorm": 1.0}])
def test_fit_with_fixed_parameters_converges_at_the_first_attempt(fixed):
    """Regression: Minuit2 read an analytic Hessian with fixed parameters at the wrong
    indices (root-project/root#20954) and MIGRAD's first attempt failed ("'NoneType'
    object is not callable"); the fit must converge at once, to the conditional minimum."""
    lik = two_process()
    r = fit(lik, fixed=fixed, newton=False)  # the MIGRAD path, where the bug was
    assert r.valid
    assert r.attempts == 1, r.status
    assert r.status == "converged"
    newton = fit(lik, fixed=fixed)  # the default Newton fit: the same conditional minimum
    assert newton.valid
    assert newton.status.startswith("converged")
    for name in r.values:
        assert newton.values[name] == pytest.approx(r.values[name], rel=1e-5, abs=1e-7)
    for name, value in fixed.items():
        assert r.values[name] == value
    free = [i for i, n in enumerate(lik.parameter_names) if n not in fixed]
    _, g = lik.value_and_grad(r.x)
    assert np.abs(g[free]).max() < 1e-4  # a conditional minimum in the floating ones


def test_scan_2d_warm_starts_need_no_exact_hessian():
    """Each point starts from its fitted neighbour with that neighbour's Hessian (from its
    covariance): an exact Hessian only where the steps contract slowly (was one per point),
    and the same Δq as independent full fits."""
    lik = two_process()
    best = fit(lik)
    xs, ys = np.linspace(0.5, 2.5, 4), np.linspace(0.96, 1.04, 3)
    before = list(lik._passes)
    _, _, dq = profile_scan_2d(lik, ("mu", "bnorm"), (xs, ys), best=best)
    passes = [a - b for a, b in zip(lik._passes, before, strict=True)]
    assert passes[2] <= xs.size * ys.size // 2, passes
    for i, x in enumerate(xs):
        for j, y in enumerate(ys):
            r = fit(lik, fixed={"mu": float(x), "bnorm": float(y)})
            assert dq[i, j] == pytest.approx(r.fval - best.fval, abs=1e-6)


def test_newton_fit_agrees_with_migrad_and_a_polished_reference():
    """The default Newton fit: no MIGRAD, the minimum and the exact-Hessian errors at it."""
    from unbinned.infer.mle import NEWTON_EDM

    lik = two_process()
    fast = fit(lik)
    slow = fit(lik, newton=False)
    assert fast.valid, fast
    assert fast.status == "converged (Newton, exact Hessian)"
    assert fast.minuit is None
    assert 0.0 <= fast.edm < NEWTON_EDM
    assert slow.minuit is not None
    assert "Newton" not in slow.status
    np.testing.assert_allclose(fast.x, slow.x, rtol=1e-6, atol=1e-9)
    assert fast.fval == pytest.approx(slow.fval, abs=1e-9)
    # reference: Newton iterated to EDM ~ 1e-20, the covariance of the Hessian there
    x = fast.x
    for _ in range(3):
        _, g, h = lik.evaluate(x, 2)
        x = x - np.linalg.solve(h, g)
    ref_err = np.sqrt(np.diag(2.0 * np.linalg.inv(lik.hessian(x))))
    np.testing.assert_allclose(fast.x, x, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose([fast.errors[n] for n in fast.parameter_names], ref_err, rtol=1e-6)
    np.testing.assert_allclose(fast.covariance, slow.covariance, rtol=1e-4, atol=1e-12)


def test_newton_fit_leaves_boundary_minima_and_failures_to_migrad():
    """A minimum on a bound (or a Newton fit that does not converge) runs MIGRAD as before."""
    best = fit(_bounded_counting(40.0))  # unconstrained minimum mu = -0.5 < 0
    assert best.at_limit == ("mu",)
    assert "Newton" not in best.status
    lik = two_process()
    from unbinned.infer import mle

    old = mle.NEWTON_ITERATIONS
    mle.NEWTON_ITERATIONS = 0  # Newton gives up at once: the MIGRAD fit is the result
    try:
        fallback = fit(lik)
    finally:
        mle.NEWTON_ITERATIONS = old
    assert fallback.valid
    assert fallback.minuit is not None
    np.testing.assert_allclose(fallback.x, fit(lik).x, rtol=1e-6, atol=1e-9)


def test_minos_after_a_newton_fit_runs_migrad_from_its_minimum():
    lik = two_process()
    best = fit(lik)
    assert best.minuit is None
    iv = profile_interval(lik, "mu", best=best, method="minos")
    ref = profile_interval(lik, "mu", best=best)
    assert iv.valid
    assert (iv.lower, iv.upper) == pytest.approx((ref.lower, ref.upper), abs=2e-3 * ref.width)


def test_only_the_unsolved_edge_is_scanned():
    """mu-hat = 0.25 > 0 with its lower edge at the bound 0: Newton's upper edge is kept."""
    lik = _bounded_counting(55.0)  # mu-hat = (55 - 50) / 20
    best = fit(lik)
    assert best.values["mu"] == pytest.approx(0.25, abs=1e-8)
    iv = profile_interval(lik, "mu", best=best)
    scan = profile_interval(lik, "mu", best=best, method="scan")
    assert iv.valid
    assert iv.method == "profile (Newton; lower edge scanned)"
    assert iv.lower == 0.0
    assert "lower edge at the bound" in iv.note
    assert iv.upper == pytest.approx(scan.upper, abs=1e-6 * scan.width)


@pytest.mark.parametrize(("limit", "edge"), [(0.0, 0.0), (-np.inf, -0.5)])
def test_a_failed_profile_fit_gives_the_widest_edge_with_a_note_not_a_crash(limit, edge):
    """q NaN below 0.2 (a conditional fit that failed): the scan stops there, flagged.

    Before, a NaN t was neither below nor above the threshold and the bracketing
    doubled its step until it raised "cannot bracket" (the two-POI example's binned
    fit at mu_vbf = 0).
    """
    from unbinned.infer.intervals import _scan_edge

    class Profile:  # t(mu) = ((mu - 1) / 2)^2 where the fits succeed
        def t(self, value: float) -> float:
            return float("nan") if value <= 0.2 else ((value - 1.0) / 2.0) ** 2

    found, note = _scan_edge(Profile(), "mu", 1.0, 0.5, -1.0, limit, 1.0)  # type: ignore[arg-type]
    assert found == edge
    assert "profile fit at mu" in note
    assert "failed" in note
