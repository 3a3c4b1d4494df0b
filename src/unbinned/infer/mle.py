"""Maximum-likelihood fits: Newton with the exact Hessian, iminuit's MIGRAD as the fallback.

By default q(θ) = -2 ln L is minimised by damped Newton steps with the exact
Hessian and value-only line searches; the fit is accepted where the exact Hessian
at its last point is positive definite and the EDM ½ gᵀH⁻¹g computed with it is
below :data:`NEWTON_EDM` (the valid flag and the EDM say so), its covariance
2 H⁻¹ of that exact Hessian (the HESSE matrix, without finite differences).
Otherwise (no convergence, a minimum on a bound) MIGRAD minimises q with the
exact gradient and errordef 1, the minimum polished by a Newton step.  A MIGRAD
fit that does not reach a valid minimum is retried with strategy escalation and
then new starting points; if every attempt fails the result says so
(``valid=False``) or, with ``raise_on_failure=True``, a
:class:`~unbinned.exceptions.FitError` is raised.  A wrong number is never
returned silently.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
from iminuit import Minuit

from unbinned.exceptions import DataError, FitError

__all__ = ["FitResult", "Fittable", "conditional_fit", "fit", "hessian_of"]

REFRESH = 0.7
"""Chord Newton: a step that shrinks the EDM by less than this factor triggers a fresh Hessian.

Measured on the 10⁶-event H→ττ fit (``benchmarks/fit_speed.py``): 0.05 → 8 Hessians and
12 gradients, 0.7 → 7 and 17, 2 (never) → 5 and 26; 0.7 was the fastest.
"""


NEWTON_EDM = 1e-10
"""Newton fit: accepted where the EDM ½ gᵀH⁻¹g with the exact Hessian at its last point is below.

