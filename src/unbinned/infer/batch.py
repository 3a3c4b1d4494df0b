r"""Fits of many data sets of one model at once (pseudo-experiments), vectorised.

:func:`fit_batch` minimises q_t(θ) of T data sets together by Newton steps with the
exact Hessian, every array operation over all data sets still being minimised
(e.g. :class:`~unbinned.binned.BinnedBatch`, whose q, gradient and Hessian of all T
come from one vectorised pass).  For a binned model the cost of a single fit is
Python's per-call overhead (MIGRAD, a dozen calls of microseconds of arithmetic);
vectorised over T it is paid once.

A data set's fit is accepted when its Hessian (floating parameters) is positive
definite at every step, q never rose, and the Newton decrement
EDM = ½ gᵀH⁻¹g fell below ``edm_tol`` strictly inside the bounds; its result is
then the same minimum as :func:`~unbinned.infer.fit`'s (which stops MIGRAD at
EDM < 2·10⁻⁵ and polishes with one exact Newton step), with the covariance 2H⁻¹ of
the exact Hessian at the minimum.  Any other data set (a minimum on a bound, a
Hessian that is not positive definite, no convergence within ``max_steps``) is
fitted on its own with :func:`~unbinned.infer.fit`: MIGRAD, bounds, retries, its
status saying what happened.  So every result is as trustworthy as a fit's.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Protocol

import numpy as np
import numpy.typing as npt

from unbinned.infer.mle import FitResult, Fittable, _box, _limits, _start_and_fixed, fit

__all__ = ["BatchFittable", "fit_batch"]

FloatArray = npt.NDArray[np.float64]


class BatchFittable(Protocol):
    """What :func:`fit_batch` needs (:class:`unbinned.binned.BinnedBatch` is one)."""

    parameter_names: tuple[str, ...]
    errordef: float

    @property
    def n_toys(self) -> int:
        """Number of data sets."""
        ...

    @property
    def spec(self) -> object:
        """The model declaration (bounds, priors)."""
        ...

    def vector(self, values: Mapping[str, float] | None = None) -> FloatArray:
        """Parameter vector with defaults."""
        ...

    def evaluate(
        self, x: FloatArray, rows: npt.NDArray[np.intp] | None = None
    ) -> tuple[FloatArray, FloatArray, FloatArray]:
        """q, gradient and Hessian of data sets ``rows``, one parameter row each."""
        ...

    def likelihood(self, t: int) -> Fittable:
        """The likelihood of data set ``t`` alone (for the fall-back fit)."""
        ...


def fit_batch(
    batch: BatchFittable,
    *,
    init: Mapping[str, float] | None = None,
    fixed: Mapping[str, float] | Sequence[str] = (),
    max_steps: int = 40,
    edm_tol: float = 1e-12,
    seed: int = 0,
) -> list[FitResult]:
    """Fit every data set of ``batch``; one :class:`FitResult` per data set, in order.

    Parameters
    ----------
    batch
        The data sets (:class:`~unbinned.binned.BinnedBatch`).
    init, fixed, seed
        As for :func:`~unbinned.infer.fit` (the same start for every data set).
    max_steps
        Newton steps before a data set is handed to :func:`~unbinned.infer.fit`.
    edm_tol
        Newton decrement ½ gᵀH⁻¹g at which a minimum is accepted (q's rounding is
        ≈ 1e-14 of q; the position is then known to ≈ √(2·edm_tol) standard deviations).
    """
    start, fixed_names = _start_and_fixed(batch, init, fixed)  # type: ignore[arg-type]
    x0 = batch.vector(start)
    names = tuple(batch.parameter_names)
    floating = np.array([i for i, n in enumerate(names) if n not in fixed_names], dtype=np.intp)
    T = batch.n_toys
    if floating.size == 0 or T == 0:
        return [fit(batch.likelihood(t), init=init, fixed=fixed, seed=seed) for t in range(T)]
    lo, hi = _box(_limits(batch), names)  # type: ignore[arg-type]
    state = _newton(batch, x0, floating, lo, hi, max_steps, edm_tol)
    out: list[FitResult] = []
    for t in range(T):
        if state.done[t]:
            out.append(_result(state, t, names, fixed_names, floating, batch.errordef))
        else:
            out.append(fit(batch.likelihood(t), init=init, fixed=fixed, seed=seed))
    return out


class _State:
    """Per data set: the accepted point, its q, Newton's step and decrement, the outcome."""

    def __init__(self, x0: FloatArray, T: int, F: int) -> None:
        self.x = np.tile(x0, (T, 1))
        self.q = np.full(T, math.inf)
        self.inv = np.zeros((T, F, F))
        self.edm = np.full(T, math.inf)
        self.step = np.zeros((T, F))
        self.scale = np.ones(T)
        self.nfcn = np.zeros(T, dtype=np.int64)
        self.done = np.zeros(T, dtype=bool)
        self.failed = np.zeros(T, dtype=bool)


