r"""The assembled surrogate model of one region and its training runner.

A :class:`SurrogateModel` holds, for one analysis region (one artefact per
region: train and save one model for each selection), everything the unbinned
likelihood needs (DESIGN.md §3):

* the calibrated classifier c_p(x) (nominal process fractions),
* per process the learned response ln R_p(x|ν) = ln Y_p(ν) + Δ_p(x)·φ(ν)
  (``None`` for a process without shape response: Δ_p = 0, Y_p = 1),
* ``nominal_yields`` σ_p L at ν = 0, computed as Σ_i w_i c_p(x_i) over the full
  nominal simulation, so that the expected yield is consistent with the learned
  fractions (an Asimov fit of the nominal simulation returns exactly f_p = 1),
* the declared shape nuisances (nominal, scale, range) and the trained range of ν.

With ``t = model.precompute(events)`` the likelihood engine evaluates

.. math::

    r(x_i|\theta) = \sum_p f_p\, c_p(x_i)\, Y_p(\nu)\, e^{\Delta_p(x_i)\cdot\varphi(\nu)},
    \qquad \sigma(\theta) = \sum_p f_p\, Y_p(\nu)\, \sigma_{p,\mathrm{nom}}

from ``t.fractions`` (N, P), ``t.delta`` (N, P, M), ``model.log_yield_torch(nu)``
(P,) and ``model.monomials_torch(nu)`` (M,), all in float64 and differentiable in ν.
ν is standardised: ν_a = ((value_a − nominal_a)/scale_a)^power_a
(:meth:`SurrogateModel.standardize`); a ν outside the trained range warns with
:class:`~unbinned.exceptions.OutOfRangeWarning`.
"""

from __future__ import annotations

import math
import os
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt
import torch

from unbinned._version import __version__
from unbinned.exceptions import ConfigError, DataError, ModelFileError, OutOfRangeWarning
from unbinned.ml._evaluator import CHUNK as FUSED_CHUNK
from unbinned.ml._evaluator import FusedEvaluator
from unbinned.ml._features import FeatureTransform, feature_matrix, feature_view
from unbinned.ml._modelfile import (
    COMPONENT_LOADERS,
    check_network,
    check_target,
    load_directory,
    prefix_names,
    strip_names,
    write_directory,
)
from unbinned.ml.calibration import ScoreCalibration
from unbinned.ml.classifier import (
    ProcessClassifier,
    classifier_from_state,
    classifier_to_state,
    train_classifier,
)
from unbinned.ml.design import Design, ShapeNuisance, default_design
from unbinned.ml.networks import MLP, StackedMLP
from unbinned.ml.response import (
    ProcessResponse,
    SignalEmphasis,
    YieldModelLike,
    response_from_state,
    response_to_state,
    train_response,
)
from unbinned.ml.runtime import RunOptions, resolve_device
from unbinned.ml.sources import Region, VariationSource
from unbinned.ml.training import TrainConfig
from unbinned.ml.yields import monomial_names, monomials, monomials_torch, n_monomials

__all__ = [
    "PerEventTensors",
    "SurrogateConfig",
    "SurrogateLike",
    "SurrogateModel",
    "train_surrogate",
]

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, eq=False)
class PerEventTensors:
    """Per-event inputs of the likelihood, computed once per dataset.

    Attributes
    ----------
    fractions
        c_p(x_i), shape (N, P), float64.
    delta
        Δ_p(x_i), shape (N, P, M), float64 (zeros for a process without response).
    processes, nuisance_names, monomial_names
        Labels of the axes.
    """

    fractions: FloatArray
    delta: FloatArray
    processes: tuple[str, ...]
    nuisance_names: tuple[str, ...]
    monomial_names: tuple[str, ...]

    @property
    def n_events(self) -> int:
        """Number of events N."""
        return int(self.fractions.shape[0])

    def shape_log_ratio(self, nu: npt.ArrayLike) -> FloatArray:
        """Δ_p(x_i)·φ(ν), shape (N, P)."""
        return np.asarray(self.delta @ monomials(np.asarray(nu, dtype=np.float64)))

    def __repr__(self) -> str:
        return (
            f"PerEventTensors({self.n_events} events, processes={list(self.processes)}, "
            f"{len(self.monomial_names)} monomials of {list(self.nuisance_names)})"
        )


