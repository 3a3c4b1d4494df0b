r"""Differentiable histograms of a network's output: exact counts forward, useful gradients back.

A binned analysis histograms one number per event; the bin indicator
:math:`\mathbb 1[a_b \le s < a_{b+1}]` has zero derivative almost everywhere, so a
loss built from histogram counts needs a relaxation to train the network that
produces the score.  Three relaxations are offered (:class:`SoftHistogram`),
each written as a per-event *membership* row :math:`m_{ib}` (the share of event
i in bin b, summing to 1 over the bins), so that the per-process counts are
:math:`h_{pb} = \sum_{i \in p} w_i m_{ib}`:

* ``"kernel"`` (Wunsch, Jörger, Wassmer, Quast, Comput. Softw. Big Sci. 5 (2021) 4,
  arXiv:2003.07186; CMS Collaboration, arXiv:2502.13047): the forward counts
  are the exact hard counts; the backward pass replaces the derivative of the
  bin indicator (two Dirac deltas at the bin edges) by Gaussians of width
  ``bandwidth`` (default: half the narrower bin next to each edge):

  .. math::

      \frac{\partial m_{ib}}{\partial s_i} :=
          \varphi_{h_b}(s_i - a_b) - \varphi_{h_{b+1}}(s_i - a_{b+1}),

  which is the derivative of the binned-KDE membership below.  Implemented as a
  straight-through estimator, :math:`m = m^{hard} + (m^{kde} - \mathrm{sg}[m^{kde}])`,
  whose forward value is bit for bit the hard one-hot row.
* ``"kde"`` (binned kernel density estimate; Heinrich, Kagan, Simpson et al.,
  "neos", arXiv:2203.05570): soft counts in both passes,
  :math:`m_{ib} = \Phi((s_i - a_b)/h_b) - \Phi((s_i - a_{b+1})/h_{b+1})` with the outer
  edges at ∓∞ (over- and underflow folded into the outer bins).
* ``"softmax"`` (INFERNO, de Castro & Dorigo, Comput. Phys. Commun. 244 (2019)
  170, arXiv:1806.04743): the network has one output per bin; the membership is
  :math:`\mathrm{softmax}(z_i / T)_b` with temperature T (0.1 in the paper), the
  bin of an event in the final analysis being :math:`\arg\max_b z_{ib}`.
  ``hard_forward=True`` uses the arg-max one-hot forward and the softmax gradient
  backward (straight-through).

**What is histogrammed.**  For ``"kernel"``/``"kde"`` a network with one output
z gives the score s = sigmoid(z) ∈ (0, 1), binned with ``edges`` (default: equal
width on [0, 1]).  A network with C ≥ 2 outputs is a *multiclass* classifier
(CMS, arXiv:2502.13047): p = softmax(z), each event goes to its arg-max class c
and is histogrammed in that class's score p_c ∈ [1/C, 1] (default edges: equal
width on [1/C, 1]); the bins of the C classes are concatenated class-major
(bin c·B + b).  Its surrogate membership is the soft class assignment
:math:`\mathrm{softmax}(z_i/T)_c` times the Gaussian-kernel bin membership of p_c.

Examples
--------
>>> import torch
>>> hist = SoftHistogram("kernel", n_bins=4)
>>> z = torch.tensor([[-3.0], [0.1], [3.0]], requires_grad=True)
>>> hist.histogram(z, torch.ones(3)).detach()
tensor([[1., 0., 1., 1.]], dtype=torch.float64)
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt
import torch

from unbinned.exceptions import ConfigError, DataError

__all__ = ["HISTOGRAM_METHODS", "HistogramMethod", "SoftHistogram", "weighted_counts"]

HistogramMethod = Literal["kernel", "kde", "softmax"]
HISTOGRAM_METHODS: tuple[str, ...] = ("kernel", "kde", "softmax")


@dataclass(frozen=True)
class SoftHistogram:
    """A differentiable histogram of network outputs (see the module docstring).

    Parameters
    ----------
    method
        ``"kernel"`` (exact forward counts, Gaussian-kernel surrogate gradient),
        ``"kde"`` (binned KDE, soft counts) or ``"softmax"`` (one output per bin,
        soft counts with a temperature).
    n_bins
        Bins per class for ``"kernel"``/``"kde"`` with default equal-width edges;
        for ``"softmax"`` the number of network outputs (and bins).
    edges
        Explicit increasing bin edges of the score (``"kernel"``/``"kde"``),
        overriding ``n_bins``; over- and underflow go to the outer bins.  For a
        multiclass network, one edge sequence shared by every class, or one per
        class (the same number of bins each).
    bandwidth
        Width h of the Gaussian kernel in score units; default, per inner edge,
        half the narrower of its two bins.
    temperature
        Softmax temperature T (``"softmax"`` bins, and the soft class assignment
        of multiclass outputs).
    hard_forward
        ``"softmax"`` only: arg-max one-hot forward, softmax gradient backward.

    Examples
    --------
    >>> SoftHistogram("softmax", n_bins=10, temperature=0.1).n_bins_total(10)
    10
    """

    method: HistogramMethod = "kernel"
    n_bins: int = 10
    edges: Sequence[float] | Sequence[Sequence[float]] | None = None
    bandwidth: float | None = None
    temperature: float = 0.1
    hard_forward: bool = False
    _edges: tuple[tuple[float, ...], ...] | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.method not in HISTOGRAM_METHODS:
            raise ConfigError(
                f"unknown histogram method {self.method!r}; expected one of "
                f"{list(HISTOGRAM_METHODS)}"
            )
        if isinstance(self.n_bins, bool) or not isinstance(self.n_bins, int) or self.n_bins < 1:
            raise ConfigError(f"n_bins = {self.n_bins!r}: expected a positive integer")
        if not (math.isfinite(self.temperature) and self.temperature > 0):
            raise ConfigError(f"temperature = {self.temperature!r}: expected a positive number")
        if self.bandwidth is not None and not (
            math.isfinite(self.bandwidth) and self.bandwidth > 0
        ):
            raise ConfigError(f"bandwidth = {self.bandwidth!r}: expected a positive number")
        if self.hard_forward and self.method != "softmax":
            raise ConfigError(
                "hard_forward applies to method='softmax' only ('kernel' is always exact "
                "forward, 'kde' always soft)"
            )
        if self.edges is not None:
            if self.method == "softmax":
                raise ConfigError("edges do not apply to method='softmax' (one bin per output)")
            rows = np.asarray(self.edges, dtype=np.float64)
            if rows.ndim == 1:
                rows = rows[None, :]
            if rows.ndim != 2:
                raise ConfigError(
                    f"edges must be one increasing sequence or one per class, got shape "
                    f"{rows.shape}"
                )
            for e in rows.tolist():
                if len(e) < 2 or not all(math.isfinite(v) for v in e):
                    raise ConfigError(f"edges {e} must be at least two finite numbers")
                if not all(b > a for a, b in itertools.pairwise(e)):
                    raise ConfigError(f"edges {e} must be strictly increasing")
            object.__setattr__(self, "_edges", tuple(tuple(e) for e in rows.tolist()))

    # ------------------------------------------------------------------ binning
    def n_classes(self, n_outputs: int) -> int:
        """Number of classes (regions) for a network with ``n_outputs`` outputs."""
        if self.method == "softmax" or n_outputs == 1:
            return 1
        return n_outputs

    def n_bins_total(self, n_outputs: int) -> int:
        """Total number of bins (all classes) for a network with ``n_outputs`` outputs."""
        if self.method == "softmax":
            return n_outputs
        return self.n_classes(n_outputs) * (self.class_edges(n_outputs).shape[1] - 1)

    def class_edges(self, n_outputs: int) -> npt.NDArray[np.float64]:
        """Bin edges of the score, one row per class: shape (n_classes, B + 1)."""
        if self.method == "softmax":
            raise ConfigError("method='softmax' has no score edges: bin = arg-max output")
        n_cls = self.n_classes(n_outputs)
        if self._edges is not None:
            rows = np.asarray(self._edges, dtype=np.float64)
            if rows.shape[0] == 1:
                return np.repeat(rows, n_cls, axis=0)
            if rows.shape[0] != n_cls:
                raise ConfigError(
                    f"{rows.shape[0]} rows of edges for a network with {n_cls} classes; give "
                    "one shared sequence or one per class"
                )
            return rows
        low = 0.0 if n_outputs == 1 else 1.0 / n_outputs
        return np.repeat(np.linspace(low, 1.0, self.n_bins + 1)[None, :], n_cls, axis=0)

    def score_edges(self, n_outputs: int) -> npt.NDArray[np.float64]:
        """Bin edges of the score: (B + 1,) for one class (or shared edges), else (C, B + 1)."""
        rows = self.class_edges(n_outputs)
        if rows.shape[0] == 1 or bool(np.all(rows == rows[0])):
            return rows[0]
        return rows

    def _bandwidth(self, edges: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """Kernel width per inner edge: fixed, or half the narrower neighbouring bin."""
        n_inner = len(edges) - 2
        if self.bandwidth is not None:
            return np.full(n_inner, float(self.bandwidth))
        widths = np.diff(edges)
        return 0.5 * np.minimum(widths[:-1], widths[1:])

    def scores(self, outputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The (class, score) of every event: what a binned analysis histograms.

        Binary (one output): class 0 and sigmoid(z).  Multiclass: the arg-max class
        and its softmax probability.  ``"softmax"`` bins: class 0 and the arg-max
        bin index as a float (bin b covers [b, b + 1)).
        """
        z = self._check(outputs)
        if self.method == "softmax":
            idx = torch.argmax(z, dim=1)
            return torch.zeros_like(idx), idx.to(z.dtype) + 0.5
        if z.shape[1] == 1:
            return torch.zeros(z.shape[0], dtype=torch.long, device=z.device), torch.sigmoid(
                z[:, 0]
            )
        prob = torch.softmax(z, dim=1)
        cls = torch.argmax(z, dim=1)
        return cls, prob.gather(1, cls[:, None])[:, 0]

    def bin_index(self, outputs: torch.Tensor) -> torch.Tensor:
        """The hard bin (over all classes) of every event, shape (N,), int64."""
        with torch.no_grad():
            z = self._check(outputs)
            if self.method == "softmax":
                return torch.argmax(z, dim=1)
            cls, score = self.scores(z)
            edges = torch.as_tensor(self.class_edges(z.shape[1]), dtype=score.dtype)
            n_b = edges.shape[1] - 1
            inner = edges[:, 1:-1][cls]  # (N, B - 1): the edges of each event's class
            b = (score[:, None] >= inner).sum(1)
            return cls * n_b + b

    # ------------------------------------------------------------------ membership
    def membership(self, outputs: torch.Tensor) -> torch.Tensor:
        """Per-event bin membership m (N, B_total): rows sum to 1, differentiable.

        ``"kernel"`` and ``hard_forward`` rows equal the hard one-hot rows in the
        forward pass exactly.
        """
        z = self._check(outputs)
        n_out = z.shape[1]
        n_tot = self.n_bins_total(n_out)
        if self.method == "softmax":
            soft = torch.softmax(z / self.temperature, dim=1)
            if not self.hard_forward:
                return soft
            return _straight_through(self.bin_index(z), soft, n_tot)
        rows = self.class_edges(n_out)
        edges = torch.as_tensor(rows, dtype=z.dtype, device=z.device)
        h = [torch.as_tensor(self._bandwidth(r), dtype=z.dtype, device=z.device) for r in rows]
        if n_out == 1:
            soft = _kde_membership(torch.sigmoid(z[:, 0]), edges[0], h[0])
        else:
            prob = torch.softmax(z, dim=1)
            cls_soft = torch.softmax(z / self.temperature, dim=1)  # (N, C)
            bins = torch.stack(
                [_kde_membership(prob[:, c], edges[c], h[c]) for c in range(n_out)], dim=1
            )  # (N, C, B)
            soft = (cls_soft[:, :, None] * bins).reshape(z.shape[0], -1)
        if self.method == "kde":
            return soft
        return _straight_through(self.bin_index(z), soft, n_tot)

    def histogram(
        self,
        outputs: torch.Tensor,
        weights: torch.Tensor,
        groups: torch.Tensor | None = None,
        n_groups: int = 1,
    ) -> torch.Tensor:
        """Weighted counts per group (process) and bin, shape (n_groups, B_total), float64.

        Parameters
        ----------
        outputs
            Network outputs (N, n_outputs) (or (N,) for one output).
        weights
            Event weights (N,).
        groups
            Group (process) index per event (N,), int64; None: one group.
        n_groups
            Number of groups.
        """
        return weighted_counts(self.membership(outputs), weights, groups, n_groups)

    def hard_histogram(
        self,
        outputs: torch.Tensor,
        weights: torch.Tensor,
        groups: torch.Tensor | None = None,
        n_groups: int = 1,
    ) -> torch.Tensor:
        """Exact weighted counts (no gradient), shape (n_groups, B_total), float64."""
        with torch.no_grad():
            z = self._check(outputs)
            idx = self.bin_index(z)
            n_tot = self.n_bins_total(z.shape[1])
            g = torch.zeros_like(idx) if groups is None else torch.as_tensor(groups).long()
            flat = g * n_tot + idx
            w = torch.as_tensor(weights, dtype=torch.float64)
            out = torch.zeros(n_groups * n_tot, dtype=torch.float64)
            out.index_add_(0, flat, w)
            return out.reshape(n_groups, n_tot)

    def _check(self, outputs: torch.Tensor) -> torch.Tensor:
        if not isinstance(outputs, torch.Tensor):
            raise TypeError(f"outputs must be a torch.Tensor, got {type(outputs).__name__}")
        z = outputs[:, None] if outputs.dim() == 1 else outputs
        if z.dim() != 2 or z.shape[1] < 1:
            raise DataError(
                f"network outputs have shape {tuple(outputs.shape)}; expected (N, n_outputs)"
            )
        if self.method == "softmax" and z.shape[1] < 2:
            raise ConfigError(
                "method='softmax' needs one network output per bin (at least 2); got 1 output. "
                "Use method='kernel' for a single score"
            )
        return z


