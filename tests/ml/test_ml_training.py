from pathlib import Path

import numpy as np
import pytest
import torch

from unbinned.exceptions import ConfigError, ModelFileError
from unbinned.ml.networks import MLP
from unbinned.ml.runtime import RunOptions
from unbinned.ml.training import (
    Adam,
    TrainConfig,
    resolve_device,
    resolve_dtype,
    seeded,
    train_network,
)


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _data(n=600, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3)).astype(np.float32)
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(np.int64)
    u = np.full(n, 1.0 / n)
    return [torch.from_numpy(x), torch.from_numpy(y), torch.from_numpy(u)]


def _loss(net, batches):
    x, y, u = batches[0]
    logp = torch.log_softmax(net(x), dim=1)
    return -(u * logp.gather(1, y[:, None]).squeeze(1)).sum()


CFG = TrainConfig(hidden=(8,), epochs=4, batch_size=100, patience=10)


def _net():
    with seeded(0):
        return MLP(3, 2, (8,))


def _train(checkpoint_dir=None, dtype=None, **kwargs):
    net = _net()
    run = RunOptions(progress=False, checkpoint_dir=checkpoint_dir, dtype=dtype)
    hist = train_network(net, _loss, [_data()], [_data(seed=1)], config=CFG, run=run, **kwargs)
    return net, hist


def test_loss_decreases_and_best_epoch_restored():
    _, hist = _train()
    assert hist.epochs_run == 4
    assert hist.val_loss[hist.best_epoch] == min(hist.val_loss)
    assert hist.train_loss[-1] < hist.train_loss[0]
    assert "TrainHistory" in repr(hist)


def test_interrupted_training_resumes_identically(tmp_path):
    reference, ref_hist = _train()

    class Stop(Exception):
        pass

    def interrupt(epoch, history):
        if epoch == 1:
            raise Stop

    with pytest.raises(Stop):
        _train(checkpoint_dir=tmp_path, name="net", on_epoch_end=interrupt)
    resumed, hist = _train(checkpoint_dir=tmp_path, name="net")
    assert hist.resumed_at_epoch == 2
    assert hist.val_loss == ref_hist.val_loss
    for a, b in zip(reference.parameters(), resumed.parameters(), strict=True):
        assert torch.equal(a, b)
    # a finished checkpoint is reloaded without training
    again, hist2 = _train(checkpoint_dir=tmp_path, name="net")
    assert hist2.epochs_run == 4
    for a, b in zip(reference.parameters(), again.parameters(), strict=True):
        assert torch.equal(a, b)


def test_checkpoint_of_another_configuration_is_refused(tmp_path):
    _train(checkpoint_dir=tmp_path, name="net")
    net = _net()
    with pytest.raises(ConfigError, match="another configuration"):
        train_network(
            net, _loss, [_data()], [_data(seed=1)], config=CFG, seed=5,
            run=RunOptions(progress=False, checkpoint_dir=tmp_path), name="net",
        )  # fmt: skip


def test_corrupt_checkpoint_is_reported(tmp_path):
    (tmp_path / "net.ckpt.safetensors").write_bytes(b"garbage")
    with pytest.raises(ModelFileError, match="unreadable"):
        _train(checkpoint_dir=tmp_path, name="net")


def test_adam_matches_the_textbook_update():
    # Kingma & Ba, Algorithm 1, with L2 weight decay added to the gradient (torch.optim.Adam)
    start = np.array([0.3, -1.2, 2.0, 0.0, 5.0])
    a = torch.nn.Parameter(torch.from_numpy(start.copy()))
    mine = Adam([a], lr=0.01, weight_decay=0.1)
    p, m, v = start.copy(), np.zeros(5), np.zeros(5)
    for t in range(1, 6):
        a.grad = torch.sin(a.detach()) + 1.0
        mine.step()
        g = np.sin(p) + 1.0 + 0.1 * p
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g * g
        p = p - 0.01 * (m / (1 - 0.9**t)) / (np.sqrt(v / (1 - 0.999**t)) + 1e-8)
    np.testing.assert_allclose(a.detach().numpy(), p, rtol=1e-12, atol=1e-14)


def test_device_and_dtype_resolution():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device(None).type == expected
    assert resolve_device("auto").type == expected
    assert resolve_device("cpu").type == "cpu"
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="CUDA is not available"):
            resolve_device("cuda")
    assert resolve_dtype(None) is torch.float32
    assert resolve_dtype("float64") is torch.float64
    with pytest.raises(ConfigError, match="dtype"):
        resolve_dtype("float16")


def test_float64_training():
    net, _ = _train(dtype=torch.float64)
    assert next(net.parameters()).dtype == torch.float64


@pytest.mark.parametrize(
    ("field", "value"),
    [("epochs", 0), ("batch_size", 0), ("learning_rate", -1.0), ("validation_fraction", 1.0)],
)
def test_config_validation(field, value):
    with pytest.raises(ConfigError, match=field):
        TrainConfig(**{field: value})


