"""The split of the aware trainer: import paths, self-checking config, readable reprs."""

from __future__ import annotations

import ast
import pathlib

import numpy as np
import pytest
import torch

import unbinned.aware as aware
import unbinned.aware.trainer as trainer_module
from unbinned.aware import (
    AwareConfig,
    AwareEvaluation,
    AwareSamples,
    ShapeVariation,
    TrainingHistory,
    WeightedEvents,
)
from unbinned.aware.results import region_names
from unbinned.aware.samples import split_batches
from unbinned.exceptions import ConfigError

_AWARE = pathlib.Path(aware.__file__).parent


def test_every_name_of_the_trainer_module_is_importable_from_both_places() -> None:
    for name in trainer_module.__all__:
        assert getattr(aware, name) is getattr(trainer_module, name)


def test_lower_modules_do_not_import_the_trainer() -> None:
    for name in ("samples.py", "config.py", "results.py", "standardize.py", "_oracle.py"):
        tree = ast.parse((_AWARE / name).read_text())
        mods = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
        assert "unbinned.aware.trainer" not in mods, name


def test_config_checks_itself() -> None:
    with pytest.raises(ConfigError, match="ce_batch_size and eval_every"):
        AwareConfig(ce_batch_size=0)
    with pytest.raises(ConfigError, match="grad_clip"):
        AwareConfig(grad_clip=0.0)
    with pytest.raises(TypeError, match="adapt_edges"):
        AwareConfig(adapt_edges=1)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="SoftHistogram"):
        AwareConfig(histogram="kernel")  # type: ignore[arg-type]
    assert AwareConfig(grad_clip=None).grad_clip is None


def test_region_names() -> None:
    assert region_names(None, 1) == ("inclusive",)
    assert region_names(None, 2) == ("class0", "class1")
    with pytest.raises(ConfigError, match="region names"):
        region_names(["a"], 2)


def test_split_batches_keeps_variations_with_their_events() -> None:
    nom = WeightedEvents.from_numpy(np.arange(6.0)[:, None], np.ones(6), np.zeros(6))
    up = WeightedEvents.from_numpy(np.arange(6.0)[:, None] + 0.5, np.ones(6), np.zeros(6))
    samples = AwareSamples(
        nom,
        {
            "a": ShapeVariation(up=up),
            "b": ShapeVariation(log_weight_derivative=torch.arange(6.0)),
        },
    )
    assign = torch.tensor([0, 1, 0, 1, 1, 0])
    parts = split_batches(samples, assign, 2)
    assert [len(p.nominal) for p in parts] == [3, 3]
    for p in parts:
        nominal_x = p.nominal.x[:, 0]
        up_b = p.variations["a"].up
        assert up_b is not None
        torch.testing.assert_close(up_b.x[:, 0], nominal_x + 0.5)
        d = p.variations["b"].log_weight_derivative
        assert d is not None
        torch.testing.assert_close(d, nominal_x.to(torch.float64))


def test_result_reprs_are_readable() -> None:
    hist = TrainingHistory(ce_loss=[0.7], aware_loss=[0.5, 0.25], seconds=1.5)
    assert repr(hist) == (
        "TrainingHistory(1 CE epochs, 2 aware steps, final aware loss 0.25, 1.5 s)"
    )
    ev = AwareEvaluation(
        sigmas={"mu": 0.5},
        information=np.eye(1),
        parameter_names=("mu",),
        processes=("s",),
        nominal=np.ones((1, 3)),
        derivatives=np.zeros((0, 1, 3)),
        shape_nuisances=(),
        edges=np.linspace(0.0, 1.0, 4)[None, :],
        n_classes=1,
        n_empty_bins=0,
    )
    assert repr(ev) == "AwareEvaluation(σ(mu) = 0.5; 3 bins, 0 empty, parameters ['mu'])"