@runtime_checkable
class SurrogateLike(Protocol):
    """A trained surrogate of one region: the members used outside :mod:`unbinned.ml`.

    :class:`SurrogateModel` satisfies it; the analysis model, the likelihood adaptor
    (:mod:`unbinned.likelihood.surrogate`) and the workflow's diagnostics need only
    these members.
    """

    @property
    def processes(self) -> tuple[str, ...]:
        """Process names, the order of every per-process axis."""
        ...

    @property
    def nuisances(self) -> tuple[ShapeNuisance, ...]:
        """The shape nuisances, the order of ν."""
        ...

    @property
    def nuisance_names(self) -> tuple[str, ...]:
        """Names of the shape nuisances."""
        ...

    @property
    def feature_names(self) -> tuple[str, ...]:
        """The input features, in the order the networks use them."""
        ...

    @property
    def region(self) -> Region:
        """The analysis region the surrogate describes."""
        ...

    @property
    def nominal_yields(self) -> Mapping[str, float]:
        """σ_p L at ν = 0 per process."""
        ...

    @property
    def classifier(self) -> ProcessClassifier:
        """The calibrated classifier c_p(x)."""
        ...

    @property
    def responses(self) -> Mapping[str, ProcessResponse | None]:
        """The learned response of each process (None: no shape response)."""
        ...

    @property
    def calibration(self) -> ScoreCalibration | None:
        """The score calibration of the responses, if any."""
        ...

    @property
    def design(self) -> Design | None:
        """The training design, or None without responses."""
        ...

    def monomials(self, nu: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """φ(ν), shape (M,)."""
        ...

    def monomials_torch(self, nu: torch.Tensor) -> torch.Tensor:
        """φ(ν) as a differentiable tensor of shape (M,)."""
        ...

    def precompute(self, events: Any, batch_size: int = 8192) -> PerEventTensors:
        """c_p(x_i) and Δ_p(x_i) of every event."""
        ...

    def save(self, directory: str | os.PathLike[str], *, overwrite: bool = False) -> Path:
        """Write the model directory; return its path."""
        ...


RESPONSE_EMPHASIS = 3.0
"""The default α of :attr:`SurrogateConfig.response_emphasis`."""
SIGNAL_RESPONSE_EPOCHS = 30
"""The default :attr:`SurrogateConfig.signal_response_epochs`."""
MAX_EVENTS_LARGEST = 1_000_000
"""The default :attr:`SurrogateConfig.max_events_per_point_largest`."""


@dataclass(frozen=True)
class SurrogateConfig:
    """Settings of :func:`train_surrogate`.

    The defaults are fast; :meth:`precise` gives the larger response training that a
    measurement at the challenge's luminosity needs.  The defaults (12 epochs with a
    cosine learning-rate decay; large batches and a learning rate of 1e-3 for the
    responses) were tuned on the resonance oracle and the H→ττ simulator: the response
    targets are small, noisy log-ratios, and a training that ends at a low learning rate
    generalises better than one stopped early at a high one.  The response networks are
    narrower (32, 32) than the classifier (64, 64): four of them are evaluated per
    event, and the per-event evaluation must reach 10^6 events/s on two CPU cores.
    On small samples the epochs and batch size are planned up to at least 1000
    optimiser steps (:meth:`TrainConfig.plan <unbinned.ml.TrainConfig.plan>`); on
    large ones (the demo's) they are 12 epochs of the largest batch size: 1024 events
    for the classifier (4096 trained the demo's 200 k events per process in 1230 steps
    and left its signal-like tail over-claimed by 27 %; 1024 takes 4900 steps in about
    the same time and closes it to 14 %, as 3× the events did: BENCHMARKS.md, "Tail
    closure of the classifier").

    Parameters
    ----------
    classifier, response
        Network/optimiser settings of the classifier and of every response network.
    calibration_fraction
        Share of the nominal events held out to calibrate the classifier.
    classifier_members
        Networks in the classifier's ensemble (their logits averaged, then calibrated
        once: :func:`~unbinned.ml.train_classifier`); each trains as long as one
        classifier.  Default 3: on the demo's training sample three bootstrapped
        members took the claimed-over-true Fisher information from 1.40 / 1.29 (one
        network, two seeds) to 1.12 / 1.13, still above 1 (BENCHMARKS.md, "Classifier
        ensembles"); the merged network costs ≈ 2× per event to evaluate.
    classifier_bootstrap
        Each member on its own Poisson(1) bootstrap of the training split (bagging).
    max_events_per_point
        Generated events per process used for the responses (the same at every
        variation point; bounds memory: K × this many events per process), at least.
    max_events_per_point_largest
        The process with the largest nominal yield trains its response on up to this
        many generated events per point, every other process on its yield share of
        it, never fewer than ``max_events_per_point`` (None: that alone).  Why: the
        learned response's error in the signal-like region moves μ̂ in proportion to
        the process's yield there, so the dominant background needs its response
        most precisely.  On the demo (Z→ττ ≈ 96 % of the events) 60 k events per point
        left a bias of μ̂ of 1.1–1.2 stat-only σ at jes = ±1.5σ (true values, every
        nuisance fixed; :func:`~unbinned.analysis.surrogate_health`'s check (e)),
        300 k 0.24–0.30 σ, 1 M (the default) 0.01–0.03 σ and at most 0.21 σ over the
        tes, jes and soft_met points (BENCHMARKS.md, "Response bias of μ"), for ≈ 4.7×
        the Z→ττ response's training time and ≈ 9 GB peak memory.
    response_processes
        Processes with a learned shape response (default: all).
    response_emphasis
        α of the signal-like emphasis of the signal's response loss,
        h(x) = 1 + α c_sig(x)/t (:class:`~unbinned.ml.response.SignalEmphasis`; c_sig the
        trained classifier's fraction of the first process, the signal; t its threshold
        of the quarter of the signal weight with the largest c_sig).  It leaves the
        optimal response unchanged and moves the network's capacity to the events that
        measure μ.  0: off.
    response_emphasis_processes
        Processes whose response loss is emphasised (default: the signal, the first
        process, only: the backgrounds' responses constrain the nuisances with their
        bulk, which the emphasis trades for the tail).
    signal_response_epochs
        ``min_epochs`` of the signal's response (None: ``response.min_epochs``).

    Issue 18: with (32, 32) networks, 12 epochs and 60 k events per point, the signal's
    jes response in its signal-like tail was 3.6–3.8 % off (paired tail closure χ²/ndf
    30 at jes = ±1.5σ, 200 k test events); α = 3 and 30 epochs of the signal's response
    bring it to 1.1–1.3 % (χ²/ndf 3.3 / 4.4) and the full-range jes closure from 1.6 % to
    1.0–1.1 %, for ≈ 2× the signal's response training (≈ 1.1× all the responses':
    the signal's network is ≈ 10 % of them), where 30 epochs alone leave 2.6 %
    (χ²/ndf 14), every event per point 2.2–2.5 % (11–13, 2.8×), a (64, 64) network or
    batches of 4096 3.2–3.7 % (23–29) (``benchmarks/response_tail.py``).  The cost: the
    signal's full-range tes closure goes from 0.4–0.6 % to 0.8–1.1 %.
    """

    classifier: TrainConfig = field(
        default_factory=lambda: TrainConfig(min_epochs=12, max_batch_size=1024, patience=4)
    )
    response: TrainConfig = field(
        default_factory=lambda: TrainConfig(
            hidden=(32, 32), min_epochs=12, max_batch_size=16384, learning_rate=1e-3, patience=4
        )
    )
    calibration_fraction: float = 0.2
    classifier_members: int = 3
    classifier_bootstrap: bool = True
    max_events_per_point: int | None = 60_000
    max_events_per_point_largest: int | None = MAX_EVENTS_LARGEST
    response_processes: tuple[str, ...] | None = None
    response_emphasis: float = RESPONSE_EMPHASIS
    response_emphasis_processes: tuple[str, ...] | None = None
    signal_response_epochs: int | None = SIGNAL_RESPONSE_EPOCHS

    def __post_init__(self) -> None:
        a = self.response_emphasis
        if not (isinstance(a, int | float) and math.isfinite(a) and a >= 0):
            raise ConfigError(
                f"SurrogateConfig.response_emphasis={a!r}; expected a finite α ≥ 0 (0: off)"
            )
        e = self.signal_response_epochs
        if e is not None and not (isinstance(e, int) and 1 <= e <= self.response.max_epochs):
            raise ConfigError(
                f"SurrogateConfig.signal_response_epochs={e!r}; expected None or an integer "
                f"in [1, response.max_epochs={self.response.max_epochs}]"
            )
        n = self.max_events_per_point_largest
        if n is not None and not (isinstance(n, int) and not isinstance(n, bool) and n >= 10):
            raise ConfigError(
                f"SurrogateConfig.max_events_per_point_largest={n!r}; expected None or an "
                "integer ≥ 10"
            )
        if self.response_emphasis_processes is not None:
            object.__setattr__(
                self, "response_emphasis_processes", tuple(self.response_emphasis_processes)
            )

    @classmethod
    def precise(cls) -> SurrogateConfig:
        """The settings validated for coverage on the H→ττ simulator (BENCHMARKS.md).

        Response networks of (64, 64) trained for 30 epochs (learning rate 2e-3,
        patience 6) on every generated event at each variation point.  The defaults'
        (32, 32) networks on 60 k events per point leave the signal-like tail of the
        responses ≈ 30 % too weak (a paired closure error of 1.3 % per σ of tes in the
        most signal-like 5 % of Z→ττ), which biases μ̂ by ≈ 0.3 per σ of the true tes
        or jes; these settings close within 0.5 % and remove it.  They train about
        four times longer.
        """
        return cls(
            response=TrainConfig(
                hidden=(64, 64),
                min_epochs=30,
                max_batch_size=16384,
                learning_rate=2e-3,
                patience=6,
            ),
            max_events_per_point=None,
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "classifier": self.classifier.to_dict(),
            "response": self.response.to_dict(),
            "calibration_fraction": self.calibration_fraction,
            "classifier_members": self.classifier_members,
            "classifier_bootstrap": self.classifier_bootstrap,
            "max_events_per_point": self.max_events_per_point,
            "max_events_per_point_largest": self.max_events_per_point_largest,
            "response_processes": None
            if self.response_processes is None
            else list(self.response_processes),
            "response_emphasis": self.response_emphasis,
            "response_emphasis_processes": None
            if self.response_emphasis_processes is None
            else list(self.response_emphasis_processes),
            "signal_response_epochs": self.signal_response_epochs,
        }


@dataclass(eq=False, repr=False)
class SurrogateModel:
    """Classifier + per-process responses + yields of one region (see the module docstring)."""

    processes: tuple[str, ...]
    nuisances: tuple[ShapeNuisance, ...]
    region: Region
    nominal_yields: dict[str, float]
    classifier: ProcessClassifier
    responses: dict[str, ProcessResponse | None]
    simulated_yields: dict[str, float] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    calibration: ScoreCalibration | None = None

    def __post_init__(self) -> None:
        if tuple(self.classifier.processes) != tuple(self.processes):
            raise ConfigError(
                f"classifier processes {self.classifier.processes} differ from {self.processes}"
            )
        if set(self.responses) != set(self.processes):
            raise ConfigError(
                f"responses are given for {sorted(self.responses)}; expected one entry (or None) "
                f"per process {list(self.processes)}"
            )
        if set(self.nominal_yields) != set(self.processes):
            raise ConfigError("nominal_yields must have one entry per process")
        names = self.nuisance_names
        for p, r in self.responses.items():
            if r is None:
                continue
            if r.nuisance_names != names:
                raise ConfigError(
                    f"response of {p!r} uses nuisances {r.nuisance_names}; expected {names}"
                )
            if r.feature_names != self.feature_names:
                raise ConfigError(f"response of {p!r} uses other features than the classifier")
        cal = self.calibration
        if cal is not None and (
            cal.processes != tuple(self.processes) or cal.table.shape[2] != self.n_monomials
        ):
            raise ConfigError(
                f"the score calibration is for processes {list(cal.processes)} and "
                f"{cal.table.shape[2]} monomials; expected {list(self.processes)} and "
                f"{self.n_monomials}"
            )

    # ------------------------------------------------------------------ declaration
    @property
    def feature_names(self) -> tuple[str, ...]:
        """The input features, in the order the networks use them."""
        return self.classifier.feature_names

    @property
    def nuisance_names(self) -> tuple[str, ...]:
        """Names of the shape nuisances, the order of ν."""
        return tuple(n.name for n in self.nuisances)

    @property
    def n_monomials(self) -> int:
        """Number M of monomials of ν."""
        return n_monomials(len(self.nuisances))

    @property
    def monomial_names(self) -> tuple[str, ...]:
        """Names of the monomials (e.g. ``'tes*jes'``)."""
        return monomial_names(self.nuisance_names)

    @property
    def design(self) -> Design | None:
        """The training design (of the first response), or None without responses."""
        for r in self.responses.values():
            if r is not None:
                return r.design
        return None

    @property
    def trained_range(self) -> FloatArray:
        """Per nuisance the (min, max) of standardised ν seen in training, shape (d, 2)."""
        d = len(self.nuisances)
        ranges = [r.design.trained_range for r in self.responses.values() if r is not None]
        if not ranges:
            return np.zeros((d, 2))
        return np.stack(
            [np.max([r[:, 0] for r in ranges], 0), np.min([r[:, 1] for r in ranges], 0)], 1
        )

    def standardize(self, values: Mapping[str, float]) -> FloatArray:
        """Physical nuisance values by name -> standardised ν (missing names: nominal)."""
        unknown = sorted(set(values) - set(self.nuisance_names))
        if unknown:
            raise ConfigError(
                f"unknown nuisance(s) {unknown}; this model has {self.nuisance_names}"
            )
        return np.array(
            [n.standardize(float(values.get(n.name, n.nominal))) for n in self.nuisances]
        )

    def physical(self, nu: npt.ArrayLike) -> dict[str, float]:
        """Standardised ν -> physical values by name."""
        arr = self._nu(nu, warn=False)
        return {n.name: float(n.physical(v)) for n, v in zip(self.nuisances, arr, strict=True)}

    def _nu(self, nu: npt.ArrayLike, *, warn: bool = True) -> FloatArray:
        arr = np.asarray(nu, dtype=np.float64)
        d = len(self.nuisances)
        if arr.shape != (d,):
            raise DataError(
                f"nu has shape {arr.shape}; expected ({d},): standardised values of "
                f"{list(self.nuisance_names)}"
            )
        if not np.isfinite(arr).all():
            raise DataError(f"nu={arr.tolist()} is not finite")
        if warn:
            self._warn_range(arr)
        return arr

    def _warn_range(self, arr: FloatArray) -> None:
        rng = self.trained_range
        tol = 1e-9
        out = [
            f"{n.name}={v:.4g} (trained [{lo:.4g}, {hi:.4g}])"
            for n, v, (lo, hi) in zip(self.nuisances, arr, rng, strict=True)
            if v < lo - tol or v > hi + tol
        ]
        if out:
            warnings.warn(
                f"standardised nuisance(s) outside the trained range: {', '.join(out)}; "
                "the surrogate extrapolates there",
                OutOfRangeWarning,
                stacklevel=3,
            )

    # ------------------------------------------------------------------ evaluation
    def log_yield(self, nu: npt.ArrayLike) -> FloatArray:
        """ln Y_p(ν) per process, shape (P,), float64 (0 for a process without response)."""
        arr = self._nu(nu)
        return np.array(
            [0.0 if self.responses[p] is None else self.responses[p].log_yield(arr)  # type: ignore[union-attr]
             for p in self.processes]
        )  # fmt: skip

    def log_yield_torch(self, nu: torch.Tensor) -> torch.Tensor:
        """ln Y_p(ν) per process as a differentiable tensor of shape (P,)."""
        if not isinstance(nu, torch.Tensor):
            raise TypeError(f"nu must be a torch.Tensor, got {type(nu).__name__}")
        self._nu(nu.detach().cpu().numpy())
        out = []
        for p in self.processes:
            r = self.responses[p]
            out.append(
                nu.sum() * 0.0 if r is None else r.yield_model.log_yield_torch(nu).reshape(())
            )
        return torch.stack(out)

    def monomials_torch(self, nu: torch.Tensor) -> torch.Tensor:
        """φ(ν) as a differentiable tensor of shape (M,)."""
        return monomials_torch(nu)

    def monomials(self, nu: npt.ArrayLike) -> FloatArray:
        """φ(ν), shape (M,), float64."""
        return monomials(self._nu(nu, warn=False))

    def _shared_transform(self) -> bool:
        ref = self.classifier.transform
        ref_dict = ref.to_dict()
        return all(
            r is None or r.transform is ref or r.transform.to_dict() == ref_dict
            for r in self.responses.values()
        )

    def precompute(
        self,
        events: Any,
        batch_size: int = 8192,
        *,
        feature_names: Sequence[str] | None = None,
        device: str | torch.device | None = "cpu",
        num_threads: int | None = None,
        calibrated: bool = True,
    ) -> PerEventTensors:
        """Evaluate every network once per event: c_p(x_i) and Δ_p(x_i), float64.

        On the CPU, when all networks share the classifier's preprocessing (the case
        of :func:`train_surrogate`), a fused evaluator runs them together in
        cache-sized chunks (:mod:`unbinned.ml._evaluator`): the same float32 network
        inputs and results as network-by-network evaluation up to float32 rounding
        of the matrix products, several times faster.

        Parameters
        ----------
        events
            An :class:`~unbinned.data.EventSet` or ``pandas.DataFrame`` (features picked
            by name; missing ones raise a SchemaError naming them), or a 2D array with
            ``feature_names`` equal to the model's names in the model's order.
        batch_size
            Most events per network call (float32 inference under
            ``torch.inference_mode``); the fused CPU path uses chunks of at most 2048.
        device
            Where to run the networks (default CPU).
        num_threads
            Worker threads of the fused CPU path, each evaluating a contiguous share of
            the events with one torch intra-op thread (default: ``torch.get_num_threads()``;
            torch's thread setting is restored afterwards).
        calibrated
            Add the score calibration of the responses (:mod:`unbinned.ml.calibration`)
            when the model has one.
        """
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ConfigError(f"batch_size={batch_size!r}; expected a positive integer")
        if num_threads is not None and (not isinstance(num_threads, int) or num_threads < 1):
            raise ConfigError(f"num_threads={num_threads!r}; expected a positive integer or None")
        base, columns = feature_view(events, self.feature_names, feature_names)
        n, p, m = len(base), len(self.processes), self.n_monomials
        dev = resolve_device(device)
        active = [
            (j, r) for j, r in enumerate(self.responses[q] for q in self.processes) if r is not None
        ]
        tf = self.classifier.transform
        shared = self._shared_transform()
        nets = [self.classifier.net] + [r.net for _, r in active]
        if shared and dev.type == "cpu" and FusedEvaluator.supported(tf, nets):
            fractions, delta = self._fused(base, columns, active, nets, batch_size, num_threads)
            return self._tensors(fractions, delta, calibrated)
        x = _Rows(base, columns)
        logits = np.empty((n, p), dtype=np.float64)
        delta = np.zeros((n, p, m), dtype=np.float64)
        with torch.inference_mode():
            if shared:
                self._stacked(x, tf, active, logits, delta, batch_size, dev)
            else:  # responses with their own preprocessing: one network at a time
                self._one_by_one(x, active, logits, delta, batch_size, dev)
        z = torch.from_numpy(logits)
        fractions = torch.exp(self.classifier.log_fractions_from_logits(z)).numpy()
        return self._tensors(fractions, delta, calibrated)

    def _fused(
        self,
        base: npt.NDArray[Any],
        columns: npt.NDArray[np.intp] | None,
        active: list[tuple[int, ProcessResponse]],
        nets: Sequence[MLP],
        batch_size: int,
        num_threads: int | None,
    ) -> tuple[FloatArray, FloatArray]:
        """The fused CPU path of :meth:`precompute`: c_p(x_i) and Δ_p(x_i), uncalibrated."""
        n, p, m = len(base), len(self.processes), self.n_monomials
        fractions = np.empty((n, p), dtype=np.float64)
        delta = (np.empty if len(active) == p else np.zeros)((n, p, m), dtype=np.float64)
        flat = delta.reshape(n, p * m)
        targets = [(fractions, 0)] + [(flat, j * m) for j, _ in active]
        threads = torch.get_num_threads() if num_threads is None else num_threads
        evaluator = FusedEvaluator(
            self.classifier.transform,
            nets,
            post={0: _calibrated_softmax(self.classifier)},
            chunk=min(batch_size, FUSED_CHUNK),
        )
        evaluator.run(base, columns, targets, threads=threads)
        return fractions, delta

    def _one_by_one(
        self,
        x: _Rows,
        active: list[tuple[int, ProcessResponse]],
        logits: FloatArray,
        delta: FloatArray,
        batch_size: int,
        dev: torch.device,
    ) -> None:
        """Responses with their own preprocessing: one network at a time, batch by batch."""
        tf, n = self.classifier.transform, len(x)
        for i in range(0, n, batch_size):
            sl = slice(i, min(i + batch_size, n))
            xb = torch.from_numpy(tf(x[sl])).to(dev)
            net = self.classifier.net
            logits[sl] = net(xb.to(_dtype(net))).cpu().numpy()
            for j, r in active:
                xr = torch.from_numpy(r.transform(x[sl])).to(device=dev)
                delta[sl, j, :] = r.net(xr.to(_dtype(r.net))).cpu().numpy()

    def _tensors(
        self, fractions: FloatArray, delta: FloatArray, calibrated: bool
    ) -> PerEventTensors:
        if calibrated and self.calibration is not None:
            fractions, delta = self.calibration.apply(fractions, delta)
        return PerEventTensors(
            fractions, delta, self.processes, self.nuisance_names, self.monomial_names
        )

    def _stacked(
        self,
        x: _Rows,
        tf: FeatureTransform,
        active: list[tuple[int, ProcessResponse]],
        logits: FloatArray,
        delta: FloatArray,
        batch_size: int,
        dev: torch.device,
    ) -> None:
        """Shared inputs: networks of one architecture evaluated together (StackedMLP)."""
        p, m = logits.shape[1], delta.shape[2]
        slots: list[tuple[int, MLP]] = [(-1, self.classifier.net)] + [(j, r.net) for j, r in active]
        groups: dict[tuple[Any, ...], list[tuple[int, MLP]]] = {}
        for slot, net in slots:
            key = (net.n_inputs, net.hidden, net.activation, _dtype(net))
            groups.setdefault(key, []).append((slot, net))
        runners = []
        for members in groups.values():
            nets = [net for _, net in members]
            ids = [slot for slot, _ in members]
            runner = StackedMLP(nets).to(dev) if StackedMLP.compatible(nets) else None
            runners.append((ids, nets, runner))
        dt = _dtype(self.classifier.net)
        for i in range(0, len(x), batch_size):
            sl = slice(i, min(i + batch_size, len(x)))
            xb = torch.from_numpy(tf(x[sl])).to(device=dev, dtype=dt)
            for ids, nets, runner in runners:
                if runner is None:
                    outs = [net(xb.to(_dtype(net))) for net in nets]
                    width = max(o.shape[1] for o in outs)
                    out = torch.stack(
                        [torch.nn.functional.pad(o, (0, width - o.shape[1])) for o in outs]
                    )
                else:
                    out = runner(xb)  # (G, B, O)
                o64 = torch.empty((out.shape[1], out.shape[0], out.shape[2]), dtype=torch.float64)
                o64.copy_(out.permute(1, 0, 2))
                arr = o64.numpy()  # (B, G, O)
                resp_ids = [k for k in ids if k >= 0]
                if ids[0] == -1:
                    logits[sl] = arr[:, 0, :p]
                    arr = arr[:, 1:]
                if resp_ids == list(range(delta.shape[1])):
                    delta[sl] = arr[:, :, :m]
                elif resp_ids:
                    delta[sl, resp_ids, :] = arr[:, :, :m]

    def log_ratio(self, events: Any, nu: npt.ArrayLike, **kwargs: Any) -> FloatArray:
        """ln R_p(x|ν) = ln Y_p(ν) + Δ_p(x)·φ(ν) per event and process, shape (N, P)."""
        arr = self._nu(nu)
        t = self.precompute(events, **kwargs)
        return t.shape_log_ratio(arr) + self.log_yield(arr)

    def save(self, directory: str | os.PathLike[str], *, overwrite: bool = False) -> Path:
        """Write the model directory (see :func:`unbinned.ml.serialization.save`)."""
        target = check_target(directory, overwrite)
        content, tensors = surrogate_to_state(self)
        return write_directory(target, "surrogate", content, tensors)

    @classmethod
    def load(cls, directory: str | os.PathLike[str]) -> SurrogateModel:
        """Read a model directory holding a surrogate (:func:`unbinned.ml.serialization.load`)."""
        obj = load_directory(directory, {**COMPONENT_LOADERS, "surrogate": surrogate_from_state})
        if not isinstance(obj, cls):
            raise ModelFileError(
                f"{str(directory)!r} holds a {type(obj).__name__}, not a SurrogateModel"
            )
        return obj

    def __repr__(self) -> str:
        resp = [p for p in self.processes if self.responses[p] is not None]
        yields = ", ".join(f"{p} {v:.6g}" for p, v in self.nominal_yields.items())
        return (
            f"SurrogateModel(region={self.region.name!r}, {len(self.feature_names)} features, "
            f"processes={list(self.processes)}, nuisances={list(self.nuisance_names)}, "
            f"responses for {resp}{'' if self.calibration is None else ', score-calibrated'}; "
            f"nominal yields: {yields})"
        )


class _Rows:
    """Rows of the model's features, selected from a wider table batch by batch."""

    def __init__(self, base: npt.NDArray[Any], columns: npt.NDArray[np.intp] | None) -> None:
        self.base = base
        self.columns = columns

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, rows: slice) -> npt.NDArray[Any]:
        block = self.base[rows]
        return block if self.columns is None else block[:, self.columns]