def test_config_round_trip_and_schedule():
    cfg = TrainConfig(hidden=(4, 4), epochs=5)
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg
    assert cfg.learning_rate_at(0) == pytest.approx(cfg.learning_rate)
    assert cfg.learning_rate_at(4) == pytest.approx(cfg.learning_rate * cfg.final_lr_factor)
    with pytest.raises(ConfigError, match="unknown"):
        TrainConfig.from_dict({"nope": 1})


def test_surrogate_training_resumes_from_checkpoints(tmp_path):
    from unbinned.ml import GaussianToySource, SurrogateConfig, train_surrogate

    source = GaussianToySource(500, seed=2)
    tiny = TrainConfig(hidden=(8,), epochs=2, batch_size=256)
    cfg = SurrogateConfig(classifier=tiny, response=tiny)
    first = train_surrogate(
        source, config=cfg, run=RunOptions(progress=False, checkpoint_dir=tmp_path)
    )
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == [
        "classifier.1.ckpt.safetensors",
        "classifier.2.ckpt.safetensors",
        "classifier.ckpt.safetensors",
        "response_bkg.ckpt.safetensors",
        "response_sig.ckpt.safetensors",
    ]
    # the response of "bkg" was interrupted: drop its checkpoint; the rest is reloaded
    (tmp_path / "response_bkg.ckpt.safetensors").unlink()
    again = train_surrogate(
        source, config=cfg, run=RunOptions(progress=False, checkpoint_dir=tmp_path)
    )
    assert again.classifier.history.resumed_at_epoch == 2
    assert again.responses["sig"].history.resumed_at_epoch == 2
    assert again.responses["bkg"].history.resumed_at_epoch is None
    events = source.nominal()
    a, b = first.precompute(events), again.precompute(events)
    np.testing.assert_array_equal(a.fractions, b.fractions)
    np.testing.assert_array_equal(a.delta, b.delta)


def test_torch_threads_context_restores():
    from unbinned.ml.training import torch_threads

    before = torch.get_num_threads()
    with torch_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    with torch_threads(None):
        assert torch.get_num_threads() == before
    with pytest.raises(ConfigError, match="num_threads"), torch_threads(0):
        pass


def test_run_options_check_themselves():
    assert RunOptions().progress is True
    assert RunOptions(dtype="float64").torch_dtype == torch.float64
    assert RunOptions(device="cpu").torch_device == torch.device("cpu")
    assert RunOptions(checkpoint_dir="x").checkpoint_path == Path("x")
    assert RunOptions(num_threads=1).replace(progress=False).num_threads == 1
    for bad in (
        {"dtype": "float16"},
        {"device": "no-such-device"},
        {"num_threads": 0},
        {"num_threads": True},
        {"progress": "yes"},
    ):
        with pytest.raises(ConfigError):
            RunOptions(**bad)


def test_plan_sizes_small_samples_up_and_keeps_large_ones():
    cfg = TrainConfig()
    small = cfg.plan(3000)
    assert small.planned == ("batch_size", "epochs")
    assert small.batches_per_epoch == 20
    assert small.max_steps >= cfg.min_steps
    assert small.patience > cfg.patience  # grows with the planned epochs
    large = cfg.plan(2_000_000)
    assert (large.batch_size, large.epochs, large.patience) == (2048, 30, 5)
    capped = TrainConfig(max_epochs=40).plan(100)
    assert (capped.epochs, capped.batch_size) == (40, 32)
    given = TrainConfig(epochs=3, batch_size=100).plan(3000)
    assert (given.epochs, given.batch_size, given.planned) == (3, 100, ())
    # a given batch size: the epochs are planned to reach min_steps
    assert TrainConfig(batch_size=100).plan(3000).max_steps >= 1000
    with pytest.raises(ConfigError, match="max_epochs"):
        TrainConfig(min_epochs=10, max_epochs=5)


def test_planned_training_records_its_plan_and_steps():
    net = _net()
    cfg = TrainConfig(hidden=(8,), min_steps=200, min_epochs=2, patience=100)
    hist = train_network(
        net, _loss, [_data()], [_data(seed=1)], config=cfg, run=RunOptions(progress=False)
    )
    assert hist.plan is not None
    assert hist.plan["batch_size"] == 32
    assert hist.plan["batches_per_epoch"] == 19  # ceil(600 / 32)
    assert hist.steps == hist.epochs_run * 19 >= 200
    assert "steps" in repr(hist)


def test_few_steps_warn_with_the_reason():
    from unbinned.exceptions import TrainingWarning

    with pytest.warns(TrainingWarning, match=r"only 24 optimiser steps .*given explicitly"):
        _train()  # CFG: 4 epochs of 100 events from 600: 24 steps
