"""Training on a CUDA device: the surrogate trained there is usable on a CPU-only machine.

These run only where ``torch.cuda.is_available()`` (marker ``gpu``); CI has no GPU, so
they are checked on a lent GPU machine (BENCHMARKS.md, "Training on a GPU").
"""

import numpy as np
import pytest
import torch

from unbinned.ml import (
    GaussianToySource,
    SurrogateConfig,
    TrainConfig,
    load,
    save,
    train_surrogate,
)
from unbinned.ml.runtime import RunOptions
from unbinned.ml.training import resolve_device

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]

SMALL = TrainConfig(hidden=(16, 16), epochs=3, batch_size=256, patience=10)


@pytest.fixture(scope="module")
def source():
    return GaussianToySource(4000, seed=5)


@pytest.fixture(scope="module")
def trained(source):
    cfg = SurrogateConfig(classifier=SMALL, response=SMALL)
    return train_surrogate(source, config=cfg, run=RunOptions(device="cuda", progress=False))


def test_default_device_is_the_gpu():
    assert resolve_device(None).type == "cuda"


def test_training_ran_on_the_gpu_and_the_model_lives_on_the_cpu(trained):
    assert trained.metadata["device"].startswith("cuda")
    assert trained.classifier.history is not None
    assert trained.classifier.history.device.startswith("cuda")
    params = list(trained.classifier.net.parameters())
    assert all(p.device.type == "cpu" for p in params)
    for resp in trained.responses.values():
        if resp is not None:
            assert all(p.device.type == "cpu" for p in resp.net.parameters())


def test_gpu_and_cpu_evaluation_agree(trained, source):
    nominal = source.nominal()
    frac_cpu = trained.classifier.fractions(nominal)
    frac_gpu = trained.classifier.fractions(nominal, device="cuda")
    np.testing.assert_allclose(frac_gpu, frac_cpu, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(frac_cpu.sum(axis=1), 1.0, rtol=1e-10)
    tensors = trained.precompute(nominal)
    assert np.isfinite(tensors.fractions).all()
    assert tensors.delta is not None
    assert np.isfinite(tensors.delta).all()


def test_gpu_trained_model_round_trips_through_its_files(trained, source, tmp_path):
    path = save(trained, tmp_path / "gpu_model")
    again = load(path)
    nominal = source.nominal()
    a, b = trained.precompute(nominal), again.precompute(nominal)
    np.testing.assert_array_equal(a.fractions, b.fractions)
    assert a.delta is not None
    assert b.delta is not None
    np.testing.assert_array_equal(a.delta, b.delta)


def test_gpu_training_learns_like_the_cpu_training(source):
    """Same data, seeds and settings: the two devices reach similar validation losses."""
    cfg = SurrogateConfig(classifier=SMALL, response=SMALL)
    losses = {}
    for device in ("cpu", "cuda"):
        model = train_surrogate(source, config=cfg, run=RunOptions(device=device, progress=False))
        assert model.classifier.history is not None
        losses[device] = model.classifier.history.best_val_loss
    assert losses["cuda"] == pytest.approx(losses["cpu"], rel=0.02)
