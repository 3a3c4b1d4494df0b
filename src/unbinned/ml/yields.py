r"""Monomials φ(ν) of the standardised nuisances and the polynomial ln Y yield model.

The learned systematic response of DESIGN.md §3 is

.. math:: R_p(x|\nu) = Y_p(\nu)\,\exp\big(\Delta_p(x)\cdot\varphi(\nu)\big),

with :math:`\varphi(\nu) = (\nu_a\ \forall a;\ \nu_a\nu_b\ \forall a \le b)` the
monomials of the standardised nuisances up to degree 2:
:math:`M = d + d(d+1)/2` of them for :math:`d` nuisances, linear terms first, then
the products in lexicographic order (``a <= b``).  There is no constant term:
:math:`\varphi(0) = 0`, so the response is exactly 1 at the nominal point.

:class:`PolynomialYieldModel` fits :math:`\ln Y(\nu) = c\cdot\varphi(\nu)` (plus an
optional intercept) by closed-form least squares to the yields measured at the
variation points; it implements the same ``YieldModel`` protocol as the Gaussian
process of :mod:`unbinned.response`, so either can be used by a surrogate.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, overload

import numpy as np
import numpy.typing as npt
import torch

from unbinned.exceptions import ConfigError, DataError

__all__ = [
    "PolynomialYieldModel",
    "monomial_jacobian",
    "monomial_names",
    "monomials",
    "monomials_torch",
    "n_monomials",
]

FloatArray = npt.NDArray[np.float64]


def n_monomials(n_nuisances: int) -> int:
    """Number of monomials of degree 1 and 2 in ``n_nuisances`` variables: d + d(d+1)/2."""
    if n_nuisances < 0:
        raise ConfigError(f"n_nuisances={n_nuisances}; expected a count >= 0")
    return n_nuisances + n_nuisances * (n_nuisances + 1) // 2


def _pairs(d: int) -> tuple[list[int], list[int]]:
    first, second = [], []
    for a in range(d):
        for b in range(a, d):
            first.append(a)
            second.append(b)
    return first, second


def monomial_names(nuisance_names: Sequence[str]) -> tuple[str, ...]:
    """Names of the monomials, e.g. ``('tes', 'jes', 'tes*tes', 'tes*jes', 'jes*jes')``."""
    names = list(nuisance_names)
    first, second = _pairs(len(names))
    return tuple(names) + tuple(
        f"{names[a]}*{names[b]}" for a, b in zip(first, second, strict=True)
    )


@overload
def monomials(nu: torch.Tensor) -> torch.Tensor: ...
@overload
def monomials(nu: npt.ArrayLike) -> FloatArray: ...
def monomials(nu: Any) -> Any:
    r"""Return φ(ν): the monomials of ν up to degree 2, along the last axis.

    Parameters
    ----------
    nu
        Standardised nuisances, shape ``(..., d)``: a numpy array-like (the result
        is float64 numpy) or a ``torch.Tensor`` (the result is a tensor of the same
        dtype and device, exact and differentiable).

    Returns
    -------
    array or tensor
        Shape ``(..., M)`` with :math:`M = d + d(d+1)/2`:
        :math:`(\nu_1..\nu_d, \nu_1\nu_1, \nu_1\nu_2, .., \nu_d\nu_d)`.

    Examples
    --------
    >>> monomials([2.0, 3.0]).tolist()
    [2.0, 3.0, 4.0, 6.0, 9.0]
    """
    if type(nu).__module__.startswith("torch"):
        return monomials_torch(nu)
    arr = np.asarray(nu, dtype=np.float64)
    if arr.ndim == 0:
        raise DataError(f"nu={nu!r} is a scalar; expected an array with a last axis of length d")
    first, second = _pairs(arr.shape[-1])
    return np.concatenate([arr, arr[..., first] * arr[..., second]], axis=-1)


def monomials_torch(nu: torch.Tensor) -> torch.Tensor:
    """Torch version of :func:`monomials` (differentiable; same dtype and device as ``nu``)."""
    if not isinstance(nu, torch.Tensor):
        raise TypeError(f"monomials_torch needs a torch.Tensor, got {type(nu).__name__}")
    if nu.ndim == 0:
        raise DataError("nu is a 0-d tensor; expected a last axis of length d")
    first, second = _pairs(nu.shape[-1])
    return torch.cat([nu, nu[..., first] * nu[..., second]], dim=-1)


def monomial_jacobian(nu: npt.ArrayLike) -> FloatArray:
    """∂φ/∂ν: shape ``(..., M, d)`` for ν of shape ``(..., d)``."""
    arr = np.asarray(nu, dtype=np.float64)
    d = arr.shape[-1]
    first, second = _pairs(d)
    jac = np.zeros((*arr.shape[:-1], n_monomials(d), d))
    for a in range(d):
        jac[..., a, a] = 1.0
    for m, (a, b) in enumerate(zip(first, second, strict=True)):
        jac[..., d + m, a] += arr[..., b]
        jac[..., d + m, b] += arr[..., a]
    return jac


class PolynomialYieldModel:
    r"""ln Y(ν) as a quadratic polynomial of the standardised nuisances, fitted in closed form.

    .. math:: \ln Y(\nu) = b + c\cdot\varphi(\nu),

    with :math:`b = 0` unless ``fit_intercept`` (the yield ratio to nominal is 1 at
    ν = 0 by construction).  :meth:`fit` solves the linear least-squares problem
    of the measured :math:`\ln Y(\nu_k)` (and optionally of measured gradients
    :math:`\partial \ln Y/\partial\nu` at the same points) with ``numpy.linalg.lstsq``.

    Parameters
    ----------
    n_nuisances
        Number d of nuisances.
    fit_intercept
        Fit a constant b too (default False: ln Y(0) = 0 exactly).
    locality
        If given (a scale s in units of ν), the least squares weight each point by
        exp(-|ν_k|²/(2 s²)): the quadratic then follows ln Y near nominal, where the
        data constrain the nuisances, at the expense of the far points.  Where ln Y has
        a cubic part c ν³, the slope at ν = 0 of an unweighted fit to points at
        ±1, ±2, ±3 is off by ≈ 7c, with s = 1 by ≈ 3c.  (Evaluation and files are
        those of the plain model.)

    Examples
    --------
    >>> import numpy as np
    >>> m = PolynomialYieldModel(1).fit(np.array([[-1.0], [0.0], [1.0]]),
    ...                                 np.array([-0.1, 0.0, 0.12]))
    >>> round(float(m(np.array([0.5]))), 4)
    0.0575
    """

    kind = "polynomial"

    def __init__(
        self, n_nuisances: int, *, fit_intercept: bool = False, locality: float | None = None
    ) -> None:
        if not isinstance(n_nuisances, int | np.integer) or n_nuisances < 1:
            raise ConfigError(f"n_nuisances={n_nuisances!r}; expected an integer >= 1")
        if locality is not None and not (np.isfinite(locality) and locality > 0):
            raise ConfigError(f"locality={locality!r}; expected a positive scale or None")
        self.locality = locality
        self.n_nuisances = int(n_nuisances)
        self.fit_intercept = bool(fit_intercept)
        self.coefficients: FloatArray | None = None
        self.intercept = 0.0
        self.residual_rms = float("nan")

    @property
    def n_monomials(self) -> int:
        """Number M of monomials (coefficients)."""
        return n_monomials(self.n_nuisances)

    @property
    def is_fitted(self) -> bool:
        """Whether :meth:`fit` (or :meth:`from_dict`) has set the coefficients."""
        return self.coefficients is not None

    def _check_nu(self, nu: npt.ArrayLike) -> FloatArray:
        arr = np.asarray(nu, dtype=np.float64)
        if arr.ndim == 0 or arr.shape[-1] != self.n_nuisances:
            raise DataError(
                f"nu has shape {arr.shape}; expected (..., {self.n_nuisances}) "
                f"(one value per nuisance)"
            )
        return arr

    def fit(
        self,
        nu_points: npt.ArrayLike,
        log_yields: npt.ArrayLike,
        gradients: npt.ArrayLike | None = None,
    ) -> PolynomialYieldModel:
        """Least-squares fit of ln Y on φ(ν); returns ``self``.

        Parameters
        ----------
        nu_points
            Standardised variation points, shape (K, d).
        log_yields
            ln of the yield ratio varied / nominal at each point, shape (K,).
        gradients
            Optional ∂ ln Y/∂ν at each point, shape (K, d), fitted jointly.
        """
        x = self._check_nu(nu_points)
        y = np.asarray(log_yields, dtype=np.float64)
        if x.ndim != 2 or y.shape != (x.shape[0],):
            raise DataError(
                f"nu_points {x.shape} and log_yields {y.shape} do not match; expected (K, d) "
                "and (K,)"
            )
        if not (np.isfinite(x).all() and np.isfinite(y).all()):
            raise DataError("nu_points and log_yields must be finite (a zero yield gives -inf)")
        rows = [monomials(x)]
        targets = [y]
        ones = [np.ones(len(y))]
        if gradients is not None:
            g = np.asarray(gradients, dtype=np.float64)
            if g.shape != x.shape:
                raise DataError(f"gradients have shape {g.shape}; expected {x.shape}")
            jac = monomial_jacobian(x)  # (K, M, d)
            rows.append(jac.transpose(0, 2, 1).reshape(-1, self.n_monomials))
            targets.append(g.reshape(-1))
            ones.append(np.zeros(g.size))
        design = np.concatenate(rows)
        if self.fit_intercept:
            design = np.column_stack([np.concatenate(ones), design])
        rank = np.linalg.matrix_rank(design)
        if rank < design.shape[1]:
            raise ConfigError(
                f"the {x.shape[0]} variation points determine only {rank} of the "
                f"{design.shape[1]} coefficients of the quadratic ln Y model; expected at least "
                "as many independent points as monomials. Fix: add points (e.g. mixed ones "
                "for the products) or use another yield model"
            )
        target = np.concatenate(targets)
        if self.locality is not None:
            w = np.sqrt(np.exp(-0.5 * np.sum(x**2, axis=1) / self.locality**2))
            rw = np.concatenate([w] + ([np.repeat(w, x.shape[1])] if gradients is not None else []))
            design, target = design * rw[:, None], target * rw
        coef, *_ = np.linalg.lstsq(design, target, rcond=None)
        if self.fit_intercept:
            self.intercept, coef = float(coef[0]), coef[1:]
        else:
            self.intercept = 0.0
        self.coefficients = np.asarray(coef, dtype=np.float64)
        resid = self.intercept + monomials(x) @ self.coefficients - y
        self.residual_rms = float(np.sqrt(np.mean(resid**2)))
        return self

    def _coef(self) -> FloatArray:
        if self.coefficients is None:
            raise ConfigError("the yield model is not fitted; call fit() first")
        return self.coefficients

    def __call__(self, nu: npt.ArrayLike) -> FloatArray:
        """ln Y at ν of shape (..., d): an array of shape ``nu.shape[:-1]`` (0-d for one point)."""
        arr = self._check_nu(nu)
        return np.asarray(self.intercept + monomials(arr) @ self._coef(), dtype=np.float64)

    def log_yield_torch(self, nu: torch.Tensor) -> torch.Tensor:
        """ln Y at ν as a differentiable tensor (shape ``nu.shape[:-1]``)."""
        if not isinstance(nu, torch.Tensor):
            raise TypeError(f"nu must be a torch.Tensor, got {type(nu).__name__}")
        if nu.ndim == 0 or nu.shape[-1] != self.n_nuisances:
            raise DataError(f"nu has shape {tuple(nu.shape)}; expected (..., {self.n_nuisances})")
        coef = torch.as_tensor(self._coef(), dtype=nu.dtype, device=nu.device)
        return self.intercept + monomials_torch(nu) @ coef

    def gradient(self, nu: npt.ArrayLike) -> FloatArray:
        """∂ ln Y/∂ν at ν, shape (..., d)."""
        arr = self._check_nu(nu)
        return np.asarray(np.einsum("...md,m->...d", monomial_jacobian(arr), self._coef()))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable description (floats round-trip exactly)."""
        return {
            "kind": self.kind,
            "n_nuisances": self.n_nuisances,
            "fit_intercept": self.fit_intercept,
            "intercept": self.intercept,
            "coefficients": [float(c) for c in self._coef()],
            "residual_rms": self.residual_rms,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PolynomialYieldModel:
        """Rebuild from :meth:`to_dict` output; a malformed dict raises ConfigError."""
        try:
            if data.get("kind", cls.kind) != cls.kind:
                raise ConfigError(f"yield model kind {data.get('kind')!r} is not {cls.kind!r}")
            model = cls(int(data["n_nuisances"]), fit_intercept=bool(data["fit_intercept"]))
            coef = np.asarray(data["coefficients"], dtype=np.float64)
            model.intercept = float(data["intercept"])
            model.residual_rms = float(data.get("residual_rms", float("nan")))
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, ConfigError):
                raise
            raise ConfigError(f"malformed polynomial yield model description: {exc!r}") from exc
        if coef.shape != (model.n_monomials,):
            raise ConfigError(
                f"polynomial yield model has {coef.shape} coefficients; expected "
                f"({model.n_monomials},) for {model.n_nuisances} nuisances"
            )
        model.coefficients = coef
        return model

    def __repr__(self) -> str:
        coef = (
            "unfitted"
            if self.coefficients is None
            else np.array2string(self.coefficients, precision=4)
        )
        return f"PolynomialYieldModel(d={self.n_nuisances}, coefficients={coef})"
