r"""The binned Poisson likelihood q(θ) = -2 ln L of the HistFactory templates, exact derivatives.

DESIGN.md §3, binned baseline.  Regions are channels; in every bin b of every
region the expected count is

.. math::

    ν_b(θ) = γ_b \sum_p f_p(θ)\, h_{pb}(α),\qquad α_k = (θ_k - θ⁰_k)/σ_k
    \ \text{(or linear in a power of θ_k: templates module)},

with f_p the analytic rate factors of the model declaration (exactly as in the
unbinned :class:`~unbinned.likelihood.Likelihood`: a ``normfactor`` modifier
multiplies by θ, a ``lognormal`` modifier by κ^θ), h_p(α) the process template
interpolated between its ±1σ variations (:mod:`unbinned.binned.templates`,
pyhf ``histosys`` code0 or code4p) and γ_b the optional Monte-Carlo statistical
parameter of the bin (pyhf ``staterror``, Barlow-Beeston-lite: one γ per bin
shared by all processes, Gaussian constraint of relative width
δ_b = sqrt(Σ_p Σw²_pb) / Σ_p h⁰_pb).  Then

.. math::

    q(θ) = 2 \sum_b \big[ν_b - n_b + n_b \ln(n_b/ν_b)\big] + \sum_k \mathrm{penalty}_k(θ_k)
           + \sum_b \big((γ_b - 1)/δ_b\big)^2,

the Poisson deviance (the saturated constant subtracted, so q ≥ 0 is O(bins)),
with the same prior penalties as the unbinned likelihood (gaussian
((θ - θ⁰)/σ)², lognormal (ln(θ/θ⁰)/σ)², none for uniform and free).

Derivatives are exact, never finite differences: q, its gradient and its
Hessian are evaluated in closed form in float64 numpy (a few small matrix
products; at tens of bins an autograd graph costs more in per-operation
overhead than the arithmetic), and the same q is written in torch
(:meth:`BinnedLikelihood.q_torch`, :meth:`BinnedLikelihood.hessian_autodiff`),
against which the tests check the closed forms to rounding.  The object follows
the :class:`~unbinned.infer.mle.Fittable` protocol, so :func:`unbinned.infer.fit`
and :func:`unbinned.infer.profile_interval` work on it unchanged.

References
----------
K. Cranmer et al., HistFactory, CERN-OPEN-2012-016;
L. Heinrich, M. Feickert, G. Stark, K. Cranmer, pyhf, JOSS 6 (2021) 2823.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Literal

import numpy as np
import numpy.typing as npt
import torch
from scipy.special import xlogy

from unbinned.binned.histograms import ScoredEvents
from unbinned.binned.templates import INTERPOLATIONS, Templates, interpolation_coefficients
from unbinned.exceptions import ConfigError, DataError
from unbinned.likelihood._parameters import ParameterVector
from unbinned.likelihood.priors import Constraint, PriorTerms
from unbinned.model.spec import ModelSpec, Nuisance

__all__ = ["BinnedLikelihood", "nominal_scale", "staterror_name"]

_DTYPE = torch.float64

Observed = Mapping[str, npt.ArrayLike] | ScoredEvents | Literal["asimov"]


def staterror_name(region: str, b: int) -> str:
    """Name of the MC-statistics parameter γ of bin ``b`` of ``region`` (pyhf's naming)."""
    return f"staterror_{region}[{b}]"


def nominal_scale(spec: ModelSpec, process: str) -> float:
    """The rate factor of ``process`` at the nominal values of its *constrained* rate nuisances.

    The pyhf export folds this factor into the exported nominal histograms
    (constrained rate nuisances become ``normsys`` or ``histosys`` modifiers, which are
    1 at nominal, and fixed ones are constants); POIs and free or uniform parameters
    stay ``normfactor`` modifiers.  The staterror widths δ_b are computed on the scaled
    templates, as pyhf computes them on the exported ones.
    """
    nuis = {n.name: n for n in spec.nuisances}
    proc = {p.name: p for p in spec.processes}[process]
    scale = 1.0
    for mod in proc.modifiers:
        n = nuis.get(mod.parameter)
        if n is None or n.prior not in ("gaussian", "lognormal", "fixed"):
            continue
        if mod.kind == "normfactor":
            scale *= n.nominal
        else:
            assert mod.kappa is not None
            scale *= mod.kappa**n.nominal
    return scale


class BinnedLikelihood(ParameterVector):
    r"""Binned Poisson q(θ) = -2 ln L over regions, with exact gradient and Hessian.

    Parameters
    ----------
    spec
        The model declaration (parameters, processes, priors); the same one the
        unbinned likelihood uses.
    templates
        Per-region, per-process templates (:func:`~unbinned.binned.build_templates`).
    observed
        Observed counts per region name, observed events (histogrammed with the
        template binning), or ``"asimov"`` for the expected counts at the start
        values (POI ``init``, nuisance ``nominal``).
    interpolation
        Shape interpolation: ``"code0"`` (piecewise linear, ROOT HistFactory's
        InterpCode 0; kinked at α = 0, where a minimum can sit with an undefined
        Hessian) or ``"code4p"`` (smooth, C²; pyhf's default; recommended).
    staterror
        Add one MC-statistics parameter γ per bin (pyhf ``staterror``); off by default.
    constraints
        Custom constraint terms replacing the declared prior of their parameter
        (as for the unbinned likelihood).

    Notes
    -----
    Parameters are ordered as ``spec.parameter_names``, followed by the γ parameters
    ``staterror_<region>[b]`` when ``staterror`` is on; ``self.spec`` is then the
    declaration extended by these (Gaussian, nominal 1, width δ_b, bounds
    [1e-10, 10] as in pyhf) and ``self.declared_spec`` the one given.

    Examples
    --------
    >>> import numpy as np
    >>> from unbinned.model import ModelSpec
    >>> from unbinned.binned import RegionTemplates, Templates, BinnedLikelihood
    >>> spec = ModelSpec.from_dict({"pois": [{"name": "mu"}],
    ...     "processes": [{"name": "s", "signal": True, "modifiers": [{"parameter": "mu"}]},
    ...                   {"name": "b"}]})
    >>> nom = np.array([[1.0, 5.0], [20.0, 10.0]])
    >>> t = Templates((RegionTemplates("inclusive", np.array([0, .5, 1]), ("s", "b"), nom, nom),))
    >>> lik = BinnedLikelihood(spec, t, "asimov")
    >>> abs(lik(lik.vector())) < 1e-9  # the Asimov deviance vanishes (to rounding)
    True
    """

    errordef = 1.0

    def __init__(
        self,
        spec: ModelSpec,
        templates: Templates,
        observed: Observed,
        *,
        interpolation: str = "code4p",
        staterror: bool = False,
        constraints: Sequence[Constraint] = (),
    ) -> None:
        if interpolation not in INTERPOLATIONS:
            raise ConfigError(
                f"unknown interpolation {interpolation!r}; expected one of {list(INTERPOLATIONS)}"
            )
        if not isinstance(templates, Templates):
            raise TypeError(f"templates must be a Templates object, got {type(templates).__name__}")
        self.declared_spec = spec
        self.templates = templates
        self.interpolation = interpolation
        self.staterror = bool(staterror)
        self._constraints = tuple(constraints)
        shape_decl = _check_declared(spec, templates)
        # ---- MC statistical parameters: extend the declaration
        self.n_bins_total = int(sum(r.n_bins for r in templates.regions))
        self._scale = np.array([nominal_scale(spec, p) for p in templates.processes])
        gamma_names: list[str] = []
        if self.staterror:
            spec, gamma_names = _with_staterror(spec, templates, self._scale)
        index = self._init_parameters(spec)
        self._init_templates(templates, index, shape_decl)
        self._init_rate_factors(templates.processes, index)
        # ---- staterror γ per bin
        self._gamma_idx = (
            torch.tensor([index[n] for n in gamma_names], dtype=torch.long) if gamma_names else None
        )
        # ---- constraints
        self._priors = PriorTerms.from_spec(spec, index, constraints)
        self._gauss, self._logn = self._priors.gauss, self._priors.logn
        self._custom = list(self._priors.custom)
        self._init_numpy_copies()
        self._init_data(observed)

    def _init_templates(
        self, templates: Templates, index: Mapping[str, int], shape_decl: Mapping[str, Nuisance]
    ) -> None:
        """The templates as flat tensors over all regions' bins, and the α parametrisation."""
        nom = np.concatenate([r.nominal for r in templates.regions], axis=1)
        self._nom = torch.as_tensor(nom, dtype=_DTYPE)
        self._np_nom = nom
        self._shape_names = templates.shape_nuisances
        K = len(self._shape_names)
        self._n_shape = K
        P, B = nom.shape
        if K:
            up = np.stack([np.concatenate([r.up[k] for r in templates.regions], axis=1)
                           for k in self._shape_names])  # fmt: skip
            dn = np.stack([np.concatenate([r.down[k] for r in templates.regions], axis=1)
                           for k in self._shape_names])  # fmt: skip
            self._dup = torch.as_tensor((up - nom).reshape(K, P * B), dtype=_DTYPE)
            self._ddn = torch.as_tensor((nom - dn).reshape(K, P * B), dtype=_DTYPE)
            self._shape_idx = torch.tensor([index[k] for k in self._shape_names])
        # α_k = ((θ_k - o_k)^p_k - g0_k)/D_k: (θ - θ⁰)/σ for p = 1, o = 0
        par = _alpha_parameters(templates, shape_decl)
        self._np_origin, self._np_power, self._np_g0, self._np_span = par
        self._origin, self._power, self._g0, self._span = (
            torch.as_tensor(a, dtype=_DTYPE) for a in par
        )

    def _init_rate_factors(self, procs: Sequence[str], index: Mapping[str, int]) -> None:
        """Rate factors: gathered products of linear factors, exp of log-linear ones."""
        npar = self.npar
        proc_decl = {p.name: p for p in self.spec.processes}
        lin: list[list[int]] = [[] for _ in procs]
        logk = np.zeros((npar, len(procs)))
        for j, pname in enumerate(procs):
            for mod in proc_decl[pname].modifiers:
                if mod.kind == "normfactor":
                    lin[j].append(index[mod.parameter])
                else:
                    assert mod.kappa is not None
                    logk[index[mod.parameter], j] += math.log(mod.kappa)
        width = max((len(v) for v in lin), default=0)
        self._lin_idx = torch.tensor([v + [npar] * (width - len(v)) for v in lin], dtype=torch.long)
        self._has_lin = width > 0
        self._logk = torch.as_tensor(logk, dtype=_DTYPE) if np.any(logk) else None
        self._one = torch.ones(1, dtype=_DTYPE)

    def _init_numpy_copies(self) -> None:
        """Numpy copies (and scratch arrays) for the fast value-and-gradient path."""
        npar = self.npar
        K = self._n_shape
        P, B = self._np_nom.shape
        empty = np.zeros((0, P * B))
        self._np_dup = self._dup.numpy() if K else empty
        self._np_ddn = self._ddn.numpy() if K else empty
        self._np_shape_idx = self._shape_idx.numpy() if K else np.zeros(0, dtype=np.int64)
        self._np_lin_idx = self._lin_idx.numpy()
        self._np_logk = None if self._logk is None else self._logk.numpy()
        self._np_gamma_idx = None if self._gamma_idx is None else self._gamma_idx.numpy()
        self._np_gauss = tuple(a.numpy() for a in self._gauss)
        self._np_logn = tuple(a.numpy() for a in self._logn)
        self._np_nom_flat = self._np_nom.reshape(-1)
        self._np_deltas = np.concatenate([self._np_dup, self._np_ddn], axis=0) if K else empty
        self._xe = np.ones(npar + 1)
        self._lin_idx0 = (
            self._np_lin_idx[:, 0].copy() if self._has_lin else np.zeros(0, dtype=np.int64)
        )
        self._two_inv_w = 2.0 / self._np_gauss[2]
        self._curv_g = self._two_inv_w / self._np_gauss[2]
        self._diag_g = self._np_gauss[0] * (npar + 1)  # flat positions of Hessian diagonals
        self._diag_l = self._np_logn[0] * (npar + 1)
        self._ones_p = np.ones(P)

    def _init_data(self, observed: Observed) -> None:
        """The bin slices of the regions and the observed counts n_b."""
        self._slices = {}
        start = 0
        for r in self.templates.regions:
            self._slices[r.name] = slice(start, start + r.n_bins)
            start += r.n_bins
        self._cache: tuple[bytes, float, npt.NDArray[np.float64]] | None = None
        self.observed = self._observed_counts(observed)
        n = np.concatenate([self.observed[r] for r in self.templates.region_names])
        self._n = torch.as_tensor(n, dtype=_DTYPE)
        self._np_n = n
        self._two_n = 2.0 * n
        self._zero_counts = n == 0
        self._has_zero_counts = bool(np.any(self._zero_counts))
        with np.errstate(divide="ignore", invalid="ignore"):
            self._const = float(2.0 * np.sum(np.where(n > 0, n * np.log(n), 0.0) - n))

    # ------------------------------------------------------------------ data
    def _observed_counts(self, observed: Observed) -> dict[str, npt.NDArray[np.float64]]:
        if isinstance(observed, str):
            if observed != "asimov":
                raise ConfigError(
                    "observed must be counts per region, ScoredEvents or 'asimov', "
                    f"got {observed!r}"
                )
            return self.asimov_counts(self.vector())
        if isinstance(observed, ScoredEvents):
            return self.templates.histogram_observed(observed)
        if not isinstance(observed, Mapping):
            raise TypeError(
                "observed must be a mapping region → counts, ScoredEvents or 'asimov', got "
                f"{type(observed).__name__}"
            )
        names = self.templates.region_names
        missing = [r for r in names if r not in observed]
        extra = [r for r in observed if r not in names]
        if missing or extra:
            raise ConfigError(
                f"observed counts are given for regions {sorted(observed)}; expected exactly "
                f"{list(names)}"
            )
        out = {}
        for r in self.templates.regions:
            n = np.asarray(observed[r.name], dtype=np.float64)
            if n.shape != (r.n_bins,):
                raise DataError(
                    f"region {r.name!r}: observed counts have shape {n.shape}; expected "
                    f"({r.n_bins},), one per bin"
                )
            if not np.all(np.isfinite(n)) or np.any(n < 0):
                raise DataError(
                    f"region {r.name!r}: observed counts must be finite and >= 0, got {n.tolist()}"
                )
            out[r.name] = n
        return out

    def with_observed(self, observed: Observed) -> BinnedLikelihood:
        """The same model with other observed counts (e.g. a pseudo-experiment)."""
        return BinnedLikelihood(
            self.declared_spec,
            self.templates,
            observed,
            interpolation=self.interpolation,
            staterror=self.staterror,
            constraints=self._constraints,
        )

    def asimov(self, theta: npt.ArrayLike | Mapping[str, float]) -> BinnedLikelihood:
        """The same model on the Asimov data set at θ (the expected counts, no fluctuation).

        As :meth:`unbinned.likelihood.Likelihood.asimov`: a fit returns θ where the
        priors allow (for expected intervals and the Fisher information).
        """
        x = self.vector(theta) if isinstance(theta, Mapping) else self._theta(theta)
        return self.with_observed(self.asimov_counts(x))

    # ------------------------------------------------------------------ core
    def _nu(self, theta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Rate factors f (P,) and interpolated templates h (P, B) at θ."""
        P, B = self._nom.shape
        if self._has_lin:
            f = torch.cat([theta, self._one])[self._lin_idx].prod(dim=1)
        else:
            f = torch.ones(P, dtype=_DTYPE)
        if self._logk is not None:
            f = f * torch.exp(theta @ self._logk)
        h = self._nom
        if self._shape_names:
            u = theta[self._shape_idx] - self._origin
            alpha = (u.pow(self._power) - self._g0) / self._span
            a, b = interpolation_coefficients(alpha, self.interpolation)
            h = h + (a @ self._dup + b @ self._ddn).reshape(P, B)
        return f, h

    def expected_counts_torch(self, theta: torch.Tensor) -> torch.Tensor:
        """ν_b(θ) over the bins of every region, concatenated (differentiable)."""
        f, h = self._nu(theta)
        nu = f @ h
        if self._gamma_idx is not None:
            nu = nu * theta[self._gamma_idx]
        return nu

    def q_torch(self, theta: torch.Tensor) -> torch.Tensor:
        """q(θ) as a differentiable torch scalar (float64)."""
        nu = self.expected_counts_torch(theta)
        total = 2.0 * (nu.sum() - torch.xlogy(self._n, nu).sum()) + self._const
        return total + self._priors.penalty_torch(theta)

    def value_and_grad(self, theta: npt.ArrayLike) -> tuple[float, npt.NDArray[np.float64]]:
        """q(θ) and its exact gradient; the last point is cached (MIGRAD asks for both)."""
        x = self._theta(theta)
        key = x.tobytes()
        if self._cache is not None and self._cache[0] == key:
            return self._cache[1], self._cache[2].copy()
        val, grad = self._value_and_grad_np(x)
        if not math.isfinite(val):
            val = math.inf
        self._cache = (key, val, grad)
        return val, grad.copy()

    def _value_and_grad_np(
        self, x: npt.NDArray[np.float64]
    ) -> tuple[float, npt.NDArray[np.float64]]:
        """q and its analytic gradient in numpy (the same function as :meth:`q_torch`).

        With r_b = ∂q/∂ν_b = 2 (1 - n_b/ν_b): ∂q/∂f_p = Σ_b r_b γ_b h_pb,
        ∂q/∂α_k = Σ_pb r_b γ_b f_p (a'_k Δ⁺_kpb + b'_k Δ⁻_kpb), ∂q/∂γ_b = r_b Σ_p f_p h_pb:
        a few small matrix products instead of an autograd graph, whose per-operation
        overhead dominates at these sizes.

        Notes
        -----
        Kept in one piece because it is the hot kernel of every MIGRAD step: one pass
        over the arrays, and splitting it into helpers costs call overhead and
        intermediate arrays at these sizes.
        """
        npar = x.shape[0]
        P, B = self._np_nom.shape
        grad = np.zeros(npar + 1)
        xe = self._xe
        xe[:npar] = x
        idx = self._np_lin_idx
        M = idx.shape[1]
        if M == 0:
            f_lin = self._ones_p
        elif M == 1:
            lin = xe[self._lin_idx0]
            f_lin = lin
        else:
            lin = xe[idx]
            f_lin = lin.prod(axis=1)
        expo = np.exp(x @ self._np_logk) if self._np_logk is not None else self._ones_p
        f = f_lin * expo
        K = self._n_shape
        if K:
            alpha, dalpha, _ = self._alpha_np(x)
            coef, dcoef = _coefficients_flat(alpha.tolist(), self.interpolation)
            h = (self._np_nom_flat + coef @ self._np_deltas).reshape(P, B)
        else:
            h = self._np_nom
        s = f @ h
        n = self._np_n
        if self._np_gamma_idx is not None:
            gamma = x[self._np_gamma_idx]
            nu = s * gamma
        else:
            nu = s
        if not nu.min() > 0.0:  # an empty or negative expectation: q is infinite (or undefined)
            return math.inf, np.zeros(npar)
        if self._has_zero_counts:
            q = 2.0 * (float(nu.sum()) - float(xlogy(n, nu).sum())) + self._const
            r = 2.0 - self._two_n / nu
            r[self._zero_counts] = 2.0
        else:
            q = 2.0 * float(nu.sum()) - float(self._two_n @ np.log(nu)) + self._const
            r = 2.0 - self._two_n / nu
        rg = r
        if self._np_gamma_idx is not None:
            grad[self._np_gamma_idx] = r * s
            rg = r * gamma
        df = h @ rg  # ∂q/∂f_p
        if K:
            gd = self._np_deltas @ (f[:, None] * rg).ravel()  # (2K,)
            galpha = dcoef[:K] * gd[:K] + dcoef[K:] * gd[K:]
            grad[self._np_shape_idx] += galpha * dalpha
        if self._np_logk is not None:
            grad[:npar] += self._np_logk @ (df * f)
        if M == 1:
            grad += np.bincount(self._lin_idx0, weights=df * expo, minlength=npar + 1)
        elif M:
            dfe = df * expo
            for j in range(M):
                others = np.prod(np.delete(lin, j, axis=1), axis=1)
                grad += np.bincount(idx[:, j], weights=dfe * others, minlength=npar + 1)
        gi, mean, width = self._np_gauss
        if gi.size:
            z = (x[gi] - mean) / width
            q += float(z @ z)
            grad[gi] += self._two_inv_w * z
        li, mean, width = self._np_logn
        if li.size:
            xv = x[li]
            if not xv.min() > 0.0:
                return math.inf, np.zeros(npar)
            z = np.log(xv / mean) / width
            q += float(z @ z)
            grad[li] += 2.0 * z / (width * xv)
        if self._custom:
            t = torch.tensor(x, dtype=_DTYPE, requires_grad=True)
            pen = sum(
                (c.penalty_torch(t[k]) for k, c in self._custom), torch.zeros((), dtype=_DTYPE)
            )
            (g,) = torch.autograd.grad(pen, t)
            q += float(pen.detach())
            grad[:npar] += g.numpy()
        return float(q), grad[:npar]

    def __call__(self, theta: npt.ArrayLike) -> float:
        """q(θ) at the parameter vector ``theta``."""
        return self.value_and_grad(theta)[0]

    def grad(self, theta: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Exact gradient ∂q/∂θ."""
        return self.value_and_grad(theta)[1]

    def hessian(self, theta: npt.ArrayLike) -> npt.NDArray[np.float64]:
        r"""Exact Hessian ∂²q/∂θ∂θ' (closed form, float64; equal to :meth:`hessian_autodiff`).

        .. math::

            ∂_i∂_j q = \sum_b \Big[\frac{2 n_b}{ν_b^2} ∂_iν_b\, ∂_jν_b
                       + 2\Big(1 - \frac{n_b}{ν_b}\Big) ∂_i∂_jν_b\Big] + ∂_i∂_j\,\mathrm{penalty},

        with ∂ν and ∂²ν from the rate factors, the interpolation coefficients and γ.
        Written out in numpy because at these sizes an autodiff Hessian costs
        milliseconds of per-operation overhead (and the fit asks for it more than
        once); the tests check it against torch autodiff to rounding.
        """
        x = self._theta(theta)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            return self._hessian_np(x)

    def hessian_autodiff(self, theta: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Exact Hessian ∂²q/∂θ∂θ' by torch autodiff of :meth:`q_torch` (float64)."""
        x = torch.tensor(self._theta(theta), dtype=_DTYPE)
        h = torch.autograd.functional.hessian(self.q_torch, x, vectorize=True)
        return np.asarray(h.detach().numpy(), dtype=np.float64)

    def _hessian_np(self, x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """The closed-form Hessian of :meth:`hessian` (θ already checked): the batched kernel."""
        return self.derivatives_batch(x[None, :], self._np_n[None, :])[2][0]

    def derivatives_batch(
        self, x: npt.NDArray[np.float64], counts: npt.NDArray[np.float64]
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        r"""q, gradient and Hessian of T data sets, each at its own θ, in one vectorised pass.

        ``x`` is (T, npar), ``counts`` (T, B) the observed counts of every bin (regions
        concatenated, as ``observed``); returns q (T,), ∂q/∂θ (T, npar) and the
        Hessian (T, npar, npar), the same closed forms as :meth:`hessian`
        (:meth:`hessian` is this kernel with T = 1).  With J = ∂ν/∂θ and
        r_b = 2(1 - n_b/ν_b): ∂q = J r + ∂penalty, ∂²q = J diag(2n/ν²) Jᵀ + Σ_b r_b ∂²ν_b
        + ∂²penalty.  A data set whose expectation is not positive somewhere gets
        q = inf (and undefined derivatives).  θ is not checked against the bounds.

        Notes
        -----
        Kept in one piece because it is a hot numeric kernel: one pass over the
        arrays shares ∂f, ∂h and ∂ν between all terms, and splitting it costs speed.
        """
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            return self._derivatives_batch(x, counts)

    def _derivatives_batch(
        self, x: npt.NDArray[np.float64], counts: npt.NDArray[np.float64]
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """:meth:`derivatives_batch` without its floating-point error state."""
        T, npar = x.shape
        P, B = self._np_nom.shape
        f, df, d2f = self._rate_factors_batch(x)
        h = self._np_nom[None]
        K = self._n_shape
        if K:
            alpha, d1, d2 = self._alpha_np(x)
            a, b, da, db = _coefficients_np(alpha, self.interpolation)
            dda = _second_derivative_np(alpha, self.interpolation)
            dup, ddn = self._np_dup, self._np_ddn
            h = self._np_nom + (a @ dup + b @ ddn).reshape(T, P, B)
            # chain rule through α(θ): h' = h_α α', h'' = h_αα α'^2 + h_α α''
            dh_alpha = da[:, :, None] * dup + db[:, :, None] * ddn  # (T, K, P·B)
            dh = (d1[:, :, None] * dh_alpha).reshape(T, K, P, B)
            d2h = ((dda * d1**2)[:, :, None] * (dup - ddn)
                   + d2[:, :, None] * dh_alpha).reshape(T, K, P, B)  # fmt: skip
        s = np.einsum("tp,tpb->tb", f, h)
        ds = np.einsum("tpi,tpb->tib", df, h)  # (T, npar, B): ∂s/∂θ
        if K:
            ds[:, self._np_shape_idx] += np.einsum("tp,tkpb->tkb", f, dh)
        gi = self._np_gamma_idx
        gamma = x[:, gi] if gi is not None else np.ones((T, B))
        nu = s * gamma
        n = counts
        zero = n == 0
        # q = 2 Σ_b [ν_b - n_b + n_b ln(n_b/ν_b)] (n ln n = 0 at n = 0)
        q = 2.0 * (nu - n + n * np.log(np.where(zero, 1.0, n / nu))).sum(axis=1)
        q[~(nu.min(axis=1) > 0.0)] = math.inf
        r = 2.0 - 2.0 * n / nu
        r[zero] = 2.0
        curv = 2.0 * n / nu**2
        rg = r * gamma
        jac = ds * gamma[:, None, :]  # (T, npar, B): ∂ν/∂θ
        if gi is not None:
            jac[:, gi, np.arange(B)] += s
        grad = np.einsum("tib,tb->ti", jac, r)
        hess = (jac * curv[:, None, :]) @ jac.transpose(0, 2, 1)
        hess += np.einsum("tp,tpkl->tkl", np.einsum("tpb,tb->tp", h, rg), d2f)
        if K:
            si = self._np_shape_idx
            cross = np.zeros((T, npar, npar))
            cross[:, :, si] = np.einsum("tb,tpk,tlpb->tkl", rg, df, dh)
            hess += cross + cross.transpose(0, 2, 1)
            hess[:, si, si] += np.einsum("tb,tp,tkpb->tk", rg, f, d2h)
        if gi is not None:
            mixed = ds * r[:, None, :]  # (T, npar, B): r_c ∂s_c/∂θ_i
            hess[:, :, gi] += mixed
            hess[:, gi, :] += mixed.transpose(0, 2, 1)
        self._penalties_batch(x, q, grad, hess)
        return q, grad, 0.5 * (hess + hess.transpose(0, 2, 1))

    def _rate_factors_batch(
        self, x: npt.NDArray[np.float64]
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """Rate factors f (T, P) and their first (T, P, npar) and second derivatives."""
        T, npar = x.shape
        xe = np.concatenate([x, np.ones((T, 1))], axis=1)
        idx = self._np_lin_idx  # (P, M), padding index npar
        P, M = idx.shape
        lin = xe[:, idx]  # (T, P, M)
        rows = np.arange(P)
        g = lin.prod(axis=2)
        dg = np.zeros((T, P, npar + 1))
        d2g = np.zeros((T, P, npar + 1, npar + 1))
        for m in range(M):
            dg[:, rows, idx[:, m]] += np.delete(lin, m, axis=2).prod(axis=2)
            for m2 in range(M):
                if m2 != m:
                    rest2 = np.delete(lin, [m, m2], axis=2).prod(axis=2)
                    d2g[:, rows, idx[:, m], idx[:, m2]] += rest2
        dg, d2g = dg[:, :, :npar], d2g[:, :, :npar, :npar]
        if self._np_logk is None:
            return g, dg, d2g
        lt = self._np_logk.T[None]  # (1, P, npar)
        e = np.exp(x @ self._np_logk)
        f = g * e
        df = e[:, :, None] * dg + f[:, :, None] * lt
        d2f = e[:, :, None, None] * (
            d2g
            + dg[:, :, :, None] * lt[:, :, None, :]
            + lt[:, :, :, None] * dg[:, :, None, :]
            + g[:, :, None, None] * lt[:, :, :, None] * lt[:, :, None, :]
        )
        return f, df, d2f

    def _penalties_batch(
        self,
        x: npt.NDArray[np.float64],
        q: npt.NDArray[np.float64],
        grad: npt.NDArray[np.float64],
        hess: npt.NDArray[np.float64],
    ) -> None:
        """Add the prior penalties and their derivatives to q, grad, hess (in place)."""
        flat = hess.reshape(hess.shape[0], -1)  # a view: diagonal entries by position
        idx_g, mean, width = self._np_gauss
        if idx_g.size:
            z = (x[:, idx_g] - mean) / width
            q += (z * z).sum(axis=1)
            grad[:, idx_g] += self._two_inv_w * z
            flat[:, self._diag_g] += self._curv_g
        idx_l, mean, width = self._np_logn
        if idx_l.size:
            wx = width * x[:, idx_l]
            z = np.log(x[:, idx_l] / mean) / width
            q += (z * z).sum(axis=1)
            q[~(wx.min(axis=1) > 0.0)] = math.inf
            grad[:, idx_l] += 2.0 * z / wx
            flat[:, self._diag_l] += 2.0 * (1.0 - z * width) / wx**2
        for k, c in self._custom:
            for t in range(x.shape[0]):
                v = torch.tensor(float(x[t, k]), dtype=_DTYPE, requires_grad=True)
                pen = c.penalty_torch(v)
                (g1,) = torch.autograd.grad(pen, v, create_graph=True)
                (g2,) = torch.autograd.grad(g1, v)
                q[t] += float(pen.detach())
                grad[t, k] += float(g1.detach())
                hess[t, k, k] += float(g2)

    def _alpha_np(
        self, x: npt.NDArray[np.float64]
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """α of every shape nuisance at θ = x (or at each row of x), and dα/dθ, d²α/dθ²."""
        u = x[..., self._np_shape_idx] - self._np_origin
        p = self._np_power
        alpha = (u**p - self._np_g0) / self._np_span
        d1 = p * u ** (p - 1.0) / self._np_span
        d2 = np.where(p >= 2.0, p * (p - 1.0) * u ** np.maximum(p - 2.0, 0.0), 0.0) / self._np_span
        return alpha, d1, d2

    # ------------------------------------------------------------------ predictions
    def asimov_counts(self, theta: npt.ArrayLike) -> dict[str, npt.NDArray[np.float64]]:
        """Expected counts ν_b(θ) per region: the Asimov data set at θ."""
        with torch.no_grad():
            nu = self.expected_counts_torch(torch.tensor(self._theta(theta), dtype=_DTYPE))
        arr = nu.numpy().copy()
        return {name: arr[s] for name, s in self._slices.items()}

    def expected(self, theta: npt.ArrayLike) -> dict[str, npt.NDArray[np.float64]]:
        """Expected yield per process and bin, (P, B) per region, at θ."""
        with torch.no_grad():
            t = torch.tensor(self._theta(theta), dtype=_DTYPE)
            f, h = self._nu(t)
            per = f[:, None] * h
            if self._gamma_idx is not None:
                per = per * t[self._gamma_idx]
        arr = per.numpy().copy()
        return {name: arr[:, s] for name, s in self._slices.items()}

    def empty_bins(self, fixed: Mapping[str, float]) -> list[tuple[str, int]]:
        """The bins with observed events that no value of the other parameters can fill.

        With the parameters ``fixed`` (name → value), a process's rate is zero for
        every value of the others when one of its normfactors is fixed at 0 (e.g. its
        signal strength), and its template is zero in a bin at every α when the
        nominal and every ±1σ template are zero there (a bin only the signal reaches).
        A bin with n_b > 0 whose every process is so is an observation of probability
        zero: q = +∞ wherever the other parameters are (:func:`unbinned.infer.fit`
        returns that instead of a failed fit).

        Returns
        -------
        list of (region, bin)
            Empty when q can be finite.
        """
        index = {n: i for i, n in enumerate(self.parameter_names)}
        zero = [index[n] for n, v in fixed.items() if n in index and float(v) == 0.0]
        if not zero or not self._has_lin:
            return []
        off = np.asarray(np.isin(self._np_lin_idx, zero).any(axis=1), dtype=bool)  # (P,)
        if not off.any():
            return []
        P, B = self._np_nom.shape
        alive = self._np_nom != 0.0
        if self._n_shape:
            alive = alive | (self._np_deltas.reshape(-1, P, B) != 0.0).any(axis=0)
        reachable = (alive & ~off[:, None]).any(axis=0)
        out = []
        for name, sl in self._slices.items():
            bad = (self._np_n[sl] > 0) & ~reachable[sl]
            out += [(name, int(b)) for b in np.flatnonzero(bad)]
        return out

    def __repr__(self) -> str:
        return (
            f"BinnedLikelihood({len(self._slices)} region(s), {self.n_bins_total} bins, "
            f"{len(self.templates.processes)} processes, {self.npar} parameters, "
            f"interpolation {self.interpolation}, staterror {'on' if self.staterror else 'off'})"
        )


def _check_declared(spec: ModelSpec, templates: Templates) -> dict[str, Nuisance]:
    """Check the templates' regions, processes and shape nuisances against ``spec``.

    Returns the declared shape nuisances by name.
    """
    declared_regions = {r.name for r in spec.regions}
    unknown = [r for r in templates.region_names if r not in declared_regions]
    if unknown:
        raise ConfigError(
            f"template region(s) {unknown} are not declared in the model "
            f"(declared: {sorted(declared_regions)})"
        )
    undeclared = [p for p in templates.processes if p not in spec.process_names]
    if undeclared:
        raise ConfigError(
            f"template process(es) {undeclared} are not declared in the model "
            f"(declared: {list(spec.process_names)})"
        )
    shape_decl = {n.name: n for n in spec.shape_nuisances}
    extra = [k for k in templates.shape_nuisances if k not in shape_decl]
    if extra:
        raise ConfigError(
            f"templates vary {extra}, which are not shape nuisances of the model; "
            "declare them with acts_on: shape"
        )
    lacking = [
        n for n, nu in shape_decl.items() if n not in templates.shape_nuisances and nu.floating
    ]
    if lacking:
        raise ConfigError(
            f"shape nuisance(s) {lacking} have no templates; give their ±1σ variation points "
            "to build_templates or declare them prior: fixed"
        )
    return shape_decl


def _with_staterror(
    spec: ModelSpec, templates: Templates, scale: npt.NDArray[np.float64]
) -> tuple[ModelSpec, list[str]]:
    """``spec`` extended by one MC-statistics parameter γ per bin, and the γ names.

    γ_b is Gaussian with nominal 1 and width δ_b = sqrt(Σ_p s_p² Σw²_pb) / Σ_p s_p h⁰_pb
    (s_p the :func:`nominal_scale` of the process), bounds [1e-10, 10] as in pyhf.
    """
    deltas: list[float] = []
    gamma_names: list[str] = []
    for r in templates.regions:
        nom = (scale[:, None] * r.nominal).sum(0)
        err = np.sqrt((scale[:, None] ** 2 * r.sumw2).sum(0))
        rel = err / nom
        if np.any(rel <= 0):
            zero = np.flatnonzero(rel <= 0).tolist()
            raise DataError(
                f"region {r.name!r}: bins {zero} have zero MC statistical uncertainty "
                "(sum of squared weights); staterror needs it positive"
            )
        deltas += rel.tolist()
        gamma_names += [staterror_name(r.name, b) for b in range(r.n_bins)]
    gammas = tuple(
        Nuisance(
            name=n,
            nominal=1.0,
            prior="gaussian",
            width=d,
            bounds=(1e-10, 10.0),
            acts_on="shape",
        )
        for n, d in zip(gamma_names, deltas, strict=True)
    )
    extended = ModelSpec(
        pois=spec.pois,
        nuisances=spec.nuisances + gammas,
        processes=spec.processes,
        regions=spec.regions,
    )
    return extended, gamma_names


def _alpha_parameters(
    templates: Templates, declared: Mapping[str, Nuisance]
) -> tuple[npt.NDArray[np.float64], ...]:
    """Per shape nuisance (origin, power, g0, D) of α = ((θ - origin)^power - g0)/D.

    Power 1 with origin 0, g0 = θ⁰ and D = σ (the declaration) unless the templates
    carry a powered parametrisation; then g0 and D come from where the templates were
    taken, and g0 must be g(θ⁰) (the nominal template sits at α = 0).
    """
    rows = []
    for k in templates.shape_nuisances:
        n = declared[k]
        if k not in templates.parametrisation:
            rows.append((0.0, 1.0, float(n.nominal), float(n.width or 1.0)))
            continue
        origin, power = templates.parametrisation[k]
        lo, hi = templates.variation_points[k]
        g_lo, g_hi = (lo - origin) ** power, (hi - origin) ** power
        g0, span = 0.5 * (g_hi + g_lo), 0.5 * (g_hi - g_lo)
        at_nominal = (n.nominal - origin) ** power
        if not (span > 0 and math.isclose(g0, at_nominal, rel_tol=1e-6, abs_tol=1e-9)):
            raise ConfigError(
                f"shape nuisance {k!r}: templates at {lo:g} and {hi:g} are not symmetric "
                f"about its nominal {n.nominal:g} in ({k} - {origin:g})^{power}; rebuild them "
                "with build_templates(parametrisation=...) for this declaration"
            )
        rows.append((float(origin), float(power), g0, span))
    arr = np.array(rows, dtype=np.float64).reshape(-1, 4)
    return tuple(np.ascontiguousarray(arr[:, i]) for i in range(4))


def _coefficients_np(
    alpha: npt.NDArray[np.float64], code: str
) -> tuple[npt.NDArray[np.float64], ...]:
    """Interpolation coefficients a, b and their derivatives a', b' (numpy; see templates)."""
    if code == "code0":
        pos = alpha > 0
        return (np.where(pos, alpha, 0.0), np.where(pos, 0.0, alpha),
                pos.astype(np.float64), (~pos).astype(np.float64))  # fmt: skip
    a2 = alpha * alpha
    poly = a2 * (15.0 + a2 * (-10.0 + 3.0 * a2)) / 16.0
    dpoly = alpha * (30.0 + a2 * (-40.0 + 18.0 * a2)) / 16.0
    inside = np.abs(alpha) <= 1.0  # linear beyond ±1: a = max(α, 0), b = min(α, 0)
    a = np.where(inside, 0.5 * alpha + poly, np.maximum(alpha, 0.0))
    b = np.where(inside, 0.5 * alpha - poly, np.minimum(alpha, 0.0))
    da = np.where(inside, 0.5 + dpoly, alpha > 0.0)
    db = np.where(inside, 0.5 - dpoly, alpha < 0.0)
    return a, b, da, db


def _coefficients_flat(
    alpha: list[float], code: str
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """[a, b] and [a', b'] of the interpolation (2K,), in plain floats: K is small."""
    a: list[float] = []
    b: list[float] = []
    da: list[float] = []
    db: list[float] = []
    for x in alpha:
        if (code == "code0" and x > 0) or (code != "code0" and x > 1.0):
            row = (x, 0.0, 1.0, 0.0)
        elif code == "code0" or x < -1.0:
            row = (0.0, x, 0.0, 1.0)
        else:
            x2 = x * x
            poly = x2 * (15.0 + x2 * (-10.0 + 3.0 * x2)) / 16.0
            dpoly = x * (30.0 + x2 * (-40.0 + 18.0 * x2)) / 16.0
            row = (0.5 * x + poly, 0.5 * x - poly, 0.5 + dpoly, 0.5 - dpoly)
        a.append(row[0])
        b.append(row[1])
        da.append(row[2])
        db.append(row[3])
    return np.array(a + b), np.array(da + db)


def _second_derivative_np(alpha: npt.NDArray[np.float64], code: str) -> npt.NDArray[np.float64]:
    """a''(α) = -b''(α) of the interpolation coefficients (zero for the piecewise-linear code0)."""
    if code == "code0":
        return np.zeros_like(alpha)
    a2 = alpha * alpha
    inner = (30.0 + a2 * (-120.0 + 90.0 * a2)) / 16.0
    return np.where(np.abs(alpha) > 1.0, 0.0, inner)
