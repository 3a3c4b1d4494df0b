"""The classifier's ensemble: K networks merged into one, trained, saved and loaded."""

import json

import numpy as np
import pytest
import torch

from unbinned.exceptions import ConfigError
from unbinned.ml import (
    ClassifierNet,
    GaussianToySource,
    SurrogateConfig,
    TrainConfig,
    load,
    save,
    train_classifier,
    train_surrogate,
)
from unbinned.ml.classifier import classifier_from_state, classifier_to_state
from unbinned.ml.networks import ResponseNet, average_networks
from unbinned.ml.runtime import RunOptions
from unbinned.ml.serialization import MODEL_FILE

TINY = TrainConfig(hidden=(8,), epochs=1, batch_size=512)
QUIET = RunOptions(progress=False, device="cpu")


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def events():
    return GaussianToySource(600, seed=3).nominal()


def test_average_networks_is_the_exact_mean():
    torch.manual_seed(0)
    nets = [ClassifierNet(5, 3, (6, 7, 4), "tanh") for _ in range(3)]
    merged = average_networks(nets)
    assert isinstance(merged, ClassifierNet)
    assert merged.hidden == (18, 21, 12)
    x = torch.randn(50, 5)
    with torch.no_grad():
        want = torch.stack([n(x) for n in nets]).mean(0)
        np.testing.assert_allclose(merged(x).numpy(), want.numpy(), atol=1e-6)
    assert average_networks(nets[:1]) is nets[0]


def test_average_networks_refuses_mixed_architectures():
    with pytest.raises(ConfigError, match="different architectures"):
        average_networks([ClassifierNet(5, 3, (6,)), ClassifierNet(5, 3, (7,))])
    with pytest.raises(ConfigError, match="different architectures"):
        average_networks([ClassifierNet(5, 3, (6,)), ResponseNet(5, 3, (6,))])
    with pytest.raises(ConfigError, match="at least one"):
        average_networks([])


def test_member_zero_is_the_single_network(events):
    single = train_classifier(events, config=TINY, seed=4, run=QUIET)
    ens = train_classifier(events, config=TINY, seed=4, run=QUIET, members=3, bootstrap=False)
    assert single.members == 1
    assert ens.members == 3
    assert ens.net.hidden == (24,)
    assert "members=3" in repr(ens)
    # member 0's weights are the single network's: the first block of the merged layer
    w_single = single.net.layers[0].weight.detach()
    np.testing.assert_array_equal(ens.net.layers[0].weight.detach()[:8].numpy(), w_single.numpy())
    f = ens.fractions(events)
    np.testing.assert_allclose(f.sum(1), 1.0, atol=1e-12)
    assert not np.allclose(f, single.fractions(events))


def test_members_must_be_positive(events):
    with pytest.raises(ConfigError, match="members=0"):
        train_classifier(events, config=TINY, run=QUIET, members=0)


def test_state_round_trip_and_old_states(events):
    ens = train_classifier(events, config=TINY, seed=1, run=QUIET, members=2)
    meta, tensors = classifier_to_state(ens)
    assert meta["members"] == 2
    back = classifier_from_state(json.loads(json.dumps(meta)), tensors)
    assert back.members == 2
    np.testing.assert_array_equal(back.fractions(events), ens.fractions(events))
    del meta["members"]  # a file written before ensembles existed
    assert classifier_from_state(meta, tensors).members == 1


def test_surrogate_with_an_ensemble_saves_and_loads(tmp_path):
    source = GaussianToySource(600, seed=3)
    cfg = SurrogateConfig(classifier=TINY, response=TINY, classifier_members=2)
    model = train_surrogate(source, config=cfg, run=QUIET)
    assert model.classifier.members == 2
    path = save(model, tmp_path / "m")
    doc = json.loads((path / MODEL_FILE).read_text())
    assert doc["content"]["classifier"]["members"] == 2
    back = load(path)
    assert back.classifier.members == 2
    ev = source.nominal()
    a = model.precompute(ev).fractions
    np.testing.assert_allclose(back.precompute(ev).fractions, a, atol=1e-12)
    # the fused evaluator and the classifier's own evaluation agree on the merged network
    np.testing.assert_allclose(a, model.classifier.fractions(ev), atol=1e-5)
