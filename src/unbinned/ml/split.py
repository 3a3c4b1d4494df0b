r"""A held-out part of a variation source: events the training never sees.

:func:`split_source` splits any :class:`~unbinned.ml.sources.VariationSource` by its
generated events into two :class:`HeldOutSource` parts, e.g. the user's own files,
which cannot simulate new events, into what trains the networks and what checks
them (:func:`unbinned.analysis.surrogate_health`).  A generated event (its id) is in
the held-out part when

.. math::

    h(\mathrm{id}, \mathrm{seed}) < f,

h a 64-bit mixing hash (splitmix64) mapped to [0, 1) and f the held-out
``fraction``: the same event is in the same part at every ν (nominal and varied
events share their ids), whichever process or point is asked for.  Each part's
weights are divided by the fraction of the events it holds (f or 1 − f), so that
its sums are the expected yields of the whole sample.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from unbinned.data.events import EventSet
from unbinned.exceptions import ConfigError
from unbinned.ml.design import ShapeNuisance
from unbinned.ml.sources import EVENT_ID, BaseVariationSource, Region, VariationSource

__all__ = ["HeldOutSource", "split_source"]

_DELEGATED = ("design", "points", "closure_point", "physical")
"""Members of the whole source a part passes on (file variations' points, ...)."""


def _uniform(ids: npt.NDArray[np.int64], seed: int) -> npt.NDArray[np.float64]:
    """splitmix64 of id + seed·golden, as a number in [0, 1) per id."""
    offset = np.uint64((seed * 0x9E3779B97F4A7C15) % (1 << 64))  # Python ints: no overflow
    z = ids.astype(np.uint64) + offset
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) / float(1 << 53)


class HeldOutSource(BaseVariationSource):
    """One part of a source split by :func:`split_source` (module docstring).

    Parameters
    ----------
    source
        The whole source.
    fraction
        The held-out fraction f of the generated events, in (0, 1).
    part
        ``"held_out"`` (the events with h < f) or ``"kept"`` (the others).
    seed
        Seed of the hash.
    """

    def __init__(
        self,
        source: VariationSource,
        fraction: float,
        part: Literal["held_out", "kept"],
        *,
        seed: int = 0,
    ) -> None:
        if not (isinstance(fraction, int | float) and 0.0 < fraction < 1.0):
            raise ConfigError(f"held-out fraction={fraction!r}; expected a number in (0, 1)")
        if part not in ("held_out", "kept"):
            raise ConfigError(f"part={part!r}; expected 'held_out' or 'kept'")
        if not isinstance(seed, int) or seed < 0:
            raise ConfigError(f"seed={seed!r}; expected an integer ≥ 0")
        self.source, self.fraction, self.part, self.seed = source, float(fraction), part, seed
        self._share = self.fraction if part == "held_out" else 1.0 - self.fraction
        self._ids: dict[str, npt.NDArray[np.int64]] = {}

    @property
    def processes(self) -> tuple[str, ...]:
        """The whole source's processes."""
        return tuple(self.source.processes)

    @property
    def feature_names(self) -> tuple[str, ...]:
        """The whole source's features."""
        return tuple(self.source.feature_names)

    @property
    def nuisances(self) -> tuple[ShapeNuisance, ...]:
        """The whole source's shape nuisances."""
        return tuple(self.source.nuisances)

    @property
    def region(self) -> Region:
        """The whole source's region."""
        return self.source.region

    def __getattr__(self, name: str) -> Any:
        if name in _DELEGATED:
            return getattr(self.source, name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def _mine(self, ids: npt.NDArray[np.int64]) -> npt.NDArray[np.bool_]:
        held = _uniform(ids, self.seed) < self.fraction
        return held if self.part == "held_out" else ~held

    def generated_ids(self, process: str) -> npt.NDArray[np.int64]:
        """The generated events of the process in this part."""
        if process not in self._ids:
            ids = np.asarray(self.source.generated_ids(process), dtype=np.int64)
            self._ids[process] = ids[self._mine(ids)]
        return self._ids[process]

    def _events(self, events: EventSet) -> EventSet:
        """The events of a set of the whole in this part, weighted to the whole's yields."""
        ids = events.extras[EVENT_ID].to_numpy(np.int64)
        ev = events.select(self._mine(ids))
        return ev.with_weights(ev.weights / self._share)

    def _ask(self, process: str, event_ids: npt.ArrayLike | None) -> npt.NDArray[np.int64]:
        mine = self.generated_ids(process)
        return mine if event_ids is None else np.asarray(event_ids, dtype=np.int64)

    def _nominal_process(self, process: str, event_ids: npt.ArrayLike | None) -> EventSet:
        ids = self._ask(process, event_ids)
        return self._events(self.source.nominal(process, event_ids=ids))

    def varied(
        self, process: str, nu: npt.ArrayLike, *, event_ids: npt.ArrayLike | None = None
    ) -> EventSet:
        """The events of the process at ν in this part (weights scaled to the whole's yields)."""
        self._check_process(process)
        ids = self._ask(process, event_ids)
        return self._events(self.source.varied(process, nu, event_ids=ids))

    @property
    def description(self) -> str:
        """In words, e.g. ``"the held-out 20 % of a FileVariationSource's events (seed 0)"``."""
        which = "held-out" if self.part == "held_out" else "kept"
        return (f"the {which} {100 * self._share:.3g} % of a {type(self.source).__name__}'s "
                f"events (seed {self.seed})")  # fmt: skip

    def __repr__(self) -> str:
        share = f"{100 * self._share:.3g} %"
        return f"HeldOutSource({self.part}, {share} of {self.source!r}, seed {self.seed})"


def split_source(
    source: VariationSource, fraction: float, *, seed: int = 0
) -> tuple[HeldOutSource, HeldOutSource]:
    """The kept and the held-out part of ``source`` (module docstring).

    ``fraction`` of the generated events (by a hash of their ids with ``seed``) are
    held out; each part's weights are scaled to the whole sample's expected yields.

    Examples
    --------
    >>> from unbinned.ml import GaussianToySource
    >>> kept, held = split_source(GaussianToySource(1000, seed=1), 0.2, seed=3)
    >>> len(kept.generated_ids("sig")) + len(held.generated_ids("sig"))
    1000
    """
    if not (isinstance(fraction, int | float) and math.isfinite(fraction)):
        raise ConfigError(f"held-out fraction={fraction!r}; expected a number in (0, 1)")
    return (
        HeldOutSource(source, fraction, "kept", seed=seed),
        HeldOutSource(source, fraction, "held_out", seed=seed),
    )
