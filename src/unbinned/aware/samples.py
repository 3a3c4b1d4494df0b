"""Weighted events and their shape variations: the inputs of the aware training.

DESIGN.md §4.  :class:`WeightedEvents` holds network inputs with weights,
process indices and event ids; :class:`ShapeVariation` says how one shape
nuisance changes them (varied copies of the same events, or the per-event
derivative of the log weight); :class:`AwareSamples` bundles the nominal events
with one variation per shape nuisance.  :func:`split_batches` cuts them into
batches that keep the nominal and varied copies of an event together.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

import numpy as np
import numpy.typing as npt
import torch

from unbinned.exceptions import ConfigError, DataError

__all__ = ["AwareSamples", "ShapeVariation", "WeightedEvents", "split_batches"]


@dataclass(frozen=True, eq=False)
class WeightedEvents:
    """Network inputs with weights, process indices and event ids (torch tensors).

    Parameters
    ----------
    x
        Network inputs (N, d) (already standardised), float32 or float64.
    weights
        Event weights (N,); per process they sum to the expected yield.
    process
        Process index per event (N,), into the trainer's process list.
    event_id
        Identifier of the generated event (N,), int64: the same id in a varied
        sample marks the same event, so that batches keep nominal and varied
        copies together.  Default: 0..N-1.
    """

    x: torch.Tensor
    weights: torch.Tensor
    process: torch.Tensor
    event_id: torch.Tensor = field(default_factory=lambda: torch.empty(0, dtype=torch.long))

    def __post_init__(self) -> None:
        for name in ("x", "weights", "process", "event_id"):
            if not isinstance(getattr(self, name), torch.Tensor):
                raise TypeError(
                    f"{name} must be a torch.Tensor, got {type(getattr(self, name)).__name__}; "
                    "use WeightedEvents.from_numpy for arrays"
                )
        if self.x.dim() != 2:
            raise DataError(f"x has shape {tuple(self.x.shape)}; expected (N, n_inputs)")
        n = self.x.shape[0]
        if self.event_id.numel() == 0 and n > 0:
            object.__setattr__(self, "event_id", torch.arange(n, dtype=torch.long))
        for name in ("weights", "process", "event_id"):
            t = getattr(self, name)
            if tuple(t.shape) != (n,):
                raise DataError(
                    f"{name} has shape {tuple(t.shape)}; expected ({n},), one per event"
                )
        object.__setattr__(self, "weights", self.weights.to(torch.float64))
        object.__setattr__(self, "process", self.process.to(torch.long))
        object.__setattr__(self, "event_id", self.event_id.to(torch.long))
        if not bool(torch.all(torch.isfinite(self.x))) or not bool(
            torch.all(torch.isfinite(self.weights))
        ):
            raise DataError("x or weights contain NaN or infinite entries; clean the events first")

    @classmethod
    def from_numpy(
        cls,
        x: npt.ArrayLike,
        weights: npt.ArrayLike,
        process: npt.ArrayLike,
        event_id: npt.ArrayLike | None = None,
        *,
        dtype: torch.dtype = torch.float32,
    ) -> WeightedEvents:
        """Build from arrays (inputs cast to ``dtype``)."""
        xt = torch.as_tensor(np.array(x), dtype=dtype)
        ids = (
            torch.empty(0, dtype=torch.long)
            if event_id is None
            else torch.as_tensor(np.array(event_id, dtype=np.int64))
        )
        return cls(
            xt,
            torch.as_tensor(np.array(weights, dtype=np.float64)),
            torch.as_tensor(np.array(process, dtype=np.int64)),
            ids,
        )

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def select(self, mask: torch.Tensor) -> WeightedEvents:
        """The events where ``mask`` (bool, (N,)) is true."""
        return WeightedEvents(
            self.x[mask], self.weights[mask], self.process[mask], self.event_id[mask]
        )

    def __repr__(self) -> str:
        return (
            f"WeightedEvents({len(self)} events, {self.x.shape[1]} inputs, "
            f"sum of weights {float(self.weights.sum()):.6g})"
        )


@dataclass(frozen=True, eq=False)
class ShapeVariation:
    """How one shape nuisance changes the histograms (give exactly one form).

    Parameters
    ----------
    up, down
        The events at α = +step and α = -step (standardised units, α = (η - η⁰)/σ),
        the other nuisances nominal: two-sided derivative (h⁺ - h⁻)/(2 step).
        ``up`` alone: one-sided derivative (h⁺ - h⁰)/step.
    log_weight_derivative
        ∂ ln w_i/∂α per *nominal* event (N,): reweighting derivative
        Σ_i w_i (∂ ln w_i/∂α) m_ib (exact for analytic models).
    step
        |α| of the varied samples (1: the ±1σ samples).
    """

    up: WeightedEvents | None = None
    down: WeightedEvents | None = None
    log_weight_derivative: torch.Tensor | None = None
    step: float = 1.0

    def __post_init__(self) -> None:
        has_events = self.up is not None
        if self.down is not None and self.up is None:
            raise ConfigError("a ShapeVariation with a 'down' sample needs the 'up' sample too")
        if has_events == (self.log_weight_derivative is not None):
            raise ConfigError(
                "give a ShapeVariation either varied events (up, and optionally down) or "
                "log_weight_derivative, not both and not neither"
            )
        if not (math.isfinite(self.step) and self.step > 0):
            raise ConfigError(f"step = {self.step!r}: expected a positive number (in σ)")
        if self.log_weight_derivative is not None:
            object.__setattr__(
                self, "log_weight_derivative", self.log_weight_derivative.to(torch.float64)
            )

    @property
    def kind(self) -> str:
        """``"two-sided"``, ``"one-sided"`` or ``"reweight"``."""
        if self.log_weight_derivative is not None:
            return "reweight"
        return "two-sided" if self.down is not None else "one-sided"


@dataclass(frozen=True, eq=False)
class AwareSamples:
    """Nominal events and, per shape nuisance of the model, their variation.

    Parameters
    ----------
    nominal
        The nominal events.
    variations
        Shape-nuisance name → :class:`ShapeVariation`.
    """

    nominal: WeightedEvents
    variations: Mapping[str, ShapeVariation] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.nominal)
        for k, v in self.variations.items():
            if v.log_weight_derivative is not None and tuple(v.log_weight_derivative.shape) != (n,):
                raise DataError(
                    f"variation {k!r}: log_weight_derivative has shape "
                    f"{tuple(v.log_weight_derivative.shape)}; expected ({n},), one per nominal "
                    "event"
                )

    def all_events(self) -> list[WeightedEvents]:
        """Every sample: the nominal one first, then each variation's up and down."""
        out = [self.nominal]
        for v in self.variations.values():
            out += [e for e in (v.up, v.down) if e is not None]
        return out

    def subset(self, masks: Callable[[WeightedEvents], torch.Tensor]) -> AwareSamples:
        """The same structure restricted by ``masks(events) -> bool mask``."""
        nom_mask = masks(self.nominal)
        var = {}
        for k, v in self.variations.items():
            if v.log_weight_derivative is not None:
                var[k] = replace(v, log_weight_derivative=v.log_weight_derivative[nom_mask])
            else:
                up = v.up.select(masks(v.up)) if v.up is not None else None
                down = v.down.select(masks(v.down)) if v.down is not None else None
                var[k] = ShapeVariation(up=up, down=down, step=v.step)
        return AwareSamples(self.nominal.select(nom_mask), var)

    def __repr__(self) -> str:
        kinds = {k: v.kind for k, v in self.variations.items()}
        return f"AwareSamples(nominal={self.nominal!r}, variations={kinds})"


