"""Weighted histograms and binning choices of the binned baseline."""

from __future__ import annotations

import numpy as np
import pytest

from unbinned.binned import ScoredEvents, fill_histogram, make_edges
from unbinned.exceptions import ConfigError, DataError


def test_fill_histogram_sums_weights_and_squares_with_flow_folded() -> None:
    rng = np.random.default_rng(0)
    s = rng.uniform(-0.2, 1.2, 500)
    w = rng.uniform(0.5, 2.0, 500)
    edges = np.array([0.0, 0.3, 0.6, 1.0])
    h = fill_histogram(s, w, edges)
    idx = np.clip(np.searchsorted(edges, s, side="right") - 1, 0, 2)
    assert np.allclose(h.values, np.bincount(idx, w, 3))
    assert np.allclose(h.sumw2, np.bincount(idx, w**2, 3))
    assert h.values.sum() == pytest.approx(w.sum())  # nothing lost outside the edges
    assert "3 bins" in repr(h)


def test_equal_width_edges() -> None:
    s = np.linspace(0.0, 1.0, 1001)
    e = make_edges(s, np.ones_like(s), method="equal-width", n_bins=5, range=(0.0, 1.0))
    assert np.allclose(e, np.linspace(0, 1, 6))


def test_quantile_total_gives_equal_yields() -> None:
    rng = np.random.default_rng(1)
    s = rng.beta(2, 5, 20000)
    w = rng.uniform(0.5, 1.5, s.size)
    e = make_edges(s, w, method="quantile-total", n_bins=8)
    vals = fill_histogram(s, w, e).values
    assert e.size == 9
    assert np.allclose(vals, w.sum() / 8, rtol=0.01)


def test_quantile_signal_gives_equal_signal_yields() -> None:
    rng = np.random.default_rng(2)
    sig = rng.beta(5, 2, 4000)
    bkg = rng.beta(2, 5, 40000)
    s = np.concatenate([sig, bkg])
    w = np.concatenate([np.full(sig.size, 0.01), np.full(bkg.size, 0.1)])
    is_sig = np.arange(s.size) < sig.size
    e = make_edges(s, w, method="quantile-signal", n_bins=6, signal=is_sig)
    signal_yield = fill_histogram(s[is_sig], w[is_sig], e).values
    assert np.allclose(signal_yield, signal_yield.mean(), rtol=0.01)
    assert np.all(fill_histogram(s, w, e).values > 0)


def test_sparse_bins_are_merged_until_populated() -> None:
    # most events near 0, a few near 1: equal-width bins in the middle are empty
    s = np.concatenate([np.full(50, 0.05), np.full(3, 0.95), [1.0]])
    e = make_edges(s, np.ones_like(s), method="equal-width", n_bins=10, min_events=2)
    counts = fill_histogram(s, np.ones_like(s), e).values
    assert np.all(counts >= 2)
    assert counts.sum() == s.size
    assert e[0] == 0.05
    assert e[-1] == 1.0


def test_discrete_scores_collapse_duplicate_quantiles() -> None:
    s = np.repeat([0.1, 0.5, 0.9], 100)
    e = make_edges(s, np.ones_like(s), method="quantile-total", n_bins=10)
    counts = fill_histogram(s, np.ones_like(s), e).values
    assert np.all(counts > 0)
    assert len(counts) <= 3


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"method": "log"}, ConfigError, "unknown binning"),
        ({"n_bins": 0}, ConfigError, "n_bins"),
        ({"method": "quantile-signal"}, ConfigError, "signal mask"),
        ({"range": (1.0, 0.0)}, ConfigError, "empty"),
        ({"min_events": 0}, ConfigError, "min_events"),
    ],
)
def test_make_edges_rejects_bad_options(
    kwargs: dict[str, object], error: type[Exception], match: str
) -> None:
    s = np.linspace(0, 1, 10)
    with pytest.raises(error, match=match):
        make_edges(s, np.ones_like(s), **kwargs)  # type: ignore[arg-type]


def test_make_edges_rejects_bad_data() -> None:
    with pytest.raises(DataError, match="without events"):
        make_edges(np.zeros(0), np.zeros(0))
    with pytest.raises(DataError, match="finite"):
        make_edges(np.array([0.1, np.nan]), np.ones(2))
    with pytest.raises(DataError, match="positive total weight"):
        make_edges(np.array([0.1, 0.2]), np.array([-1.0, 0.5]), method="equal-width", n_bins=1)
    with pytest.raises(DataError, match="signal events"):
        make_edges(np.array([0.1, 0.2]), np.ones(2), signal=np.zeros(2, bool))


def test_fill_histogram_rejects_bad_edges() -> None:
    with pytest.raises(ConfigError, match="strictly increasing"):
        fill_histogram([0.5], [1.0], [0.0, 0.0, 1.0])


def test_scored_events_validation_and_selection() -> None:
    ev = ScoredEvents(np.array([0.1, 0.5, 0.9]), np.ones(3), np.array(["a", "b", "a"]),
                      np.array(["r1", "r2", "r1"]))  # fmt: skip
    assert ev.in_region("r1").n_events == 2
    assert ev.process_mask("a", ("a", "b")).tolist() == [True, False, True]
    ints = ScoredEvents(np.array([0.1, 0.5]), np.ones(2), np.array([1, 0]))
    assert ints.process_mask("a", ("a", "b")).tolist() == [False, True]
    assert "3 events" in repr(ev)
    with pytest.raises(DataError, match="weights have shape"):
        ScoredEvents(np.zeros(3), np.ones(2))
    with pytest.raises(DataError, match="NaN or infinite"):
        ScoredEvents(np.array([0.1, np.inf]), np.ones(2))
    with pytest.raises(DataError, match="process labels have shape"):
        ScoredEvents(np.zeros(3), np.ones(3), np.array(["a"]))
    with pytest.raises(DataError, match="no process labels"):
        ScoredEvents(np.zeros(3), np.ones(3)).process_mask("a", ("a",))
