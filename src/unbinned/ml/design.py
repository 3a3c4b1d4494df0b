"""Shape nuisances in their declared parametrisation, and designs of variation points.

A :class:`ShapeNuisance` declares how a physical nuisance value maps to the
standardised ν the networks and φ(ν) use: ``nu = ((value - nominal) / scale) ** power``
(e.g. tes: nominal 1, scale 0.01, power 1; soft_met: nominal 0, scale √5 GeV, range
[0, 5], power 2).  A power of 2 suits a smearing width s: the smeared densities depend
on s only through the added variance s², so ln p(x|s)/p(x|0) is linear in s² near 0
and a quadratic φ(ν) in ν = s² reproduces it there, where a quadratic in s cannot
(it has a spurious linear term).  The scale should keep ν of order of the other
nuisances' few units over the range: the networks share their hidden layers between
the coefficients of all the monomials, and a ν up to 25 (soft_met/GeV squared) with
its square up to 625 dominated their training: at tes + 2σ the Z→ττ prediction in
the most signal-like 5 % of the score was 2.6 % low, 0.9 % with ν in [0, 5]
(paired closure, BENCHMARKS.md).

A :class:`Design` is the set of standardised variation points ν_k at which varied
simulation is produced to train the responses.  :func:`default_design` gives the
nominal point, ±1, ±2, ±3 σ on each axis (clipped to the nuisance's range; a
one-sided nuisance such as soft_met gets six points spread over its range instead),
every pair of axes at (±1, ±1) and, for up to four nuisances, the corners of that
cube: at least as many points as monomials, so that the quadratic terms are all
determined.  :func:`validation_design` gives points *between* those (±0.5, ±1.5,
±2.5; pairs at ±1.5) for closure tests.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from unbinned.exceptions import ConfigError
from unbinned.ml.yields import n_monomials

__all__ = ["Design", "ShapeNuisance", "default_design", "validation_design"]

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class ShapeNuisance:
    """A nuisance with a learned shape response, in its declared parametrisation.

    Parameters
    ----------
    name
        Identifier (e.g. ``"tes"``).
    nominal
        Physical nominal value (ν = 0).
    scale
        Physical value of one unit of u (the 1σ width; √5 GeV for soft_met, so that
        ν = u² spans [0, 5] like the ±3σ of the others).
    low, high
        Physically allowed range (e.g. soft_met ≥ 0); the design stays inside it.
    power
        ν = u ** power with u = (value − nominal)/scale: 1 (the default) or 2 (a
        width such as soft_met, see the module docstring); a power other than 1 needs
        a one-sided range, ``low == nominal``, so that ν is monotonic in the value.
    """

    name: str
    nominal: float
    scale: float
    low: float = -math.inf
    high: float = math.inf
    power: int = 1

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ConfigError(f"nuisance name {self.name!r} must be a non-empty string")
        if not (math.isfinite(self.scale) and self.scale > 0):
            raise ConfigError(f"nuisance {self.name!r}: scale {self.scale} must be finite and > 0")
        if not (math.isfinite(self.nominal) and self.low <= self.nominal <= self.high):
            raise ConfigError(
                f"nuisance {self.name!r}: nominal {self.nominal} must lie in its range "
                f"[{self.low}, {self.high}]"
            )
        if self.power not in (1, 2):
            raise ConfigError(f"nuisance {self.name!r}: power {self.power!r} must be 1 or 2")
        if self.power != 1 and self.low != self.nominal:
            raise ConfigError(
                f"nuisance {self.name!r}: power {self.power} needs a one-sided range starting "
                f"at the nominal (low == nominal); got low={self.low}, nominal={self.nominal}"
            )

    def standardize(self, value: Any) -> Any:
        """ν = ((value - nominal) / scale) ** power."""
        u = (value - self.nominal) / self.scale
        return u if self.power == 1 else u**self.power

    def physical(self, nu: Any) -> Any:
        """value = nominal + scale ν^(1/power) (the inverse of :meth:`standardize`)."""
        return self.nominal + self.scale * (nu if self.power == 1 else nu ** (1.0 / self.power))

    @property
    def linear_range(self) -> tuple[float, float]:
        """The allowed range of u = (value − nominal)/scale (before the power)."""
        return ((self.low - self.nominal) / self.scale, (self.high - self.nominal) / self.scale)

    @property
    def standardized_range(self) -> tuple[float, float]:
        """The allowed range in units of ν."""
        return (self.standardize(self.low), self.standardize(self.high))

    def to_dict(self) -> dict[str, Any]:
        """JSON form (infinite bounds as null)."""
        return {
            "name": self.name,
            "nominal": self.nominal,
            "scale": self.scale,
            "low": self.low if math.isfinite(self.low) else None,
            "high": self.high if math.isfinite(self.high) else None,
            "power": self.power,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ShapeNuisance:
        """Inverse of :meth:`to_dict`."""
        low, high = data.get("low"), data.get("high")
        return cls(
            str(data["name"]),
            float(data["nominal"]),
            float(data["scale"]),
            -math.inf if low is None else float(low),
            math.inf if high is None else float(high),
            int(data.get("power", 1)),
        )


@dataclass(frozen=True, eq=False)
class Design:
    """Standardised variation points ν_k, shape (K, d), for the named nuisances."""

    points: FloatArray
    nuisance_names: tuple[str, ...]

    def __post_init__(self) -> None:
        pts = np.asarray(self.points, dtype=np.float64)
        if pts.ndim != 2 or pts.shape[1] != len(self.nuisance_names):
            raise ConfigError(
                f"design points have shape {pts.shape}; expected (K, {len(self.nuisance_names)})"
            )
        if not np.isfinite(pts).all():
            raise ConfigError("design points must be finite")
        object.__setattr__(self, "points", pts)

    def __len__(self) -> int:
        return int(self.points.shape[0])

    @property
    def n_nuisances(self) -> int:
        """Number d of nuisances."""
        return len(self.nuisance_names)

    @property
    def varied_points(self) -> FloatArray:
        """The points other than the nominal ν = 0."""
        return self.points[np.any(self.points != 0.0, axis=1)]

    @property
    def trained_range(self) -> FloatArray:
        """Per nuisance (min, max) over the points, shape (d, 2), always containing 0."""
        lo = np.minimum(self.points.min(axis=0), 0.0)
        hi = np.maximum(self.points.max(axis=0), 0.0)
        return np.stack([lo, hi], axis=1)

    def check(self) -> None:
        """Raise ConfigError when there are fewer varied points than monomials."""
        m = n_monomials(self.n_nuisances)
        if len(self.varied_points) < m:
            raise ConfigError(
                f"the design has {len(self.varied_points)} varied points but φ(ν) has {m} "
                f"monomials for {self.n_nuisances} nuisances; expected at least as many points. "
                "Fix: add points (default_design gives enough)"
            )
        if len({tuple(p) for p in self.points}) != len(self):
            raise ConfigError("the design contains duplicate points")

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"nuisance_names": list(self.nuisance_names), "points": self.points.tolist()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Design:
        """Inverse of :meth:`to_dict`."""
        names = tuple(str(n) for n in data["nuisance_names"])
        pts = np.asarray(data["points"], dtype=np.float64).reshape(-1, len(names))
        return cls(pts, names)

    def __repr__(self) -> str:
        rng = ", ".join(
            f"{n} [{lo:g}, {hi:g}]"
            for n, (lo, hi) in zip(self.nuisance_names, self.trained_range, strict=True)
        )
        return f"Design({len(self)} points; {rng})"


# Both helpers place points in u = (value − nominal)/scale, evenly in the physical
# value, and return them as ν = u ** power.
def _axis_values(nuis: ShapeNuisance, steps: Sequence[float], shift: float) -> list[float]:
    lo, hi = nuis.linear_range
    two_sided = lo < 0 < hi
    if two_sided:
        vals = [s * sign for s in steps for sign in (-1.0, 1.0) if lo <= s * sign <= hi]
        return sorted(vals)
    top = hi if hi > 0 else lo
    if not math.isfinite(top):
        top = math.copysign(2 * max(steps), top)
    n = 2 * len(steps)
    return [(top * (i + 1 - shift) / n) ** nuis.power for i in range(n)]


def _mixed_levels(
    nuis: ShapeNuisance, levels: Sequence[float], one_sided: Sequence[float]
) -> list[float]:
    lo, hi = nuis.linear_range
    if lo < 0 < hi:
        return [v * s for v in levels for s in (-1.0, 1.0) if lo <= v * s <= hi]
    top = hi if hi > 0 else lo
    if not math.isfinite(top):
        top = math.copysign(2 * max(levels), top)
    return [(top * f) ** nuis.power for f in one_sided]


def _assemble(
    nuisances: Sequence[ShapeNuisance],
    axis: list[list[float]],
    mixed: list[list[float]],
    corners: bool,
    nominal: bool,
) -> Design:
    d = len(nuisances)
    pts: list[tuple[float, ...]] = [tuple([0.0] * d)] if nominal else []
    for a in range(d):
        for v in axis[a]:
            p = [0.0] * d
            p[a] = v
            pts.append(tuple(p))
    for a, b in itertools.combinations(range(d), 2):
        for va in mixed[a]:
            for vb in mixed[b]:
                p = [0.0] * d
                p[a], p[b] = va, vb
                pts.append(tuple(p))
    if corners and d >= 3:
        for combo in itertools.product(*mixed):
            pts.append(tuple(combo))
    unique = list(dict.fromkeys(pts))
    return Design(np.array(unique, dtype=np.float64), tuple(n.name for n in nuisances))


def default_design(
    nuisances: Sequence[ShapeNuisance],
    *,
    steps: Sequence[float] = (1.0, 2.0, 3.0),
    mixed: Sequence[float] = (1.0,),
    corners: bool | None = None,
) -> Design:
    """The default training design (see the module docstring).

    Parameters
    ----------
    nuisances
        The shape nuisances (their standardised ranges bound the points).
    steps
        Axis points at ±steps σ.
    mixed
        Levels of the mixed points (every pair of axes at (±l, ±l)); a one-sided
        nuisance uses 1/3 and 2/3 of its range instead.
    corners
        Add every corner (all axes at mixed levels); default: for 3 or 4 nuisances.
    """
    if not nuisances:
        raise ConfigError("a design needs at least one shape nuisance")
    axis = [_axis_values(n, steps, 0.0) for n in nuisances]
    levels = [_mixed_levels(n, mixed, (1 / 3, 2 / 3)) for n in nuisances]
    use_corners = len(nuisances) <= 4 if corners is None else corners
    design = _assemble(nuisances, axis, levels, use_corners, nominal=True)
    design.check()
    return design


def validation_design(
    nuisances: Sequence[ShapeNuisance],
    *,
    steps: Sequence[float] = (0.5, 1.5, 2.5),
    mixed: Sequence[float] = (1.5,),
) -> Design:
    """Points between those of :func:`default_design` for held-out closure tests.

    Axis points at ±0.5, ±1.5, ±2.5 σ (one-sided nuisances: midpoints of the
    training grid), every pair of axes at (±1.5, ±1.5) (one-sided: 1/2 of the
    range), no nominal point.
    """
    if not nuisances:
        raise ConfigError("a design needs at least one shape nuisance")
    axis = [_axis_values(n, [s + 0.5 for s in steps], 0.5) for n in nuisances]
    for a, n in enumerate(nuisances):
        lo, hi = n.linear_range
        if lo < 0 < hi:
            axis[a] = _axis_values(n, steps, 0.0)
    levels = [_mixed_levels(n, mixed, (0.5,)) for n in nuisances]
    return _assemble(nuisances, axis, levels, corners=False, nominal=False)