def _calibrated_softmax(clf: ProcessClassifier) -> Callable[[torch.Tensor], torch.Tensor]:
    r"""c_p from float32 logits in the transposed layout (P, b), in float64.

    softmax_p(z/T + ln(W_p/W) + b_p) as :meth:`ProcessClassifier.log_fractions_from_logits`
    (then ``exp``), written with elementwise operations over the P rows (vectorised
    along the events) instead of a reduction over a short last axis.
    """
    temperature = float(clf.temperature)
    off = torch.as_tensor(clf.offsets(), dtype=torch.float64)[:, None]

    def softmax(logits: torch.Tensor) -> torch.Tensor:
        z = logits.to(torch.float64, copy=True)
        if temperature != 1.0:
            z.div_(temperature)
        z.add_(off)
        top = z[0].clone()
        for row in z[1:]:
            torch.maximum(top, row, out=top)
        z.sub_(top).exp_()
        return z.div_(z.sum(dim=0))

    return softmax


def _dtype(net: torch.nn.Module) -> torch.dtype:
    return next(net.parameters()).dtype


def train_surrogate(
    source: VariationSource,
    *,
    design: Design | None = None,
    config: SurrogateConfig | None = None,
    yield_model: Callable[[], YieldModelLike] | None = None,
    seed: int = 0,
    run: RunOptions | None = None,
) -> SurrogateModel:
    """Train the full surrogate of one region: classifier, then one response per process.

    Parameters
    ----------
    source
        Nominal and varied simulation (:mod:`unbinned.ml.sources`).
    design
        Variation points (default :func:`~unbinned.ml.design.default_design`).
    config
        :class:`SurrogateConfig`.
    yield_model
        Factory of the ln Y model of each process (default: polynomial least squares).
    seed
        Base seed (the classifier uses ``seed``, the response of process i ``seed + 1 + i``).
    run
        Device, precision, threads, progress bars and checkpoints
        (:class:`~unbinned.ml.runtime.RunOptions`; default ``RunOptions()``: CUDA when
        present).  With ``checkpoint_dir`` set, rerunning an interrupted training resumes
        it (finished networks are reloaded, the running one continues after its last
        epoch).
    """
    opts = run or RunOptions()
    with opts.threads():
        return _train_surrogate(source, design, config, yield_model, seed, opts)


