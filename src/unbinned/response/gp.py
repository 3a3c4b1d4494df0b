"""Gaussian-process response surfaces over nuisance space, with gradient observations.

A response R(ν) (a selection efficiency, a yield, its logarithm) is modelled as a
Gaussian process with a constant mean c and the RBF (or Matérn-5/2) kernel of
:mod:`unbinned.response._kernels`.  Each simulation point contributes its value and,
where available, its gradient ∂R/∂ν (from a simulation whose cuts are smoothed by
sigmoids).  Values and gradients have separate Gaussian noise variances σ_v², σ_g².

Optionally the kernel is additive, a sum of components on subsets S_c of the inputs,

    k(x, x') = s² Σ_c w_c h(Σ_{a∈S_c} (x_a - x'_a)²/ℓ_a²),   Σ_c w_c = 1,

e.g. every single input, every pair and all together (an ANOVA kernel, Duvenaud,
Nickisch, Rasmussen, "Additive Gaussian processes", NIPS 2011, see
:func:`anova_components`): a response made mostly of one- and two-nuisance pieces is
then learnt from fewer points, and the weights w_c, fitted with the other
hyperparameters, say which interactions the data need.  The inputs can also be
warped to ln x before the map to the unit cube (``input_warp="log"``), for scale
factors, and the kernel can also act on the pairwise differences of the inputs
(``pair_differences=True``): a component on the inputs S then measures distances as

    q_c(Δ) = Σ_{a∈S} Δ_a²/ℓ_a² + Σ_{a<b; a,b∈S} (Δ_a - Δ_b)²/(2 ℓ_ab²),

a metric that can be longer along the diagonal Δ_a = Δ_b than across it, for a
response that follows the ratio of two scale factors (with the log warp, the
difference of their logarithms), such as a momentum balance.

With K the joint covariance of all observations y (values and gradients),
m = (c for a value, 0 for a derivative) and k_* the covariance of R(ν_*) with y:

    mean(ν_*) = c + k_*ᵀ (K + Σ_noise)⁻¹ (y - m)
    var(ν_*)  = s² - k_*ᵀ (K + Σ_noise)⁻¹ k_*

The hyperparameters (per-dimension length scales ℓ_a, output scale s², σ_v, σ_g, c
and the component weights w_c, with a flat Dirichlet prior) maximise the log marginal
likelihood plus weak priors (a MAP estimate):

    ln p(y) = -½ (y - m)ᵀ (K + Σ_noise)⁻¹ (y - m) - ½ ln det(K + Σ_noise) - (N/2) ln 2π,

using L-BFGS from several starting points (deterministic under ``seed``).  The priors
are those long used by BoTorch: ℓ ~ Gamma(3, 6), s² ~ Gamma(2, 0.15), noise variances
~ Gamma(1.1, 0.05), all in the GP's internal coordinates (inputs mapped to the unit
cube of ``bounds``, values standardised to zero mean and unit variance, gradients
scaled accordingly), and every parameter is kept inside a box.  Method: Rasmussen &
Williams, *Gaussian Processes for Machine Learning* (2006), ch. 2, 5 and §9.4; its
application to systematic uncertainties: Romero, Cranmer, Whiteson, "Efficient
estimation of unfactorizable systematic uncertainties", arXiv:2509.15500.

Examples
--------
>>> import numpy as np
>>> from unbinned.response import DerivativeGP
>>> x = np.linspace(-1.0, 1.0, 5)[:, None]
>>> gp = DerivativeGP(bounds=[(-1.0, 1.0)]).fit(x, np.sin(2 * x[:, 0]), np.cos(2 * x) * 2)
>>> bool(abs(gp.predict(np.array([[0.3]]))[0] - np.sin(0.6)) < 1e-2)
True
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import torch

from unbinned.exceptions import ConfigError, DataError, FitError, ModelFileError
from unbinned.response._kernels import (
    KERNELS,
    component_masks,
    joint_kernel,
    pair_difference_projection,
    prior_block_covariance,
    prior_block_diagonal,
)

__all__ = ["DerivativeGP", "GPHyperparameters", "anova_components"]

FloatArray = npt.NDArray[np.float64]
_DTYPE = torch.float64
# 2: kernel components; 3: pair differences (written only when used); 1 and 2 are read too
_STATE_VERSION = 3
_READABLE_VERSIONS = (1, 2, 3)

# Boxes of the internal (unit-cube, standardised) hyperparameters.
_LENGTHSCALE_BOX = (1e-2, 1e2)
_OUTPUTSCALE_BOX = (1e-3, 1e3)
_NOISE_BOX = (1e-8, 1e1)
# Smallest component weight a warm start represents (weights are a softmax of logits).
_WEIGHT_MIN = 1e-12
INPUT_WARPS: tuple[str, ...] = ("identity", "log")


def anova_components(d: int, orders: Iterable[int]) -> tuple[tuple[int, ...], ...]:
    """All subsets of the d input dimensions whose sizes are in ``orders``.

    The components of an additive (ANOVA) kernel, k(x, x') = Σ_S s_S² Π_{a∈S} k_a(x_a, x'_a)
    (Duvenaud, Nickisch, Rasmussen, "Additive Gaussian processes", NIPS 2011): order 1
    gives the first-order additive kernel Σ_a k_a, order d the full product kernel.

    Parameters
    ----------
    d
        Number of input dimensions.
    orders
        Subset sizes to include, each in 1..d.

    Returns
    -------
    tuple of tuple of int
        The subsets, by size and then lexicographically.

    Examples
    --------
    >>> anova_components(3, (1, 3))
    ((0,), (1,), (2,), (0, 1, 2))
    """
    sizes = sorted(set(int(k) for k in orders))
    if d < 1 or not sizes or sizes[0] < 1 or sizes[-1] > d:
        raise ConfigError(
            f"orders must be non-empty subset sizes in 1..d={d}, got {list(orders)!r}"
        )
    return tuple(c for k in sizes for c in itertools.combinations(range(d), k))


def _check_components(
    components: Sequence[Sequence[int]] | None, d: int
) -> tuple[tuple[int, ...], ...] | None:
    if components is None:
        return None
    out: list[tuple[int, ...]] = []
    for comp in components:
        dims = tuple(int(a) for a in comp)
        if not dims or len(set(dims)) != len(dims) or min(dims) < 0 or max(dims) >= d:
            raise ConfigError(
                f"every kernel component must be a non-empty tuple of distinct dimensions in "
                f"0..{d - 1}, got {tuple(comp)!r}"
            )
        out.append(tuple(sorted(dims)))
    if not out or len(set(out)) != len(out):
        raise ConfigError(
            f"components must be a non-empty sequence of distinct dimension tuples, got "
            f"{components!r}; pass None for one kernel on all dimensions"
        )
    return tuple(out)


def _as_bounds(bounds: npt.ArrayLike) -> FloatArray:
    arr = np.asarray(bounds, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != 2 or arr.shape[0] < 1:
        raise ConfigError(
            f"bounds must have shape (d, 2) as [(low, high), ...] per nuisance, got shape "
            f"{arr.shape}; pass one (low, high) pair per dimension"
        )
    if not np.all(np.isfinite(arr)) or np.any(arr[:, 1] <= arr[:, 0]):
        raise ConfigError(
            f"bounds must be finite with low < high in every dimension, got {arr.tolist()}"
        )
    return arr


@dataclass(frozen=True)
class GPHyperparameters:
    """Hyperparameters of a :class:`DerivativeGP`, in its internal coordinates.

    Internal coordinates: inputs mapped to the unit cube of the bounds, values
    standardised, ``(y - y_mean) / y_scale``, and gradients scaled by
    ``(dx/du) / y_scale`` (``width / y_scale`` without an input warp).

    Attributes
    ----------
    lengthscales
        ℓ_a per input dimension (unit-cube units), followed, for a GP with
        ``pair_differences``, by ℓ_ab of the pairs a < b in lexicographic order.
    outputscale
        s², the prior variance.
    value_noise
        σ_v², the noise variance of a value observation.
    gradient_noise
        σ_g², the noise variance of one gradient component.
    mean
        c, the constant prior mean.
    component_weights
        For a kernel with several components (``components`` of :class:`DerivativeGP`):
        the fractions w_c (summing to 1) of the prior variance, component c having
        s_c² = s² w_c; None for a single kernel.
    """

    lengthscales: tuple[float, ...]
    outputscale: float
    value_noise: float
    gradient_noise: float
    mean: float
    component_weights: tuple[float, ...] | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable dictionary."""
        out: dict[str, Any] = {
            "lengthscales": [float(v) for v in self.lengthscales],
            "outputscale": float(self.outputscale),
            "value_noise": float(self.value_noise),
            "gradient_noise": float(self.gradient_noise),
            "mean": float(self.mean),
        }
        if self.component_weights is not None:
            out["component_weights"] = [float(v) for v in self.component_weights]
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GPHyperparameters:
        """Build from :meth:`to_dict` output."""
        try:
            return cls(
                lengthscales=tuple(float(v) for v in data["lengthscales"]),
                outputscale=float(data["outputscale"]),
                value_noise=float(data["value_noise"]),
                gradient_noise=float(data["gradient_noise"]),
                mean=float(data["mean"]),
                component_weights=(
                    None
                    if data.get("component_weights") is None
                    else tuple(float(v) for v in data["component_weights"])
                ),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelFileError(
                f"invalid GP hyperparameters {data!r}: {exc}; expected the keys lengthscales, "
                "outputscale, value_noise, gradient_noise, mean"
            ) from exc


def _box_to_raw(value: float, box: tuple[float, float]) -> float:
    lo, hi = math.log(box[0]), math.log(box[1])
    v = min(max(math.log(value), lo + 1e-9 * (hi - lo)), hi - 1e-9 * (hi - lo))
    p = (v - lo) / (hi - lo)
    return math.log(p / (1.0 - p))


def _raw_to_box(raw: torch.Tensor, box: tuple[float, float]) -> torch.Tensor:
    lo, hi = math.log(box[0]), math.log(box[1])
    return torch.exp(lo + (hi - lo) * torch.sigmoid(raw))


def _cholesky(matrix: torch.Tensor) -> torch.Tensor:
    """Cholesky factor, adding diagonal jitter (up to 1e-4 of the mean diagonal) if needed."""
    chol, info = torch.linalg.cholesky_ex(matrix)
    if int(info) == 0:
        return chol
    scale = float(matrix.diagonal().mean().detach().abs()) or 1.0
    eye = torch.eye(matrix.shape[0], dtype=matrix.dtype)
    for exponent in range(-10, -3):
        chol, info = torch.linalg.cholesky_ex(matrix + (scale * 10.0**exponent) * eye)
        if int(info) == 0:
            return chol
    raise torch.linalg.LinAlgError("covariance matrix is not positive definite")


@dataclass
class _GPState:
    """The fitted GP in internal coordinates (torch float64 tensors)."""

    x: torch.Tensor  # (n, d) unit-cube inputs
    with_gradients: bool
    kernel: str
    masks: torch.Tensor | None  # (C, D) kernel components, None: one on all dimensions
    lengthscales: torch.Tensor  # (D,): D = d, or d + d(d-1)/2 with pair differences
    outputscale: torch.Tensor  # scalar, or (C,) with masks
    value_noise: torch.Tensor  # scalar variance
    gradient_noise: torch.Tensor  # scalar variance
    mean: torch.Tensor  # scalar
    chol: torch.Tensor  # Cholesky factor of K + noise
    alpha: torch.Tensor  # (K + noise)^-1 (y - m)
    projection: torch.Tensor | None = None  # (D, d) kernel coordinates z = P x, None: z = x

    def cov(self, x1: torch.Tensor, x2: torch.Tensor, *, grad1: bool, grad2: bool) -> torch.Tensor:
        """Prior joint covariance of observation blocks at unit-cube points x1 and x2."""
        return joint_kernel(
            self.kernel,
            x1,
            x2,
            self.lengthscales,
            self.outputscale,
            grad1=grad1,
            grad2=grad2,
            masks=self.masks,
            projection=self.projection,
        )

    def prior_block_covariance(self, with_gradients: bool) -> torch.Tensor:
        """Prior covariance of one observation block, shape (b, b)."""
        if self.projection is None:
            return torch.diag(
                prior_block_diagonal(
                    self.kernel,
                    self.lengthscales,
                    self.outputscale,
                    with_gradients=with_gradients,
                    masks=self.masks,
                )
            )
        return prior_block_covariance(
            self.kernel,
            self.lengthscales,
            self.outputscale,
            with_gradients=with_gradients,
            masks=self.masks,
            projection=self.projection,
        )

    def noise_diagonal(self, n: int, with_gradients: bool) -> torch.Tensor:
        """Noise variances of n observation blocks, flattened point-major."""
        d = self.x.shape[1]
        if not with_gradients:
            return self.value_noise.expand(n).clone()
        block = torch.cat([self.value_noise.reshape(1), self.gradient_noise.expand(d)])
        return block.repeat(n)


def _observation_vector(y: torch.Tensor, g: torch.Tensor | None) -> torch.Tensor:
    if g is None:
        return y
    return torch.cat([y[:, None], g], dim=1).reshape(-1)


def _mean_vector(mean: torch.Tensor, n: int, d: int, with_gradients: bool) -> torch.Tensor:
    if not with_gradients:
        return mean.expand(n)
    block = torch.cat([mean.reshape(1), torch.zeros(d, dtype=_DTYPE)])
    return block.repeat(n)


class DerivativeGP:
    """Gaussian-process regression with optional gradient observations (RBF kernel).

    Parameters
    ----------
    bounds
        The domain, shape (d, 2): one (low, high) pair per input dimension.  Inputs are
        mapped to the unit cube of these bounds internally.
    n_restarts
        Number of additional random starting points of the hyperparameter optimisation
        (the first start is the previous solution or a default).
    seed
        Seed of the random starting points; fitting is deterministic for a given seed.
    max_iter
        Maximum number of L-BFGS iterations per start.
    fit_noise
        Fit σ_v² and σ_g² (default) or keep them fixed at ``value_noise`` and
        ``gradient_noise``.
    value_noise, gradient_noise
        Initial (or fixed) noise variances in internal coordinates.
    kernel
        ``"rbf"`` (squared exponential, default) or ``"matern52"``.
    components
        None (default): one kernel on all dimensions.  Otherwise a sequence of tuples
        of input dimensions: the kernel is the sum of one ``kernel`` per tuple, on
        those dimensions only, k = s² Σ_c w_c h(q_c), with the length scales shared and
        the weights w_c (Σ w_c = 1) fitted with the other hyperparameters (an additive
        or ANOVA kernel, see :func:`anova_components`).
    input_warp
        ``"identity"`` (default): the internal coordinates are the inputs mapped
        linearly to the unit cube of ``bounds``; ``"log"``: their logarithms,
        u_a = ln(x_a/low_a)/ln(high_a/low_a) (positive bounds only), so that the
        kernel is stationary in ln x, the natural coordinate of a scale factor such as
        a jet energy scale (equal steps in ln x are equal relative changes).  Gradient
        observations are converted by the chain rule, ∂f/∂u_a = (∂f/∂x_a) x_a
        ln(high_a/low_a).  A fixed instance of input warping (Snoek et al., "Input
        warping for Bayesian optimization of non-stationary functions", ICML 2014).
    pair_differences
        If True, the kernel also acts on the d(d-1)/2 differences (u_a - u_b)/√2 of the
        internal coordinates, each with its own length scale ℓ_ab (fitted with the
        others; :attr:`GPHyperparameters.lengthscales` then holds the d input length
        scales followed by those of the pairs (0, 1), (0, 2), ..., (d-2, d-1)); a
        component on inputs S uses the differences of the pairs within S.  Its metric
        Pᵀ diag(1/ℓ²) P is then not diagonal: the GP can learn a ridge along a diagonal
        direction, as when a response depends on the ratio of two jet energy scales
        (see :mod:`unbinned.response._kernels`).  Default False.

    Notes
    -----
    See the module docstring for the formulas and references.  ``fit`` uses the
    gradients iff they are passed.
    """

    def __init__(
        self,
        bounds: npt.ArrayLike,
        *,
        n_restarts: int = 3,
        seed: int = 0,
        max_iter: int = 100,
        fit_noise: bool = True,
        value_noise: float = 1e-3,
        gradient_noise: float = 1e-2,
        kernel: str = "rbf",
        components: Sequence[Sequence[int]] | None = None,
        input_warp: str = "identity",
        pair_differences: bool = False,
    ) -> None:
        self.bounds = _as_bounds(bounds)
        if input_warp not in INPUT_WARPS:
            raise ConfigError(f"input_warp must be one of {INPUT_WARPS}, got {input_warp!r}")
        if input_warp == "log" and np.any(self.bounds[:, 0] <= 0):
            raise ConfigError(
                f"input_warp='log' needs positive bounds, got {self.bounds.tolist()}; shift the "
                "inputs or use input_warp='identity'"
            )
        self.input_warp = input_warp
        if kernel not in KERNELS:
            raise ConfigError(f"kernel must be one of {KERNELS}, got {kernel!r}")
        self.kernel = kernel
        self.components = _check_components(components, self.dim)
        self.pair_differences = bool(pair_differences)
        self._projection = pair_difference_projection(self.dim) if self.pair_differences else None
        self._masks = (
            None
            if self.components is None
            else component_masks(self.components, self.dim, pair_differences=self.pair_differences)
        )
        if n_restarts < 0:
            raise ConfigError(f"n_restarts must be >= 0, got {n_restarts}")
        if max_iter < 1:
            raise ConfigError(f"max_iter must be >= 1, got {max_iter}")
        for name, value in (("value_noise", value_noise), ("gradient_noise", gradient_noise)):
            if not (_NOISE_BOX[0] <= value <= _NOISE_BOX[1]):
                raise ConfigError(
                    f"{name} must lie in [{_NOISE_BOX[0]:g}, {_NOISE_BOX[1]:g}] (internal "
                    f"variance units), got {value!r}"
                )
        self.n_restarts = int(n_restarts)
        self.seed = int(seed)
        self.max_iter = int(max_iter)
        self.fit_noise = bool(fit_noise)
        self._init_value_noise = float(value_noise)
        self._init_gradient_noise = float(gradient_noise)
        self._x: FloatArray | None = None
        self._y: FloatArray | None = None
        self._g: FloatArray | None = None
        self._y_mean = 0.0
        self._y_scale = 1.0
        self._state: _GPState | None = None
        self._hyper: GPHyperparameters | None = None
        self._lml = float("nan")

    # ------------------------------------------------------------------ properties
    @property
    def dim(self) -> int:
        """Number of input dimensions d."""
        return int(self.bounds.shape[0])

    @property
    def _n_lengthscales(self) -> int:
        """Number of kernel coordinates: d, or d + d(d-1)/2 with pair differences."""
        d = self.dim
        return d + d * (d - 1) // 2 if self.pair_differences else d

    @property
    def is_fitted(self) -> bool:
        """Whether :meth:`fit` has been called."""
        return self._state is not None

    @property
    def has_gradients(self) -> bool:
        """Whether the GP was fitted with gradient observations."""
        return self._require_state().with_gradients

    @property
    def hyperparameters(self) -> GPHyperparameters:
        """The fitted hyperparameters (internal coordinates)."""
        self._require_state()
        assert self._hyper is not None
        return self._hyper

    @property
    def lengthscales(self) -> FloatArray:
        """Length scales ℓ_a in the original units of the inputs (of ln x with the log warp).

        Those of the d inputs only; with ``pair_differences`` the length scales of the
        differences (unit-cube units) are in :attr:`hyperparameters`.
        """
        ls = np.asarray(self.hyperparameters.lengthscales, dtype=np.float64)[: self.dim]
        return np.asarray(ls * self._span(), dtype=np.float64)

    @property
    def log_marginal_likelihood(self) -> float:
        """Log marginal likelihood (internal coordinates, without the priors) at the fit."""
        self._require_state()
        return self._lml

    @property
    def x_train(self) -> FloatArray:
        """Training inputs, shape (n, d)."""
        self._require_state()
        assert self._x is not None
        return self._x.copy()

    def __repr__(self) -> str:
        if self._state is None:
            return f"DerivativeGP(d={self.dim}, kernel={self.kernel!r}, unfitted)"
        h = self.hyperparameters
        ls = ", ".join(f"{v:.3g}" for v in self.lengthscales)
        comps = "" if self.components is None else f"components={len(self.components)}, "
        return (
            f"DerivativeGP(d={self.dim}, kernel={self.kernel!r}, {comps}"
            f"n_points={self._state.x.shape[0]}, "
            f"gradients={self._state.with_gradients}, lengthscales=[{ls}], "
            f"outputscale={h.outputscale * self._y_scale**2:.3g}, "
            f"value_noise_sd={math.sqrt(h.value_noise) * self._y_scale:.3g}, "
            f"lml={self._lml:.4g})"
        )

    def _require_state(self) -> _GPState:
        if self._state is None:
            raise FitError("the Gaussian process is not fitted yet; call fit(x, y) first")
        return self._state

    # ------------------------------------------------------------------ transforms
    def _span(self) -> FloatArray:
        """Width of the box in the warped coordinate (x or ln x), shape (d,)."""
        lo, hi = self.bounds[:, 0], self.bounds[:, 1]
        return np.asarray(np.log(hi / lo) if self.input_warp == "log" else hi - lo)

    def _to_unit(self, x: torch.Tensor) -> torch.Tensor:
        """Internal (unit-cube) coordinates u of inputs x (differentiable)."""
        lo = torch.as_tensor(self.bounds[:, 0], dtype=_DTYPE)
        span = torch.as_tensor(self._span(), dtype=_DTYPE)
        if self.input_warp == "log":
            return torch.log(x / lo) / span
        return (x - lo) / span

    def _from_unit(self, u: npt.ArrayLike) -> FloatArray:
        """Inputs x of internal coordinates u (the inverse of :meth:`_to_unit`)."""
        lo = self.bounds[:, 0]
        arr = np.asarray(u, dtype=np.float64)
        if self.input_warp == "log":
            return np.asarray(lo * np.exp(arr * self._span()), dtype=np.float64)
        return np.asarray(lo + arr * self._span(), dtype=np.float64)

    def _dx_du(self, x: FloatArray) -> FloatArray:
        """dx_a/du_a at inputs x, shape (n, d): converts gradients to internal coordinates."""
        if self.input_warp == "log":
            return np.asarray(x * self._span(), dtype=np.float64)
        return np.broadcast_to(self._span(), x.shape).astype(np.float64)

    def _check_x(self, x: npt.ArrayLike, name: str) -> FloatArray:
        arr = np.asarray(x, dtype=np.float64)
        if arr.ndim == 1 and self.dim == 1:
            arr = arr[:, None]
        if arr.ndim != 2 or arr.shape[1] != self.dim:
            raise DataError(
                f"{name} must have shape (n, {self.dim}) (one row per point), got {arr.shape}"
            )
        if not np.all(np.isfinite(arr)):
            raise DataError(f"{name} contains NaN or infinite values; remove those points")
        if self.input_warp == "log" and np.any(arr <= 0):
            raise DataError(
                f"{name} has non-positive values, outside the domain of input_warp='log'"
            )
        return arr

    # ------------------------------------------------------------------ fitting
    def fit(
        self,
        x: npt.ArrayLike,
        y: npt.ArrayLike,
        gradients: npt.ArrayLike | None = None,
        *,
        hyperparameters: GPHyperparameters | None = None,
        warm_start: bool = True,
    ) -> DerivativeGP:
        """Fit the GP to values (and gradients) at points ``x``.

        Parameters
        ----------
        x
            Points, shape (n, d).
        y
            Values, shape (n,).
        gradients
            Gradients ∂y/∂x, shape (n, d), or None for a value-only GP.
        hyperparameters
            If given, use these (internal coordinates) instead of optimising.
        warm_start
            Start the optimisation from the previous fit's hyperparameters, if any.

        Returns
        -------
        DerivativeGP
            ``self``.
        """
        xa = self._check_x(x, "x")
        ya = np.asarray(y, dtype=np.float64).reshape(-1)
        n = xa.shape[0]
        if ya.shape[0] != n:
            raise DataError(f"y has {ya.shape[0]} values but x has {n} points; pass one each")
        if n < 1:
            raise DataError("fit needs at least one point; got an empty x")
        if not np.all(np.isfinite(ya)):
            raise DataError("y contains NaN or infinite values; remove those points")
        ga: FloatArray | None = None
        if gradients is not None:
            ga = np.asarray(gradients, dtype=np.float64)
            if ga.shape != (n, self.dim):
                raise DataError(
                    f"gradients must have shape (n, d) = ({n}, {self.dim}), got {ga.shape}"
                )
            if not np.all(np.isfinite(ga)):
                raise DataError("gradients contain NaN or infinite values")
        y_mean = float(ya.mean())
        y_scale = float(ya.std()) if n > 1 else 0.0
        if not y_scale > 1e-12 * max(1.0, abs(y_mean)):
            y_scale = 1.0

        xt = self._to_unit(torch.as_tensor(xa, dtype=_DTYPE))
        yt = torch.as_tensor((ya - y_mean) / y_scale, dtype=_DTYPE)
        gt = None if ga is None else torch.as_tensor(ga * self._dx_du(xa) / y_scale, dtype=_DTYPE)

        if hyperparameters is not None:
            if len(hyperparameters.lengthscales) != self._n_lengthscales:
                raise ConfigError(
                    f"hyperparameters have {len(hyperparameters.lengthscales)} length scales, "
                    f"expected {self._n_lengthscales}"
                    + (" (d inputs and d(d-1)/2 pair differences)" if self.pair_differences else "")
                )
            hyper = hyperparameters
        else:
            hyper = self._optimise(xt, yt, gt, warm_start=warm_start)
        state, lml = self._build_state(xt, yt, gt, hyper)
        # commit only after a successful fit
        self._x, self._y, self._g = xa, ya, ga
        self._y_mean, self._y_scale = y_mean, y_scale
        self._hyper, self._state, self._lml = hyper, state, lml
        return self

    def _starts(self, warm_start: bool) -> list[GPHyperparameters]:
        gen = np.random.default_rng(self.seed)
        n_comp = 0 if self.components is None else len(self.components)
        first = (
            self._hyper
            if warm_start and self._hyper is not None
            else GPHyperparameters(
                lengthscales=(0.3,) * self._n_lengthscales,
                outputscale=1.0,
                value_noise=self._init_value_noise,
                gradient_noise=self._init_gradient_noise,
                mean=0.0,
                component_weights=(1.0 / n_comp,) * n_comp if n_comp else None,
            )
        )
        starts = [first]
        for _ in range(self.n_restarts):
            starts.append(
                GPHyperparameters(
                    lengthscales=tuple(
                        np.exp(gen.uniform(np.log(0.05), np.log(1.0), self._n_lengthscales))
                    ),
                    outputscale=float(np.exp(gen.uniform(np.log(0.3), np.log(3.0)))),
                    value_noise=(
                        float(np.exp(gen.uniform(np.log(1e-5), np.log(1e-1))))
                        if self.fit_noise
                        else self._init_value_noise
                    ),
                    gradient_noise=(
                        float(np.exp(gen.uniform(np.log(1e-4), np.log(1.0))))
                        if self.fit_noise
                        else self._init_gradient_noise
                    ),
                    mean=float(gen.normal(0.0, 0.5)),
                    component_weights=(
                        tuple(float(v) for v in gen.dirichlet(np.ones(n_comp))) if n_comp else None
                    ),
                )
            )
        return starts

    def _weights_to_raw(self, weights: tuple[float, ...] | None) -> list[float]:
        """Softmax logits of the component weights relative to the last one (C - 1 values)."""
        if self.components is None:
            return []
        n_comp = len(self.components)
        w = np.full(n_comp, 1.0 / n_comp) if weights is None else np.asarray(weights)
        if w.shape != (n_comp,):
            raise ConfigError(
                f"{w.shape[0]} component weights for {n_comp} kernel components; pass one each"
            )
        logw = np.log(np.clip(w, _WEIGHT_MIN, None))
        return [float(v) for v in logw[:-1] - logw[-1]]

    @staticmethod
    def _raw_to_weights(raw: torch.Tensor) -> torch.Tensor:
        return torch.softmax(torch.cat([raw, raw.new_zeros(1)]), dim=0)

    def _optimise(
        self, xt: torch.Tensor, yt: torch.Tensor, gt: torch.Tensor | None, *, warm_start: bool
    ) -> GPHyperparameters:
        obs = _observation_vector(yt, gt)
        best: tuple[float, GPHyperparameters] | None = None
        for start in self._starts(warm_start):
            raw = self._raw_start(start)
            fixed_noise = torch.tensor(
                [
                    _box_to_raw(self._init_value_noise, _NOISE_BOX),
                    _box_to_raw(self._init_gradient_noise, _NOISE_BOX),
                ],
                dtype=_DTYPE,
            )

            def loss_fn(r: torch.Tensor, fixed_noise: torch.Tensor = fixed_noise) -> torch.Tensor:
                return self._neg_log_posterior(r, fixed_noise, xt, obs, gt is not None)

            final = self._minimise(raw, loss_fn)
            if final is None:
                continue
            if best is None or final < best[0]:
                best = (final, self._hyperparameters(raw, fixed_noise))
        if best is None:
            raise FitError(
                "the GP hyperparameter optimisation failed from every starting point "
                "(non-finite marginal likelihood); check the inputs for duplicates with "
                "different values or rescale them"
            )
        return best[1]

    def _raw_start(self, start: GPHyperparameters) -> torch.Tensor:
        """The unconstrained parameter vector of a starting point (requires grad)."""
        return torch.tensor(
            [_box_to_raw(v, _LENGTHSCALE_BOX) for v in start.lengthscales]
            + [_box_to_raw(start.outputscale, _OUTPUTSCALE_BOX)]
            + [_box_to_raw(start.value_noise, _NOISE_BOX)]
            + [_box_to_raw(start.gradient_noise, _NOISE_BOX)]
            + [start.mean]
            + self._weights_to_raw(start.component_weights),
            dtype=_DTYPE,
            requires_grad=True,
        )

    def _unpack(self, r: torch.Tensor, fixed_noise: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Length scales, s², value and gradient noise, mean and component weights of ``r``."""
        nl = self._n_lengthscales
        ls = _raw_to_box(r[:nl], _LENGTHSCALE_BOX)
        s2 = _raw_to_box(r[nl], _OUTPUTSCALE_BOX)
        noise_raw = r[nl + 1 : nl + 3] if self.fit_noise else fixed_noise
        nv = _raw_to_box(noise_raw[0], _NOISE_BOX)
        ng = _raw_to_box(noise_raw[1], _NOISE_BOX)
        w = self._raw_to_weights(r[nl + 4 :]) if self._masks is not None else s2.new_ones(1)
        return ls, s2, nv, ng, r[nl + 3], w

    def _neg_log_posterior(
        self,
        r: torch.Tensor,
        fixed_noise: torch.Tensor,
        xt: torch.Tensor,
        obs: torch.Tensor,
        with_g: bool,
    ) -> torch.Tensor:
        """The negative log marginal likelihood minus the log priors at ``r``."""
        n, d = xt.shape
        multi = self._masks is not None
        ls, s2, nv, ng, c, w = self._unpack(r, fixed_noise)
        scales = s2 * w if multi else s2
        k = joint_kernel(
            self.kernel,
            xt,
            xt,
            ls,
            scales,
            grad1=with_g,
            grad2=with_g,
            masks=self._masks,
            projection=self._projection,
        )
        if with_g:
            block = torch.cat([nv.reshape(1), ng.expand(d)])
            noise = block.repeat(n)
        else:
            noise = nv.expand(n)
        chol = _cholesky(k + torch.diag(noise))
        resid = obs - _mean_vector(c, n, d, with_g)
        a = torch.cholesky_solve(resid[:, None], chol)[:, 0]
        log2pi = math.log(2.0 * math.pi)
        nll = 0.5 * resid @ a + torch.log(chol.diagonal()).sum() + 0.5 * len(obs) * log2pi
        # log priors (BoTorch legacy defaults), up to constants; flat (Dirichlet(1))
        # prior on the component weights
        lp = (2.0 * torch.log(ls) - 6.0 * ls).sum()
        lp = lp + torch.log(s2) - 0.15 * s2
        if self.fit_noise:
            lp = lp + 0.1 * torch.log(nv) - 0.05 * nv
            if with_g:
                lp = lp + 0.1 * torch.log(ng) - 0.05 * ng
        return nll - lp

    def _minimise(
        self, raw: torch.Tensor, loss_fn: Callable[[torch.Tensor], torch.Tensor]
    ) -> float | None:
        """L-BFGS on ``raw`` in place; the final loss, or None when it failed."""
        opt = torch.optim.LBFGS(
            [raw],
            lr=1.0,
            max_iter=self.max_iter,
            line_search_fn="strong_wolfe",
            tolerance_grad=1e-7,
            tolerance_change=1e-10,
        )

        def closure() -> Any:
            opt.zero_grad()
            loss = loss_fn(raw)
            loss.backward()
            return loss

        try:
            opt.step(closure)
            with torch.no_grad():
                final = float(loss_fn(raw))
        except (torch.linalg.LinAlgError, RuntimeError):
            return None
        return final if math.isfinite(final) else None

    def _hyperparameters(self, raw: torch.Tensor, fixed_noise: torch.Tensor) -> GPHyperparameters:
        """The hyperparameters at the optimised ``raw``."""
        with torch.no_grad():
            ls, s2, nv, ng, c, w = self._unpack(raw.detach(), fixed_noise)
        return GPHyperparameters(
            lengthscales=tuple(float(v) for v in ls),
            outputscale=float(s2),
            value_noise=float(nv),
            gradient_noise=float(ng),
            mean=float(c),
            component_weights=tuple(float(v) for v in w) if self._masks is not None else None,
        )

    def _build_state(
        self,
        xt: torch.Tensor,
        yt: torch.Tensor,
        gt: torch.Tensor | None,
        hyper: GPHyperparameters,
    ) -> tuple[_GPState, float]:
        n, d = xt.shape
        with_g = gt is not None
        ls = torch.tensor(hyper.lengthscales, dtype=_DTYPE)
        s2 = torch.tensor(hyper.outputscale, dtype=_DTYPE)
        if self.components is not None:
            if hyper.component_weights is None or len(hyper.component_weights) != len(
                self.components
            ):
                raise ConfigError(
                    f"the GP has {len(self.components)} kernel components; the hyperparameters "
                    f"need as many component_weights, got {hyper.component_weights!r}"
                )
            s2 = s2 * torch.tensor(hyper.component_weights, dtype=_DTYPE)
        elif hyper.component_weights is not None:
            raise ConfigError(
                "the hyperparameters have component_weights but the GP has one kernel; pass "
                "components to the GP or drop the weights"
            )
        nv = torch.tensor(hyper.value_noise, dtype=_DTYPE)
        ng = torch.tensor(hyper.gradient_noise, dtype=_DTYPE)
        c = torch.tensor(hyper.mean, dtype=_DTYPE)
        state = _GPState(
            x=xt,
            with_gradients=with_g,
            kernel=self.kernel,
            masks=self._masks,
            lengthscales=ls,
            outputscale=s2,
            value_noise=nv,
            gradient_noise=ng,
            mean=c,
            chol=torch.empty(0, dtype=_DTYPE),
            alpha=torch.empty(0, dtype=_DTYPE),
            projection=self._projection,
        )
        k = state.cov(xt, xt, grad1=with_g, grad2=with_g)
        try:
            chol = _cholesky(k + torch.diag(state.noise_diagonal(n, with_g)))
        except torch.linalg.LinAlgError as exc:
            raise FitError(
                f"the GP covariance is singular for hyperparameters {hyper}; remove duplicate "
                "points or increase the noise"
            ) from exc
        obs = _observation_vector(yt, gt)
        resid = obs - _mean_vector(c, n, d, with_g)
        alpha = torch.cholesky_solve(resid[:, None], chol)[:, 0]
        state.chol, state.alpha = chol, alpha
        lml = float(
            -0.5 * resid @ alpha
            - torch.log(chol.diagonal()).sum()
            - 0.5 * len(obs) * math.log(2.0 * math.pi)
        )
        return state, lml

    # ------------------------------------------------------------------ prediction
    def predict_torch(self, x: torch.Tensor) -> torch.Tensor:
        """Posterior mean at ``x`` (shape (m, d)) as a differentiable float64 tensor."""
        st = self._require_state()
        xu = self._to_unit(x.to(_DTYPE))
        kx = st.cov(xu, st.x, grad1=False, grad2=st.with_gradients)
        return self._y_mean + self._y_scale * (st.mean + kx @ st.alpha)

    def predict(
        self,
        x: npt.ArrayLike,
        *,
        return_var: bool = False,
        chunk_size: int = 20_000,
    ) -> FloatArray | tuple[FloatArray, FloatArray]:
        """Posterior mean (and variance) of the response at points ``x``.

        Parameters
        ----------
        x
            Points, shape (m, d).
        return_var
            Also return the posterior variance of the (noise-free) response.
        chunk_size
            Number of points evaluated at once (memory bound), divided by the number of
            kernel components.

        Returns
        -------
        numpy.ndarray or tuple of numpy.ndarray
            Mean, shape (m,), and with ``return_var`` the variance, shape (m,).
        """
        st = self._require_state()
        xa = self._check_x(x, "x")
        means: list[FloatArray] = []
        variances: list[FloatArray] = []
        prior_var = st.outputscale.sum()
        with torch.no_grad():
            step = max(1, chunk_size // (1 if self.components is None else len(self.components)))
            for start in range(0, xa.shape[0], step):
                xu = self._to_unit(torch.as_tensor(xa[start : start + step], dtype=_DTYPE))
                kx = st.cov(xu, st.x, grad1=False, grad2=st.with_gradients)
                means.append((self._y_mean + self._y_scale * (st.mean + kx @ st.alpha)).numpy())
                if return_var:
                    v = torch.linalg.solve_triangular(st.chol, kx.T, upper=False)
                    var = (prior_var - (v * v).sum(0)).clamp_min(0.0)
                    variances.append((self._y_scale**2 * var).numpy())
        mean = np.concatenate(means) if means else np.empty(0)
        if return_var:
            return mean, (np.concatenate(variances) if variances else np.empty(0))
        return mean

    def predict_gradient(self, x: npt.ArrayLike) -> FloatArray:
        """Posterior mean of the gradient ∂R/∂x at points ``x``, shape (m, d)."""
        xa = self._check_x(x, "x")
        xt = torch.as_tensor(xa, dtype=_DTYPE).requires_grad_(True)
        out = self.predict_torch(xt).sum()
        (grad,) = torch.autograd.grad(out, xt)
        return grad.numpy()

    # ------------------------------------------------------------------ state
    def to_dict(self) -> dict[str, Any]:
        """Return the fitted GP as a JSON-serialisable dictionary (no pickle)."""
        self._require_state()
        assert self._x is not None
        assert self._y is not None
        return {
            "kind": "derivative_gp",
            # readable by earlier versions unless the pair differences are used
            "version": _STATE_VERSION if self.pair_differences else 2,
            "bounds": self.bounds.tolist(),
            "x": self._x.tolist(),
            "y": self._y.tolist(),
            "gradients": None if self._g is None else self._g.tolist(),
            "hyperparameters": self.hyperparameters.to_dict(),
            "options": {
                "n_restarts": self.n_restarts,
                "seed": self.seed,
                "max_iter": self.max_iter,
                "fit_noise": self.fit_noise,
                "value_noise": self._init_value_noise,
                "gradient_noise": self._init_gradient_noise,
                "kernel": self.kernel,
                "components": (
                    None if self.components is None else [list(c) for c in self.components]
                ),
                "input_warp": self.input_warp,
                **({"pair_differences": True} if self.pair_differences else {}),
            },
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DerivativeGP:
        """Rebuild a fitted GP from :meth:`to_dict` output (no re-optimisation)."""
        if not isinstance(data, dict) or data.get("kind") != "derivative_gp":
            raise ModelFileError(
                "not a serialised DerivativeGP: expected a dict with kind='derivative_gp', got "
                f"{type(data).__name__} with kind={getattr(data, 'get', lambda _k: None)('kind')!r}"
            )
        if data.get("version") not in _READABLE_VERSIONS:
            raise ModelFileError(
                f"unsupported DerivativeGP state version {data.get('version')!r}; this version of "
                f"unbinned reads versions {_READABLE_VERSIONS}"
            )
        try:
            options = dict(data["options"])
            gp = cls(
                data["bounds"],
                n_restarts=int(options["n_restarts"]),
                seed=int(options["seed"]),
                max_iter=int(options["max_iter"]),
                fit_noise=bool(options["fit_noise"]),
                value_noise=float(options["value_noise"]),
                gradient_noise=float(options["gradient_noise"]),
                kernel=str(options["kernel"]),
                components=options.get("components"),
                input_warp=str(options.get("input_warp", "identity")),
                pair_differences=bool(options.get("pair_differences", False)),
            )
            hyper = GPHyperparameters.from_dict(data["hyperparameters"])
            gp.fit(data["x"], data["y"], data["gradients"], hyperparameters=hyper)
        except (KeyError, TypeError) as exc:
            raise ModelFileError(f"corrupt DerivativeGP state: {exc}") from exc
        return gp