def _newton(
    batch: BatchFittable,
    x0: FloatArray,
    floating: npt.NDArray[np.intp],
    lo: FloatArray,
    hi: FloatArray,
    max_steps: int,
    edm_tol: float,
) -> _State:
    """Damped Newton iterations over all data sets at once (module docstring).

    Each round evaluates q, g, H at the trial point of every data set still running.
    A trial that raised q (beyond rounding) is halved back towards the accepted
    point; an accepted one gives the next Newton step.  A data set stops when its
    decrement is below ``edm_tol`` (done) or fails (Hessian not positive definite,
    a step that leaves the bounds, no progress): those go to :func:`fit`.
    """
    T, F = batch.n_toys, floating.size
    st = _State(x0, T, F)
    trial = st.x.copy()
    fl = np.ix_(floating, floating)
    for _round in range(4 * max_steps):
        rows = np.flatnonzero(~(st.done | st.failed))
        if rows.size == 0:
            break
        q, g, h = batch.evaluate(trial[rows], rows)
        st.nfcn[rows] += 1
        worse = ~(q <= st.q[rows] + 1e-10 * (1.0 + np.abs(st.q[rows])))
        back = rows[worse]  # halve the step back towards the accepted point
        st.scale[back] *= 0.5
        st.failed[back[st.scale[back] < 1e-4]] = True
        acc = rows[~worse]
        st.x[acc], st.q[acc], st.scale[acc] = trial[acc], q[~worse], 1.0
        hf = h[~worse][(slice(None), *fl)]
        gf = g[~worse][:, floating]
        ok = np.all(np.isfinite(hf), axis=(1, 2)) & np.all(np.isfinite(gf), axis=1)
        st.failed[acc[~ok]] = True
        acc, hf, gf = acc[ok], hf[ok], gf[ok]
        eig_min = np.linalg.eigvalsh(hf)[:, 0]
        posdef = eig_min > 0.0
        # not positive definite (far from the minimum): a Levenberg-shifted Newton step
        shift = np.where(posdef, 0.0, 1e-6 - eig_min)[:, None, None] * np.eye(F)
        shift += np.where(posdef, 0.0, 1e-3)[:, None, None] * _diag_abs(hf)
        inv = np.linalg.inv(hf + shift)
        step = np.einsum("tij,tj->ti", inv, gf)
        st.inv[acc], st.step[acc] = inv, step
        st.edm[acc] = np.where(posdef, 0.5 * np.einsum("ti,ti->t", gf, step), math.inf)
        st.done[acc[st.edm[acc] < edm_tol]] = True
        st.failed |= (st.nfcn >= max_steps) & ~st.done
        running = np.flatnonzero(~(st.done | st.failed))
        trial[running] = _inside(st, running, floating, lo, hi)
    st.failed |= ~st.done
    return st


def _diag_abs(h: FloatArray) -> FloatArray:
    """diag(|H_ii|) of each matrix of a stack."""
    d = np.zeros_like(h)
    i = np.arange(h.shape[1])
    d[:, i, i] = np.abs(h[:, i, i])
    return d


def _inside(
    st: _State,
    rows: npt.NDArray[np.intp],
    floating: npt.NDArray[np.intp],
    lo: FloatArray,
    hi: FloatArray,
) -> FloatArray:
    """The next trial points of ``rows``: the step halved until strictly inside the bounds.

    A data set whose step has to shrink below 1e-4 of Newton's (a minimum on or next
    to a bound) is marked failed: :func:`fit` handles bounds.
    """
    new = st.x[rows].copy()
    for _half in range(14):
        new[:, floating] = st.x[rows][:, floating] - st.scale[rows, None] * st.step[rows]
        outside = ~np.all((new > lo) & (new < hi), axis=1)
        if not outside.any():
            break
        st.scale[rows[outside]] *= 0.5
    st.failed[rows[outside | (st.scale[rows] < 1e-4)]] = True
    return new


def _result(
    st: _State,
    t: int,
    names: tuple[str, ...],
    fixed_names: tuple[str, ...],
    floating: npt.NDArray[np.intp],
    errordef: float,
) -> FitResult:
    """The :class:`FitResult` of a data set whose batched Newton fit converged."""
    cov = np.zeros((len(names), len(names)))
    cov[np.ix_(floating, floating)] = 2.0 * errordef * st.inv[t]
    x = st.x[t]
    return FitResult(
        parameter_names=names,
        values=dict(zip(names, x.tolist(), strict=True)),
        errors={n: float(math.sqrt(max(cov[i, i], 0.0))) for i, n in enumerate(names)},
        covariance=cov,
        fval=float(st.q[t]),
        valid=True,
        edm=float(st.edm[t]),
        nfcn=int(st.nfcn[t]),
        attempts=1,
        status="converged (batched Newton, exact Hessian)",
        fixed=fixed_names,
    )
