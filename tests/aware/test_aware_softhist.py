"""Differentiable histograms: exact forward counts, surrogate gradients, input checks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from unbinned.aware import SoftHistogram, weighted_counts
from unbinned.exceptions import ConfigError, DataError


def _logits(n: int, k: int, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return (2.0 * torch.randn(n, k, generator=gen, dtype=torch.float64)).requires_grad_(True)


def test_kernel_forward_counts_are_exact() -> None:
    z = _logits(500, 1)
    w = torch.rand(500, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    hist = SoftHistogram("kernel", n_bins=7)
    counts = hist.histogram(z, w)
    score = torch.sigmoid(z[:, 0]).detach().numpy()
    expected, _ = np.histogram(score, bins=np.linspace(0, 1, 8), weights=w.numpy())
    np.testing.assert_allclose(counts.detach().numpy()[0], expected, rtol=1e-13)
    unit = hist.histogram(z, torch.ones(500)).detach().numpy()[0]
    np.testing.assert_array_equal(unit, np.histogram(score, bins=np.linspace(0, 1, 8))[0])
    m = hist.membership(z).detach()
    assert set(torch.unique(m).tolist()) <= {0.0, 1.0}
    np.testing.assert_array_equal(m.sum(1).numpy(), np.ones(500))


def test_kernel_flow_goes_to_outer_bins() -> None:
    hist = SoftHistogram("kernel", edges=(0.2, 0.5, 0.8))
    z = torch.logit(torch.tensor([[0.05], [0.3], [0.6], [0.95]], dtype=torch.float64))
    counts = hist.histogram(z, torch.ones(4)).detach().numpy()[0]
    np.testing.assert_array_equal(counts, [2.0, 2.0])


def test_multiclass_forward_is_argmax_then_class_score() -> None:
    z = _logits(400, 3)
    hist = SoftHistogram("kernel", n_bins=4)
    counts = hist.histogram(z, torch.ones(400)).detach().numpy()[0]
    prob = torch.softmax(z, 1).detach().numpy()
    cls = prob.argmax(1)
    edges = np.linspace(1 / 3, 1, 5)
    expected = np.concatenate(
        [np.histogram(prob[cls == c, c], bins=edges)[0] for c in range(3)]
    ).astype(float)
    # the lowest class score is >= 1/3, so nothing falls below the first edge
    np.testing.assert_array_equal(counts, expected)
    assert hist.n_bins_total(3) == 12


def test_softmax_hard_forward_is_argmax() -> None:
    z = _logits(300, 6)
    soft = SoftHistogram("softmax", n_bins=6, temperature=0.1)
    hard = SoftHistogram("softmax", n_bins=6, temperature=0.1, hard_forward=True)
    expected = np.bincount(z.argmax(1).numpy(), minlength=6).astype(float)
    np.testing.assert_array_equal(hard.histogram(z, torch.ones(300)).detach().numpy()[0], expected)
    np.testing.assert_array_equal(hard.hard_histogram(z, torch.ones(300)).numpy()[0], expected)
    s = soft.histogram(z, torch.ones(300)).detach().numpy()[0]
    assert s.sum() == pytest.approx(300.0)
    assert not np.array_equal(s, expected)


def test_kernel_gradient_is_the_kde_gradient() -> None:
    z = _logits(200, 1)
    w = torch.ones(200, dtype=torch.float64)
    probe = torch.linspace(-1.0, 1.0, 5, dtype=torch.float64)
    g_kernel = torch.autograd.grad(
        (SoftHistogram("kernel", n_bins=5).histogram(z, w)[0] * probe).sum(), z
    )[0]
    g_kde = torch.autograd.grad(
        (SoftHistogram("kde", n_bins=5).histogram(z, w)[0] * probe).sum(), z
    )[0]
    torch.testing.assert_close(g_kernel, g_kde)
    assert float(g_kernel.abs().sum()) > 0


def test_kde_counts_sum_to_total_weight() -> None:
    z = _logits(100, 1)
    w = torch.full((100,), 0.5, dtype=torch.float64)
    h = SoftHistogram("kde", n_bins=4, bandwidth=0.2).histogram(z, w)
    assert float(h.detach().sum()) == pytest.approx(50.0)


def test_groups_split_the_counts() -> None:
    z = _logits(100, 1)
    groups = torch.arange(100) % 3
    hist = SoftHistogram("kernel", n_bins=3)
    per = hist.histogram(z, torch.ones(100), groups, 3)
    torch.testing.assert_close(per.sum(0), hist.histogram(z, torch.ones(100))[0])
    torch.testing.assert_close(per, hist.hard_histogram(z, torch.ones(100), groups, 3))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"method": "binned"}, "unknown histogram method"),
        ({"n_bins": 0}, "n_bins"),
        ({"temperature": 0.0}, "temperature"),
        ({"method": "kernel", "hard_forward": True}, "hard_forward"),
        ({"method": "softmax", "edges": (0, 1)}, "edges do not apply"),
        ({"edges": (0.0, 0.5, 0.5)}, "strictly increasing"),
        ({"bandwidth": -1.0}, "bandwidth"),
    ],
)
def test_bad_configuration_raises(kwargs: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        SoftHistogram(**kwargs)


def test_bad_inputs_raise() -> None:
    with pytest.raises(TypeError, match="torch.Tensor"):
        SoftHistogram().membership(np.zeros((3, 1)))  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="one network output per bin"):
        SoftHistogram("softmax").membership(torch.zeros(3, 1))
    with pytest.raises(DataError, match="weights have shape"):
        weighted_counts(torch.zeros(3, 2), torch.ones(4))
    with pytest.raises(DataError, match="group indices"):
        weighted_counts(torch.zeros(3, 2), torch.ones(3), torch.tensor([0, 1, 5]), 2)
