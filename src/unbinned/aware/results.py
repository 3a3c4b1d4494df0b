"""Results of the systematic-aware training: the loss history and the evaluation.

DESIGN.md §4.  :class:`TrainingHistory` records the losses of
:meth:`AwareTrainer.fit <unbinned.aware.AwareTrainer.fit>`;
:class:`AwareEvaluation` holds the exact (hard-histogram) Fisher σ of a trained
network with its histograms, and turns them into the binned baseline's templates
and likelihood (:mod:`unbinned.binned`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from unbinned.binned import BinnedLikelihood, RegionTemplates, Templates
from unbinned.exceptions import ConfigError
from unbinned.model.spec import ModelSpec

__all__ = ["AwareEvaluation", "TrainingHistory", "region_names"]


@dataclass
class TrainingHistory:
    """Losses recorded during training.

    ``ce_loss`` per pre-training epoch, ``aware_loss`` and ``penalty`` per aware
    step (batch values), ``validation`` the exact validation loss at each
    evaluation (:meth:`AwareTrainer.train`).
    """

    ce_loss: list[float] = field(default_factory=list)
    aware_loss: list[float] = field(default_factory=list)
    penalty: list[float] = field(default_factory=list)
    validation: list[float] = field(default_factory=list)
    seconds: float = 0.0

    def __repr__(self) -> str:
        last = f"{self.aware_loss[-1]:.5g}" if self.aware_loss else "-"
        return (
            f"TrainingHistory({len(self.ce_loss)} CE epochs, {len(self.aware_loss)} aware steps, "
            f"final aware loss {last}, {self.seconds:.1f} s)"
        )


# ---------------------------------------------------------------------------- evaluation result
@dataclass(frozen=True, eq=False)
class AwareEvaluation:
    """Exact (hard-histogram) expected uncertainties of a trained network.

    Attributes
    ----------
    sigmas
        Expected profiled σ per POI, sqrt((I⁻¹)_ii).
    information
        The Asimov Fisher information (P, P) in ``parameter_names`` order.
    parameter_names
        Floating parameters of the declaration.
    processes
        Row order of the histograms.
    nominal
        Hard histograms h_pb (P, B_total).
    derivatives
        Hard template derivatives ∂h_pb/∂α_k (K, P, B_total), per σ.
    shape_nuisances
        Order of ``derivatives``.
    edges
        Bin edges of the score, one row per class (n_classes, B + 1), in the units
        :meth:`SoftHistogram.scores` reports.
    n_classes
        Number of classes (regions); bins are class-major.
    n_empty_bins
        Bins without expected events (their information is zero).
    """

    sigmas: dict[str, float]
    information: npt.NDArray[np.float64]
    parameter_names: tuple[str, ...]
    processes: tuple[str, ...]
    nominal: npt.NDArray[np.float64]
    derivatives: npt.NDArray[np.float64]
    shape_nuisances: tuple[str, ...]
    edges: npt.NDArray[np.float64]
    n_classes: int
    n_empty_bins: int

    def __repr__(self) -> str:
        sig = ", ".join(f"σ({k}) = {v:.5g}" for k, v in self.sigmas.items())
        return (
            f"AwareEvaluation({sig}; {self.nominal.shape[1]} bins, {self.n_empty_bins} empty, "
            f"parameters {list(self.parameter_names)})"
        )

    def templates(self, regions: Sequence[str] | None = None) -> Any:
        """The binned baseline's :class:`~unbinned.binned.Templates` of these histograms.

        Per region (class), the nominal template and the ±1σ templates
        h⁰ ± ∂h/∂α (their symmetric difference reproduces the derivative; with
        ``code4p`` interpolation the binned likelihood's Fisher information at
        nominal is then exactly :attr:`information`).  Bins with no expected
        events are dropped (the binned baseline needs every bin populated).

        Parameters
        ----------
        regions
            Region names, one per class (default ``("inclusive",)`` for one class,
            else ``class0``, ``class1``, ...); they must be declared in the model.
        """
        names = region_names(regions, self.n_classes)
        n_b = self.nominal.shape[1] // self.n_classes
        out = []
        for c, name in enumerate(names):
            sl = slice(c * n_b, (c + 1) * n_b)
            nom = self.nominal[:, sl]
            keep = nom.sum(0) > 0
            edges = self.edges[c] if bool(np.all(keep)) else np.arange(int(keep.sum()) + 1.0)
            up = {k: (nom + self.derivatives[i][:, sl])[:, keep]
                  for i, k in enumerate(self.shape_nuisances)}  # fmt: skip
            dn = {k: (nom - self.derivatives[i][:, sl])[:, keep]
                  for i, k in enumerate(self.shape_nuisances)}  # fmt: skip
            out.append(
                RegionTemplates(
                    name, np.asarray(edges, dtype=np.float64), self.processes, nom[:, keep],
                    np.zeros_like(nom[:, keep]), dn, up,
                )
            )  # fmt: skip
        return Templates(tuple(out), self.shape_nuisances, {})

    def binned_likelihood(self, spec: ModelSpec, regions: Sequence[str] | None = None) -> Any:
        """The binned baseline's :class:`~unbinned.binned.BinnedLikelihood` on Asimov data.

        ``code4p`` interpolation, so that its HESSE σ (:func:`unbinned.infer.fit`)
        equals :attr:`sigmas`.
        """
        return BinnedLikelihood(spec, self.templates(regions), "asimov", interpolation="code4p")


def region_names(regions: Sequence[str] | None, n_classes: int) -> tuple[str, ...]:
    """Region names, one per class of the network's output.

    Parameters
    ----------
    regions
        The names (checked to be ``n_classes`` of them), or None for the default:
        ``("inclusive",)`` for one class, else ``class0``, ``class1``, ...
    n_classes
        Number of classes (regions) of the network's output.

    Raises
    ------
    ConfigError
        If the number of names is not ``n_classes``.
    """
    if regions is None:
        return ("inclusive",) if n_classes == 1 else tuple(f"class{c}" for c in range(n_classes))
    names = tuple(regions)
    if len(names) != n_classes:
        raise ConfigError(f"{len(names)} region names {list(names)} for {n_classes} classes")
    return names
