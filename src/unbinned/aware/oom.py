r"""A learned unfoldable observable: the Optimal Observable Machine (OOM).

Mohr, Quiroga Triviño, Riemer, Monsch, Defranchis, Knolle, Mehta, Kieseler,
Klute, "An Optimal Observable Machine for reinterpretable measurements in
high-energy physics", arXiv:2601.08813: a network O(x_gen) at generator level,
binned, whose binning is chosen so that the parameter of interest is measured
as precisely as possible *after unfolding*, with the detector response and the
systematic uncertainties in the loss and a penalty on the bias from the value of
the parameter assumed in the simulation.  This module implements that idea with
the binned Asimov Fisher information (our formulation; the paper's likelihood-
based loss plays the same role).

**Observable.**  O has K outputs; an event's generator-level bin is
g = arg max_k O_k(x_gen), its reco-level bin r = arg max_k O_k(x_reco) (the
same function of the reconstructed features).  In training the memberships are
softmax(O/T) (soft binning, temperature T annealed).

**Unfolding model.**  With truth events i (weights w_i(θ): continuum w, signal
θ w), selection s_i and memberships m^gen_ig, m^reco_ir,

.. math::

    G_g(θ) = \sum_i w_i(θ) m^{gen}_{ig},\quad
    R_{rg}(η) = \frac{\sum_i w_i s_i m^{reco}_{ir}(η) m^{gen}_{ig}}{G_g},\quad
    ν_r = \sum_g R_{rg}(η) σ_g + b_r(η, β),

with σ_g the generator-level yields (free: the unfolded spectrum), η the
detector nuisances (derivatives from the events reconstructed at η = ±1σ) and β
the background normalisation (Gaussian, relative width).  The Asimov Fisher
information of (σ, η, β) is I = Jᵀ diag(1/ν) J + C, and the information on
the unfolded spectrum with the nuisances profiled is the Schur complement
V⁻¹ = I_σσ - I_σ·η I_ηη⁻¹ I_η·σ (the inverse covariance of an unregularised
unfolding).  The parameter of interest is then extracted from the unfolded
spectrum, σ_g(θ, n) = n G^c_g + θ G^s_g (continuum normalisation n free), so

.. math::

    σ_θ^2 = \big[(D^⊤ V^{-1} D)^{-1}\big]_{θθ},\qquad D = (G^s, G^c).

**Bias from the assumed parameter value.**  The response built from simulation
at θ_a, R(θ_a), differs from the true one because, inside a generator-level
bin, signal and continuum respond differently.  Unfolding Asimov data of θ_t
with R(θ_a) (weighted least squares, σ̂ = (RᵀWR)⁻¹RᵀW(ν - b), W = diag(1/ν))
and fitting (θ, n) to σ̂ with the weight V⁻¹ gives θ̂(θ_a) - θ_t =: bias(θ_a).
The training loss is

.. math::

    L = \sqrt{σ_θ^2 + λ\,\tfrac12 \sum_{±} \mathrm{bias}(θ_0 ± Δ)^2},

the expected root-mean-square error when the assumed value is off by ±Δ.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import torch
from torch import nn

from unbinned.aware.toys import GenRecoEvents
from unbinned.exceptions import ConfigError, DataError

__all__ = [
    "OOMConfig",
    "OOMResult",
    "UnfoldingData",
    "UnfoldingEvaluation",
    "evaluate_observable",
    "quantile_observable",
    "train_oom",
]

_DTYPE = torch.float64
Membership = Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True, eq=False)
class UnfoldingData:
    """Torch tensors of :class:`~unbinned.aware.toys.GenRecoEvents` (see there).

    ``reco``, ``reco_up``, ``reco_down``: reconstructed features at η = 0, ±1σ
    (one detector nuisance); ``bkg_*`` the reco-only background.
    """

    gen: torch.Tensor
    reco: torch.Tensor
    reco_up: torch.Tensor
    reco_down: torch.Tensor
    selected: torch.Tensor
    weights: torch.Tensor
    signal: torch.Tensor
    bkg: torch.Tensor
    bkg_up: torch.Tensor
    bkg_down: torch.Tensor
    bkg_weights: torch.Tensor
    background_width: float = 0.1

    @classmethod
    def from_events(
        cls, ev: GenRecoEvents, *, background_width: float = 0.1, dtype: torch.dtype = torch.float32
    ) -> UnfoldingData:
        """Convert (features to ``dtype``, weights to float64)."""
        if not isinstance(ev, GenRecoEvents):
            raise TypeError(f"ev must be GenRecoEvents, got {type(ev).__name__}")

        def f(a: npt.ArrayLike) -> torch.Tensor:
            return torch.as_tensor(np.asarray(a), dtype=dtype)

        return cls(
            f(ev.x_gen), f(ev.x_reco), f(ev.x_reco_up), f(ev.x_reco_down),
            torch.as_tensor(ev.selected), torch.as_tensor(ev.weights, dtype=_DTYPE),
            torch.as_tensor(ev.component == 1), f(ev.bkg_reco), f(ev.bkg_reco_up),
            f(ev.bkg_reco_down), torch.as_tensor(ev.bkg_weights, dtype=_DTYPE),
            float(background_width),
        )  # fmt: skip

    def subset(self, truth: torch.Tensor, bkg: torch.Tensor, scale: float) -> UnfoldingData:
        """Events where the masks are true, weights multiplied by ``scale``."""
        return UnfoldingData(
            self.gen[truth], self.reco[truth], self.reco_up[truth], self.reco_down[truth],
            self.selected[truth], self.weights[truth] * scale, self.signal[truth],
            self.bkg[bkg], self.bkg_up[bkg], self.bkg_down[bkg], self.bkg_weights[bkg] * scale,
            self.background_width,
        )  # fmt: skip

    def __repr__(self) -> str:
        return (
            f"UnfoldingData({self.gen.shape[0]} truth events, {int(self.selected.sum())} "
            f"selected, {self.bkg.shape[0]} background)"
        )


@dataclass(frozen=True, eq=False)
class _Terms:
    nu: torch.Tensor  # (R,)
    folded: torch.Tensor  # (R,) truth contribution to ν
    response: torch.Tensor  # (R, G)
    gen_signal: torch.Tensor  # (G,) G^s per unit θ
    gen_cont: torch.Tensor  # (G,) G^c
    d_eta: torch.Tensor  # (R,) ∂ν/∂η
    bkg: torch.Tensor  # (R,)
    joint_signal: torch.Tensor  # (R, G) signal part of Σ w s m_reco m_gen per unit θ
    joint_cont: torch.Tensor  # (R, G)
    folded_signal: torch.Tensor  # (R,) per unit θ
    folded_cont: torch.Tensor  # (R,)


def _terms(mem: Membership, data: UnfoldingData, theta: float) -> _Terms:
    m_gen = mem(data.gen).to(_DTYPE)
    sel = data.selected.to(_DTYPE)[:, None]
    m_reco = mem(data.reco).to(_DTYPE) * sel
    m_up = mem(data.reco_up).to(_DTYPE) * sel
    m_dn = mem(data.reco_down).to(_DTYPE) * sel
    w = data.weights
    ws = torch.where(data.signal, w, 0.0)
    wc = torch.where(data.signal, 0.0, w)
    joint_s = (m_reco * ws[:, None]).T @ m_gen
    joint_c = (m_reco * wc[:, None]).T @ m_gen
    gen_s = (m_gen * ws[:, None]).sum(0)
    gen_c = (m_gen * wc[:, None]).sum(0)
    wt = wc + theta * ws
    b_mem = mem(data.bkg).to(_DTYPE)
    bkg = (b_mem * data.bkg_weights[:, None]).sum(0)
    bkg_up = (mem(data.bkg_up).to(_DTYPE) * data.bkg_weights[:, None]).sum(0)
    bkg_dn = (mem(data.bkg_down).to(_DTYPE) * data.bkg_weights[:, None]).sum(0)
    folded_s = (m_reco * ws[:, None]).sum(0)
    folded_c = (m_reco * wc[:, None]).sum(0)
    folded = folded_c + theta * folded_s
    d_eta = ((m_up - m_dn) * wt[:, None]).sum(0) / 2.0 + (bkg_up - bkg_dn) / 2.0
    gen = gen_c + theta * gen_s
    response = (joint_c + theta * joint_s) / torch.clamp(gen, min=1e-300)[None, :]
    return _Terms(folded + bkg, folded, response, gen_s, gen_c, d_eta, bkg, joint_s, joint_c,
                  folded_s, folded_c)  # fmt: skip


def _schur_information(t: _Terms, background_width: float, floor: float) -> torch.Tensor:
    """V⁻¹: information on the unfolded σ_g with η and β profiled, (G, G)."""
    keep = t.nu > 0
    inv = torch.where(keep, 1.0 / torch.where(keep, t.nu + floor, torch.ones_like(t.nu)), 0.0)
    jac = torch.cat([t.response, t.d_eta[:, None], t.bkg[:, None]], dim=1)  # (R, G + 2)
    info = jac.T @ (jac * inv[:, None])
    n_g = t.response.shape[1]
    prior = torch.zeros(n_g + 2, dtype=_DTYPE)
    prior[n_g] = 1.0
    prior[n_g + 1] = 1.0 / background_width**2
    info = info + torch.diag(prior)
    a = info[:n_g, :n_g]
    b = info[:n_g, n_g:]
    c = info[n_g:, n_g:]
    return a - b @ torch.linalg.solve(c, b.T)


def _theta_information(t: _Terms, vinv: torch.Tensor) -> torch.Tensor:
    d = torch.stack([t.gen_signal, t.gen_cont], dim=1)  # (G, 2)
    return d.T @ vinv @ d


def _bias(
    t_true: _Terms, theta_true: float, theta_assumed: float, vinv: torch.Tensor
) -> torch.Tensor:
    """θ̂ - θ_t when Asimov data at θ_t is unfolded with R(θ_a) and (θ, n) fitted."""
    gen_a = t_true.gen_cont + theta_assumed * t_true.gen_signal
    resp_a = (t_true.joint_cont + theta_assumed * t_true.joint_signal) / torch.clamp(
        gen_a, min=1e-300
    )[None, :]
    keep = t_true.nu > 0
    wgt = torch.where(keep, 1.0 / torch.where(keep, t_true.nu, torch.ones_like(t_true.nu)), 0.0)
    lhs = resp_a.T @ (resp_a * wgt[:, None])
    rhs = resp_a.T @ (wgt * t_true.folded)
    sigma_hat = torch.linalg.solve(lhs, rhs)
    d = torch.stack([t_true.gen_signal, t_true.gen_cont], dim=1)
    ib = d.T @ vinv @ d
    beta = torch.linalg.solve(ib, d.T @ vinv @ sigma_hat)
    return beta[0] - theta_true


@dataclass(frozen=True, eq=False)
class UnfoldingEvaluation:
    """The expected measurement of θ after unfolding with one observable and binning.

    Attributes
    ----------
    sigma_theta
        Expected σ of θ after unfolding (η, β and the continuum normalisation profiled).
    bias
        θ̂ - θ_t for a response matrix built at each assumed θ_a (key: θ_a); NaN
        where R(θ_a) is singular (a generator-level bin without events at θ_a).
    response
        R_rg (reco bin × generator bin) at θ₀.
    gen_yields, reco_yields
        Expected generator-level yields G_g(θ₀) and reco-level ν_r.
    signal_gen_yields
        G^s_g per unit θ.
    theta
        θ₀, the truth value of the Asimov data.
    """

    sigma_theta: float
    bias: dict[float, float]
    response: npt.NDArray[np.float64]
    gen_yields: npt.NDArray[np.float64]
    reco_yields: npt.NDArray[np.float64]
    signal_gen_yields: npt.NDArray[np.float64]
    theta: float

    def __repr__(self) -> str:
        b = ", ".join(f"θ_a={k:g}: {v:+.4f}" for k, v in self.bias.items())
        return (
            f"UnfoldingEvaluation(σ_θ = {self.sigma_theta:.4f} after unfolding, "
            f"{self.response.shape[1]} bins; bias {b})"
        )


def evaluate_observable(
    membership: Membership,
    data: UnfoldingData,
    *,
    theta: float = 1.0,
    assumed: Sequence[float] = (0.0, 2.0),
) -> UnfoldingEvaluation:
    """Exact (hard-binned) expected σ_θ after unfolding and the bias vs the assumed θ.

    Parameters
    ----------
    membership
        Maps features (N, 2) to hard one-hot bin rows (N, K) (e.g.
        :meth:`OOMResult.membership` or :func:`quantile_observable`).
    data
        A large (test) sample.
    theta
        θ₀ of the Asimov data and of the response matrix.
    assumed
        Values θ_a of the response matrices for the bias.

    Raises
    ------
    DataError
        When a generator-level bin is empty (its σ_g cannot be unfolded).
    """
    with torch.no_grad():
        t = _terms(membership, data, theta)
        empty = (t.gen_cont + theta * t.gen_signal) <= 0
        if bool(torch.any(empty)):
            raise DataError(
                f"generator-level bins {torch.nonzero(empty).flatten().tolist()} are empty; "
                "use fewer bins"
            )
        vinv = _schur_information(t, data.background_width, 0.0)
        ib = _theta_information(t, vinv)
        sig = float(torch.sqrt(torch.linalg.inv(ib)[0, 0]))
        bias = {}
        for a in assumed:
            try:
                bias[float(a)] = float(_bias(t, theta, float(a), vinv))
            except torch.linalg.LinAlgError:  # a bin without events at θ_a: R(θ_a) singular
                bias[float(a)] = float("nan")
    return UnfoldingEvaluation(
        sigma_theta=sig,
        bias=bias,
        response=t.response.numpy(),
        gen_yields=(t.gen_cont + theta * t.gen_signal).numpy(),
        reco_yields=t.nu.numpy(),
        signal_gen_yields=t.gen_signal.numpy(),
        theta=float(theta),
    )


def quantile_observable(column: int, edges: npt.ArrayLike) -> Membership:
    """Hard one-hot membership of feature ``column`` in bins ``edges`` (a standard observable).

    Values outside the edges fall into the outer bins.
    """
    e = torch.as_tensor(np.asarray(edges, dtype=np.float64))
    if e.dim() != 1 or e.numel() < 2 or not bool(torch.all(e[1:] > e[:-1])):
        raise ConfigError(f"edges {e.tolist()} must be increasing, at least two")
    n_b = e.numel() - 1

    def mem(x: torch.Tensor) -> torch.Tensor:
        v = x[:, column].to(_DTYPE).contiguous()
        idx = torch.bucketize(v, e[1:-1].contiguous(), right=True)
        return nn.functional.one_hot(idx, n_b).to(_DTYPE)

    return mem


@dataclass(frozen=True)
class OOMConfig:
    """Settings of :func:`train_oom`.

    Parameters
    ----------
    n_bins
        K, the number of bins (network outputs).
    theta, delta
        θ₀ (truth of the Asimov data and nominal assumption) and Δ of the bias
        penalty (response built at θ₀ ± Δ).
    bias_weight
        λ of the bias term of the loss (0: no penalty).
    pretrain_edges
        Generator-level m edges (K + 1) the network is first trained to reproduce
        (cross-entropy), so that training starts from the standard observable;
        None: no pre-training.
    pretrain_epochs, steps, batch_fraction, lr, temperature, final_temperature, seed
        Optimisation: Adam with a cosine schedule, temperature annealed
        geometrically, batches of a fraction of the events.
    """

    n_bins: int = 6
    theta: float = 1.0
    delta: float = 1.0
    bias_weight: float = 1.0
    pretrain_edges: Sequence[float] | None = None
    pretrain_epochs: int = 2
    steps: int = 300
    batch_fraction: float = 0.25
    lr: float = 3e-3
    temperature: float = 0.3
    final_temperature: float = 0.05
    seed: int = 0

    def __post_init__(self) -> None:
        if isinstance(self.n_bins, bool) or not isinstance(self.n_bins, int) or self.n_bins < 2:
            raise ConfigError(f"n_bins = {self.n_bins!r}: expected an integer >= 2")
        if not 0 < self.batch_fraction <= 1:
            raise ConfigError(f"batch_fraction = {self.batch_fraction}: expected 0 < f <= 1")
        for name in ("lr", "temperature", "final_temperature"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"{name} = {getattr(self, name)}: expected > 0")
        if self.bias_weight < 0 or self.delta <= 0:
            raise ConfigError("bias_weight must be >= 0 and delta > 0")
        if self.pretrain_edges is not None and len(self.pretrain_edges) != self.n_bins + 1:
            raise ConfigError(
                f"pretrain_edges has {len(self.pretrain_edges)} edges; expected n_bins + 1 = "
                f"{self.n_bins + 1}"
            )


@dataclass
class OOMResult:
    """The trained observable: network, binning (arg-max of its K outputs), history.

    Use :meth:`membership` / :meth:`bin_index` on generator- or reco-level
    features and :func:`evaluate_observable` for its response matrix and σ_θ.
    """

    network: nn.Module
    n_bins: int
    loss: list[float] = field(default_factory=list)
    sigma: list[float] = field(default_factory=list)
    seconds: float = 0.0

    def bin_index(self, x: torch.Tensor) -> torch.Tensor:
        """The bin (arg-max output) of each event, (N,) int64."""
        with torch.no_grad():
            return torch.argmax(self.network(x), dim=1)

    def membership(self, x: torch.Tensor) -> torch.Tensor:
        """Hard one-hot rows (N, K), float64."""
        return nn.functional.one_hot(self.bin_index(x), self.n_bins).to(_DTYPE)

    def __repr__(self) -> str:
        last = f"{self.loss[-1]:.4g}" if self.loss else "-"
        return f"OOMResult({self.n_bins} bins, {len(self.loss)} steps, final loss {last})"


def _loss(
    mem: Membership, data: UnfoldingData, cfg: OOMConfig
) -> tuple[torch.Tensor, torch.Tensor]:
    t = _terms(mem, data, cfg.theta)
    floor = 1e-3 * float(t.nu.detach().mean())
    vinv = _schur_information(t, data.background_width, floor)
    ib = _theta_information(t, vinv)
    var = torch.linalg.inv(ib)[0, 0]
    total = var
    if cfg.bias_weight > 0:
        b2 = torch.stack(
            [_bias(t, cfg.theta, cfg.theta + s * cfg.delta, vinv) ** 2 for s in (-1.0, 1.0)]
        ).mean()
        total = total + cfg.bias_weight * b2
    return torch.sqrt(total), torch.sqrt(var)


def train_oom(
    network: nn.Module, data: UnfoldingData, config: OOMConfig | None = None
) -> OOMResult:
    """Train a generator-level observable with the unfolding-aware loss (module docstring).

    Parameters
    ----------
    network
        Maps (N, 2) features (generator- or reco-level, same meaning) to K outputs.
    data
        Training events.
    config
        :class:`OOMConfig`.
    """
    cfg = OOMConfig() if config is None else config
    if not isinstance(network, nn.Module):
        raise TypeError(f"network must be a torch.nn.Module, got {type(network).__name__}")
    with torch.no_grad():
        k = network(data.gen[:2]).shape[1]
    if k != cfg.n_bins:
        raise ConfigError(f"the network has {k} outputs; config.n_bins = {cfg.n_bins}")
    t0 = time.perf_counter()
    gen = torch.Generator().manual_seed(cfg.seed)
    result = OOMResult(network, cfg.n_bins)
    if cfg.pretrain_edges is not None and cfg.pretrain_epochs > 0:
        target = quantile_observable(0, cfg.pretrain_edges)(data.gen).argmax(1)
        opt = torch.optim.Adam(network.parameters(), lr=cfg.lr)
        for _ in range(cfg.pretrain_epochs):
            perm = torch.randperm(data.gen.shape[0], generator=gen)
            for i in range(0, perm.numel(), 1024):
                idx = perm[i : i + 1024]
                loss = nn.functional.cross_entropy(network(data.gen[idx]), target[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
    opt = torch.optim.Adam(network.parameters(), lr=cfg.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(cfg.steps, 1),
                                                       eta_min=0.05 * cfg.lr)  # fmt: skip
    n_batches = max(1, round(1.0 / cfg.batch_fraction))
    n_t, n_b = data.gen.shape[0], data.bkg.shape[0]
    step = 0
    while step < cfg.steps:
        at = torch.randperm(n_t, generator=gen) % n_batches
        ab = torch.randperm(n_b, generator=gen) % n_batches
        for j in range(n_batches):
            if step >= cfg.steps:
                break
            frac = step / max(cfg.steps - 1, 1)
            temp = cfg.temperature * (cfg.final_temperature / cfg.temperature) ** frac

            def mem(x: torch.Tensor, temp: float = temp) -> torch.Tensor:
                return torch.softmax(network(x) / temp, dim=1)

            batch = data.subset(at == j, ab == j, float(n_batches)) if n_batches > 1 else data
            loss, sig = _loss(mem, batch, cfg)
            if not bool(torch.isfinite(loss)):
                raise DataError(f"OOM loss is {float(loss.detach())} at step {step}")
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(network.parameters(), 10.0)
            opt.step()
            sched.step()
            result.loss.append(float(loss.detach()))
            result.sigma.append(float(sig.detach()))
            step += 1
    network.eval()
    result.seconds = time.perf_counter() - t0
    return result
