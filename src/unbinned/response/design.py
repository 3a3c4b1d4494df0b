"""Bayesian experimental design: where to simulate next.

The next simulation point (or batch) maximises the expected reduction of the trace of
the GP posterior covariance over a utility set U of points where the response is
needed.  Adding an observation block y_c at a candidate c (its value and, for a
derivative GP, its gradient, with noise covariance R) changes the posterior covariance
of f(U) by a rank-b update, so the expected reduction of the trace is

    Δ(c) = tr(Σ_Uc (Σ_cc + R)⁻¹ Σ_cU) = tr((Σ_cc + R)⁻¹ Σ_cU Σ_Uc),

with Σ the current posterior covariances (Σ_Uc = K_Uc - K_UX (K_XX + R_X)⁻¹ K_Xc).
The posterior covariance of a GP does not depend on the observed values, so Δ(c) needs
no new simulation, and a batch is chosen greedily: each chosen point is added to the
design with its (still unknown) observation, which changes every later Δ exactly.
Method: Romero, Cranmer, Whiteson, arXiv:2509.15500 (Bayesian experimental design for
the GP response of systematic uncertainties); the criterion is the A-optimal
(integrated-variance) design of Sacks et al., Statist. Sci. 4 (1989) 409.

Examples
--------
>>> import numpy as np
>>> from unbinned.response import sequential_design
>>> def simulate(nu):
...     return float(np.sin(3 * nu[0]) * nu[1]), np.array([3 * np.cos(3 * nu[0]) * nu[1],
...                                                         np.sin(3 * nu[0])])
>>> result = sequential_design(simulate, [(-1, 1), (-1, 1)], n_points=8, seed=1)
>>> result.points.shape
(8, 2)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
import torch
from scipy.stats import qmc

from unbinned.exceptions import ConfigError, DataError
from unbinned.response.gp import DerivativeGP, _cholesky, _GPState

__all__ = [
    "DesignResult",
    "Simulator",
    "expected_trace_reduction",
    "select_batch",
    "sequential_design",
    "sobol_points",
]

FloatArray = npt.NDArray[np.float64]
_DTYPE = torch.float64


class Simulator(Protocol):
    """A simulation at one nuisance point: returns the response and its gradient (or None)."""

    def __call__(self, nu: FloatArray) -> tuple[float, FloatArray | None]:
        """Simulate at ``nu`` (shape (d,)); return (value, gradient of shape (d,) or None)."""
        ...


def sobol_points(bounds: npt.ArrayLike, n: int, *, seed: int = 0) -> FloatArray:
    """Return ``n`` scrambled Sobol points in the box ``bounds`` (shape (d, 2))."""
    b = np.asarray(bounds, dtype=np.float64)
    if n < 1:
        raise ConfigError(f"the number of points must be >= 1, got {n}")
    sampler = qmc.Sobol(d=b.shape[0], scramble=True, seed=seed)
    m = int(np.ceil(np.log2(n)))
    unit = sampler.random_base2(m)[:n]
    return np.asarray(b[:, 0] + unit * (b[:, 1] - b[:, 0]), dtype=np.float64)


def _state_with(st: _GPState, extra_unit: torch.Tensor) -> _GPState:
    """Return the GP state with fantasised observations at ``extra_unit`` (unit cube)."""
    x = torch.cat([st.x, extra_unit], dim=0)
    k = st.cov(x, x, grad1=st.with_gradients, grad2=st.with_gradients)
    chol = _cholesky(k + torch.diag(st.noise_diagonal(x.shape[0], st.with_gradients)))
    return _GPState(
        x=x,
        with_gradients=st.with_gradients,
        kernel=st.kernel,
        masks=st.masks,
        lengthscales=st.lengthscales,
        outputscale=st.outputscale,
        value_noise=st.value_noise,
        gradient_noise=st.gradient_noise,
        mean=st.mean,
        chol=chol,
        alpha=torch.empty(0, dtype=_DTYPE),
        projection=st.projection,
    )


def _scores(
    st: _GPState,
    cand: torch.Tensor,
    util: torch.Tensor,
    chunk: int,
    weights: torch.Tensor | None = None,
) -> torch.Tensor:
    """Δ(c) in internal (standardised) units for every candidate (unit-cube inputs)."""
    d = st.x.shape[1]
    wg = st.with_gradients
    b = 1 + d if wg else 1
    k_ux = st.cov(util, st.x, grad1=False, grad2=wg)
    a = torch.linalg.solve_triangular(st.chol, k_ux.T, upper=False)  # (nb, M)
    prior = st.prior_block_covariance(wg) + torch.diag(st.noise_diagonal(1, wg))
    out = []
    for start in range(0, cand.shape[0], chunk):
        c = cand[start : start + chunk]
        nc = c.shape[0]
        k_cx = st.cov(c, st.x, grad1=wg, grad2=wg)
        bm = torch.linalg.solve_triangular(st.chol, k_cx.T, upper=False)  # (nb, nc*b)
        k_uc = st.cov(util, c, grad1=False, grad2=wg)
        s_uc = (k_uc - a.T @ bm).reshape(-1, nc, b)  # (M, nc, b)
        bm3 = bm.reshape(-1, nc, b)
        s_cc = prior.expand(nc, b, b) - torch.einsum("ncb,nce->cbe", bm3, bm3)
        if weights is None:
            g = torch.einsum("mcb,mce->cbe", s_uc, s_uc)
        else:
            g = torch.einsum("mcb,mce,m->cbe", s_uc, s_uc, weights)
        sol = torch.linalg.solve(s_cc, g)
        out.append(sol.diagonal(dim1=-2, dim2=-1).sum(-1))
    return torch.cat(out)


def _check_weights(weights: npt.ArrayLike | None, m: int) -> torch.Tensor | None:
    if weights is None:
        return None
    w = np.asarray(weights, dtype=np.float64).reshape(-1)
    if w.shape[0] != m or not np.all(np.isfinite(w)) or np.any(w < 0):
        raise DataError(
            f"utility weights must be {m} finite non-negative numbers (one per utility point), "
            f"got shape {w.shape}"
        )
    return torch.as_tensor(w, dtype=_DTYPE)


def _check_points(gp: DerivativeGP, pts: npt.ArrayLike, name: str) -> torch.Tensor:
    arr = np.asarray(pts, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != gp.dim or arr.shape[0] < 1:
        raise DataError(f"{name} must have shape (n, {gp.dim}) with n >= 1, got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise DataError(f"{name} contains NaN or infinite values")
    return gp._to_unit(torch.as_tensor(arr, dtype=_DTYPE))


def expected_trace_reduction(
    gp: DerivativeGP,
    candidates: npt.ArrayLike,
    utility: npt.ArrayLike,
    *,
    weights: npt.ArrayLike | None = None,
    chunk_size: int = 256,
) -> FloatArray:
    """Expected reduction of tr Σ_post(U) from simulating at each candidate.

    Parameters
    ----------
    gp
        A fitted GP; a candidate contributes a value and, if the GP was fitted with
        gradients, a gradient, with the GP's noise variances.
    candidates
        Candidate points, shape (C, d).
    utility
        The utility set U, shape (M, d).
    weights
        Optional non-negative weights w_u of the utility points: the score is then
        Σ_u w_u ΔVar(u), the trace of W Σ (e.g. w_u = (dr/dy)² at u when the GP models
        a transform y of the response r of interest, see :meth:`SqrtTransform.weights`).
    chunk_size
        Candidates scored at once.

    Returns
    -------
    numpy.ndarray
        Δ(c) for every candidate, shape (C,), in the units of the response squared
        (summed over U).
    """
    st = gp._require_state()
    cand = _check_points(gp, candidates, "candidates")
    util = _check_points(gp, utility, "utility")
    w = _check_weights(weights, util.shape[0])
    with torch.no_grad():
        scores = _scores(st, cand, util, chunk_size, w)
    return np.asarray(scores.numpy() * gp._y_scale**2, dtype=np.float64)


def select_batch(
    gp: DerivativeGP,
    n_points: int,
    *,
    candidates: npt.ArrayLike | None = None,
    utility: npt.ArrayLike | None = None,
    n_candidates: int = 1024,
    n_utility: int = 512,
    weights: npt.ArrayLike | None = None,
    seed: int = 0,
) -> FloatArray:
    """Choose ``n_points`` new simulation points greedily by expected trace reduction.

    Parameters
    ----------
    gp
        A fitted GP (its hyperparameters are kept fixed within the batch).
    n_points
        Batch size.
    candidates, utility
        Candidate points and utility set, shape (·, d); default: scrambled Sobol points
        of the GP's bounds (``n_candidates`` and ``n_utility`` of them), plus the box's
        corners among the candidates.
    n_candidates, n_utility, seed
        Size and seed of the default sets.
    weights
        Optional weights of the utility points (see :func:`expected_trace_reduction`).

    Returns
    -------
    numpy.ndarray
        The chosen points, shape (n_points, d), in the order chosen.
    """
    if n_points < 1:
        raise ConfigError(f"n_points must be >= 1, got {n_points}")
    cand_np = _default_candidates(gp, candidates, n_candidates, seed)
    util_np = sobol_points(gp.bounds, n_utility, seed=seed + 1) if utility is None else utility
    st = gp._require_state()
    cand = _check_points(gp, cand_np, "candidates")
    util = _check_points(gp, util_np, "utility")
    w = _check_weights(weights, util.shape[0])
    chosen: list[int] = []
    with torch.no_grad():
        for _ in range(n_points):
            scores = _scores(st, cand, util, 256, w)
            best = int(torch.argmax(scores))
            chosen.append(best)
            st = _state_with(st, cand[best : best + 1])
    return np.asarray(np.asarray(cand_np, dtype=np.float64)[chosen], dtype=np.float64)


def _default_candidates(
    gp: DerivativeGP, candidates: npt.ArrayLike | None, n: int, seed: int
) -> FloatArray:
    if candidates is not None:
        return np.asarray(candidates, dtype=np.float64)
    # Sobol points of the GP's internal unit cube (uniform in the warped coordinates)
    pts = gp._from_unit(sobol_points(np.tile([0.0, 1.0], (gp.dim, 1)), n, seed=seed))
    corners = np.array(np.meshgrid(*gp.bounds, indexing="ij")).reshape(gp.dim, -1).T
    return np.concatenate([pts, corners], axis=0)


@dataclass(repr=False)
class DesignResult:
    """The outcome of :func:`sequential_design`.

    Attributes
    ----------
    points
        Simulated points, shape (n, d), in the order simulated.
    values
        Simulated responses, shape (n,).
    gradients
        Simulated gradients, shape (n, d), or None.
    gp
        The GP fitted to all points.
    n_initial
        How many of the points were given, not designed.
    """

    points: FloatArray
    values: FloatArray
    gradients: FloatArray | None
    gp: DerivativeGP
    n_initial: int

    def __repr__(self) -> str:
        return (
            f"DesignResult(n_points={len(self.values)}, n_initial={self.n_initial}, "
            f"gradients={self.gradients is not None}, gp={self.gp!r})"
        )


def sequential_design(
    simulate: Simulator | Callable[[FloatArray], tuple[float, FloatArray | None]],
    bounds: npt.ArrayLike,
    n_points: int,
    *,
    initial_points: npt.ArrayLike | None = None,
    use_gradients: bool = True,
    batch_size: int | Callable[[int], int] = 1,
    n_candidates: int = 1024,
    n_utility: int = 512,
    utility: npt.ArrayLike | None = None,
    utility_weights: Callable[[DerivativeGP, FloatArray], FloatArray] | None = None,
    seed: int = 0,
    refit_restarts: int = 1,
    final_restarts: int = 3,
    max_iter: int = 100,
    gp_options: dict[str, Any] | None = None,
    callback: Callable[[DesignResult], None] | None = None,
) -> DesignResult:
    """Simulate, fit, choose the next batch by expected trace reduction; repeat.

    Parameters
    ----------
    simulate
        Called with one point (shape (d,)); returns (value, gradient or None).
    bounds
        The nuisance domain, shape (d, 2).
    n_points
        Total number of simulation points, initial ones included.
    initial_points
        Points simulated first; default: the centre of the box (the nominal point when
        the box is symmetric about it).
    use_gradients
        Fit a derivative GP (the simulator must return gradients) or a value-only GP.
    batch_size
        Points chosen per design step (greedy batch), or a function of the number of
        points simulated so far that returns it (e.g. 1 while few points exist, larger
        later, to save refits).
    n_candidates, n_utility, utility, seed
        Candidate and utility sets (see :func:`select_batch`).
    utility_weights
        Called with the current GP and the utility set before each step; returns the
        weights of the utility points (see :func:`expected_trace_reduction`).
    refit_restarts
        Random restarts of the hyperparameter fit after each batch (warm-started).
    final_restarts
        Random restarts of the final fit.
    max_iter
        L-BFGS iterations per start.
    gp_options
        Further keyword arguments of :class:`DerivativeGP` (e.g. ``fit_noise``).
    callback
        Called with the intermediate :class:`DesignResult` after each batch.

    Returns
    -------
    DesignResult
        The design, the simulations and the final GP.
    """
    b = np.asarray(bounds, dtype=np.float64)
    init = _initial_points(b, n_points, batch_size, initial_points)
    gp = DerivativeGP(
        b, n_restarts=refit_restarts, seed=seed, max_iter=max_iter, **(gp_options or {})
    )
    candidates = _default_candidates(gp, None, n_candidates, seed)
    util = np.asarray(
        sobol_points(b, n_utility, seed=seed + 1) if utility is None else utility, dtype=np.float64
    )
    run = _DesignRun(simulate, gp, b.shape[0], use_gradients, n_points, init.shape[0],
                     (refit_restarts, final_restarts), callback)  # fmt: skip
    return run.complete(init, batch_size, candidates, util, utility_weights)


def _initial_points(
    b: FloatArray,
    n_points: int,
    batch_size: int | Callable[[int], int],
    initial_points: npt.ArrayLike | None,
) -> FloatArray:
    """Check the budget and batch size of :func:`sequential_design`; its first points."""
    if n_points < 1:
        raise ConfigError(f"n_points must be >= 1, got {n_points}")
    if not callable(batch_size) and batch_size < 1:
        raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
    init = (
        b.mean(axis=1, keepdims=True).T
        if initial_points is None
        else np.asarray(initial_points, dtype=np.float64).reshape(-1, b.shape[0])
    )
    if init.shape[0] > n_points:
        raise ConfigError(
            f"{init.shape[0]} initial points exceed n_points={n_points}; raise n_points"
        )
    return np.asarray(init, dtype=np.float64)


class _DesignRun:
    """The simulations of :func:`sequential_design` so far and the GP refitted to them."""

    def __init__(
        self,
        simulate: Simulator | Callable[[FloatArray], tuple[float, FloatArray | None]],
        gp: DerivativeGP,
        d: int,
        use_gradients: bool,
        n_points: int,
        n_initial: int,
        restarts: tuple[int, int],
        callback: Callable[[DesignResult], None] | None,
    ) -> None:
        self.simulate = simulate
        self.gp = gp
        self.d = d
        self.use_gradients = use_gradients
        self.n_points = n_points
        self.n_initial = n_initial
        self.refit_restarts, self.final_restarts = restarts
        self.callback = callback
        self.pts: list[FloatArray] = []
        self.vals: list[float] = []
        self.grads: list[FloatArray] = []

    def _run(self, batch: FloatArray) -> None:
        for p in batch:
            value, grad = self.simulate(np.array(p, dtype=np.float64))
            self.pts.append(np.array(p, dtype=np.float64))
            self.vals.append(float(value))
            if self.use_gradients:
                if grad is None:
                    raise DataError(
                        "use_gradients=True but the simulator returned no gradient; return "
                        "(value, gradient) or pass use_gradients=False"
                    )
                self.grads.append(np.asarray(grad, dtype=np.float64).reshape(self.d))

    def _refit(self, restarts: int) -> DesignResult:
        gp, pts, vals, grads = self.gp, self.pts, self.vals, self.grads
        gp.n_restarts = restarts
        gp.fit(np.array(pts), np.array(vals), np.array(grads) if self.use_gradients else None)
        return DesignResult(
            points=np.array(pts),
            values=np.array(vals),
            gradients=np.array(grads) if self.use_gradients else None,
            gp=gp,
            n_initial=self.n_initial,
        )

    def step(self, batch: FloatArray) -> DesignResult:
        """Simulate ``batch``, refit the GP (the final fit once the budget is spent)."""
        self._run(batch)
        done = len(self.pts) >= self.n_points
        result = self._refit(self.final_restarts if done else self.refit_restarts)
        if self.callback is not None:
            self.callback(result)
        return result

    def complete(
        self,
        init: FloatArray,
        batch_size: int | Callable[[int], int],
        candidates: FloatArray,
        util: FloatArray,
        utility_weights: Callable[[DerivativeGP, FloatArray], FloatArray] | None,
    ) -> DesignResult:
        """Simulate ``init``, then designed batches until the budget is spent."""
        result = self.step(init)
        while len(self.pts) < self.n_points:
            size = batch_size(len(self.pts)) if callable(batch_size) else batch_size
            if size < 1:
                raise ConfigError(f"batch_size({len(self.pts)}) returned {size}; it must be >= 1")
            q = min(size, self.n_points - len(self.pts))
            weights = None if utility_weights is None else utility_weights(self.gp, util)
            batch = select_batch(self.gp, q, candidates=candidates, utility=util, weights=weights)
            result = self.step(batch)
        return result
