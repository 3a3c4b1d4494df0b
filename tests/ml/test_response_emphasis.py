"""The signal-like emphasis h(x) of the response loss (issue 18)."""

import numpy as np
import pytest
import torch

from unbinned.exceptions import ConfigError, DataError
from unbinned.ml import GaussianToySource, SurrogateConfig, TrainConfig, train_surrogate
from unbinned.ml._features import feature_matrix
from unbinned.ml.response import SignalEmphasis, train_response
from unbinned.ml.runtime import RunOptions
from unbinned.ml.surrogate import RESPONSE_EMPHASIS, SIGNAL_RESPONSE_EPOCHS

FAST = TrainConfig(hidden=(8,), epochs=2, batch_size=2048)


class _Fractions:
    """A stand-in classifier: c_sig = sigmoid(x0)."""

    def fractions(self, events):
        x0 = events.features["x0"].to_numpy(np.float64)
        c = 1.0 / (1.0 + np.exp(-x0))
        return np.stack([c, 1.0 - c], axis=1)


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def source():
    return GaussianToySource(1500, seed=5)


def test_formula_and_threshold(source):
    sig = source.nominal("sig")
    e = SignalEmphasis.from_sample(_Fractions(), 0, sig, alpha=4.0, tail_fraction=0.25)
    c = _Fractions().fractions(sig)[:, 0]
    w = sig.weights
    # a quarter of the signal weight lies at or above t
    assert np.sum(w[c >= e.scale]) / w.sum() == pytest.approx(0.25, abs=0.01)
    np.testing.assert_allclose(e(sig), 1.0 + 4.0 * c / e.scale)
    assert e.to_dict() == {"kind": "signal_emphasis", "index": 0, "alpha": 4.0, "scale": e.scale,
                           "cap": None}  # fmt: skip
    capped = SignalEmphasis(_Fractions(), 0, 4.0, e.scale, cap=1.0)
    np.testing.assert_allclose(capped(sig), 1.0 + 4.0 * np.minimum(c / e.scale, 1.0))
    assert "alpha=4" in repr(e)
    off = SignalEmphasis(_Fractions(), 0, 0.0, 1.0)
    np.testing.assert_array_equal(off(sig), np.ones(len(sig)))


def test_invalid_settings(source):
    with pytest.raises(ConfigError, match="alpha"):
        SignalEmphasis(_Fractions(), 0, -1.0, 0.1)
    with pytest.raises(ConfigError, match="scale"):
        SignalEmphasis(_Fractions(), 0, 1.0, 0.0)
    with pytest.raises(ConfigError, match="tail_fraction"):
        SignalEmphasis.from_sample(_Fractions(), 0, source.nominal("sig"), 1.0, tail_fraction=1)
    with pytest.raises(ConfigError, match="response_emphasis"):
        SurrogateConfig(response_emphasis=float("nan"))
    bad = lambda ev: -np.ones(len(ev))  # noqa: E731
    with pytest.raises(DataError, match="emphasis"):
        train_response(source, "bkg", config=FAST, run=RunOptions(progress=False), emphasis=bad)


def test_constant_emphasis_is_no_emphasis(source):
    """A common factor of both classes changes nothing (the loss is normalised by h̄)."""
    kw = {"config": FAST, "seed": 3, "run": RunOptions(progress=False)}
    plain = train_response(source, "bkg", **kw)
    const = train_response(source, "bkg", emphasis=lambda ev: np.full(len(ev), 7.0), **kw)
    for a, b in zip(plain.net.parameters(), const.net.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7)


def test_emphasis_keeps_the_optimum(source):
    """Weighted by h(x) on both classes, the response still learns the true log-ratio."""
    held = GaussianToySource(3000, seed=6)
    cfg = TrainConfig(hidden=(16, 16), epochs=30, batch_size=1024, learning_rate=3e-3)
    h = SignalEmphasis.from_sample(_Fractions(), 0, source.nominal("sig"), alpha=10.0)
    resp = train_response(source, "bkg", config=cfg, seed=1, run=RunOptions(progress=False),
                          emphasis=h)  # fmt: skip
    nu = np.array([1.0, 0.0])
    ev = held.nominal("bkg")
    got = resp.log_ratio(ev, nu)
    want = held.exact_log_ratio(feature_matrix(ev, held.feature_names), "bkg", nu)
    rms = float(np.sqrt(np.average((got - want) ** 2, weights=ev.weights)))
    assert rms < 0.02, rms  # 0.012 measured (0.009 without emphasis)


def test_surrogate_emphasises_the_signal_only(source):
    assert SurrogateConfig().response_emphasis == RESPONSE_EMPHASIS > 0
    assert SurrogateConfig().signal_response_epochs == SIGNAL_RESPONSE_EPOCHS
    planned = TrainConfig(hidden=(8,), min_epochs=2, min_steps=0, max_batch_size=4096)
    cfg = SurrogateConfig(classifier=FAST, response=planned, signal_response_epochs=3)
    d = cfg.to_dict()
    assert d["response_emphasis"] == RESPONSE_EMPHASIS
    assert d["signal_response_epochs"] == 3
    assert d["response_emphasis_processes"] is None
    model = train_surrogate(source, config=cfg, run=RunOptions(progress=False))
    meta = model.metadata["response_emphasis"]
    assert meta["kind"] == "signal_emphasis"
    assert meta["alpha"] == RESPONSE_EMPHASIS
    assert meta["scale"] > 0
    assert meta["processes"] == ["sig"]
    hist = {p: model.responses[p].history for p in ("sig", "bkg")}
    assert hist["sig"].plan["epochs"] == 3
    assert hist["bkg"].plan["epochs"] == 2
    off = train_surrogate(source, config=SurrogateConfig(classifier=FAST, response=FAST,
                                                         response_emphasis=0.0),
                          run=RunOptions(progress=False))  # fmt: skip
    assert off.metadata["response_emphasis"] is None


def test_surrogate_emphasis_settings_are_checked(source):
    with pytest.raises(ConfigError, match="signal_response_epochs"):
        SurrogateConfig(signal_response_epochs=0)
    cfg = SurrogateConfig(classifier=FAST, response=FAST, response_emphasis_processes=("top",))
    with pytest.raises(ConfigError, match="response_emphasis_processes"):
        train_surrogate(source, config=cfg, run=RunOptions(progress=False))