def split_batches(samples: AwareSamples, assign: torch.Tensor, n: int) -> list[AwareSamples]:
    """The samples cut into ``n`` batches by the batch index ``assign[event_id]``."""

    def parts(ev: WeightedEvents) -> tuple[torch.Tensor, list[int]]:
        key = assign[ev.event_id]
        order = torch.argsort(key, stable=True)
        counts = torch.bincount(key, minlength=n).tolist()
        return order, counts

    def cut(ev: WeightedEvents) -> list[WeightedEvents]:
        order, counts = parts(ev)
        out, start = [], 0
        for c in counts:
            idx = order[start : start + c]
            out.append(WeightedEvents(ev.x[idx], ev.weights[idx], ev.process[idx],
                                      ev.event_id[idx]))  # fmt: skip
            start += c
        return out

    nom_order, nom_counts = parts(samples.nominal)
    noms = cut(samples.nominal)
    per_var: dict[str, list[ShapeVariation]] = {}
    for k, v in samples.variations.items():
        if v.log_weight_derivative is not None:
            d, start, lst = v.log_weight_derivative, 0, []
            for c in nom_counts:
                lst.append(ShapeVariation(log_weight_derivative=d[nom_order[start : start + c]]))
                start += c
            per_var[k] = lst
        else:
            assert v.up is not None
            ups = cut(v.up)
            downs = cut(v.down) if v.down is not None else [None] * n
            per_var[k] = [ShapeVariation(up=u, down=dn, step=v.step)
                          for u, dn in zip(ups, downs, strict=True)]  # fmt: skip
    return [AwareSamples(noms[j], {k: lst[j] for k, lst in per_var.items()}) for j in range(n)]
