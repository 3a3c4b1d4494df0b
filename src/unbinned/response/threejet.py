"""The 3-jet efficiency benchmark: an unfactorisable response of jet-energy-scale nuisances.

A small, fast generator of QCD 3-jet events at a hadron collider (our own; the problem
follows Romero, Cranmer, Whiteson, arXiv:2509.15500):

- leading-parton pT from dσ/dpT ∝ pT⁻⁵ above a generator cut p̂T > 150 GeV (a pT-hat
  slice, as multijet samples are produced), the third jet a softer emission
  (pT₃ ≥ 25 GeV, uniform in azimuth relative to the leading jet), the second jet
  balancing both in the transverse plane;
- pseudorapidities from a boost η_b ~ N(0, 0.7) and half-separation y* ~ N(0, 0.8)
  (η₁,₂ = η_b ± y*, η₃ = η_b + N(0, 1.3), |η| < 2.5);
- jet response smearing σ/pT = √((3 GeV/pT)² + (1 GeV^½)²/pT + 0.04²), missing
  transverse momentum MET = -Σ(reconstructed - true jets) + a soft term N(0, 8 GeV)
  per component + a neutrino (exponential, mean 20 GeV, along a jet) in 15 % of the
  events (semileptonic heavy-flavour decays).

Jets are ordered by their nominal reconstructed pT; the jet-energy-scale nuisances ν
divide a jet's momentum, p_j → p_j/ν_j, and the MET is recomputed,
MET(ν) = MET - Σ_j (1/ν_j - 1) p_j.  The selection

    pT₁/ν₁ > 200 GeV,   pT₂/ν₂₃ < 200 GeV,   MET(ν) < 50 GeV

has an efficiency ε(ν); the response is ε(ν)/ε(1).  With 2 nuisances, ν₁ acts on the
leading jet and ν₂₃ on the other two; with 4, each is split at |η| = 1:
ν = (ν₁ᶜ, ν₁ᶠ, ν₂₃ᶜ, ν₂₃ᶠ) (central |η| < 1, forward |η| ≥ 1).  The MET cut couples the
nuisances (a common scale leaves the events balanced, a relative one does not), so
ε(ν) is far from the product of its one-dimensional dependences.

Gradients ∂ε/∂ν come from the same events with the cuts replaced by sigmoids
σ((x - cut)/τ) (τ = 4 GeV for the jet cuts, 2 GeV for MET), differentiated with torch.
The truth on a regular grid is counted exactly (hard cuts) on a large fixed sample:
for fixed other nuisances, the MET condition holds on an interval of 1/ν_k, so the
grid is filled by interval counting rather than by testing every grid point.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import torch

from unbinned.exceptions import ConfigError, DataError

__all__ = [
    "ThreeJetConfig",
    "ThreeJetEvents",
    "ThreeJetProblem",
    "generate_three_jet_events",
    "grid_points",
    "jet_nuisance_index",
    "selection_efficiency",
    "smoothed_efficiency",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class ThreeJetConfig:
    """Generator and selection settings of the 3-jet problem (GeV)."""

    pt_hat_min: float = 150.0
    spectrum_power: float = 5.0
    third_jet_pt_min: float = 25.0
    lead_pt_min: float = 200.0
    second_pt_max: float = 200.0
    met_max: float = 50.0
    eta_split: float = 1.0
    soft_met_sigma: float = 8.0
    heavy_flavour_fraction: float = 0.15
    neutrino_mean_pt: float = 20.0
    smoothing_pt: float = 4.0
    smoothing_met: float = 2.0


@dataclass(frozen=True)
class ThreeJetEvents:
    """Reconstructed 3-jet events, jets ordered by nominal pT (arrays of shape (n, 3))."""

    pt: FloatArray
    px: FloatArray
    py: FloatArray
    eta: FloatArray
    met_x: FloatArray
    met_y: FloatArray

    def __len__(self) -> int:
        return int(self.pt.shape[0])


def generate_three_jet_events(
    n: int, rng: np.random.Generator, config: ThreeJetConfig | None = None
) -> ThreeJetEvents:
    """Generate ``n`` reconstructed 3-jet events (see the module docstring)."""
    cfg = config or ThreeJetConfig()
    if n < 1:
        raise ConfigError(f"the number of events must be >= 1, got {n}")
    p1 = cfg.pt_hat_min * (1.0 - rng.random(n)) ** (-1.0 / (cfg.spectrum_power - 1.0))
    phi1 = rng.uniform(-np.pi, np.pi, n)
    span = np.maximum(0.9 * p1 - cfg.third_jet_pt_min, 0.0)
    p3 = cfg.third_jet_pt_min + rng.beta(1.3, 3.5, n) * span
    phi3 = phi1 + rng.uniform(-np.pi, np.pi, n)
    tx = np.stack([p1 * np.cos(phi1), np.zeros(n), p3 * np.cos(phi3)], axis=1)
    ty = np.stack([p1 * np.sin(phi1), np.zeros(n), p3 * np.sin(phi3)], axis=1)
    tx[:, 1] = -(tx[:, 0] + tx[:, 2])
    ty[:, 1] = -(ty[:, 0] + ty[:, 2])
    tpt = np.hypot(tx, ty)
    boost = rng.normal(0.0, 0.7, n)
    ystar = rng.normal(0.0, 0.8, n)
    eta = np.stack([boost + ystar, boost - ystar, boost + rng.normal(0.0, 1.3, n)], axis=1)
    out = np.abs(eta) > 2.5
    eta[out] = rng.uniform(-2.5, 2.5, int(out.sum()))
    rel = np.sqrt((3.0 / tpt) ** 2 + 1.0 / tpt + 0.04**2)
    resp = np.clip(1.0 + rel * rng.standard_normal((n, 3)), 0.3, None)
    rx, ry = tx * resp, ty * resp
    met_x = -(rx - tx).sum(axis=1) + rng.normal(0.0, cfg.soft_met_sigma, n)
    met_y = -(ry - ty).sum(axis=1) + rng.normal(0.0, cfg.soft_met_sigma, n)
    hf = rng.random(n) < cfg.heavy_flavour_fraction
    which = rng.integers(0, 3, n)
    e_nu = rng.exponential(cfg.neutrino_mean_pt, n) * hf
    rows = np.arange(n)
    met_x += e_nu * tx[rows, which] / tpt[rows, which]
    met_y += e_nu * ty[rows, which] / tpt[rows, which]
    rpt = tpt * resp
    order = np.argsort(-rpt, axis=1)
    take = rows[:, None], order
    return ThreeJetEvents(
        pt=rpt[take], px=rx[take], py=ry[take], eta=eta[take], met_x=met_x, met_y=met_y
    )


def jet_nuisance_index(events: ThreeJetEvents, n_nuisances: int, eta_split: float) -> IntArray:
    """Index of the nuisance acting on each jet, shape (n, 3).

    2 nuisances: (ν₁, ν₂₃) → [0, 1, 1]; 4 nuisances: (ν₁ᶜ, ν₁ᶠ, ν₂₃ᶜ, ν₂₃ᶠ) by |η| < split.
    """
    n = len(events)
    if n_nuisances == 2:
        return np.tile(np.array([0, 1, 1], dtype=np.int64), (n, 1))
    if n_nuisances == 4:
        fwd = (np.abs(events.eta) >= eta_split).astype(np.int64)
        return fwd + np.array([0, 2, 2], dtype=np.int64)
    raise ConfigError(f"n_nuisances must be 2 or 4, got {n_nuisances}")


def _check_nu(nu: npt.ArrayLike, d: int) -> FloatArray:
    arr = np.asarray(nu, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[1] != d:
        raise DataError(f"nu must have shape (K, {d}) or ({d},), got {np.shape(nu)}")
    if not np.all(np.isfinite(arr)) or np.any(arr <= 0):
        raise DataError("nu must be finite and positive (a jet momentum is divided by ν)")
    return arr


def selection_efficiency(
    events: ThreeJetEvents,
    nu: npt.ArrayLike,
    index: IntArray,
    config: ThreeJetConfig | None = None,
    *,
    chunk_size: int = 64,
) -> FloatArray:
    """Hard-cut selection efficiency ε(ν) for points ``nu`` (shape (K, d)): shape (K,)."""
    cfg = config or ThreeJetConfig()
    raw = np.asarray(nu, dtype=np.float64)
    pts = _check_nu(raw, raw.shape[-1] if raw.ndim else 0)
    if index.size and int(index.max()) >= pts.shape[1]:
        raise DataError(
            f"the jets use nuisance index {int(index.max())} but nu has only {pts.shape[1]} "
            "columns; pass one column per nuisance"
        )
    out = np.empty(pts.shape[0])
    for s in range(0, pts.shape[0], chunk_size):
        u = 1.0 / pts[s : s + chunk_size][:, index]  # (k, n, 3)
        mx = events.met_x - ((u - 1.0) * events.px).sum(-1)
        my = events.met_y - ((u - 1.0) * events.py).sum(-1)
        ok = (
            (events.pt[:, 0] * u[..., 0] > cfg.lead_pt_min)
            & (events.pt[:, 1] * u[..., 1] < cfg.second_pt_max)
            & (mx * mx + my * my < cfg.met_max**2)
        )
        out[s : s + chunk_size] = ok.mean(axis=1)
    return out


def smoothed_efficiency(
    events: ThreeJetEvents,
    nu: npt.ArrayLike,
    index: IntArray,
    config: ThreeJetConfig | None = None,
) -> tuple[float, FloatArray]:
    """Sigmoid-smoothed efficiency at one point ν (shape (d,)) and its gradient ∂ε/∂ν."""
    cfg = config or ThreeJetConfig()
    arr = np.asarray(nu, dtype=np.float64).reshape(-1)
    _check_nu(arr, arr.shape[0])
    nu_t = torch.tensor(arr, dtype=torch.float64, requires_grad=True)
    u = 1.0 / nu_t[torch.as_tensor(index)]
    pt = torch.as_tensor(events.pt)
    px, py = torch.as_tensor(events.px), torch.as_tensor(events.py)
    mx = torch.as_tensor(events.met_x) - ((u - 1.0) * px).sum(-1)
    my = torch.as_tensor(events.met_y) - ((u - 1.0) * py).sum(-1)
    met = torch.sqrt(mx * mx + my * my + 1e-12)
    s = (
        torch.sigmoid((pt[:, 0] * u[:, 0] - cfg.lead_pt_min) / cfg.smoothing_pt)
        * torch.sigmoid((cfg.second_pt_max - pt[:, 1] * u[:, 1]) / cfg.smoothing_pt)
        * torch.sigmoid((cfg.met_max - met) / cfg.smoothing_met)
    )
    eff = s.mean()
    (grad,) = torch.autograd.grad(eff, nu_t)
    return float(eff.detach()), grad.numpy()


def _ranges(lo_u: FloatArray, hi_u: FloatArray, grid: FloatArray) -> tuple[IntArray, IntArray]:
    """Grid index range [start, end) of ν_g (ascending) with lo_u < 1/ν_g < hi_u."""
    with np.errstate(divide="ignore", invalid="ignore"):
        nu_lo = np.where(hi_u > 0, 1.0 / hi_u, np.inf)
        nu_hi = np.where(lo_u > 0, 1.0 / lo_u, np.inf)
    start = np.searchsorted(grid, nu_lo, side="right")
    end = np.searchsorted(grid, nu_hi, side="left")
    return start.astype(np.int64), end.astype(np.int64)


def _met_interval(
    ax: FloatArray, ay: FloatArray, qx: FloatArray, qy: FloatArray, r: float
) -> tuple[FloatArray, FloatArray]:
    """Interval of u with |A - (u - 1) q| < r: (lo_u, hi_u); empty as lo_u >= hi_u."""
    q2 = np.maximum(qx * qx + qy * qy, 1e-300)
    aq = ax * qx + ay * qy
    disc = aq * aq - q2 * (ax * ax + ay * ay - r * r)
    root = np.sqrt(np.maximum(disc, 0.0))
    lo = 1.0 + (aq - root) / q2
    hi = 1.0 + (aq + root) / q2
    empty = disc <= 0
    return np.where(empty, 1.0, lo), np.where(empty, 1.0, hi)


def _count_grid(
    ev: ThreeJetEvents, grid: FloatArray, cfg: ThreeJetConfig, share23: bool
) -> FloatArray:
    """Passing-event counts on the grid of the (2 or 3) nuisances acting on the jets."""
    g = grid.shape[0]
    u = 1.0 / grid
    p1 = ev.pt[:, 0:1]
    c1 = p1 * u[None, :] > cfg.lead_pt_min  # (n, g) over ν of jet 1
    # A_i = MET - (u_i - 1) p_1
    ax = ev.met_x[:, None] - (u[None, :] - 1.0) * ev.px[:, 0:1]
    ay = ev.met_y[:, None] - (u[None, :] - 1.0) * ev.py[:, 0:1]
    n = len(ev)
    if share23:
        qx = (ev.px[:, 1] + ev.px[:, 2])[:, None]
        qy = (ev.py[:, 1] + ev.py[:, 2])[:, None]
        lo, hi = _met_interval(ax, ay, qx, qy, cfg.met_max)
        # jet 2 cut: pT2 u_j < max  ->  u_j < max/pT2
        hi = np.minimum(hi, (cfg.second_pt_max / ev.pt[:, 1])[:, None])
        start, end = _ranges(lo, hi, grid)
        valid = c1 & (end > start)
        cells = np.broadcast_to(np.arange(g)[None, :], (n, g))
        shape: tuple[int, ...] = (g, g + 1)
    else:
        c2 = ev.pt[:, 1:2] * u[None, :] < cfg.second_pt_max  # (n, g) over ν of jet 2
        ax3 = ax[:, :, None] - (u[None, None, :] - 1.0) * ev.px[:, 1, None, None]
        ay3 = ay[:, :, None] - (u[None, None, :] - 1.0) * ev.py[:, 1, None, None]
        qx = ev.px[:, 2, None, None]
        qy = ev.py[:, 2, None, None]
        lo, hi = _met_interval(ax3, ay3, qx, qy, cfg.met_max)
        start, end = _ranges(lo, hi, grid)
        valid = c1[:, :, None] & c2[:, None, :] & (end > start)
        cells = np.broadcast_to(np.arange(g * g).reshape(1, g, g), (n, g, g))
        shape = (g, g, g + 1)
    size = int(np.prod(shape))
    flat_cells = cells[valid] * (g + 1)
    diff = np.bincount(flat_cells + start[valid], minlength=size).astype(np.float64)
    diff -= np.bincount(flat_cells + end[valid], minlength=size)
    return np.cumsum(diff.reshape(shape), axis=-1)[..., :g]


class ThreeJetProblem:
    """The 3-jet efficiency response ε(ν)/ε(1) with 2 or 4 jet-energy-scale nuisances.

    Parameters
    ----------
    n_nuisances
        2 (ν₁, ν₂₃) or 4 (each split at |η| = 1).
    config
        Generator and selection settings.
    n_truth_events
        Size of the fixed sample that defines the truth (and the nominal ε(1)).
    n_sim_events
        Size of the fresh, independent sample of one simulation point.
    seed
        Seed of the truth sample.

    Notes
    -----
    A simulation point returns ε̂(ν)/ε(1) with hard cuts on its own sample of
    ``n_sim_events`` events and the gradient of the sigmoid-smoothed efficiency of the
    same events, divided by the nominal ε(1) of the truth sample.
    """

    def __init__(
        self,
        n_nuisances: int = 4,
        *,
        config: ThreeJetConfig | None = None,
        n_truth_events: int = 400_000,
        n_sim_events: int = 20_000,
        seed: int = 0,
    ) -> None:
        if n_nuisances not in (2, 4):
            raise ConfigError(f"n_nuisances must be 2 or 4, got {n_nuisances}")
        self.n_nuisances = n_nuisances
        self.config = config or ThreeJetConfig()
        self.n_sim_events = int(n_sim_events)
        self.truth_events = generate_three_jet_events(
            n_truth_events, np.random.default_rng(seed), self.config
        )
        self._index = jet_nuisance_index(self.truth_events, n_nuisances, self.config.eta_split)
        self.nominal_efficiency = float(
            selection_efficiency(self.truth_events, np.ones(n_nuisances), self._index, self.config)[
                0
            ]
        )
        if self.nominal_efficiency <= 0:
            raise ConfigError("no truth event passes the nominal selection; enlarge the sample")

    def __repr__(self) -> str:
        return (
            f"ThreeJetProblem(n_nuisances={self.n_nuisances}, "
            f"n_truth_events={len(self.truth_events)}, n_sim_events={self.n_sim_events}, "
            f"nominal_efficiency={self.nominal_efficiency:.4f})"
        )

    @property
    def bounds(self) -> FloatArray:
        """The nuisance box [0.5, 1.5]^d, shape (d, 2)."""
        return np.tile(np.array([0.5, 1.5]), (self.n_nuisances, 1))

    def truth(self, nu: npt.ArrayLike) -> FloatArray:
        """ε(ν)/ε(1) on the truth sample (hard cuts) at points of shape (K, d)."""
        eff = selection_efficiency(self.truth_events, nu, self._index, self.config)
        return eff / self.nominal_efficiency

    def truth_grid(self, n_per_axis: int = 25) -> tuple[FloatArray, FloatArray]:
        """ε(ν)/ε(1) on the regular grid ``linspace(0.5, 1.5, n_per_axis)``^d.

        Returns
        -------
        tuple
            The axis values, shape (n_per_axis,), and the response, shape (n_per_axis,)*d
            (axis order ν₁, ν₂, ...).
        """
        grid = np.linspace(0.5, 1.5, n_per_axis)
        d = self.n_nuisances
        total = np.zeros((n_per_axis,) * d)
        idx = self._index
        ev = self.truth_events
        combos = sorted({tuple(int(v) for v in row) for row in np.unique(idx, axis=0)})
        chunk = max(1, 4_000_000 // n_per_axis**2)
        for combo in combos:
            sel = np.flatnonzero(np.all(idx == np.array(combo), axis=1))
            share = combo[1] == combo[2]
            axes = [combo[0], combo[1]] if share else list(combo)
            counts = np.zeros((n_per_axis,) * len(axes))
            for s in range(0, sel.shape[0], chunk):
                part = sel[s : s + chunk]
                sub = ThreeJetEvents(
                    pt=ev.pt[part],
                    px=ev.px[part],
                    py=ev.py[part],
                    eta=ev.eta[part],
                    met_x=ev.met_x[part],
                    met_y=ev.met_y[part],
                )
                counts += _count_grid(sub, grid, self.config, share)
            shape = [1] * d
            for a in axes:
                shape[a] = n_per_axis
            total += np.moveaxis(counts, list(range(len(axes))), np.argsort(axes)).reshape(shape)
        eff = total / len(ev)
        return grid, eff / self.nominal_efficiency

    def simulate(self, nu: npt.ArrayLike, rng: np.random.Generator) -> tuple[float, FloatArray]:
        """One simulation point: ε̂(ν)/ε(1) and ∂/∂ν of the smoothed version, fresh sample."""
        arr = _check_nu(nu, self.n_nuisances)[0]
        ev = generate_three_jet_events(self.n_sim_events, rng, self.config)
        index = jet_nuisance_index(ev, self.n_nuisances, self.config.eta_split)
        value = float(selection_efficiency(ev, arr[None, :], index, self.config)[0])
        _, grad = smoothed_efficiency(ev, arr, index, self.config)
        return value / self.nominal_efficiency, grad / self.nominal_efficiency

    def simulator(self, seed: int) -> Callable[[FloatArray], tuple[float, FloatArray]]:
        """A :class:`~unbinned.response.Simulator` drawing fresh samples from ``seed``."""
        rng = np.random.default_rng(seed)

        def simulate(nu: FloatArray) -> tuple[float, FloatArray]:
            return self.simulate(nu, rng)

        return simulate


def grid_points(grid: npt.ArrayLike, d: int) -> FloatArray:
    """All points of grid^d, shape (len(grid)**d, d), C order (last axis fastest)."""
    g = np.asarray(grid, dtype=np.float64)
    mesh = np.meshgrid(*([g] * d), indexing="ij")
    return np.stack([m.reshape(-1) for m in mesh], axis=1)