def _train_surrogate(
    source: VariationSource,
    design: Design | None,
    config: SurrogateConfig | None,
    yield_model: Callable[[], YieldModelLike] | None,
    seed: int,
    run: RunOptions,
) -> SurrogateModel:
    cfg = config or SurrogateConfig()
    procs = tuple(source.processes)
    resp_procs = procs if cfg.response_processes is None else tuple(cfg.response_processes)
    unknown = [p for p in resp_procs if p not in procs]
    if unknown:
        raise ConfigError(f"response_processes {unknown} are not processes of the source {procs}")
    dsg = design or default_design(source.nuisances)
    t0 = time.perf_counter()
    nominal = source.nominal()
    if len(nominal) == 0:
        raise DataError("the source has no nominal events")
    names = tuple(source.feature_names)
    transform = FeatureTransform.fit(feature_matrix(nominal, names), names)
    t_clf = time.perf_counter()
    clf = train_classifier(
        nominal,
        processes=procs,
        feature_names=names,
        transform=transform,
        config=cfg.classifier,
        calibration_fraction=cfg.calibration_fraction,
        seed=seed,
        run=run,
        members=cfg.classifier_members,
        bootstrap=cfg.classifier_bootstrap,
    )
    t_clf = time.perf_counter() - t_clf
    frac = clf.fractions(nominal)
    nominal_yields = {p: float(nominal.weights @ frac[:, j]) for j, p in enumerate(procs)}
    sim_yields = {p: float(v) for p, v in nominal.yields().items() if p in procs}
    del nominal, frac
    emphasised = (
        (procs[0],)
        if cfg.response_emphasis_processes is None
        else tuple(cfg.response_emphasis_processes)
    )
    unknown = [p for p in emphasised if p not in procs]
    if unknown:
        raise ConfigError(
            f"response_emphasis_processes {unknown} are not processes of the source {procs}"
        )
    emphasis = None
    if cfg.response_emphasis > 0 and any(p in resp_procs for p in emphasised):
        emphasis = SignalEmphasis.from_sample(clf, 0, source.nominal(procs[0]),
                                              cfg.response_emphasis)  # fmt: skip
    responses, t_resp = _train_responses(
        source, procs, resp_procs, dsg, transform, cfg, yield_model, seed, run,
        {p: emphasis for p in emphasised} if emphasis is not None else {},
        response_events(cfg, sim_yields),
    )  # fmt: skip
    meta = {
        "seed": seed,
        "config": cfg.to_dict(),
        "response_emphasis": None
        if emphasis is None
        else {**emphasis.to_dict(), "processes": [p for p in emphasised if p in resp_procs]},
        "device": str(run.torch_device),
        "unbinned_version": __version__,
        "seconds": {
            "total": time.perf_counter() - t0,
            "classifier": t_clf,
            "responses": t_resp,
        },
    }
    return SurrogateModel(
        procs,
        tuple(source.nuisances),
        source.region,
        nominal_yields,
        clf,
        responses,
        sim_yields,
        meta,
    )


