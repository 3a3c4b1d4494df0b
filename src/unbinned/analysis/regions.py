"""The regions of an analysis: one unbinned signal region and counting control regions.

An :class:`~unbinned.analysis.AnalysisModel` fits one *unbinned* region (the
learned densities of every event) and any number of *counting* regions (one
Poisson count each), declared in the model's ``regions``.  Every counting region
has a ``selection`` (a safe expression over the event columns,
:mod:`unbinned.data.expr`, e.g. ``"PRI_n_jets >= 2 and DER_mass_MMC < 80"``);
the unbinned region takes the events its own selection passes, or, with an
empty selection, every event that no counting region holds.  An event that
passes two regions' selections is an error (regions must not overlap); events in
no region are not fitted.

One surrogate describes the events of every region (it was trained on its
source, all regions together); a region's expected yield and its response to the
shape nuisances come from the integration events in it
(:class:`~unbinned.likelihood.RegionResponse`).

With one region nothing is selected: every event is fitted, as before.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from unbinned.data.events import EventSet
from unbinned.data.expr import Selection
from unbinned.exceptions import ConfigError, DataError
from unbinned.model.spec import ModelSpec

__all__ = ["RegionLayout", "event_columns"]

IntArray = npt.NDArray[np.int64]


def event_columns(events: EventSet | pd.DataFrame) -> Mapping[str, Any]:
    """The columns a selection may read: features and extra columns (or a frame's columns)."""
    if isinstance(events, EventSet):
        cols: dict[str, Any] = {c: events.extras[c].to_numpy() for c in events.extras.columns}
        cols.update({c: events.features[c].to_numpy() for c in events.features.columns})
        return cols
    if isinstance(events, pd.DataFrame):
        return {str(c): events[c].to_numpy() for c in events.columns}
    raise ConfigError(
        f"an analysis with several regions selects events by their columns; give an EventSet "
        f"or a DataFrame, not {type(events).__name__}"
    )


@dataclass(frozen=True)
class RegionLayout:
    """Which region is unbinned, which count, and how events are assigned (module docstring).

    Attributes
    ----------
    unbinned
        The unbinned region's name.
    counting
        The counting regions' names, in declaration order.
    selections
        Selection per region name (empty: the unbinned region's complement rule).
    """

    unbinned: str
    counting: tuple[str, ...]
    selections: Mapping[str, str]

    @classmethod
    def from_spec(cls, spec: ModelSpec) -> RegionLayout:
        """The layout of ``spec``'s regions, checked.

        Raises
        ------
        ConfigError
            Not exactly one unbinned region, or a counting region without a
            selection, or a selection that does not parse.
        """
        unbinned = [r.name for r in spec.regions if r.kind == "unbinned"]
        if len(unbinned) != 1:
            raise ConfigError(
                f"an AnalysisModel has exactly one unbinned region (plus any counting regions); "
                f"the model declares unbinned regions {unbinned}. Fix: declare the others "
                "kind: counting, or train one analysis per unbinned region"
            )
        counting = tuple(r.name for r in spec.regions if r.kind == "counting")
        selections = {r.name: r.selection.strip() for r in spec.regions}
        for name in counting:
            if not selections[name]:
                raise ConfigError(
                    f"counting region {name!r} has no selection; give it one (e.g. "
                    "selection: 'DER_mass_MMC < 80') so that its events can be told apart"
                )
        if counting:
            for text in selections.values():
                if text:
                    Selection(text)  # parses now: one clear error at construction
        return cls(unbinned[0], counting, selections)

    @property
    def names(self) -> tuple[str, ...]:
        """Every region: the unbinned one first, then the counting ones."""
        return (self.unbinned, *self.counting)

    @property
    def several(self) -> bool:
        """Whether there are counting regions (events are then selected)."""
        return bool(self.counting)

    def labels(self, events: EventSet | pd.DataFrame) -> IntArray:
        """The region of every event: an index into :attr:`names`, −1 for none.

        Raises
        ------
        DataError
            An event passes the selections of two regions.
        """
        n = len(events)
        if not self.several:
            return np.zeros(n, dtype=np.int64)
        cols = event_columns(events)
        out = np.full(n, -1, dtype=np.int64)
        for k, name in enumerate(self.names):
            text = self.selections[name]
            if not text:
                continue
            mask = np.asarray(Selection(text)(cols), dtype=bool)
            if mask.shape != (n,):
                mask = np.broadcast_to(mask, (n,))
            both = mask & (out >= 0)
            if both.any():
                other = self.names[int(out[both][0])]
                raise DataError(
                    f"{int(both.sum())} event(s) pass the selections of both region {other!r} "
                    f"and region {name!r}; regions must not overlap. Fix the selections"
                )
            out[mask] = k
        if not self.selections[self.unbinned]:
            out[out < 0] = 0
        return out
