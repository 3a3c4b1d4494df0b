"""Systematic-aware training for binned analyses and learned unfoldable observables.

DESIGN.md §4.  A network's output is histogrammed differentiably
(:class:`SoftHistogram`), the binned Asimov likelihood of the histograms with
every nuisance (re-evaluated on varied or reweighted events) gives the Fisher
information (:class:`FisherModel`), and the network is trained, after a
cross-entropy pre-training, to minimise the expected profiled uncertainty of the
parameters of interest (:class:`AwareTrainer`).  The trained network plugs into
the binned baseline (:mod:`unbinned.binned`) unchanged
(:meth:`AwareEvaluation.binned_likelihood`, :meth:`AwareTrainer.scored_events`).

The Optimal Observable Machine (:func:`train_oom`, :mod:`unbinned.aware.oom`)
learns a generator-level observable whose binned, unfolded spectrum measures a
parameter most precisely, demonstrated on :class:`ThresholdToy`.
"""

from unbinned.aware._oracle import oracle_samples, oracle_spec
from unbinned.aware.config import AwareConfig
from unbinned.aware.fisher_loss import FisherModel, asimov_fisher, fisher_sigmas
from unbinned.aware.oom import (
    OOMConfig,
    OOMResult,
    UnfoldingData,
    UnfoldingEvaluation,
    evaluate_observable,
    quantile_observable,
    train_oom,
)
from unbinned.aware.results import AwareEvaluation, TrainingHistory
from unbinned.aware.samples import AwareSamples, ShapeVariation, WeightedEvents
from unbinned.aware.softhist import (
    HISTOGRAM_METHODS,
    HistogramMethod,
    SoftHistogram,
    weighted_counts,
)
from unbinned.aware.standardize import Standardize
from unbinned.aware.toys import GenRecoEvents, ThresholdToy
from unbinned.aware.trainer import AwareTrainer

__all__ = [
    "HISTOGRAM_METHODS",
    "AwareConfig",
    "AwareEvaluation",
    "AwareSamples",
    "AwareTrainer",
    "FisherModel",
    "GenRecoEvents",
    "HistogramMethod",
    "OOMConfig",
    "OOMResult",
    "ShapeVariation",
    "SoftHistogram",
    "Standardize",
    "ThresholdToy",
    "TrainingHistory",
    "UnfoldingData",
    "UnfoldingEvaluation",
    "WeightedEvents",
    "asimov_fisher",
    "evaluate_observable",
    "fisher_sigmas",
    "oracle_samples",
    "oracle_spec",
    "quantile_observable",
    "train_oom",
    "weighted_counts",
]
