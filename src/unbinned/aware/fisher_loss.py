r"""The expected uncertainty of the parameters of interest of a binned Asimov likelihood.

The loss of systematic-aware training (DESIGN.md §4).  With per-process
histograms h_pb (from a :class:`~unbinned.aware.softhist.SoftHistogram`) and the
analytic rate factors f_p(θ) of the model declaration
(:class:`~unbinned.model.ModelSpec`: a ``normfactor`` modifier multiplies by θ,
a ``lognormal`` one by κ^θ, exactly as in :class:`~unbinned.binned.BinnedLikelihood`),
the expected count of bin b is

.. math::

    ν_b(θ) = \sum_p f_p(θ)\, h_{pb}(θ),

with the shape nuisances η_k acting through the histograms.  For the binned
Poisson likelihood with Gaussian (or log-normal) constraints, evaluated on its own
Asimov data (n_b = ν_b(θ₀)), the Fisher information is exactly

.. math::

    I_{jk} = \sum_b \frac{∂_j ν_b\, ∂_k ν_b}{ν_b} + C_{jk},\qquad
    ∂_j ν_b = \sum_p f_p h_{pb}\, ∂_j \ln f_p + \sum_p f_p\, ∂_j h_{pb},

at θ₀, where C is diagonal: 1/σ_k² for a Gaussian prior, 1/(θ₀ σ_k)² for a
log-normal one, 0 for free or uniform parameters (fixed ones are removed).  It is
½ ∂²q/∂θ∂θ' of q = -2 ln L at the Asimov minimum, so sqrt((I⁻¹)_μμ) is the HESSE
uncertainty that :func:`unbinned.infer.fit` reports for the same templates with
a smooth interpolation (``code4p``) whose derivative at nominal is
(h⁺ - h⁻)/(2σ).  The loss is

.. math::

    L = \sum_{i \in \mathrm{POIs}} w_i \sqrt{(I^{-1})_{ii}}

(one POI: the expected profiled uncertainty σ_μ itself).

Shape derivatives ∂h_pb/∂η_k come from the caller: re-evaluating the network on
events varied by ±1σ ((h⁺ - h⁻)/2σ), on events varied one-sidedly ((h⁺ - h⁰)/σ),
or on reweighted events (Σ_i w_i ∂_η ln w_i m_ib, exact for the analytic
models); see :mod:`unbinned.aware.trainer`.

**Empty bins.** A bin with ν_b ≤ 0 has no information; its term is dropped.
During training a small ``floor`` is added to ν_b in the denominator (so that a
nearly empty bin cannot produce an unbounded ∂ν²/ν term from a noisy
derivative), and the trainer adds a penalty on bins with fewer than a minimum
expected count; both are documented in :class:`~unbinned.aware.trainer.AwareConfig`.

References
----------
P. de Castro, T. Dorigo, Comput. Phys. Commun. 244 (2019) 170, arXiv:1806.04743;
S. Wunsch, S. Jörger, R. Wolf, G. Quast, Comput. Softw. Big Sci. 5 (2021) 4,
arXiv:2003.07186; CMS Collaboration, arXiv:2502.13047 (CMS-MLG-23-005).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt
import torch

from unbinned.exceptions import ConfigError, DataError
from unbinned.model.spec import ModelSpec

__all__ = ["FisherModel", "asimov_fisher", "fisher_sigmas"]

_DTYPE = torch.float64


def asimov_fisher(
    expected: torch.Tensor,
    jacobian: torch.Tensor,
    precision: torch.Tensor,
    *,
    floor: float = 0.0,
) -> torch.Tensor:
    r"""Asimov Fisher information I = Jᵀ diag(1/ν) J + diag(precision).

    Parameters
    ----------
    expected
        ν_b, shape (B,).
    jacobian
        ∂ν_b/∂θ_j, shape (B, P).
    precision
        Constraint terms (P,) (1/σ² for Gaussian priors, 0 for free parameters).
    floor
        Added to ν_b in the denominator (0: exact).  Bins with ν_b ≤ 0 are dropped.

    Returns
    -------
    torch.Tensor
        (P, P), float64, differentiable.
    """
    nu = expected.to(_DTYPE)
    jac = jacobian.to(_DTYPE)
    keep = nu > 0
    inv = torch.where(keep, 1.0 / torch.where(keep, nu + floor, torch.ones_like(nu)), 0.0)
    info = jac.T @ (jac * inv[:, None])
    return info + torch.diag(precision.to(_DTYPE))


def fisher_sigmas(information: torch.Tensor, indices: Sequence[int]) -> torch.Tensor:
    """sqrt((I⁻¹)_ii) for the given parameter indices (every other parameter profiled).

    Raises :class:`~unbinned.exceptions.DataError` when I is singular or not
    positive on those entries (e.g. an unconstrained nuisance no bin can measure).
    """
    idx = list(indices)
    eye = torch.eye(information.shape[0], dtype=information.dtype)[:, idx]
    try:
        sol = torch.linalg.solve(information, eye)
    except torch.linalg.LinAlgError:
        sol = torch.full_like(eye, math.nan)
    var = sol[idx, torch.arange(len(idx))]
    if not bool(torch.all(torch.isfinite(var))) or bool(torch.any(var <= 0)):
        raise DataError(
            f"the Fisher information is singular or not positive definite (variances "
            f"{var.detach().tolist()}): a free parameter is not measured by any bin; "
            "constrain it, or use more/other bins"
        )
    return torch.sqrt(var)


class FisherModel:
    """The binned Asimov Fisher information of a :class:`~unbinned.model.ModelSpec`.

    Parameters
    ----------
    spec
        The declaration: POIs, nuisances (rate ones through process modifiers,
        shape ones with ``acts_on: shape`` and a ``width``) and processes.
    processes
        Process order of the histograms (default: the declaration's).
    poi_weights
        Weights w_i of the POIs in the loss Σ w_i σ_i (default 1 each).

    Notes
    -----
    Parameters are ordered as the floating entries of ``spec.parameter_names``
    (prior ``fixed`` removed), in natural units, so that :meth:`information`
    equals ½ of the Hessian of the :class:`~unbinned.binned.BinnedLikelihood`
    q at its Asimov minimum (``code4p``).  Shape derivatives are given per unit of
    the standardised α_k = (η_k - η⁰_k)/width_k and divided by the width here.

    Examples
    --------
    >>> spec = ModelSpec.from_dict({"pois": [{"name": "mu"}],
    ...     "processes": [{"name": "s", "signal": True, "modifiers": [{"parameter": "mu"}]},
    ...                   {"name": "b"}]})
    >>> fm = FisherModel(spec)
    >>> h = torch.tensor([[10.0, 1.0], [1.0, 10.0]], dtype=torch.float64)
    >>> round(float(fm.loss(h)), 4)
    0.33
    """

    def __init__(
        self,
        spec: ModelSpec,
        processes: Sequence[str] | None = None,
        poi_weights: Mapping[str, float] | None = None,
    ) -> None:
        if not isinstance(spec, ModelSpec):
            raise TypeError(f"spec must be a ModelSpec, got {type(spec).__name__}")
        self.spec = spec
        procs = tuple(spec.process_names if processes is None else processes)
        unknown = [p for p in procs if p not in spec.process_names]
        if unknown or len(set(procs)) != len(procs):
            raise ConfigError(
                f"processes {list(procs)} must be distinct declared processes "
                f"{list(spec.process_names)}"
            )
        self.processes: tuple[str, ...] = procs
        nuis = {n.name: n for n in spec.nuisances}
        floating = tuple(n for n in spec.parameter_names if n not in nuis or nuis[n].floating)
        index = {n: i for i, n in enumerate(floating)}
        start = spec.init_values()
        n_par, n_proc = len(floating), len(procs)
        dlog = np.zeros((n_par, n_proc))
        log_rate = np.zeros(n_proc)
        decl = {p.name: p for p in spec.processes}
        for j, pname in enumerate(procs):
            for mod in decl[pname].modifiers:
                theta0 = start[mod.parameter]
                if mod.kind == "normfactor":
                    if theta0 <= 0:
                        raise ConfigError(
                            f"normfactor parameter {mod.parameter!r} has start value {theta0}; "
                            "the Fisher information is taken where every rate is positive"
                        )
                    log_rate[j] += math.log(theta0)
                    if mod.parameter in index:
                        dlog[index[mod.parameter], j] += 1.0 / theta0
                else:
                    kappa = float(mod.kappa or 1.0)  # validated positive by ModelSpec
                    log_rate[j] += theta0 * math.log(kappa)
                    if mod.parameter in index:
                        dlog[index[mod.parameter], j] += math.log(kappa)
        precision = np.zeros(n_par)
        for name, i in index.items():
            n = nuis.get(name)
            if n is None or n.width is None:
                continue
            if n.prior == "gaussian":
                precision[i] = 1.0 / n.width**2
            elif n.prior == "lognormal":
                precision[i] = 1.0 / (n.nominal * n.width) ** 2
        shapes = tuple(n.name for n in spec.shape_nuisances if n.floating)
        widths = []
        for name in shapes:
            w = nuis[name].width
            if w is None or w <= 0:
                raise ConfigError(
                    f"shape nuisance {name!r} needs a positive 'width' (the unit of its "
                    "template derivative, the ±1σ step)"
                )
            widths.append(float(w))
        pois = spec.poi_names
        weights = dict.fromkeys(pois, 1.0) if poi_weights is None else dict(poi_weights)
        bad = [k for k in weights if k not in pois]
        if bad:
            raise ConfigError(f"poi_weights name {bad}, which are not POIs {list(pois)}")
        self.parameter_names: tuple[str, ...] = floating
        self.shape_nuisances: tuple[str, ...] = shapes
        self.poi_indices: tuple[int, ...] = tuple(index[p] for p in pois)
        self._dlog = torch.as_tensor(dlog, dtype=_DTYPE)
        self._rate = torch.as_tensor(np.exp(log_rate), dtype=_DTYPE)
        self._precision = torch.as_tensor(precision, dtype=_DTYPE)
        self._shape_idx = [index[k] for k in shapes]
        self._shape_width = torch.tensor(widths, dtype=_DTYPE)
        self._poi_w = torch.tensor([weights.get(p, 0.0) for p in pois], dtype=_DTYPE)

    def __repr__(self) -> str:
        return (
            f"FisherModel(processes={list(self.processes)}, parameters="
            f"{list(self.parameter_names)}, shape nuisances={list(self.shape_nuisances)})"
        )

    @property
    def poi_names(self) -> tuple[str, ...]:
        """The parameters of interest."""
        return self.spec.poi_names

    @property
    def poi_weights(self) -> dict[str, float]:
        """The weights w_i of the loss Σ_i w_i σ_i."""
        return {p: float(w) for p, w in zip(self.poi_names, self._poi_w.tolist(), strict=True)}

    def _check(self, nominal: torch.Tensor, shape_derivatives: torch.Tensor | None) -> None:
        n_proc = len(self.processes)
        if nominal.dim() != 2 or nominal.shape[0] != n_proc:
            raise DataError(
                f"nominal histograms have shape {tuple(nominal.shape)}; expected "
                f"({n_proc}, n_bins), one row per process {list(self.processes)}"
            )
        k = len(self.shape_nuisances)
        if k and shape_derivatives is None:
            raise DataError(
                f"the model has shape nuisances {list(self.shape_nuisances)}: give their "
                "template derivatives, shape (K, n_processes, n_bins)"
            )
        if shape_derivatives is not None and tuple(shape_derivatives.shape) != (
            k,
            *nominal.shape,
        ):
            raise DataError(
                f"shape derivatives have shape {tuple(shape_derivatives.shape)}; expected "
                f"{(k, *tuple(nominal.shape))} (one per shape nuisance "
                f"{list(self.shape_nuisances)})"
            )

    def expected_and_jacobian(
        self, nominal: torch.Tensor, shape_derivatives: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """ν_b and ∂ν_b/∂θ_j at the nominal point, shapes (B,) and (B, P).

        Parameters
        ----------
        nominal
            h_pb, shape (n_processes, B) (raw histograms; rate factors applied here).
        shape_derivatives
            ∂h_pb/∂α_k per unit of the standardised shape nuisance, (K, n_processes, B).
        """
        self._check(nominal, shape_derivatives)
        h = nominal.to(_DTYPE) * self._rate[:, None]
        nu = h.sum(0)
        jac = (self._dlog @ h).T  # (B, P)
        if self.shape_nuisances:
            assert shape_derivatives is not None
            d = (shape_derivatives.to(_DTYPE) * self._rate[None, :, None]).sum(1)
            d = d / self._shape_width[:, None]
            cols = torch.zeros(jac.shape[1], d.shape[0], dtype=_DTYPE)
            cols[self._shape_idx, torch.arange(d.shape[0])] = 1.0
            jac = jac + d.T @ cols.T
        return nu, jac

    def information(
        self,
        nominal: torch.Tensor,
        shape_derivatives: torch.Tensor | None = None,
        *,
        floor: float = 0.0,
    ) -> torch.Tensor:
        """The Asimov Fisher information (P, P) in :attr:`parameter_names` order."""
        nu, jac = self.expected_and_jacobian(nominal, shape_derivatives)
        return asimov_fisher(nu, jac, self._precision, floor=floor)

    def sigmas(
        self,
        nominal: torch.Tensor,
        shape_derivatives: torch.Tensor | None = None,
        *,
        floor: float = 0.0,
    ) -> torch.Tensor:
        """Expected profiled uncertainties sqrt((I⁻¹)_ii) of the POIs, shape (n_pois,)."""
        info = self.information(nominal, shape_derivatives, floor=floor)
        return fisher_sigmas(info, self.poi_indices)

    def loss(
        self,
        nominal: torch.Tensor,
        shape_derivatives: torch.Tensor | None = None,
        *,
        floor: float = 0.0,
    ) -> torch.Tensor:
        """Σ_i w_i sqrt((I⁻¹)_ii) over the POIs (a differentiable scalar)."""
        return (self.sigmas(nominal, shape_derivatives, floor=floor) * self._poi_w).sum()

    def sigma_dict(
        self, nominal: torch.Tensor, shape_derivatives: torch.Tensor | None = None
    ) -> dict[str, float]:
        """{POI: σ} without gradients (exact: no floor)."""
        with torch.no_grad():
            s = self.sigmas(nominal, shape_derivatives)
        return {p: float(v) for p, v in zip(self.poi_names, s.tolist(), strict=True)}

    def precision_vector(self) -> npt.NDArray[np.float64]:
        """Constraint terms per parameter (diagonal of C)."""
        return np.asarray(self._precision.numpy(), dtype=np.float64)
