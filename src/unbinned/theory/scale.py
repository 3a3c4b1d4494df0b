"""The scale-variation envelope of a cross section.

The renormalisation and factorisation scales are varied, (μR, μF) ∈ {½, 1, 2}² × μ0,
and the uncertainty is the envelope of the cross sections: Δσ+ = max σ - σ0,
Δσ- = σ0 - min σ.  The usual 7-point prescription drops the two opposite variations
(½, 2) and (2, ½); the 9-point one keeps them.  (See e.g. the PDG review "Quantum
chromodynamics", and Ghosh et al., arXiv:2210.15167 for its shortcomings.)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from unbinned.exceptions import ConfigError, DataError

__all__ = ["ScaleEnvelope", "scale_envelope"]


@dataclass(frozen=True)
class ScaleEnvelope:
    """Envelope of scale variations.

    Attributes
    ----------
    sigma0
        Central cross section (μR = μF = μ0).
    sigma_up, sigma_down
        Largest and smallest cross section among the variations used.
    n_variations
        Number of (μR, μF) points used, the central one included.
    """

    sigma0: float
    sigma_up: float
    sigma_down: float
    n_variations: int

    @property
    def delta_up(self) -> float:
        """Δσ+ = max σ - σ0 (>= 0)."""
        return self.sigma_up - self.sigma0

    @property
    def delta_down(self) -> float:
        """Δσ- = σ0 - min σ (>= 0)."""
        return self.sigma0 - self.sigma_down

    @property
    def rel_up(self) -> float:
        """Δσ+/σ0."""
        return self.delta_up / self.sigma0

    @property
    def rel_down(self) -> float:
        """Δσ-/σ0."""
        return self.delta_down / self.sigma0

    def __repr__(self) -> str:
        return (
            f"ScaleEnvelope(sigma0={self.sigma0:.6g}, +{100 * self.rel_up:.3g}% "
            f"-{100 * self.rel_down:.3g}%, n_variations={self.n_variations})"
        )


def scale_envelope(
    variations: Mapping[tuple[float, float], float] | Iterable[tuple[float, float, float]],
    *,
    seven_point: bool = True,
) -> ScaleEnvelope:
    """Envelope of a cross section's (μR, μF) variations.

    Parameters
    ----------
    variations
        Either a mapping ``{(kR, kF): sigma}`` or triples ``(kR, kF, sigma)``, with kR, kF
        the scale factors μR/μ0, μF/μ0.  Must contain the central point (1, 1).
    seven_point
        Drop variations with μR/μF outside [½, 2], i.e. (½, 2) and (2, ½) (the 7-point
        envelope).

    Returns
    -------
    ScaleEnvelope
        Central value and envelope.

    Examples
    --------
    >>> env = scale_envelope({(1, 1): 10.0, (2, 2): 8.5, (0.5, 0.5): 12.0, (0.5, 2): 14.0})
    >>> round(env.rel_up, 3), round(env.rel_down, 3), env.n_variations
    (0.2, 0.15, 3)
    """
    items = (
        [(float(k[0]), float(k[1]), float(v)) for k, v in variations.items()]
        if isinstance(variations, Mapping)
        else [(float(a), float(b), float(c)) for a, b, c in variations]
    )
    if not items:
        raise DataError("no scale variations given; pass at least the central point (1, 1)")
    central = [s for kr, kf, s in items if np.isclose(kr, 1.0) and np.isclose(kf, 1.0)]
    if len(central) != 1:
        raise DataError(
            f"expected exactly one central point (μR, μF) = (1, 1), found {len(central)}"
        )
    used = []
    for kr, kf, s in items:
        if not (np.isfinite(s) and s > 0):
            raise DataError(f"cross section {s!r} at (μR, μF) = ({kr}, {kf}) must be > 0")
        if kr <= 0 or kf <= 0:
            raise ConfigError(f"scale factors must be > 0, got ({kr}, {kf})")
        if seven_point and abs(np.log(kr / kf)) > np.log(2.0) + 1e-9:
            continue
        used.append(s)
    return ScaleEnvelope(
        sigma0=central[0], sigma_up=max(used), sigma_down=min(used), n_variations=len(used)
    )
