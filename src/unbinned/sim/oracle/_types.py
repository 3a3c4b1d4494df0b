"""Declarations and containers of the oracle models: nuisances, constraints, samples."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from unbinned.data.events import EventSet
from unbinned.exceptions import ConfigError, DataError

__all__ = ["FloatArray", "GaussianConstraint", "IntArray", "Nuisance", "OracleSample"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Nuisance:
    """A nuisance parameter of an oracle model.

    Parameters
    ----------
    name
        Identifier used in parameter dictionaries.
    nominal
        The nominal value ν_0 (where the nominal simulation is generated).
    width
        The 1σ width: the scale of the variation points for surrogate training
        (and the width of the default Gaussian constraint, if any).
    low, high
        The allowed range; densities are exact and valid inside it. Use it as
        the fit limits.
    kind
        ``"shape"`` if the nuisance changes f_p (and possibly Y_p: learned by the
        surrogates), ``"normalisation"`` if it only enters the analytic rate
        factors g_p.
    description
        What the nuisance does, in words.
    """

    name: str
    nominal: float
    width: float
    low: float
    high: float
    kind: Literal["shape", "normalisation"] = "shape"
    description: str = ""

    def __post_init__(self) -> None:
        if not (self.low <= self.nominal <= self.high):
            raise ConfigError(
                f"nuisance {self.name!r}: nominal {self.nominal} lies outside its range "
                f"[{self.low}, {self.high}]; choose a range that contains the nominal value"
            )
        if not self.width > 0:
            raise ConfigError(f"nuisance {self.name!r}: width {self.width} must be positive")
        if self.kind not in ("shape", "normalisation"):
            raise ConfigError(
                f"nuisance {self.name!r}: kind {self.kind!r} must be 'shape' or 'normalisation'"
            )


@dataclass(frozen=True)
class GaussianConstraint:
    """A Gaussian prior N(centre, width²) on a nuisance; adds ((ν - centre)/width)² to q."""

    centre: float
    width: float

    def __post_init__(self) -> None:
        if not self.width > 0:
            raise ConfigError(f"constraint width {self.width} must be positive")

    def penalty(self, value: Any) -> Any:
        """Return the contribution ((value - centre) / width)² to q = -2 ln L."""
        return ((value - self.centre) / self.width) ** 2


@dataclass(frozen=True, eq=False)
class OracleSample:
    """An (optionally weighted) sample drawn from an oracle model.

    Attributes
    ----------
    x
        Features, shape (N, d), float64, columns in ``feature_names`` order.
    process
        Integer process code per event, an index into ``process_names``.
    weights
        Per-event weights (ones for unweighted samples).
    feature_names, process_names
        Column and process names.
    latent
        The latent Uniform(0, 1) vectors the events were mapped from, shape
        (N, latent_dim), or None; :meth:`OracleModel.vary` needs them.
    nu
        The nuisance values the sample was generated at, or None.
    event_index
        For generator-level simulations (:meth:`OracleModel.simulate_variations`):
        the index of each event among the generated ones, which pairs the same
        event across variations; None otherwise.
    """

    x: FloatArray
    process: IntArray
    weights: FloatArray
    feature_names: tuple[str, ...]
    process_names: tuple[str, ...]
    latent: FloatArray | None = None
    nu: Mapping[str, float] | None = field(default=None)
    event_index: IntArray | None = None

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def __repr__(self) -> str:
        counts = np.bincount(self.process, minlength=len(self.process_names))
        per = ", ".join(f"{p}={int(c)}" for p, c in zip(self.process_names, counts, strict=True))
        nu = "" if self.nu is None else f", nu={dict(self.nu)}"
        return (
            f"OracleSample(n_events={len(self)}, features={self.feature_names}, "
            f"counts=({per}), sum_weights={float(self.weights.sum()):.6g}{nu})"
        )

    @property
    def process_labels(self) -> npt.NDArray[np.str_]:
        """The process name of every event (strings)."""
        return np.asarray(self.process_names)[self.process]

    def select(self, mask_or_process: str | npt.ArrayLike) -> OracleSample:
        """Return the events of one process (by name) or under a boolean mask."""
        if isinstance(mask_or_process, str):
            if mask_or_process not in self.process_names:
                raise ConfigError(
                    f"unknown process {mask_or_process!r}; expected one of {self.process_names}"
                )
            mask = self.process == self.process_names.index(mask_or_process)
        else:
            mask = np.asarray(mask_or_process, dtype=bool)
            if mask.shape != (len(self),):
                raise DataError(f"mask has shape {mask.shape}; expected ({len(self)},)")
        return replace(
            self,
            x=self.x[mask],
            process=self.process[mask],
            weights=self.weights[mask],
            latent=None if self.latent is None else self.latent[mask],
            event_index=None if self.event_index is None else self.event_index[mask],
        )

    def to_events(self) -> EventSet:
        """Convert to the project's event container, :class:`unbinned.data.EventSet`."""
        return EventSet.from_numpy(
            features=self.x,
            weights=self.weights,
            processes=self.process_labels,
            feature_names=self.feature_names,
            process_names=self.process_names,
        )