def _train_responses(
    source: VariationSource,
    procs: tuple[str, ...],
    resp_procs: tuple[str, ...],
    dsg: Design,
    transform: FeatureTransform,
    cfg: SurrogateConfig,
    yield_model: Callable[[], YieldModelLike] | None,
    seed: int,
    run: RunOptions,
    emphasis: Mapping[str, SignalEmphasis] | None = None,
    max_events: Mapping[str, int | None] | None = None,
) -> tuple[dict[str, ProcessResponse | None], dict[str, float]]:
    """One response per process of ``resp_procs`` (None for the others) and their seconds.

    ``emphasis``: the loss emphasis of some processes; the signal (the first process)
    trains for ``cfg.signal_response_epochs`` epochs at least.
    """
    emphasis = emphasis or {}
    responses: dict[str, ProcessResponse | None] = dict.fromkeys(procs)
    t_resp: dict[str, float] = {}
    for i, p in enumerate(procs):
        if p not in resp_procs:
            continue
        t1 = time.perf_counter()
        responses[p] = train_response(
            source,
            p,
            design=dsg,
            transform=transform,
            config=_signal_response_config(cfg) if i == 0 else cfg.response,
            yield_model=yield_model,
            max_events=(max_events or {}).get(p, cfg.max_events_per_point),
            seed=seed + 1 + i,
            run=run,
            emphasis=emphasis.get(p),
        )
        t_resp[p] = time.perf_counter() - t1
    return responses, t_resp


