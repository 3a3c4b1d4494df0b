"""Aware training: the Fisher σ equals a binned fit's σ, determinism, multiclass, input checks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from unbinned.aware import (
    AwareConfig,
    AwareSamples,
    AwareTrainer,
    ShapeVariation,
    SoftHistogram,
    WeightedEvents,
)
from unbinned.binned import BinnedLikelihood, build_templates
from unbinned.exceptions import ConfigError, DataError
from unbinned.infer import fit
from unbinned.model import ModelSpec

PROCS = ("sig", "bkg", "bkg2")


def _spec(regions: tuple[str, ...] = ("inclusive",)) -> ModelSpec:
    return ModelSpec.from_dict(
        {
            "pois": [{"name": "mu", "init": 1.0, "bounds": [-5.0, 10.0]}],
            "nuisances": [
                {"name": "shift", "nominal": 0.0, "prior": "gaussian", "width": 1.0,
                 "bounds": [-5.0, 5.0], "acts_on": "shape"},
                {"name": "norm2", "nominal": 1.0, "prior": "gaussian", "width": 0.1,
                 "bounds": [0.2, 2.0]},
            ],
            "processes": [
                {"name": "sig", "signal": True, "modifiers": [{"parameter": "mu"}]},
                {"name": "bkg"},
                {"name": "bkg2", "modifiers": [{"parameter": "norm2"}]},
            ],
            "regions": [{"name": r} for r in regions],
        }
    )  # fmt: skip


def _events(n: int, seed: int, shift: float = 0.0) -> WeightedEvents:
    rng = np.random.default_rng(seed)
    proc = np.arange(n) % 3
    centres = np.array([[1.0, 1.0], [-0.5, 0.0], [0.5, -1.0]])
    x = rng.normal(size=(n, 2)) + centres[proc]
    x[proc > 0, 0] += 0.3 * shift  # the shape nuisance moves the backgrounds
    yields = np.array([40.0, 800.0, 300.0])
    counts = np.bincount(proc, minlength=3)
    return WeightedEvents.from_numpy(x, yields[proc] / counts[proc], proc)


def _samples(n: int = 3000, seed: int = 0) -> AwareSamples:
    up, down = _events(n, seed, 1.0), _events(n, seed, -1.0)
    return AwareSamples(_events(n, seed), {"shift": ShapeVariation(up=up, down=down)})


def _net(n_out: int, seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(2, 16), torch.nn.SiLU(), torch.nn.Linear(16, n_out))


def _config(hist: SoftHistogram, steps: int = 15) -> AwareConfig:
    return AwareConfig(histogram=hist, ce_epochs=2, ce_batch_size=64, aware_steps=steps,
                       batch_fraction=0.5, lr=3e-3, min_bin_events=100.0, seed=0)  # fmt: skip


def test_fisher_sigma_equals_binned_fit_on_asimov() -> None:
    spec = _spec()
    train, test = _samples(3000, 0), _samples(3000, 1)
    trainer = AwareTrainer(_net(1), spec, _config(SoftHistogram("kernel", n_bins=6)))
    history = trainer.fit(train)
    assert len(history.ce_loss) == 2
    assert len(history.aware_loss) == 15
    ev = trainer.evaluate(test)
    assert ev.n_empty_bins == 0
    # the binned baseline built from the evaluation's hard histograms
    res = fit(ev.binned_likelihood(spec))
    assert res.valid
    assert res.errors["mu"] == pytest.approx(ev.sigmas["mu"], rel=1e-3)
    # ... and from the network's scores, through the binned baseline's own histogramming
    var = test.variations["shift"]
    assert var.up is not None
    assert var.down is not None
    templates = build_templates(
        spec,
        trainer.scored_events(test.nominal),
        [({"shift": 1.0}, trainer.scored_events(var.up)),
         ({"shift": -1.0}, trainer.scored_events(var.down))],
        edges=ev.edges[0],
    )  # fmt: skip
    lik = BinnedLikelihood(spec, templates, "asimov", interpolation="code4p")
    res2 = fit(lik)
    assert res2.errors["mu"] == pytest.approx(ev.sigmas["mu"], rel=1e-3)


def test_aware_training_lowers_the_expected_uncertainty() -> None:
    spec = _spec()
    train = _samples(3000, 0)
    cfg = _config(SoftHistogram("kernel", n_bins=6), steps=0)
    trainer = AwareTrainer(_net(1), spec, cfg)
    trainer.fit(train)
    before = trainer.evaluate(train).sigmas["mu"]
    trainer.config = _config(SoftHistogram("kernel", n_bins=6), steps=40)
    trainer.train(train)
    after = trainer.evaluate(train).sigmas["mu"]
    assert after < before


def test_training_is_deterministic_under_a_seed() -> None:
    spec = _spec()
    train = _samples(1500, 0)
    runs = []
    for _ in range(2):
        trainer = AwareTrainer(_net(1, seed=5), spec, _config(SoftHistogram("kernel", n_bins=5), 6))
        hist = trainer.fit(train)
        runs.append((hist.ce_loss + hist.aware_loss, trainer.model.state_dict()))
    assert runs[0][0] == runs[1][0]
    for k, v in runs[0][1].items():
        assert torch.equal(v, runs[1][1][k])


def test_multiclass_and_softmax_bins_match_binned_fit() -> None:
    regions = ("class0", "class1", "class2")
    spec = _spec(regions)
    train = _samples(2400, 0)
    trainer = AwareTrainer(
        _net(3),
        spec,
        _config(SoftHistogram("kernel", n_bins=3), 8),
        classes={p: i for i, p in enumerate(PROCS)},
    )
    trainer.fit(train)
    ev = trainer.evaluate(train)
    assert ev.n_classes == 3
    assert ev.nominal.shape == (3, 9)
    res = fit(ev.binned_likelihood(spec, regions))
    assert res.errors["mu"] == pytest.approx(ev.sigmas["mu"], rel=1e-3)

    softmax = AwareTrainer(_net(6), _spec(), _config(SoftHistogram("softmax", n_bins=6), 8))
    softmax.fit(train)
    ev2 = softmax.evaluate(train)
    assert ev2.nominal.shape == (3, 6)
    assert ev2.edges.shape == (1, 7)
    assert fit(ev2.binned_likelihood(_spec())).errors["mu"] == pytest.approx(
        ev2.sigmas["mu"], rel=1e-3
    )


def test_reweighting_and_one_sided_variations() -> None:
    spec = _spec()
    nom = _events(1500, 0)
    up = _events(1500, 0, 1.0)
    dlogw = torch.as_tensor(np.where(nom.process.numpy() > 0, 0.05 * nom.x[:, 0].numpy(), 0.0))
    for var in (ShapeVariation(up=up), ShapeVariation(log_weight_derivative=dlogw)):
        trainer = AwareTrainer(_net(1), spec, _config(SoftHistogram("kde", n_bins=4), 3))
        trainer.fit(AwareSamples(nom, {"shift": var}))
        assert np.isfinite(trainer.evaluate(AwareSamples(nom, {"shift": var})).sigmas["mu"])


def test_input_checks() -> None:
    with pytest.raises(ConfigError, match="not both and not neither"):
        ShapeVariation()
    with pytest.raises(ConfigError, match="needs the 'up' sample"):
        ShapeVariation(down=_events(10, 0))
    with pytest.raises(ConfigError, match="batch_fraction"):
        AwareConfig(batch_fraction=0.0)
    with pytest.raises(ConfigError, match="aware_steps"):
        AwareConfig(aware_steps=-1)
    with pytest.raises(DataError, match="expected \\(4,\\)"):
        WeightedEvents(torch.zeros(4, 2), torch.ones(3), torch.zeros(4, dtype=torch.long))
    with pytest.raises(TypeError, match="torch.nn.Module"):
        AwareTrainer("net", _spec())  # type: ignore[arg-type]
    trainer = AwareTrainer(_net(1), _spec())
    with pytest.raises(DataError, match="no ShapeVariation"):
        trainer.train(AwareSamples(_events(30, 0)))
    with pytest.raises(ConfigError, match="signal processes"):
        AwareTrainer(_net(1), _spec(), signal=["nope"])
