"""An asymmetric log-normal constraint for a theory uncertainty.

A nuisance θ with a standard normal prior scales a process's rate by κ(θ) = exp(η(θ)),

    η(θ) = θ ln κ+                 for θ >= 1,
    η(θ) = -θ ln κ-                for θ <= -1,
    η(θ) = Σ_{i=1}^{6} a_i θ^i     for |θ| < 1,

with κ+ = 1 + Δσ+/σ0 and κ- = 1 - Δσ-/σ0 the rate factors at θ = ±1.  The coefficients
a_i make η, η' and η'' continuous at θ = ±1 (HistFactory's interpolation code 4,
exponential extrapolation with polynomial interpolation; Cranmer et al., CERN-OPEN-2012-
016; pyhf ``code4``), so κ(θ) is smooth (C²) everywhere and κ(0) = 1.  The constraint
term added to q = -2 ln L is -2 ln N(θ | 0, 1) = θ² (constants dropped).

Built from the reference scheme (:mod:`unbinned.theory.reference`) by
:func:`constraint_from_reference`: κ± = 1 ± n δ±_ref, so that θ = ±1 reproduces
σ0 ± Δσ±_ref exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import torch

from unbinned.exceptions import ConfigError
from unbinned.theory.reference import ReferenceUncertainty, per_particle_reference
from unbinned.theory.scale import ScaleEnvelope

__all__ = [
    "AsymmetricLogNormalConstraint",
    "constraint_from_envelope",
    "constraint_from_reference",
]

FloatArray = npt.NDArray[np.float64]

_A = np.array(
    [
        [1.0, 1.0, 1.0, 1.0, 1.0, 1.0],  # η(1)
        [1.0, 2.0, 3.0, 4.0, 5.0, 6.0],  # η'(1)
        [0.0, 2.0, 6.0, 12.0, 20.0, 30.0],  # η''(1)
        [-1.0, 1.0, -1.0, 1.0, -1.0, 1.0],  # η(-1)
        [1.0, -2.0, 3.0, -4.0, 5.0, -6.0],  # η'(-1)
        [0.0, 2.0, -6.0, 12.0, -20.0, 30.0],  # η''(-1)
    ]
)


@dataclass(frozen=True)
class AsymmetricLogNormalConstraint:
    """Rate factor κ(θ) with κ(±1) = κ±, θ ~ N(0, 1) (see the module docstring).

    Parameters
    ----------
    name
        Name of the nuisance parameter θ.
    kappa_up
        κ+ > 0: the rate factor at θ = +1 (e.g. 1.44 for +44 %).
    kappa_down
        κ- > 0: the rate factor at θ = -1 (e.g. 0.72 for -28 %).

    Examples
    --------
    >>> c = AsymmetricLogNormalConstraint("theory_ttbar", kappa_up=1.3, kappa_down=0.8)
    >>> [round(float(v), 6) for v in c.rate_factor(np.array([-1.0, 0.0, 1.0, 2.0]))]
    [0.8, 1.0, 1.3, 1.69]
    >>> float(c.penalty(1.5))
    2.25
    """

    name: str
    kappa_up: float
    kappa_down: float
    _coef: tuple[float, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise TypeError(f"name must be a non-empty str, got {self.name!r}")
        for label, value in (("kappa_up", self.kappa_up), ("kappa_down", self.kappa_down)):
            if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
                raise ConfigError(
                    f"{label} must be a finite number > 0 (a rate factor at θ = ±1), got {value!r}"
                )
        lu, ld = math.log(self.kappa_up), math.log(self.kappa_down)
        coef = np.linalg.solve(_A, np.array([lu, lu, 0.0, ld, -ld, 0.0]))
        object.__setattr__(self, "_coef", tuple(float(c) for c in coef))

    @property
    def coefficients(self) -> tuple[float, ...]:
        """a_1 ... a_6 of the polynomial for |θ| < 1."""
        return self._coef

    def log_rate(self, theta: npt.ArrayLike) -> FloatArray:
        """η(θ) = ln κ(θ)."""
        t = np.asarray(theta, dtype=np.float64)
        poly = sum(c * t ** (i + 1) for i, c in enumerate(self._coef))
        out = np.where(
            t >= 1.0,
            t * math.log(self.kappa_up),
            np.where(t <= -1.0, -t * math.log(self.kappa_down), poly),
        )
        return np.asarray(out, dtype=np.float64)

    def rate_factor(self, theta: npt.ArrayLike) -> FloatArray:
        """κ(θ) = exp(η(θ))."""
        return np.asarray(np.exp(self.log_rate(theta)), dtype=np.float64)

    def penalty(self, theta: npt.ArrayLike) -> FloatArray:
        """-2 ln N(θ | 0, 1) + const = θ²."""
        t = np.asarray(theta, dtype=np.float64)
        return np.asarray(t * t, dtype=np.float64)

    def log_rate_torch(self, theta: torch.Tensor) -> torch.Tensor:
        """η(θ) as a differentiable torch expression."""
        poly = torch.zeros_like(theta)
        for c in reversed(self._coef):
            poly = (poly + c) * theta
        up = theta * math.log(self.kappa_up)
        down = -theta * math.log(self.kappa_down)
        return torch.where(theta >= 1.0, up, torch.where(theta <= -1.0, down, poly))

    def rate_factor_torch(self, theta: torch.Tensor) -> torch.Tensor:
        """κ(θ) as a differentiable torch expression."""
        return torch.exp(self.log_rate_torch(theta))

    def penalty_torch(self, theta: torch.Tensor) -> torch.Tensor:
        """θ² as a torch expression."""
        return theta * theta


def constraint_from_reference(
    name: str,
    n_particles: int,
    reference: ReferenceUncertainty | None = None,
) -> AsymmetricLogNormalConstraint:
    """The reference-scheme constraint of a process: κ± = 1 ± n δ±_ref.

    Parameters
    ----------
    name
        Name of the nuisance parameter.
    n_particles
        Number of final-state particles n of the process.
    reference
        δ±_ref; default: :func:`~unbinned.theory.per_particle_reference`.

    Returns
    -------
    AsymmetricLogNormalConstraint
        κ+ = 1 + n δ+, κ- = 1 - n δ- (for the packaged table: +14.7 %, -9.34 % per particle).

    Raises
    ------
    ConfigError
        If n δ- >= 1 (the downward uncertainty would remove the whole rate; with the
        packaged table this happens for n >= 11).
    """
    ref = reference or per_particle_reference()
    up, down = ref.relative(n_particles)
    if down >= 1.0:
        raise ConfigError(
            f"n_particles={n_particles} gives a downward uncertainty n·δ- = {down:.3g} >= 100 %; "
            "the reference scheme is not meaningful for that many particles: build an "
            "AsymmetricLogNormalConstraint with an explicit kappa_down instead"
        )
    return AsymmetricLogNormalConstraint(name, kappa_up=1.0 + up, kappa_down=1.0 - down)


def constraint_from_envelope(name: str, envelope: ScaleEnvelope) -> AsymmetricLogNormalConstraint:
    """The scale-variation constraint of a process: κ+ = σ_max/σ0, κ- = σ_min/σ0."""
    if envelope.sigma_up <= envelope.sigma0 or envelope.sigma_down >= envelope.sigma0:
        raise ConfigError(
            f"the envelope {envelope!r} does not bracket the central value; a constraint "
            "needs an upward and a downward variation"
        )
    return AsymmetricLogNormalConstraint(
        name,
        kappa_up=envelope.sigma_up / envelope.sigma0,
        kappa_down=envelope.sigma_down / envelope.sigma0,
    )
