r"""Weighted histograms of a per-event score, per process and region, and the choice of binning.

The binned baseline (DESIGN.md §3) histograms one number per event, typically
the classifier's signal fraction c_sig(x), in bins per region.  Every histogram
carries the sum of weights and the sum of squared weights per bin (boost-histogram
``Weight`` storage), so that the Monte-Carlo statistical uncertainty
sqrt(Σ w²) is available to the likelihood (pyhf ``staterror``).

Binning choices (:func:`make_edges`):

* ``"equal-width"``: ``n_bins`` bins of equal width over ``range`` (default: the
  score range of the nominal sample).
* ``"quantile-signal"``: inner edges at the weighted quantiles of the *signal*
  score distribution, so that every bin holds the same expected signal yield.
* ``"quantile-total"``: the same with the total (signal + background) yield.

Every bin must be populated: after the edges are placed, neighbouring bins are
merged until every bin holds at least ``min_events`` simulated events and a
positive total weight, so that the expected count of every bin is positive.
Events below the first or above the last edge are counted in the first or last
bin (flow bins folded in), so varied samples whose scores leave the nominal
range lose no yield.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import boost_histogram as bh
import numpy as np
import numpy.typing as npt

from unbinned.exceptions import ConfigError, DataError

__all__ = ["BINNINGS", "BinningKind", "Histogram", "ScoredEvents", "fill_histogram", "make_edges"]

BinningKind = Literal["equal-width", "quantile-signal", "quantile-total"]
BINNINGS: tuple[str, ...] = ("equal-width", "quantile-signal", "quantile-total")


@dataclass(frozen=True, eq=False)
class ScoredEvents:
    """Simulated (or observed) events reduced to what a binned analysis needs.

    Parameters
    ----------
    score
        (N,) the per-event score that is histogrammed (e.g. the classifier's
        signal fraction c_sig(x)).
    weights
        (N,) event weights (1 for observed data); their sum is the expected yield.
    process
        (N,) process label per event: process names (strings), or integer indices
        into the model's process list.  May be omitted (``None``) for observed data.
    region
        (N,) region name per event, or ``None`` when every event belongs to every
        region being built (a single-region analysis).

    Examples
    --------
    >>> import numpy as np
    >>> ev = ScoredEvents(np.array([0.1, 0.9]), np.ones(2), np.array(["b", "s"]))
    >>> ev.n_events
    2
    """

    score: npt.NDArray[np.float64]
    weights: npt.NDArray[np.float64]
    process: npt.NDArray[np.generic] | None = None
    region: npt.NDArray[np.generic] | None = None

    def __post_init__(self) -> None:
        score = np.asarray(self.score, dtype=np.float64)
        weights = np.asarray(self.weights, dtype=np.float64)
        if score.ndim != 1:
            raise DataError(f"score has shape {score.shape}; expected a 1-D array (n_events,)")
        n = score.shape[0]
        if weights.shape != (n,):
            raise DataError(
                f"weights have shape {weights.shape}; expected ({n},) like the score array"
            )
        for name, arr in (("score", score), ("weights", weights)):
            if not np.all(np.isfinite(arr)):
                bad = int(np.sum(~np.isfinite(arr)))
                raise DataError(
                    f"{bad} event {name} are NaN or infinite; remove or fix those events first"
                )
        object.__setattr__(self, "score", score)
        object.__setattr__(self, "weights", weights)
        for name in ("process", "region"):
            labels = getattr(self, name)
            if labels is None:
                continue
            labels = np.asarray(labels)
            if labels.shape != (n,):
                raise DataError(
                    f"{name} labels have shape {labels.shape}; expected ({n},) like the score"
                )
            object.__setattr__(self, name, labels)

    @property
    def n_events(self) -> int:
        """Number of events."""
        return int(self.score.shape[0])

    def select(self, mask: npt.ArrayLike) -> ScoredEvents:
        """The subset of events where ``mask`` is true."""
        m = np.asarray(mask, dtype=bool)
        return ScoredEvents(
            self.score[m],
            self.weights[m],
            None if self.process is None else self.process[m],
            None if self.region is None else self.region[m],
        )

    def in_region(self, name: str) -> ScoredEvents:
        """The events of region ``name`` (all events when no region labels are given)."""
        if self.region is None:
            return self
        return self.select(self.region == name)

    def process_mask(self, name: str, processes: Sequence[str]) -> npt.NDArray[np.bool_]:
        """Boolean mask of the events of process ``name`` (``processes`` maps integer labels)."""
        if self.process is None:
            raise DataError(
                "these events carry no process labels; give ScoredEvents(..., process=labels) "
                "to build per-process templates"
            )
        if np.issubdtype(self.process.dtype, np.integer):
            if name not in processes:
                raise ConfigError(f"unknown process {name!r}; known: {list(processes)}")
            return np.asarray(self.process == list(processes).index(name))
        return np.asarray(self.process == name)

    def __repr__(self) -> str:
        return f"ScoredEvents({self.n_events} events, sum of weights {self.weights.sum():.6g})"


@dataclass(frozen=True, eq=False)
class Histogram:
    """A weighted histogram: bin edges, sum of weights and sum of squared weights per bin."""

    edges: npt.NDArray[np.float64]
    values: npt.NDArray[np.float64]
    sumw2: npt.NDArray[np.float64]

    @property
    def n_bins(self) -> int:
        """Number of bins."""
        return int(self.values.shape[0])

    def __repr__(self) -> str:
        return (
            f"Histogram({self.n_bins} bins in [{self.edges[0]:.4g}, {self.edges[-1]:.4g}], "
            f"total {self.values.sum():.6g} ± {np.sqrt(self.sumw2.sum()):.3g})"
        )


def fill_histogram(score: npt.ArrayLike, weights: npt.ArrayLike, edges: npt.ArrayLike) -> Histogram:
    """Fill a weighted histogram (boost-histogram ``Weight`` storage), flow folded in.

    Parameters
    ----------
    score, weights
        Per-event values and weights.
    edges
        Increasing bin edges (B + 1,).

    Returns
    -------
    Histogram
        Sum of weights and of squared weights per bin; events below the first edge
        count in the first bin, events at or above the last edge in the last bin.
    """
    e = _check_edges(edges)
    h = bh.Histogram(
        bh.axis.Variable(e.tolist(), underflow=True, overflow=True), storage=bh.storage.Weight()
    )
    h.fill(np.asarray(score, dtype=np.float64), weight=np.asarray(weights, dtype=np.float64))
    view = h.view(flow=True)
    values = np.array(view.value, dtype=np.float64)
    var = np.array(view.variance, dtype=np.float64)
    return Histogram(e, _fold(values), _fold(var))


def _fold(a: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    out = a[1:-1].copy()
    out[0] += a[0]
    out[-1] += a[-1]
    return out


def _check_edges(edges: npt.ArrayLike) -> npt.NDArray[np.float64]:
    e = np.asarray(edges, dtype=np.float64)
    if e.ndim != 1 or e.size < 2:
        raise ConfigError(
            f"bin edges must be a 1-D array of at least 2 values, got shape {e.shape}"
        )
    if not np.all(np.isfinite(e)) or not np.all(np.diff(e) > 0):
        raise ConfigError(f"bin edges must be finite and strictly increasing, got {e.tolist()}")
    return e


def make_edges(
    score: npt.ArrayLike,
    weights: npt.ArrayLike,
    *,
    method: str = "quantile-signal",
    n_bins: int = 10,
    signal: npt.ArrayLike | None = None,
    range: tuple[float, float] | None = None,
    min_events: int = 1,
) -> npt.NDArray[np.float64]:
    r"""Bin edges for a score, with every bin populated.

    Parameters
    ----------
    score, weights
        The nominal simulated events of one region (all processes).
    method
        ``"equal-width"``, ``"quantile-signal"`` or ``"quantile-total"``.
    n_bins
        Number of bins before merging (fewer may result: duplicate quantiles of a
        discrete score collapse and under-populated bins are merged).
    signal
        (N,) boolean mask of the signal events; required for ``"quantile-signal"``.
    range
        Outer edges ``(lo, hi)``; default the score range of the events.  For a
        classifier's signal fraction, ``(0, 1)`` is natural.
    min_events
        Minimum number of simulated events per bin (at least 1).

    Returns
    -------
    numpy.ndarray
        Strictly increasing edges (B + 1,) with B ≤ ``n_bins``.

    Notes
    -----
    The quantile edges are the points where the cumulative weight W(s) of the
    sorted scores crosses k W_tot / n_bins, k = 1, …, n_bins - 1, so that every bin
    holds the same yield of the chosen events (the usual "flat signal" binning
    of a classifier output).

    Examples
    --------
    >>> import numpy as np
    >>> edges = make_edges(np.linspace(0, 1, 101), np.ones(101), method="quantile-total", n_bins=4)
    >>> edges.round(3).tolist()
    [0.0, 0.255, 0.505, 0.755, 1.0]
    """
    s = np.asarray(score, dtype=np.float64)
    w = np.asarray(weights, dtype=np.float64)
    _check_edge_inputs(s, w, method, n_bins, min_events)
    lo, hi = (float(s.min()), float(s.max())) if range is None else map(float, range)
    if not lo < hi:
        if range is not None:
            raise ConfigError(f"range {range} is empty; need lo < hi")
        hi = lo + 1.0  # every score equal: one bin holds them all
    if method == "equal-width":
        edges = np.linspace(lo, hi, int(n_bins) + 1)
    else:
        sel = _quantile_selection(s, w, method, signal)
        inner = _weighted_quantiles(s[sel], np.clip(w[sel], 0.0, None), int(n_bins))
        inner = inner[(inner > lo) & (inner < hi)]
        edges = np.unique(np.concatenate([[lo], inner, [hi]]))
    return _merge_sparse(edges, s, w, min_events)


def _check_edge_inputs(
    s: npt.NDArray[np.float64],
    w: npt.NDArray[np.float64],
    method: str,
    n_bins: int,
    min_events: int,
) -> None:
    """The argument checks of :func:`make_edges`."""
    if s.ndim != 1 or w.shape != s.shape:
        raise DataError(f"score {s.shape} and weights {w.shape} must be 1-D of the same length")
    if s.size == 0:
        raise DataError("cannot choose bin edges without events; the region selects none")
    if not np.all(np.isfinite(s)) or not np.all(np.isfinite(w)):
        raise DataError("scores and weights must be finite to choose bin edges")
    if method not in BINNINGS:
        raise ConfigError(f"unknown binning {method!r}; expected one of {list(BINNINGS)}")
    if not isinstance(n_bins, int | np.integer) or n_bins < 1:
        raise ConfigError(f"n_bins must be a positive integer, got {n_bins!r}")
    if min_events < 1:
        raise ConfigError(f"min_events must be at least 1, got {min_events}")


def _quantile_selection(
    s: npt.NDArray[np.float64],
    w: npt.NDArray[np.float64],
    method: str,
    signal: npt.ArrayLike | None,
) -> npt.NDArray[np.bool_]:
    """The events whose weight quantiles give the edges: all, or the signal ones."""
    sel = np.ones(s.shape, dtype=bool)
    if method == "quantile-signal":
        if signal is None:
            raise ConfigError(
                "binning 'quantile-signal' needs the signal mask (signal=...); "
                "or use method='quantile-total'"
            )
        sel = np.asarray(signal, dtype=bool)
        if sel.shape != s.shape:
            raise DataError(f"signal mask has shape {sel.shape}; expected {s.shape}")
        if not np.any(sel & (w > 0)):
            raise DataError(
                "binning 'quantile-signal' needs signal events with positive weight in "
                "the region; use method='quantile-total' for a region without signal"
            )
    return sel


def _weighted_quantiles(
    s: npt.NDArray[np.float64], w: npt.NDArray[np.float64], n_bins: int
) -> npt.NDArray[np.float64]:
    order = np.argsort(s, kind="stable")
    s, w = s[order], w[order]
    cum = np.cumsum(w)
    total = cum[-1]
    targets = total * np.arange(1, n_bins) / n_bins
    idx = np.searchsorted(cum, targets, side="left")
    idx = np.clip(idx, 0, s.size - 1)
    # edge halfway between the event that completes the quantile and the next one
    nxt = np.clip(idx + 1, 0, s.size - 1)
    return np.asarray(0.5 * (s[idx] + s[nxt]), dtype=np.float64)


def _merge_sparse(
    edges: npt.NDArray[np.float64],
    s: npt.NDArray[np.float64],
    w: npt.NDArray[np.float64],
    min_events: int,
) -> npt.NDArray[np.float64]:
    """Merge neighbouring bins until each has ``min_events`` events and positive weight."""
    edges = edges.copy()
    while edges.size > 2:
        h = fill_histogram(s, w, edges).values
        counts = fill_histogram(s, np.ones_like(s), edges).values
        bad = (counts < min_events) | (h <= 0)
        if not np.any(bad):
            break
        i = int(np.flatnonzero(bad)[0])
        nb = h.size
        if i == 0:
            j = 1
        elif i == nb - 1:
            j = i - 1
        else:  # merge with the smaller neighbour
            j = i - 1 if counts[i - 1] <= counts[i + 1] else i + 1
        # remove the edge between bins i and j
        edges = np.delete(edges, max(i, j))
    total = fill_histogram(s, w, edges).values
    if np.any(total <= 0):
        raise DataError(
            "the events have no positive total weight; cannot build a populated binning "
            "(check the weights of the nominal sample)"
        )
    return edges
