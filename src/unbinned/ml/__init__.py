"""Learned surrogates: calibrated process classifier, parametrised responses, yields, model files.

The pieces, one concern per module:

- :mod:`~unbinned.ml.networks`: the MLPs (``nn.Module``).
- :mod:`~unbinned.ml.classifier`: training and calibration of the classifier c_p(x).
- :mod:`~unbinned.ml.response`: the response ln R_p(x|ν) = ln Y_p(ν) + Δ_p(x)·φ(ν).
- :mod:`~unbinned.ml.yields`: the monomials φ(ν) and the polynomial ln Y model.
- :mod:`~unbinned.ml.design`: shape nuisances and variation-point designs.
- :mod:`~unbinned.ml.sources`: nominal/varied simulation (H→ττ, oracle, toy).
- :mod:`~unbinned.ml.split`: a source split by its events into a kept and a held-out part.
- :mod:`~unbinned.ml.training`: the runner (hyper-parameters, seeds, the loop, checkpoints).
- :mod:`~unbinned.ml.runtime`: :class:`RunOptions`, where a training runs (device,
  precision, threads, progress bars, checkpoint folder).
- :mod:`~unbinned.ml.surrogate`: the assembled model and :func:`train_surrogate`.
- :mod:`~unbinned.ml.calibration`: residual calibration of the responses in score bins.
- :mod:`~unbinned.ml.serialization`: model directories (safetensors + JSON).
- :mod:`~unbinned.ml.diagnostics`: reliability, yield closure, held-out closure, oracle RMS.

Examples
--------
>>> from unbinned.ml import (GaussianToySource, RunOptions, SurrogateConfig, TrainConfig,
...                          train_surrogate)
>>> source = GaussianToySource(2000, seed=1)
>>> fast = TrainConfig(hidden=(16,), epochs=2)
>>> model = train_surrogate(source, config=SurrogateConfig(classifier=fast, response=fast),
...                         run=RunOptions(progress=False))
>>> model.precompute(source.nominal()).delta.shape[1:]
(2, 5)
"""

from unbinned.ml._features import FeatureTransform, MissingGroup
from unbinned.ml.calibration import ScoreCalibration, fit_score_calibration
from unbinned.ml.classifier import ProcessClassifier, calibrate, train_classifier
from unbinned.ml.design import Design, ShapeNuisance, default_design, validation_design
from unbinned.ml.diagnostics import (
    ClosureResult,
    OracleComparison,
    ReliabilityDiagram,
    YieldClosure,
    closure_test,
    oracle_comparison,
    reliability,
    yield_closure,
)
from unbinned.ml.file_sources import CallableVariationSource, FileVariationSource, VariationPoint
from unbinned.ml.holdout import LeaveOneOutClosure, leave_one_out_closure
from unbinned.ml.networks import MLP, ClassifierNet, ResponseNet
from unbinned.ml.response import ProcessResponse, train_response
from unbinned.ml.runtime import RunOptions
from unbinned.ml.serialization import load, save
from unbinned.ml.sources import (
    HTAUTAU_SHAPE_NUISANCES,
    BaseVariationSource,
    GaussianToySource,
    HTauTauSource,
    OracleSource,
    Region,
    VariationSource,
)
from unbinned.ml.split import HeldOutSource, split_source
from unbinned.ml.surrogate import (
    PerEventTensors,
    SurrogateConfig,
    SurrogateLike,
    SurrogateModel,
    train_surrogate,
)
from unbinned.ml.training import TrainConfig, TrainHistory, resolve_device
from unbinned.ml.yields import PolynomialYieldModel, monomial_names, monomials, monomials_torch

__all__ = [
    "HTAUTAU_SHAPE_NUISANCES",
    "MLP",
    "BaseVariationSource",
    "CallableVariationSource",
    "ClassifierNet",
    "ClosureResult",
    "Design",
    "FeatureTransform",
    "FileVariationSource",
    "GaussianToySource",
    "HTauTauSource",
    "HeldOutSource",
    "LeaveOneOutClosure",
    "MissingGroup",
    "OracleComparison",
    "OracleSource",
    "PerEventTensors",
    "PolynomialYieldModel",
    "ProcessClassifier",
    "ProcessResponse",
    "Region",
    "ReliabilityDiagram",
    "ResponseNet",
    "RunOptions",
    "ScoreCalibration",
    "ShapeNuisance",
    "SurrogateConfig",
    "SurrogateLike",
    "SurrogateModel",
    "TrainConfig",
    "TrainHistory",
    "VariationPoint",
    "VariationSource",
    "YieldClosure",
    "calibrate",
    "closure_test",
    "default_design",
    "fit_score_calibration",
    "leave_one_out_closure",
    "load",
    "monomial_names",
    "monomials",
    "monomials_torch",
    "oracle_comparison",
    "reliability",
    "resolve_device",
    "save",
    "split_source",
    "train_classifier",
    "train_response",
    "train_surrogate",
    "validation_design",
    "yield_closure",
]