def response_events(cfg: SurrogateConfig, yields: Mapping[str, float]) -> dict[str, int | None]:
    """Generated events per variation point of each process's response.

    n_p = max(``max_events_per_point``, ``max_events_per_point_largest`` · Y_p / max Y)
    with Y the nominal yields (:attr:`SurrogateConfig.max_events_per_point_largest`);
    None (every event) where ``max_events_per_point`` is None.
    """
    base, largest = cfg.max_events_per_point, cfg.max_events_per_point_largest
    if base is None or largest is None or not yields:
        return dict.fromkeys(yields, base)
    top = max(abs(float(v)) for v in yields.values())
    if not top > 0:
        return dict.fromkeys(yields, base)
    return {p: max(base, round(largest * abs(float(v)) / top)) for p, v in yields.items()}


def _signal_response_config(cfg: SurrogateConfig) -> TrainConfig:
    """The response settings of the signal: ``min_epochs`` raised to ``signal_response_epochs``."""
    e = cfg.signal_response_epochs
    if e is None or e == cfg.response.min_epochs:
        return cfg.response
    return replace(cfg.response, min_epochs=e, max_epochs=max(e, cfg.response.max_epochs))


def surrogate_to_state(obj: SurrogateModel) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """JSON content and tensors of a surrogate (for :mod:`unbinned.ml.serialization`)."""
    clf_meta, clf_t = classifier_to_state(obj.classifier)
    tensors = prefix_names(clf_t, "classifier.")
    responses: dict[str, Any] = {}
    for i, p in enumerate(obj.processes):
        r = obj.responses[p]
        if r is None:
            responses[p] = None
            continue
        same = r.transform.to_dict() == obj.classifier.transform.to_dict()
        meta, t = response_to_state(r, with_transform=not same)
        meta["tensor_prefix"] = f"response.{i}."
        responses[p] = meta
        tensors.update(prefix_names(t, f"response.{i}."))
    content = {
        "processes": list(obj.processes),
        "feature_names": list(obj.feature_names),
        "nuisances": [n.to_dict() for n in obj.nuisances],
        "trained_range": obj.trained_range.tolist(),
        "region": obj.region.to_dict(),
        "nominal_yields": dict(obj.nominal_yields),
        "simulated_yields": dict(obj.simulated_yields),
        "monomials": list(obj.monomial_names),
        "classifier": clf_meta,
        "responses": responses,
        "metadata": obj.metadata,
    }
    if obj.calibration is not None:
        content["score_calibration"] = obj.calibration.to_dict()
    return content, tensors