def weighted_counts(
    membership: torch.Tensor,
    weights: torch.Tensor,
    groups: torch.Tensor | None = None,
    n_groups: int = 1,
) -> torch.Tensor:
    """Σ_i w_i m_ib per group: shape (n_groups, B), float64, differentiable in m and w.

    The sums are taken in the membership's dtype (float32 for a float32 network:
    fast, ample for training; pass float64 memberships for exact counts) and
    returned as float64.

    Parameters
    ----------
    membership
        (N, B) per-event bin membership (:meth:`SoftHistogram.membership`).
    weights
        (N,) event weights.
    groups
        (N,) group (process) index per event; None: one group.
    n_groups
        Number of groups.
    """
    m = membership
    w = torch.as_tensor(weights, device=m.device)
    if w.shape != (m.shape[0],):
        raise DataError(f"weights have shape {tuple(w.shape)}; expected ({m.shape[0]},)")
    rows = m * w.to(m.dtype)[:, None]
    out = torch.zeros(n_groups, m.shape[1], dtype=m.dtype, device=m.device)
    if groups is None:
        return (out + rows.sum(0, keepdim=True)).to(torch.float64)
    g = torch.as_tensor(groups, dtype=torch.long, device=m.device)
    if g.shape != (m.shape[0],):
        raise DataError(f"groups have shape {tuple(g.shape)}; expected ({m.shape[0]},)")
    if g.numel() and (int(g.min()) < 0 or int(g.max()) >= n_groups):
        raise DataError(
            f"group indices must lie in [0, {n_groups}); got {int(g.min())}..{int(g.max())}"
        )
    return out.index_add(0, g, rows).to(torch.float64)


def _kde_membership(score: torch.Tensor, edges: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    """Φ((s - a_b)/h_b) - Φ((s - a_{b+1})/h_{b+1}), outer edges at ∓∞, shape (N, B)."""
    inner = edges[1:-1]
    above = torch.special.ndtr((score[:, None] - inner[None, :]) / h[None, :])  # P(s̃ ≥ a_b)
    ones = torch.ones(score.shape[0], 1, dtype=score.dtype, device=score.device)
    full = torch.cat([ones, above, torch.zeros_like(ones)], dim=1)
    return full[:, :-1] - full[:, 1:]


def _straight_through(index: torch.Tensor, soft: torch.Tensor, n_bins: int) -> torch.Tensor:
    hard = torch.nn.functional.one_hot(index, n_bins).to(soft.dtype)
    return hard + (soft - soft.detach())