The returned minimum is one Newton step further (its distance to the minimum
√(2·EDM) ≲ 1.4e-5 σ then shrinks to about its square); the covariance is the exact
Hessian's at the last point.  On the 10⁶-event H→ττ fit the last EDM was 2e-11 and
the errors agree with those of the Hessian at the minimum polished to EDM 1e-22
within 9e-7 relative (soft_met; the others within 5e-8), where MIGRAD's last
point (EDM 2e-6) gave 4e-5 (BENCHMARKS.md, "Fused likelihood pass").
"""

NEWTON_ITERATIONS = 30
"""Newton fit: Hessian passes before it gives up and MIGRAD runs."""


class Fittable(Protocol):
    """What :func:`fit` needs from a likelihood (``unbinned.likelihood.Likelihood`` fits)."""

    parameter_names: tuple[str, ...]
    errordef: float

    def value_and_grad(self, theta: npt.ArrayLike) -> tuple[float, npt.NDArray[np.float64]]:
        """q and its gradient."""
        ...

    def __call__(self, theta: npt.ArrayLike) -> float:
        """q alone (MIGRAD's line searches need no gradient)."""
        ...

    def hessian(self, theta: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Exact Hessian of q."""
        ...

    def vector(self, values: Mapping[str, float] | None = None) -> npt.NDArray[np.float64]:
        """Parameter vector with defaults."""
        ...

    @property
    def spec(self) -> object:
        """The model declaration (for bounds and priors)."""
        ...


@dataclass(frozen=True)
class FitResult:
    """The outcome of a maximum-likelihood fit.

    Attributes
    ----------
    values, errors
        Best-fit values and HESSE (exact-Hessian) uncertainties by parameter name.
    covariance
        Covariance matrix (2 H⁻¹ restricted to the floating parameters; zero rows for
        fixed ones), in ``parameter_names`` order.
    fval
        q at the minimum (-2 ln L up to a constant).
    valid
        Whether the fit reached a valid minimum: the Newton fit's exact Hessian
        positive definite with EDM < :data:`NEWTON_EDM` at its last point, or MIGRAD's
        valid minimum with an accurate, positive-definite covariance.
    edm
        The estimated distance to the minimum ½ gᵀH⁻¹g: of the Newton fit's last
        point (with its exact Hessian; the returned minimum is one Newton step
        further), or MIGRAD's.
    minuit
        The Minuit object of a MIGRAD fit; None where the Newton fit converged.
    status
        Human-readable account of what happened, retries included.
    at_limit
        Parameters whose minimum lies on a bound (e.g. μ̂ = 0 at a physical
        boundary): the gradient there points out of the allowed range (the KKT
        condition of a boundary minimum); they are held at the bound while the others
        are minimised, and their rows of the covariance are zero.  A parameter that
        MIGRAD itself ended on a bound is listed too (its error is then the exact
        Hessian's at the bound, one-sided).  As iminuit's ``has_parameters_at_limit``,
        this is a flag next to ``valid``, not part of it (μ̂ = 0 at a physical
        boundary is a valid constrained minimum); the status names each parameter and
        its bound, so that a minimum at an artificial bound (e.g. μ̂ = 10, the top of
        μ's declared range) is never reported without saying so.
    """

    parameter_names: tuple[str, ...]
    values: dict[str, float]
    errors: dict[str, float]
    covariance: npt.NDArray[np.float64]
    fval: float
    valid: bool
    edm: float
    nfcn: int
    attempts: int
    status: str
    fixed: tuple[str, ...] = ()
    minuit: Minuit | None = field(default=None, repr=False, compare=False)
    at_limit: tuple[str, ...] = ()

    @property
    def x(self) -> npt.NDArray[np.float64]:
        """Best-fit parameter vector."""
        return np.array([self.values[n] for n in self.parameter_names])

    def correlation(self) -> npt.NDArray[np.float64]:
        """Correlation matrix."""
        d = np.sqrt(np.clip(np.diag(self.covariance), 0, None))
        with np.errstate(divide="ignore", invalid="ignore"):
            c = self.covariance / np.outer(d, d)
        return np.nan_to_num(c)

    def __repr__(self) -> str:
        head = (
            f"FitResult({'valid' if self.valid else 'INVALID'} minimum, q = {self.fval:.6g}, "
            f"EDM = {self.edm:.2g}, {self.nfcn} calls, {self.attempts} attempt(s): {self.status})"
        )
        rows = [f"  {'parameter':<16}{'value':>14}{'error':>12}"]
        for n in self.parameter_names:
            flag = (
                "  (fixed)" if n in self.fixed else ("  (at limit)" if n in self.at_limit else "")
            )
            rows.append(f"  {n:<16}{self.values[n]:>14.6g}{self.errors[n]:>12.4g}{flag}")
        return "\n".join([head, *rows])

    def _repr_html_(self) -> str:
        colour = "#c8f0c8" if self.valid else "#f0c8c8"
        rows = "".join(
            f"<tr><td>{n}</td><td>{self.values[n]:.6g}</td><td>{self.errors[n]:.4g}</td>"
            f"<td>{'fixed' if n in self.fixed else ''}</td></tr>"
            for n in self.parameter_names
        )
        return (
            f"<table><tr><th colspan=4 style='background:{colour}'>"
            f"{'valid' if self.valid else 'INVALID'} minimum, q = {self.fval:.6g}, "
            f"{self.status}</th></tr><tr><th>parameter</th><th>value</th><th>error</th><th></th>"
            f"</tr>{rows}</table>"
        )


def _make_minuit(
    lik: Fittable,
    start: npt.NDArray[np.float64],
    fixed: Sequence[str],
    limits: Mapping[str, tuple[float, float] | None],
    use_hessian: bool = True,
    seed_hessian: npt.NDArray[np.float64] | None = None,
) -> Minuit:
    def fcn(x: npt.NDArray[np.float64]) -> float:
        return float(lik(x))

    def grad(x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        return lik.value_and_grad(x)[1]

    kwargs: dict[str, Any] = {}
    # Minuit2 (iminuit <= 2.33 at least) indexes an analytic external Hessian with the
    # *internal* (floating-only) indices when parameters are fixed (root-project/root
    # #20954): it then reads the wrong block, and a zero row of a fixed parameter makes
    # MIGRAD fail with "'NoneType' object is not callable".  With fixed parameters the
    # seed is therefore MIGRAD's own (the start errors come from the pre-fit's exact
    # covariance, :func:`_migrad_attempts`), and the polish after it is exact anyway.
    if use_hessian and not fixed:
        # an exact Hessian seeds MIGRAD (no numerical second derivatives): the one the
        # Newton pre-fit last used (``seed_hessian``) for the first call, exact after
        pending = [seed_hessian] if seed_hessian is not None else []

        def hessian(x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
            return pending.pop() if pending else lik.hessian(x)

        kwargs["hessian"] = hessian
    m = Minuit(fcn, start, grad=grad, name=list(lik.parameter_names), **kwargs)
    m.errordef = lik.errordef
    m.print_level = 0
    for name in lik.parameter_names:
        b = limits.get(name)
        if b is not None:
            m.limits[name] = b
    for name in fixed:
        m.fixed[name] = True
    return m


def _limits(lik: Fittable) -> dict[str, tuple[float, float] | None]:
    bounds = getattr(lik.spec, "bounds", None)
    return dict(bounds()) if callable(bounds) else {}


def _start_errors(lik: Fittable, m: Minuit) -> None:
    spec = lik.spec
    for n in getattr(spec, "nuisances", ()):
        if n.width:
            m.errors[n.name] = n.width if n.prior == "gaussian" else n.width * n.nominal
        elif n.bounds is not None:
            m.errors[n.name] = 0.1 * (n.bounds[1] - n.bounds[0])
    for p in getattr(spec, "pois", ()):
        m.errors[p.name] = 0.1 * max(abs(p.init), 1.0)


def _migrad_ok(m: Minuit) -> bool:
    fm = m.fmin
    return bool(fm is not None and fm.is_valid and math.isfinite(fm.fval))


def fit(
    likelihood: Fittable,
    *,
    init: Mapping[str, float] | None = None,
    fixed: Mapping[str, float] | Sequence[str] = (),
    strategy: int = 1,
    tol: float = 0.01,
    max_attempts: int = 4,
    seed: int = 0,
    raise_on_failure: bool = False,
    newton: bool = True,
) -> FitResult:
    """Minimise q(θ) by Newton steps with the exact Hessian, with MIGRAD as the fallback.

    By default (``newton=True``) the fit is damped Newton with the exact Hessian and
    value-only line searches (:func:`_newton_fit`); it is accepted when the exact
    Hessian at its last point is positive definite, the EDM ½ gᵀH⁻¹g computed with
    it is below :data:`NEWTON_EDM`, and no parameter is on a bound.  The covariance
    is then 2 H⁻¹ of that exact Hessian, the returned minimum one Newton step
    further (``minuit`` is None: no MIGRAD ran).  Otherwise (or with
    ``newton=False``) MIGRAD runs as described below, with its retries.

    Parameters
    ----------
    likelihood
        The likelihood (exposes ``value_and_grad`` and ``hessian``).
    init
        Starting values by name (default: POI ``init``, nuisance ``nominal``).
    fixed
        Parameters held constant: names (at their start values) or name → value.
    strategy
        Initial MIGRAD strategy; escalated to 2 on failure.
    tol
        MIGRAD tolerance: it stops at EDM < 0.002 · tol · errordef (iminuit's default
        0.1 is loose for exact gradients, which make a tighter minimum cheap).
    max_attempts
        Attempts in all: strategy escalation, then random restarts around the start.
    seed
        Seed of the restart points (the fit is deterministic).
    raise_on_failure
        Raise :class:`FitError` instead of returning ``valid=False``.
    newton
        Try the Newton fit first (default); False runs MIGRAD directly.

    Returns
    -------
    FitResult
    """
    start, fixed_names = _start_and_fixed(likelihood, init, fixed)
    x0 = likelihood.vector(start)
    names = tuple(likelihood.parameter_names)
    if set(names) <= set(fixed_names):
        return _all_fixed(likelihood, x0, names, fixed_names)
    infinite = _infinite_everywhere(likelihood, x0, names, fixed_names)
    if infinite is not None:
        return infinite
    limits = _limits(likelihood)
    rng = np.random.default_rng(seed)
    floating = [i for i, n in enumerate(names) if n not in fixed_names]
    fast = _newton_fit(likelihood, x0, floating, limits, names, fixed_names) if newton else None
    if fast is not None:
        return fast
    # Newton steps with the exact Hessian of the start point (chord method: one
    # Hessian, then gradients only): MIGRAD then starts next to the minimum and
    # needs few calls (each call is a pass over the events)
    pre = _chord(likelihood, x0, floating, limits, names)
    at_limit = _at_limit(likelihood, pre.x, floating, limits, names)
    if at_limit:
        # a boundary minimum: hold those parameters at their bound (MIGRAD's internal
        # transformation has a zero derivative exactly there) and minimise the rest
        fixed_run = fixed_names + tuple(names[i] for i in at_limit)
        floating = [i for i in floating if i not in at_limit]
        x0 = x0.copy()
        x0[at_limit] = pre.x[at_limit]
        if not floating:
            return _all_at_limit(likelihood, pre, names, fixed_names, at_limit, limits)
    else:
        fixed_run = fixed_names
    run = _migrad_attempts(
        likelihood, pre, x0, floating, fixed_run, limits, names, strategy, tol, max_attempts, rng
    )
    return _fit_result(run, names, fixed_names, at_limit, raise_on_failure, limits)


def _newton_fit(
    lik: Fittable,
    x0: npt.NDArray[np.float64],
    floating: list[int],
    limits: Mapping[str, tuple[float, float] | None],
    names: tuple[str, ...],
    fixed_names: tuple[str, ...],
) -> FitResult | None:
    """Damped Newton with the exact Hessian and value-only line searches; None if not converged.

    Each iteration solves H s = g with the exact Hessian at x (Levenberg-shifted
    where it is not positive definite) and tries x - t s, t = 1, ½, ¼, … with q
    alone (a value pass is a fraction of a Hessian pass), then takes the exact q, ∇q
    and ∇²q at the accepted point in one pass.  Where the last step was full and the
    quadratic model predicted its decrease to 25 %, the next trial point is
    evaluated with its Hessian directly (no separate value pass).  It stops when
    EDM = ½ gᵀH⁻¹g < :data:`NEWTON_EDM` with the Hessian at the same point positive
    definite; the minimum is then one more Newton step, checked by its q, and the
    covariance 2 H⁻¹.  None (the caller runs MIGRAD) where it does not converge in
    :data:`NEWTON_ITERATIONS` iterations, q or its derivatives are not finite, a
    line search fails, or a parameter ends on (or the step leaves) its bounds: the
    boundary cases keep MIGRAD's treatment (:func:`fit`).
    """
    idx = np.array(floating)
    lo, hi = _box(limits, names)
    x = x0.copy()
    if np.any(x[idx] < lo[idx]) or np.any(x[idx] > hi[idx]):
        return None
    q, g, h = _evaluate2(lik, x)
    npass, trusted = 1, False
    for _ in range(NEWTON_ITERATIONS):
        if not (math.isfinite(q) and np.all(np.isfinite(g)) and np.all(np.isfinite(h))):
            return None
        hf = h[np.ix_(idx, idx)]
        inv = _inverse_hessian(hf)
        if inv is None:
            eig_min = float(np.linalg.eigvalsh(hf).min())
            shift = (1e-6 - eig_min) * np.eye(len(idx)) + 1e-3 * np.diag(np.abs(np.diag(hf)))
            step = np.linalg.solve(hf + shift, g[idx])
        else:
            step = inv @ g[idx]
        edm = 0.5 * float(g[idx] @ step)
        if inv is not None and 0.0 <= edm < NEWTON_EDM:
            return _newton_result(lik, x, q, step, inv, edm, npass, idx, limits, names,
                                  fixed_names)  # fmt: skip
        accepted = False
        for half in range(12):
            trial = x.copy()
            trial[idx] -= step
            if np.all(trial[idx] >= lo[idx]) and np.all(trial[idx] <= hi[idx]):
                if trusted and half == 0:
                    q_new, g_new, h_new = _evaluate2(lik, trial)
                else:
                    q_new, g_new, h_new = float(lik(trial)), None, None
                npass += 1
                if q_new <= q:
                    accepted = True
                    break
            step = step / 2.0
        if not accepted:
            return None
        trusted = half == 0 and abs((q - q_new) / edm - 1.0) < 0.25 if edm > 0 else False
        x = trial
        if h_new is None or g_new is None:
            q, g, h = _evaluate2(lik, x)
            npass += 1
        else:
            q, g, h = q_new, g_new, h_new
    return None


def _newton_result(
    lik: Fittable,
    x: npt.NDArray[np.float64],
    q: float,
    step: npt.NDArray[np.float64],
    inv: npt.NDArray[np.float64],
    edm: float,
    npass: int,
    idx: npt.NDArray[np.intp],
    limits: Mapping[str, tuple[float, float] | None],
    names: tuple[str, ...],
    fixed_names: tuple[str, ...],
) -> FitResult | None:
    """The converged Newton fit: one last Newton step (kept if q confirms it), covariance 2H⁻¹."""
    best = x.copy()
    best[idx] -= step
    q_best = float(lik(best))
    npass += 1
    if not math.isfinite(q_best) or q_best > q + 1e-12 * (1.0 + abs(q)):
        best, q_best = x, q  # rounding: the step is below q's resolution
    floating = set(idx.tolist())
    if any(i in floating for i in _on_bound(best, names, limits)):
        return None
    cov = np.zeros((len(names), len(names)))
    cov[np.ix_(idx, idx)] = 2.0 * lik.errordef * inv
    return FitResult(
        parameter_names=names,
        values=dict(zip(names, best.tolist(), strict=True)),
        errors={n: float(math.sqrt(max(cov[i, i], 0.0))) for i, n in enumerate(names)},
        covariance=cov,
        fval=q_best,
        valid=True,
        edm=edm,
        nfcn=npass,
        attempts=1,
        status="converged (Newton, exact Hessian)",
        fixed=fixed_names,
    )


def _start_and_fixed(
    likelihood: Fittable,
    init: Mapping[str, float] | None,
    fixed: Mapping[str, float] | Sequence[str],
) -> tuple[dict[str, float], tuple[str, ...]]:
    """The start values by name and the names of the parameters held constant.

    Declared-fixed nuisances (``prior == "fixed"``) join the fixed ones, at their
    nominal unless a start value is given.
    """
    start = dict(init or {})
    if isinstance(fixed, Mapping):
        start.update(fixed)
        fixed_names = tuple(fixed)
    else:
        fixed_names = tuple(fixed)
    for nuis in getattr(likelihood.spec, "nuisances", ()):
        if nuis.prior == "fixed" and nuis.name not in fixed_names:
            fixed_names += (nuis.name,)  # declared fixed: held at its nominal, not fitted
            start.setdefault(nuis.name, nuis.nominal)
    return start, fixed_names


def _all_fixed(
    likelihood: Fittable,
    x0: npt.NDArray[np.float64],
    names: tuple[str, ...],
    fixed_names: tuple[str, ...],
) -> FitResult:
    """The result when every parameter is fixed: q at the start point, nothing minimised."""
    q0 = likelihood.value_and_grad(x0)[0]
    values = dict(zip(names, x0.tolist(), strict=True))
    zeros = np.zeros((len(names), len(names)))
    ok = math.isfinite(q0)
    return FitResult(names, values, dict.fromkeys(names, 0.0), zeros, q0, ok, 0.0, 1, 0,
                     "all parameters fixed", fixed_names)  # fmt: skip


def _infinite_everywhere(
    likelihood: Fittable,
    x0: npt.NDArray[np.float64],
    names: tuple[str, ...],
    fixed_names: tuple[str, ...],
) -> FitResult | None:
    """The result when q = +∞ for every value of the floating parameters, else None.

    A binned likelihood says so (:meth:`~unbinned.binned.BinnedLikelihood.empty_bins`):
    observed events in a bin that the fixed parameters leave empty, as the signal-only
    bins with every signal strength fixed at 0.  The minimum of q is then
    +∞, exactly (a profile scan's Δq there is +∞, not the NaN of a failed fit).
    """
    probe = getattr(likelihood, "empty_bins", None)
    if probe is None:
        return None
    fixed = {n: float(x0[names.index(n)]) for n in fixed_names}
    bins = probe(fixed)
    if not bins:
        return None
    shown = ", ".join(f"{r} bin {b}" for r, b in bins[:3]) + (" ..." if len(bins) > 3 else "")
    status = (f"q = +inf whatever the floating parameters: {len(bins)} bin(s) with observed "
              f"events have no expected events at the fixed values ({shown})")  # fmt: skip
    zeros = np.zeros((len(names), len(names)))
    return FitResult(names, dict(zip(names, x0.tolist(), strict=True)), dict.fromkeys(names, 0.0),
                     zeros, math.inf, True, 0.0, 0, 0, status, fixed_names)  # fmt: skip


def _all_at_limit(
    likelihood: Fittable,
    pre: _Polished,
    names: tuple[str, ...],
    fixed_names: tuple[str, ...],
    at_limit: list[int],
    limits: Mapping[str, tuple[float, float] | None],
) -> FitResult:
    """The result when the pre-fit put every floating parameter at a limit."""
    q_b = float(likelihood(pre.x))
    zeros = np.zeros((len(names), len(names)))
    where = ", ".join(_bound_text(names[i], pre.x[i], limits) for i in at_limit)
    return FitResult(names, dict(zip(names, pre.x.tolist(), strict=True)),
                     dict.fromkeys(names, 0.0), zeros, q_b, True, 0.0, pre.nfcn, 1,
                     f"converged (every parameter at a limit: {where})", fixed_names,
                     at_limit=tuple(names[i] for i in at_limit))  # fmt: skip


@dataclass
class _Attempts:
    """What the MIGRAD attempts of a fit left: the last Minuit and its polished minimum."""

    m: Minuit
    attempts: int
    nfcn: int
    notes: list[str]
    polished: _Polished | None

    @property
    def valid(self) -> bool:
        return self.polished is not None and _migrad_ok(self.m) and self.polished.posdef


def _migrad_attempts(
    likelihood: Fittable,
    pre: _Polished,
    x0: npt.NDArray[np.float64],
    floating: list[int],
    fixed_run: tuple[str, ...],
    limits: Mapping[str, tuple[float, float] | None],
    names: tuple[str, ...],
    strategy: int,
    tol: float,
    max_attempts: int,
    rng: np.random.Generator,
) -> _Attempts:
    """MIGRAD until a valid minimum with a positive-definite Hessian, or out of attempts.

    First from the pre-fit point with its Hessian, then from the start with strategy
    2 and no Hessian, then from random points around the start.
    """
    plan: list[tuple[npt.NDArray[np.float64], int, bool]] = [(pre.x, strategy, True)]
    plan.append((x0, max(strategy, 2), False))
    m: Minuit | None = None
    attempts, nfcn = 0, 0
    notes: list[str] = []
    polished: _Polished | None = None
    while attempts < max_attempts:
        if attempts < len(plan):
            x, strat, use_h = plan[attempts]
        else:
            x, strat, use_h = _jitter(x0, likelihood, limits, fixed_run, rng), 2, False
        attempts += 1
        seed_h = pre.hessian if attempts == 1 else None
        m = _make_minuit(likelihood, x, fixed_run, limits, use_hessian=use_h, seed_hessian=seed_h)
        _start_errors(likelihood, m)
        if attempts == 1 and pre.posdef:
            for i in floating:
                m.errors[names[i]] = math.sqrt(pre.cov[i, i])
        m.strategy = strat
        m.tol = tol
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # iminuit warns on invalid minima; we report them
            try:
                m.migrad()
            except (FloatingPointError, RuntimeError, DataError, TypeError) as exc:
                # TypeError: Minuit2 failing inside MIGRAD with an analytic Hessian (as
                # with fixed parameters, _make_minuit); the next attempt runs without it
                notes.append(f"attempt {attempts}: {exc}")
                continue
        nfcn += m.nfcn
        polished = _polish(
            likelihood, np.array(m.values), floating, limits, names, max_steps=1, refresh=False
        )
        if _migrad_ok(m) and polished.posdef:
            break
        why = "Hessian not positive definite" if _migrad_ok(m) else "MIGRAD minimum invalid"
        notes.append(f"attempt {attempts} (strategy {strat}): {why}")
    assert m is not None
    return _Attempts(m, attempts, nfcn, notes, polished)


def _fit_result(
    run: _Attempts,
    names: tuple[str, ...],
    fixed_names: tuple[str, ...],
    at_limit: list[int],
    raise_on_failure: bool,
    limits: Mapping[str, tuple[float, float] | None],
) -> FitResult:
    """The :class:`FitResult` of the attempts (or :class:`FitError` if asked and invalid).

    A floating parameter that MIGRAD brought onto one of its bounds joins those the
    pre-fit held there (:func:`_on_bound`); the status names each with its bound.
    """
    m, attempts, notes, polished = run.m, run.attempts, run.notes, run.polished
    valid = run.valid
    x_end = np.array(m.values) if polished is None else polished.x
    held = [names[i] for i in at_limit]
    at_limit = at_limit + [
        i for i in _on_bound(x_end, names, limits) if names[i] not in held + list(fixed_names)
    ]
    limit_note = (
        "; at a limit: " + ", ".join(_bound_text(names[i], x_end[i], limits) for i in at_limit)
        if at_limit
        else ""
    )
    if valid and attempts == 1:
        status = "converged" + limit_note
    elif valid:
        status = f"converged after {attempts} attempts ({'; '.join(notes)}){limit_note}"
    else:
        status = ("; ".join(notes) or "failed") + limit_note
    if not valid and raise_on_failure:
        raise FitError(f"fit did not converge to a valid minimum: {status}\n{m.fmin}")
    nfcn = run.nfcn
    if polished is None:
        x_best, fval = np.array(m.values), math.nan
        cov = np.full((len(names), len(names)), math.nan)
    else:
        x_best, fval, cov = polished.x, polished.fval, polished.cov
        nfcn += polished.nfcn
    return FitResult(
        parameter_names=names,
        values=dict(zip(names, x_best.tolist(), strict=True)),
        errors={n: float(math.sqrt(max(cov[i, i], 0.0))) for i, n in enumerate(names)},
        covariance=cov,
        fval=fval,
        valid=valid,
        edm=float(m.fmin.edm) if m.fmin is not None else math.nan,
        nfcn=nfcn,
        attempts=attempts,
        status=status,
        fixed=fixed_names,
        minuit=m,
        at_limit=tuple(names[i] for i in at_limit),
    )


def _on_bound(
    x: npt.NDArray[np.float64],
    names: Sequence[str],
    limits: Mapping[str, tuple[float, float] | None],
) -> list[int]:
    """Indices of the parameters on a bound (within 1e-8 of the bounded range, or 1e-10)."""
    out = []
    for i, n in enumerate(names):
        b = limits.get(n)
        if b is None:
            continue
        span = b[1] - b[0]
        tol = 1e-8 * span if math.isfinite(span) else 1e-10 * (1.0 + abs(x[i]))
        if x[i] <= b[0] + tol or x[i] >= b[1] - tol:
            out.append(i)
    return out


def _bound_text(name: str, value: float, limits: Mapping[str, tuple[float, float] | None]) -> str:
    """``"mu = 10 (upper bound)"``."""
    b = limits.get(name)
    side = "lower" if b is not None and abs(value - b[0]) <= abs(value - b[1]) else "upper"
    return f"{name} = {value:.6g} ({side} bound)"


@dataclass(frozen=True)
class _Polished:
    x: npt.NDArray[np.float64]
    fval: float
    cov: npt.NDArray[np.float64]
    posdef: bool
    nfcn: int
    hessian: npt.NDArray[np.float64] | None = None


def _polish(
    lik: Fittable,
    x: npt.NDArray[np.float64],
    floating: list[int],
    limits: Mapping[str, tuple[float, float] | None],
    names: tuple[str, ...],
    max_steps: int = 3,
    *,
    refresh: bool = True,
) -> _Polished:
    """Damped Newton steps with the exact Hessian, then the covariance 2 H⁻¹.

    Used twice: before MIGRAD (from the start point, so that MIGRAD begins next to
    the minimum) and after it (MIGRAD stops at EDM < tolerance; one Newton step
    with the exact Hessian takes the minimum to machine precision).  A step is
    halved until it stays inside the bounds and lowers q; where the Hessian is not
    positive definite it is shifted (Levenberg) so the step still descends.  The
    covariance is computed here, in external coordinates.  With ``refresh=False``
    the Hessian is not recomputed after the last step (for a final polish whose
    step is tiny): the covariance is then the one at the starting point.
    """
    lo, hi = _box(limits, names)
    q, g, h = _evaluate2(lik, x)
    nfcn = 1
    idx = np.array(floating)
    for step_no in range(max_steps):
        hf = h[np.ix_(idx, idx)]
        if not np.all(np.isfinite(hf)) or not np.all(np.isfinite(g)):
            break
        eig_min = float(np.linalg.eigvalsh(hf).min())
        if eig_min <= 0:
            hf = hf + (1e-6 - eig_min) * np.eye(len(idx)) + 1e-3 * np.diag(np.abs(np.diag(hf)))
        try:
            step = np.linalg.solve(hf, g[idx])
        except np.linalg.LinAlgError:
            break
        accepted = False
        for _half in range(12):
            trial = x.copy()
            trial[idx] -= step
            if np.all(trial >= lo) and np.all(trial <= hi):
                q_new = float(lik(trial))
                nfcn += 1
                if q_new <= q:
                    accepted = True
                    break
            step = step / 2.0
        if not accepted:
            break
        x = trial
        if not refresh and step_no == max_steps - 1:
            q = q_new
            break
        q, g, h = _evaluate2(lik, x)
        if np.max(np.abs(step)) < 1e-12 * (1.0 + np.max(np.abs(x[idx]))):
            break
    cov = np.zeros((len(names), len(names)))
    hf = h[np.ix_(idx, idx)]
    eig = np.linalg.eigvalsh(hf) if np.all(np.isfinite(hf)) else np.array([-1.0])
    posdef = bool(eig.min() > 0)
    if posdef:
        cov[np.ix_(idx, idx)] = 2.0 * lik.errordef * np.linalg.inv(hf)
    else:
        cov[np.ix_(idx, idx)] = math.nan
    return _Polished(x, float(q), cov, posdef, nfcn)


def _box(
    limits: Mapping[str, tuple[float, float] | None], names: Sequence[str]
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Lower and upper bounds as arrays in parameter order (±inf where unbounded)."""
    lo = np.array([(limits.get(n) or (-math.inf, math.inf))[0] for n in names], dtype=np.float64)
    hi = np.array([(limits.get(n) or (-math.inf, math.inf))[1] for n in names], dtype=np.float64)
    return lo, hi


def _evaluate2(
    lik: Fittable, x: npt.NDArray[np.float64]
) -> tuple[float, npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """q, gradient and Hessian in one pass where the likelihood supports it."""
    evaluate = getattr(lik, "evaluate", None)
    if evaluate is not None:
        q, g, h = evaluate(x, 2)
        return float(q), g, h
    q, g = lik.value_and_grad(x)
    return q, g, lik.hessian(x)


def _inverse_hessian(hf: npt.NDArray[np.float64]) -> npt.NDArray[np.float64] | None:
    """H⁻¹ of a positive-definite Hessian block (None if it is not)."""
    if not np.all(np.isfinite(hf)):
        return None
    try:
        chol = np.linalg.cholesky(hf)
    except np.linalg.LinAlgError:
        return None
    inv_l = np.linalg.inv(chol)
    return np.asarray(inv_l.T @ inv_l)


def _chord(
    lik: Fittable,
    x: npt.NDArray[np.float64],
    floating: list[int],
    limits: Mapping[str, tuple[float, float] | None],
    names: tuple[str, ...],
    *,
    max_steps: int = 12,
    edm_tol: float = 1e-9,
    hessian: npt.NDArray[np.float64] | None = None,
) -> _Polished:
    """Newton steps with one exact Hessian (the chord method), gradients only afterwards.

    For the nearly quadratic q of a large sample each step takes the distance to
    the minimum down by a large factor at the cost of one gradient (a pass over the
    events) instead of a Hessian.  Where a step shrinks the EDM by less than
    :data:`REFRESH` (the Hessian has changed along the way), the next point is
    evaluated with its exact Hessian, which the following steps then use.  Steps are projected
    onto the bounds (a parameter whose minimum lies on its bound lands there; the
    Newton step then moves only the others) and halved until they lower q.  Stops
    at EDM = ½ gᵀH⁻¹g < ``edm_tol``.  Where the Hessian is not positive definite
    it falls back to :func:`_polish` (exact Newton with a Levenberg shift).
    ``cov`` is 2H⁻¹ of the Hessian last used.
    """
    idx = np.array(floating)
    if hessian is None:
        q, g, h = _evaluate2(lik, x)
    else:
        (q, g), h = lik.value_and_grad(x), hessian
    inv = _inverse_hessian(h[np.ix_(idx, idx)])
    if inv is None:
        return _polish(lik, x, floating, limits, names, max_steps=8)
    lo, hi = _box(limits, names)
    nfcn = 1
    refresh = False  # evaluate the next point with its exact Hessian (slow contraction)
    edm_before = math.inf
    for _ in range(max_steps):
        step = inv @ g[idx]
        free = ~(((x[idx] <= lo[idx]) & (g[idx] > 0)) | ((x[idx] >= hi[idx]) & (g[idx] < 0)))
        if not free.all():  # Newton step of the parameters off their bounds only
            sub = _inverse_hessian(np.asarray(np.linalg.inv(inv)[np.ix_(free, free)], np.float64))
            step = np.zeros_like(step)
            if sub is not None:
                step[free] = sub @ g[idx][free]
        edm = 0.5 * float(g[idx] @ step)
        if not np.all(np.isfinite(step)) or edm < edm_tol:
            break
        if edm > REFRESH * edm_before and hasattr(lik, "evaluate"):
            refresh = True  # the Hessian has changed along the way: a full Newton step next
        edm_before = edm
        accepted = False
        h_new = None
        for _half in range(12):
            trial = x.copy()
            trial[idx] = np.clip(trial[idx] - step, lo[idx], hi[idx])  # projected onto the box
            if refresh:
                q_new, g_new, h_new = _evaluate2(lik, trial)
            else:
                q_new, g_new = lik.value_and_grad(trial)
            nfcn += 1
            if q_new <= q:
                accepted = True
                break
            step = step / 2.0
        if not accepted:
            break
        x, q, g = trial, q_new, g_new
        if refresh and h_new is not None:
            inv_new = _inverse_hessian(h_new[np.ix_(idx, idx)])
            if inv_new is not None:
                inv, edm_before = inv_new, math.inf
            refresh = False
    cov = np.zeros((len(names), len(names)))
    cov[np.ix_(idx, idx)] = 2.0 * lik.errordef * inv
    hess_used = np.zeros((len(names), len(names)))
    hess_used[np.ix_(idx, idx)] = np.linalg.inv(inv)
    return _Polished(x, float(q), cov, True, nfcn, hess_used)


def hessian_of(result: FitResult, errordef: float = 1.0) -> npt.NDArray[np.float64] | None:
    """The Hessian of q at a fit's minimum from its covariance, H = 2·errordef·C⁻¹.

    Over the parameters with a positive variance (zero rows and columns for the
    others); None where that block is not positive definite.  The Hessian of the
    fit that made ``result`` at no cost, e.g. to warm-start a neighbouring
    :func:`conditional_fit`.
    """
    cov = np.asarray(result.covariance, dtype=np.float64)
    if cov.ndim != 2 or not np.all(np.isfinite(cov)):
        return None
    idx = np.flatnonzero(np.diag(cov) > 0)
    if idx.size == 0:
        return None
    inv = _inverse_hessian(cov[np.ix_(idx, idx)])
    if inv is None:
        return None
    out = np.zeros_like(cov)
    out[np.ix_(idx, idx)] = 2.0 * errordef * inv
    return out


def _at_limit(
    lik: Fittable,
    x: npt.NDArray[np.float64],
    floating: list[int],
    limits: Mapping[str, tuple[float, float] | None],
    names: tuple[str, ...],
) -> list[int]:
    """Floating parameters on a bound whose gradient points out of the range (KKT)."""
    out = []
    _, g = lik.value_and_grad(x)
    for i in floating:
        b = limits.get(names[i])
        if b is None:
            continue
        if (x[i] <= b[0] and g[i] > 0) or (x[i] >= b[1] and g[i] < 0):
            out.append(i)
    return out


def _jitter(
    x0: npt.NDArray[np.float64],
    lik: Fittable,
    limits: Mapping[str, tuple[float, float] | None],
    fixed: Sequence[str],
    rng: np.random.Generator,
) -> npt.NDArray[np.float64]:
    """A new starting point: each floating parameter moved by about its prior width."""
    x = x0.copy()
    widths = {n.name: n.width for n in getattr(lik.spec, "nuisances", ()) if n.width}
    for i, name in enumerate(lik.parameter_names):
        if name in fixed:
            continue
        step = widths.get(name) or 0.2 * max(abs(x0[i]), 1.0)
        v = x0[i] + step * rng.normal()
        b = limits.get(name)
        if b is not None:
            lo, hi = b
            span = (hi - lo) if math.isfinite(hi - lo) else 2 * step
            v = float(np.clip(v, lo + 1e-3 * span, hi - 1e-3 * span))
        x[i] = v
    return x


def conditional_fit(
    likelihood: Fittable,
    fixed: Mapping[str, float],
    start: Mapping[str, float],
    *,
    seed: int = 0,
    max_steps: int = 8,
    hessian: npt.NDArray[np.float64] | None = None,
) -> FitResult:
    """Minimise q with some parameters held fixed, by Newton steps from a warm start.

    Meant for profile scans, where each point starts next to its minimum: damped
    Newton steps with the exact Hessian converge in two or three passes over the
    events, where MIGRAD needs dozens.  The result is accepted when the Hessian of
    the floating parameters is positive definite and the expected distance to the
    minimum ½ gᵀH⁻¹g is below 1e-8; otherwise the full :func:`fit` (MIGRAD, retries)
    is run instead, so the result is as trustworthy as a fit's.

    ``hessian`` (all parameters, the floating block used): an approximate Hessian
    to start the chord steps with, e.g. a neighbouring scan point's (:func:`hessian_of`),
    instead of the exact one at the start (the most expensive pass over the events).
    Where the steps then contract slowly the exact Hessian is evaluated anyway
    (:func:`_chord`), and the acceptance test is the same.
    """
    names = tuple(likelihood.parameter_names)
    fixed_all = dict(fixed)
    for nuis in getattr(likelihood.spec, "nuisances", ()):
        if nuis.prior == "fixed":
            fixed_all.setdefault(nuis.name, nuis.nominal)
    x0 = likelihood.vector({**start, **fixed_all})
    floating = [i for i, n in enumerate(names) if n not in fixed_all]
    infinite = _infinite_everywhere(likelihood, x0, names, tuple(fixed_all))
    if infinite is not None:
        return infinite
    limits = _limits(likelihood)
    for method in ("chord", "newton") if floating else ():
        if method == "chord":
            pol = _chord(likelihood, x0, floating, limits, names, max_steps=2 * max_steps,
                         hessian=hessian)  # fmt: skip
        else:
            pol = _polish(likelihood, x0, floating, limits, names, max_steps=max_steps)
        _, g = likelihood.value_and_grad(pol.x)
        idx = np.array(floating)
        edm = 0.25 * float(g[idx] @ pol.cov[np.ix_(idx, idx)] @ g[idx]) if pol.posdef else math.inf
        if pol.posdef and edm < 1e-8:
            return FitResult(
                parameter_names=names,
                values=dict(zip(names, pol.x.tolist(), strict=True)),
                errors={n: float(math.sqrt(max(pol.cov[i, i], 0.0))) for i, n in enumerate(names)},
                covariance=pol.cov,
                fval=pol.fval,
                valid=True,
                edm=edm,
                nfcn=pol.nfcn,
                attempts=1,
                status=f"converged ({method} Newton, exact Hessian)",
                fixed=tuple(fixed_all),
            )
    init = {k: v for k, v in start.items() if k not in fixed_all}
    return fit(likelihood, init=init, fixed=fixed_all, seed=seed)
