"""Settings of the systematic-aware training (:class:`AwareConfig`).

DESIGN.md §4.  A frozen dataclass that checks its values when it is built.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from unbinned.aware.softhist import SoftHistogram
from unbinned.exceptions import ConfigError

__all__ = ["AwareConfig"]


@dataclass(frozen=True)
class AwareConfig:
    """Settings of :class:`AwareTrainer`.

    Parameters
    ----------
    histogram
        The differentiable histogram (method, bins, temperature, bandwidth).
    ce_epochs
        Epochs of cross-entropy pre-training (0: none).
    ce_batch_size, ce_lr
        Mini-batch size and Adam learning rate of the pre-training.
    aware_steps
        Optimiser steps of the aware training (0: none).
    batch_fraction
        Fraction of the event ids in one aware batch (1: full batch).
    lr, weight_decay
        Adam(W) learning rate (cosine-annealed to ``lr * lr_final``) and weight decay.
    lr_final
        Final learning rate as a fraction of ``lr``.
    floor
        Relative floor added to ν_b in 1/ν_b (times the mean expected count per bin).
    min_bin_events, bin_penalty
        The populated-bin penalty λ Σ_b relu(1 - N_b/N_min)²; N_min in simulated
        events (0 disables it).
    grad_clip
        Clip of the gradient norm (None: no clipping).
    final_temperature
        Anneal the histogram's temperature geometrically from
        ``histogram.temperature`` to this value over the aware steps (None: fixed),
        so that the soft counts approach the hard (arg-max) ones the analysis uses.
    eval_every
        With a validation sample: steps between its evaluations (model selection).
    adapt_edges
        One-output networks with ``"kernel"``/``"kde"`` histograms and no explicit
        edges: after the pre-training, place the bin edges at the quantiles of the
        signal score (equal expected signal per bin, the binned baseline's
        ``"quantile-signal"`` binning) and keep them fixed in the aware training.
    seed
        Seed of the batches and of the pre-training shuffles (the network's
        initialisation is the caller's: seed torch before building it).
    """

    histogram: SoftHistogram = field(default_factory=SoftHistogram)
    ce_epochs: int = 3
    ce_batch_size: int = 2048
    ce_lr: float = 1e-3
    aware_steps: int = 300
    batch_fraction: float = 1.0
    lr: float = 1e-3
    lr_final: float = 0.05
    weight_decay: float = 0.0
    floor: float = 1e-3
    min_bin_events: float = 0.0
    bin_penalty: float = 1.0
    grad_clip: float | None = 10.0
    final_temperature: float | None = None
    eval_every: int = 25
    adapt_edges: bool = False
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("ce_epochs", "ce_batch_size", "aware_steps", "seed", "eval_every"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise ConfigError(f"{name} = {v!r}: expected a non-negative integer")
        if self.ce_batch_size < 1 or self.eval_every < 1:
            raise ConfigError("ce_batch_size and eval_every must be >= 1")
        if not 0.0 < self.batch_fraction <= 1.0:
            raise ConfigError(f"batch_fraction = {self.batch_fraction}: expected 0 < f <= 1")
        for name in ("ce_lr", "lr"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"{name} = {getattr(self, name)}: expected > 0")
        for name in ("lr_final", "weight_decay", "floor", "min_bin_events", "bin_penalty"):
            if not getattr(self, name) >= 0:
                raise ConfigError(f"{name} = {getattr(self, name)}: expected >= 0")
        if self.final_temperature is not None and not self.final_temperature > 0:
            raise ConfigError(f"final_temperature = {self.final_temperature}: expected > 0")
        if self.grad_clip is not None and not self.grad_clip > 0:
            raise ConfigError(f"grad_clip = {self.grad_clip}: expected > 0 or None (no clipping)")
        if not isinstance(self.adapt_edges, bool):
            raise TypeError(f"adapt_edges must be a bool, got {type(self.adapt_edges).__name__}")
        if not isinstance(self.histogram, SoftHistogram):
            raise TypeError(
                f"histogram must be a SoftHistogram, got {type(self.histogram).__name__}"
            )
