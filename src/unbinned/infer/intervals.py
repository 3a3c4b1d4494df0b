r"""Profile-likelihood intervals and scans for parameters of interest.

The profile likelihood ratio of a parameter μ is

.. math:: t(μ) = q(μ, \hat{\hat ν}(μ)) - q(\hat μ, \hat ν),

with every other parameter re-fitted (profiled, never fixed) at each μ.  The
interval at confidence level CL is {μ : t(μ) ≤ F⁻¹_{χ²₁}(CL)} (Wilks), i.e.
Δq = 1 for 68.27 % and 3.84 for 95 %.  Three methods are provided and can be
cross-checked:

* ``"newton"`` (default): each edge solved directly as the point of the contour
  q = q̂ + Δq where μ is extremal, i.e. the system ∂q/∂ν = 0 (ν: every other
  floating parameter, profiled), q(θ) - q̂ - Δq = 0, by Newton iterations on it
  (Jacobian rows ∂²q/∂ν∂θ from the exact Hessian of the global fit, and the exact
  gradient ∂q/∂θ at the current point), started from the quadratic
  approximation θ̂ ± √(Δq C_μμ) C_{·μ}/C_μμ.  Where the iterations contract by more
  than a factor 20 per step the Hessian along the way is the global one to a few
  per cent and the edge is a conditional minimum like the global fit; otherwise the
  exact Hessian at the edge is computed, used for a last step, and checked to be
  positive definite in ν.  The same solution as the scan, in a few passes
  over the events; where it does not converge (e.g. an edge at a parameter bound)
  the scan below solves that edge (the other is kept; the method then reads
  ``"profile (Newton; lower edge scanned)"``).
* ``"scan"``: a profiled scan with root finding (safeguarded Newton on t(μ), whose
  slope ∂q/∂μ at the conditional minimum is exact, with bisection as the fallback).
* ``"minos"``: iminuit's MINOS.
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt
from scipy import stats

from unbinned.exceptions import ConfigError, FitError
from unbinned.infer.mle import (
    FitResult,
    Fittable,
    _box,
    _evaluate2,
    _limits,
    conditional_fit,
    fit,
    hessian_of,
)

__all__ = [
    "Interval",
    "ProfileScan",
    "delta_q",
    "profile_interval",
    "profile_scan",
    "profile_scan_2d",
]


def delta_q(cl: float, ndof: int = 1) -> float:
    """Δq threshold of a ``cl`` interval in ``ndof`` parameters (Wilks' theorem)."""
    if not 0 < cl < 1:
        raise ConfigError(f"confidence level must be in (0, 1), got {cl}")
    if math.isclose(cl, 0.68) or math.isclose(cl, 0.6827, abs_tol=1e-4):
        cl = float(stats.chi2.cdf(1.0, 1))  # the conventional "68 %" is one sigma
    return float(stats.chi2.ppf(cl, ndof))


@dataclass(frozen=True)
class Interval:
    """A profile-likelihood interval ``[lower, upper]`` of one parameter."""

    parameter: str
    best: float
    lower: float
    upper: float
    cl: float
    method: str
    valid: bool
    note: str = ""

    @property
    def width(self) -> float:
        """upper - lower."""
        return self.upper - self.lower

    @property
    def errors(self) -> tuple[float, float]:
        """Asymmetric errors (best - lower, upper - best)."""
        return self.best - self.lower, self.upper - self.best

    def __repr__(self) -> str:
        lo, hi = self.errors
        flag = (
            f"  INVALID: {self.note}" if not self.valid else f"  ({self.note})" if self.note else ""
        )
        return (
            f"Interval({self.parameter} = {self.best:.5g} -{lo:.4g} +{hi:.4g} "
            f"[{self.lower:.5g}, {self.upper:.5g}] at {100 * self.cl:.3g}% CL, "
            f"{self.method}){flag}"
        )


@dataclass(frozen=True)
class ProfileScan:
    """A profile-likelihood scan t(μ) over a grid, with the fit validity at each point."""

    parameter: str
    values: npt.NDArray[np.float64]
    delta_q: npt.NDArray[np.float64]
    valid: npt.NDArray[np.bool_]
    best: float

    def __repr__(self) -> str:
        return (
            f"ProfileScan({self.parameter}: {len(self.values)} points in "
            f"[{self.values.min():.4g}, {self.values.max():.4g}], best {self.best:.5g}, "
            f"{int((~self.valid).sum())} invalid)"
        )


class _Profiler:
    """Profiled q at fixed values of one parameter, warm-started from the nearest fit.

    The start of each conditional fit is the nearest solved point moved along the
    linear response of the other parameters, Δθ = (C_{·μ}/C_{μμ}) Δμ from the
    global fit's covariance C; the conditional fit itself is Newton with the
    exact Hessian (:func:`~unbinned.infer.mle.conditional_fit`).
    """

    def __init__(self, lik: Fittable, poi: str, best: FitResult, seed: int) -> None:
        if poi not in lik.parameter_names:
            raise ConfigError(f"unknown parameter {poi!r}; known: {list(lik.parameter_names)}")
        self.lik, self.poi, self.best, self.seed = lik, poi, best, seed
        self.cache: dict[float, FitResult] = {}
        names = list(best.parameter_names)
        k = names.index(poi)
        cov = best.covariance
        ok = cov.shape == (len(names), len(names)) and cov[k, k] > 0 and np.isfinite(cov).all()
        self.slope = cov[:, k] / cov[k, k] if ok else np.zeros(len(names))
        self.names = names

    def fit_at(self, value: float) -> FitResult:
        if value in self.cache:
            return self.cache[value]
        near = min(self.cache, key=lambda v: abs(v - value), default=None)
        ref = self.cache[near] if near is not None else self.best
        x = ref.x + self.slope * (value - ref.values[self.poi])
        limits = _limits(self.lik)
        start = {}
        for n, v in zip(self.names, x, strict=True):
            b = limits.get(n)
            start[n] = float(np.clip(v, b[0], b[1])) if b is not None else float(v)
        start = {n: v for n, v in start.items() if n != self.poi and n not in self.best.fixed}
        res = conditional_fit(
            self.lik, {**_fixed(self.best), self.poi: value}, start, seed=self.seed
        )
        self.cache[value] = res
        return res

    def t(self, value: float) -> float:
        return self.fit_at(value).fval - self.best.fval

    def slope_at(self, value: float) -> float:
        """dt/dμ = ∂q/∂μ at the conditional minimum (envelope theorem): exact."""
        res = self.fit_at(value)
        _, g = self.lik.value_and_grad(res.x)
        return float(g[self.names.index(self.poi)])


def _fixed(best: FitResult) -> dict[str, float]:
    return {n: best.values[n] for n in best.fixed}


def _crossing(prof: _Profiler, inner: float, outer: float, threshold: float, xtol: float) -> float:
    """The μ in [inner, outer] where t(μ) = threshold: safeguarded Newton on t with its exact slope.

    Newton steps use dt/dμ from the conditional fit (no finite differences); a step
    that leaves the bracket is replaced by bisection, so convergence is guaranteed.
    """
    lo, hi = inner, outer  # t(lo) < threshold <= t(hi); lo, hi may be in either order
    mu = hi
    for _ in range(60):
        tval = prof.t(mu) - threshold
        if abs(tval) < 1e-7 * max(threshold, 1.0):
            return mu
        if tval < 0:
            lo = mu
        else:
            hi = mu
        slope = prof.slope_at(mu)
        nxt = mu - tval / slope if slope != 0 else math.nan
        if not (min(lo, hi) < nxt < max(lo, hi)):
            nxt = 0.5 * (lo + hi)
        if abs(nxt - mu) < xtol:
            return nxt
        mu = nxt
    return mu


def profile_interval(
    likelihood: Fittable,
    poi: str,
    *,
    cl: float = 0.68,
    method: str = "newton",
    best: FitResult | None = None,
    bounds: tuple[float, float] | None = None,
    seed: int = 0,
) -> Interval:
    """Profile-likelihood interval of ``poi`` (all other parameters profiled).

    Parameters
    ----------
    likelihood
        The likelihood.
    poi
        The parameter whose interval is wanted.
    cl
        Confidence level; 0.68 means one sigma (Δq = 1), 0.95 gives Δq = 3.84.
    method
        ``"newton"``: the edges solved directly (module docstring), with the scan
        as the fallback for an edge it does not solve; ``"scan"``: profiled scan
        with root finding; ``"minos"``: iminuit MINOS.
    best
        The global fit, if already done.
    bounds
        Search range of the parameter (default: its declared bounds).
    seed
        Seed of restarts in the profile fits.
    """
    if best is None:
        best = fit(likelihood, seed=seed)
    if not best.valid:
        return Interval(poi, best.values.get(poi, math.nan), math.nan, math.nan, cl, method,
                        False, f"global fit invalid: {best.status}")  # fmt: skip
    threshold = delta_q(cl)
    if method == "minos":
        m = best.minuit
        if poi not in best.at_limit or (m is not None and not m.fixed[poi]):
            return _minos(likelihood, poi, best, cl, threshold)
        # the global fit held the POI at its bound (a boundary minimum): MINOS cannot
        # start from a fixed parameter, the profile scan handles the bound
        iv = profile_interval(likelihood, poi, cl=cl, method="scan", best=best, bounds=bounds,
                              seed=seed)  # fmt: skip
        why = f"MINOS not run: {poi} = {best.values[poi]:g} held at its bound in the global fit"
        return replace(iv, note="; ".join(n for n in (why, iv.note) if n))
    if method not in ("scan", "newton"):
        raise ConfigError(f"method must be 'newton', 'scan' or 'minos', got {method!r}")
    lo_b, hi_b = bounds or _limits(likelihood).get(poi) or (-math.inf, math.inf)
    edges_n: list[float | None] = [None, None]
    if method == "newton":
        edges_n = [_edge(likelihood, poi, best, sign, threshold, (lo_b, hi_b)) for sign in (-1, 1)]
        if all(e is not None for e in edges_n):
            lower, upper = (float(e) for e in edges_n)  # type: ignore[arg-type]
            return Interval(poi, best.values[poi], lower, upper, cl, "profile (Newton)", True)
    # the scan only for the edges that the Newton iterations did not solve (e.g. one at
    # the POI's bound): the other is kept, the same root to the solvers' tolerances
    prof = _Profiler(likelihood, poi, best, seed)
    mu0 = best.values[poi]
    sigma = best.errors[poi] if best.errors[poi] > 0 else max(abs(mu0), 1.0) * 0.1
    edges: list[float] = []
    notes: list[str] = []
    for newton_edge, sign, limit in zip(edges_n, (-1.0, 1.0), (lo_b, hi_b), strict=True):
        if newton_edge is not None:
            edges.append(float(newton_edge))
            continue
        edge, note = _scan_edge(prof, poi, mu0, sigma, sign, limit, threshold)
        edges.append(edge)
        if note:
            notes.append(note)
    ok = all(r.valid for r in prof.cache.values())
    if not ok:
        notes.append("some profile fits invalid")
    scanned = [side for side, e in zip(("lower", "upper"), edges_n, strict=True) if e is None]
    how = "profile scan" if len(scanned) == 2 else f"profile (Newton; {scanned[0]} edge scanned)"
    return Interval(poi, mu0, edges[0], edges[1], cl, how, ok, "; ".join(notes))


def _scan_edge(
    prof: _Profiler,
    poi: str,
    mu0: float,
    sigma: float,
    sign: float,
    limit: float,
    threshold: float,
) -> tuple[float, str]:
    """One edge by the profiled scan: bracket t(μ) = threshold outward from μ̂, then root-find.

    Returns the edge and a note ("" or that the edge is the parameter's bound).
    """
    inner, step = mu0, sigma * math.sqrt(threshold)
    outer = mu0 + sign * step
    side = "lower" if sign < 0 else "upper"
    while True:
        if (sign < 0 and outer <= limit) or (sign > 0 and outer >= limit):
            outer = limit
            if prof.t(outer) < threshold:
                return outer, f"{side} edge at the bound {limit}"
        t_out = prof.t(outer)
        if math.isnan(t_out):
            # the conditional fit failed (q not a number there): the edge is not known
            # beyond the last good point; the widest answer, flagged (the failed fit makes
            # the interval invalid), rather than no answer
            edge = limit if math.isfinite(limit) else outer
            return edge, (
                f"{side} edge not found: the profile fit at {poi} = {outer:g} failed "
                f"(q is not a number); put at {edge:g}"
            )
        if t_out >= threshold:
            return _crossing(prof, inner, outer, threshold, 1e-6 * max(sigma, 1e-12)), ""
        inner, step = outer, step * 2.0
        outer = inner + sign * step
        if step > 1e6 * sigma:
            raise FitError(f"cannot bracket the {poi} interval: t stays below {threshold}")


def _edge(
    lik: Fittable,
    poi: str,
    best: FitResult,
    sign: int,
    threshold: float,
    bounds: tuple[float, float],
    max_iter: int = 30,
) -> float | None:
    """One interval edge by Newton iterations on {∂q/∂ν = 0, q - q̂ - Δq = 0} (module docstring).

    Returns None where it does not converge inside the bounds, or the edge is not a
    conditional minimum: the caller then scans.
    """
    names = list(best.parameter_names)
    floating = [i for i, n in enumerate(names) if n not in best.fixed]
    k = names.index(poi)
    if k not in floating:
        return None
    kk = floating.index(k)
    idx = np.array(floating)
    cov = best.covariance[np.ix_(idx, idx)]
    if not (np.all(np.isfinite(cov)) and cov[kk, kk] > 0):
        return None
    try:
        hess = 2.0 * lik.errordef * np.linalg.inv(cov)  # the exact Hessian of the global fit
    except np.linalg.LinAlgError:
        return None
    limits = _limits(lik)
    lo, hi = _box(limits, names)
    lo[k], hi[k] = max(lo[k], bounds[0]), min(hi[k], bounds[1])
    others = [j for j in range(len(floating)) if j != kk]
    x = best.x.copy()
    x[idx] += sign * math.sqrt(threshold / cov[kk, kk]) * cov[:, kk]
    target = best.fval + threshold
    exact = False
    merits: list[float] = []
    for it in range(max_iter):
        if not (np.all(x >= lo) and np.all(x <= hi)):
            return None
        if exact:
            q, g, h = _evaluate2(lik, x)
            hess = h[np.ix_(idx, idx)]
        else:
            q, g = lik.value_and_grad(x)
        if not math.isfinite(q):
            return None
        gf = g[idx]
        resid = np.concatenate([gf[others], [q - target]])
        h_nu = hess[np.ix_(others, others)]
        edm = 0.5 * float(gf[others] @ np.linalg.solve(h_nu, gf[others])) if others else 0.0
        done = abs(q - target) < 1e-7 * threshold and edm < 1e-9
        if done and exact:
            if others and np.linalg.eigvalsh(h_nu).min() <= 0:
                return None  # not a conditional minimum
            return float(x[k])
        merits.append(max(abs(q - target) / threshold, math.sqrt(max(edm, 0.0))))
        rates = [b / a for a, b in itertools.pairwise(merits) if a > 0]
        if done and len(merits) <= 5 and rates and max(rates) < 0.05:
            # the chord iteration with the global fit's Hessian contracted by > 20x per
            # step: the Hessian along the way differs from it by a few per cent in its
            # own metric, so ∂²q/∂ν² at the edge is positive definite like the global
            # one and the edge is a conditional minimum without a new Hessian
            return float(x[k])
        if done or it == max_iter - 2:
            exact = hasattr(lik, "evaluate")
            if not exact and done:
                return float(x[k])
            if exact and done:
                continue  # re-evaluate here with the exact Hessian, then one more step
        jac = np.vstack([hess[others, :], gf[None, :]])
        try:
            step = np.linalg.solve(jac, resid)
        except np.linalg.LinAlgError:
            return None
        x = x.copy()
        x[idx] -= step
    return None


def _minos(lik: Fittable, poi: str, best: FitResult, cl: float, threshold: float) -> Interval:
    m = best.minuit
    if m is None:
        # the global fit converged by Newton steps (no MIGRAD): MIGRAD from its minimum
        # (a few calls) gives MINOS the Minuit object it starts from
        m = fit(lik, init=best.values, fixed={n: best.values[n] for n in best.fixed},
                newton=False).minuit  # fmt: skip
        if m is None:
            raise ConfigError("MINOS needs the Minuit object of the global fit (best.minuit)")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m.tol = min(m.tol, 1e-3)  # MINOS crossings to ~1e-4 sigma, for the cross-check
        m.minos(poi, cl=float(stats.chi2.cdf(threshold, 1)))
    me = m.merrors[poi]
    valid = bool(me.is_valid)
    note = "" if valid else (
        f"lower valid={me.lower_valid}, upper valid={me.upper_valid}, "
        f"at limit: {me.at_lower_limit}/{me.at_upper_limit}"
    )  # fmt: skip
    if valid and (me.at_lower_limit or me.at_upper_limit or poi in best.at_limit):
        note = f"{poi} at its bound: an edge of MINOS's interval is the bound"
    mu0 = best.values[poi]
    return Interval(poi, mu0, mu0 + me.lower, mu0 + me.upper, cl, "minos", valid, note)


def profile_scan(
    likelihood: Fittable,
    poi: str,
    values: Sequence[float] | npt.ArrayLike,
    *,
    best: FitResult | None = None,
    seed: int = 0,
) -> ProfileScan:
    """Profiled Δq of ``poi`` on a grid of values (other parameters re-fitted at each)."""
    if best is None:
        best = fit(likelihood, seed=seed)
    prof = _Profiler(likelihood, poi, best, seed)
    grid = np.asarray(values, dtype=np.float64)
    order = np.argsort(np.abs(grid - best.values[poi]))  # fit outward from the minimum
    dq = np.empty_like(grid)
    valid = np.empty(grid.shape, dtype=bool)
    for i in order:
        r = prof.fit_at(float(grid[i]))
        dq[i], valid[i] = r.fval - best.fval, r.valid
    return ProfileScan(poi, grid, dq, valid, best.values[poi])


def profile_scan_2d(
    likelihood: Fittable,
    pois: tuple[str, str],
    values: tuple[npt.ArrayLike, npt.ArrayLike],
    *,
    best: FitResult | None = None,
    seed: int = 0,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Profiled Δq on a 2D grid of two parameters; returns (x, y, Δq[len(x), len(y)]).

    Each point is a conditional fit (:func:`~unbinned.infer.mle.conditional_fit`:
    Newton steps, the full fit where they fail).  The points are fitted outward
    from the global minimum (by their distance in standard deviations of the two
    parameters), each warm-started from the nearest point already fitted: its
    minimum moved along the linear response of the other parameters,
    Δθ = C_{·p} C_{pp}⁻¹ Δp (p the two scanned parameters, C the global fit's
    covariance), clipped to the bounds, and its Hessian (from its covariance,
    :func:`~unbinned.infer.mle.hessian_of`; the global fit's for the first point).
    Neighbouring minima are close, so a point costs a few gradients and no exact
    Hessian unless the steps contract slowly.  Δq = +∞ where q is infinite for
    every value of the other parameters (a binned bin with observed events that
    nothing can fill, :func:`~unbinned.infer.fit`).
    """
    if best is None:
        best = fit(likelihood, seed=seed)
    names = list(best.parameter_names)
    unknown = [p for p in pois if p not in names]
    if unknown:
        raise ConfigError(f"unknown parameter(s) {unknown}; known: {names}")
    xs, ys = (np.asarray(v, dtype=np.float64) for v in values)
    k = [names.index(p) for p in pois]
    cov = best.covariance
    block = cov[np.ix_(k, k)]
    ok = np.isfinite(cov).all() and bool(np.all(np.linalg.eigvalsh(block) > 0))
    slope = cov[:, k] @ np.linalg.inv(block) if ok else np.zeros((len(names), 2))
    sd = np.sqrt(np.diag(block)) if ok else np.ones(2)
    limits = _limits(likelihood)
    fixed = _fixed(best)
    errordef = float(getattr(likelihood, "errordef", 1.0))
    grid = np.array([(x, y) for x in xs for y in ys], dtype=np.float64).reshape(-1, 2)
    z = (grid - best.x[k]) / sd  # standardised: distances comparable along both axes
    order = np.argsort(np.hypot(z[:, 0], z[:, 1]), kind="stable")
    solved: list[int] = []
    results: dict[int, FitResult] = {}
    out = np.empty(grid.shape[0])
    for n in order:
        ref, hess = best, hessian_of(best, errordef)
        if solved:
            near = solved[int(np.argmin(np.hypot(*(z[solved] - z[n]).T)))]
            r_near = results[near]
            if r_near.valid and math.isfinite(r_near.fval):
                ref, hess = r_near, hessian_of(r_near, errordef)
        guess = ref.x + slope @ (grid[n] - ref.x[k])
        start = {}
        for name, v in zip(names, guess, strict=True):
            if name in pois or name in fixed:
                continue
            b = limits.get(name)
            start[name] = float(np.clip(v, b[0], b[1])) if b is not None else float(v)
        point = {pois[0]: float(grid[n, 0]), pois[1]: float(grid[n, 1])}
        r = conditional_fit(likelihood, {**fixed, **point}, start, seed=seed, hessian=hess)
        results[n] = r
        solved.append(int(n))
        out[n] = r.fval - best.fval
    return xs, ys, out.reshape(xs.size, ys.size)