def surrogate_from_state(
    content: Mapping[str, Any], tensors: Mapping[str, torch.Tensor]
) -> SurrogateModel:
    """Inverse of :func:`surrogate_to_state`, every network's tensors checked."""
    clf_t = strip_names(tensors, "classifier.")
    check_network(content["classifier"]["architecture"], clf_t, "classifier")
    clf = classifier_from_state(content["classifier"], clf_t)
    if list(clf.feature_names) != list(content["feature_names"]):
        raise ModelFileError("feature names of the classifier differ from the model's")
    responses: dict[str, ProcessResponse | None] = {}
    for p, meta in content["responses"].items():
        if meta is None:
            responses[p] = None
            continue
        t = strip_names(tensors, meta["tensor_prefix"])
        check_network(meta["architecture"], t, f"response of {p!r}")
        tf = None if "transform" in meta else clf.transform
        responses[p] = response_from_state(meta, t, tf)
    cal = content.get("score_calibration")
    model = SurrogateModel(
        tuple(content["processes"]),
        tuple(ShapeNuisance.from_dict(n) for n in content["nuisances"]),
        Region.from_dict(content["region"]),
        {str(k): float(v) for k, v in content["nominal_yields"].items()},
        clf,
        responses,
        {str(k): float(v) for k, v in content.get("simulated_yields", {}).items()},
        dict(content.get("metadata", {})),
        None if cal is None else ScoreCalibration.from_dict(cal),
    )
    stored = content.get("trained_range")
    if stored is not None and not all(
        math.isclose(a, b, abs_tol=1e-12)
        for a, b in zip(
            [v for row in stored for v in row], model.trained_range.ravel().tolist(), strict=True
        )
    ):
        raise ModelFileError("the stored trained range differs from the variation points")
    return model


if TYPE_CHECKING:
    _: type[SurrogateLike] = SurrogateModel  # SurrogateModel satisfies the protocol
