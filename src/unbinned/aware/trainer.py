r"""Systematic-aware training: cross-entropy pre-training, then the expected-uncertainty loss.

DESIGN.md §4.  Any ``torch.nn.Module`` that maps event features to outputs can
be trained: one output (a score, histogrammed in fixed bins), C ≥ 2 outputs (a
multiclass classifier, each event histogrammed in its arg-max class's score), or
K outputs used as K bins (INFERNO's softmax).  The steps:

1. **Cross-entropy pre-training** (optional, ``ce_epochs``): class-balanced
   weighted cross-entropy.  One output: signal processes vs the rest (binary
   cross-entropy on the logit).  C outputs: the class of every process
   (``classes``).  ``"softmax"`` bins: binary cross-entropy on
   P(signal) := Σ_{b ≥ K/2} softmax(z)_b, so that the upper half of the bins
   starts signal-like.  Optionally (``adapt_edges``) the score's bin edges are
   then placed at the signal-score quantiles (equal signal per bin) and kept.
2. **Aware training** (``aware_steps`` optimiser steps, Adam with a cosine
   schedule): each step takes a large batch of events (a random fraction
   ``batch_fraction`` of the event ids; the varied samples of the same events
   come along, so that the shape derivatives are paired differences), builds the
   differentiable per-process histograms h_pb (:class:`SoftHistogram`, weights
   scaled by 1/fraction), their derivatives with respect to every shape nuisance
   (:class:`ShapeVariation`):

   * two-sided: ∂h/∂α ≈ (h(x⁺) - h(x⁻)) / (2 step), the network re-evaluated on
     the events varied by ±step σ (the simulator's systematics);
   * one-sided: (h(x⁺) - h(x⁰)) / step (for a nuisance with a one-sided
     prior, e.g. a smearing at nominal zero);
   * reweighting: Σ_i w_i (∂ ln w_i/∂α) m_ib, exact when the per-event weight
     derivative is known (the analytic oracle models: ``OracleModel.reweight``);

   and minimises the expected profiled uncertainty Σ_i w_i sqrt((I⁻¹)_ii) of
   :class:`~unbinned.aware.fisher_loss.FisherModel`, plus a penalty keeping every
   bin populated:

   .. math::

       \lambda \sum_b \mathrm{relu}\big(1 - N_b / N_{min}\big)^2,\qquad
       N_b = \sum_{i \in \mathrm{batch}} m_{ib} / \mathrm{fraction},

   with N_b the (soft) number of *simulated* events in bin b and
   N_min = ``min_bin_events``, so that every bin keeps enough simulation for its
   templates.  A small ``floor`` (relative to the mean expected count per bin)
   is added to ν_b in the 1/ν_b of the Fisher information during training only.
   The softmax temperature can be annealed (``final_temperature``) so that the
   soft counts approach the arg-max ones; with a validation sample the state
   with the lowest exact validation loss is kept (the training Fisher
   information is optimistic: the network can fit the Monte-Carlo fluctuations
   of the training templates).
3. **Evaluation** (:meth:`AwareTrainer.evaluate`): exact hard histograms of the
   whole (test) sample, the same derivatives from hard histograms, the Fisher
   σ of each POI, and :class:`AwareEvaluation.templates` /
   :meth:`AwareEvaluation.binned_likelihood`: the binned baseline
   (:mod:`unbinned.binned`) of the trained network, whose fit
   (:func:`unbinned.infer.fit`) on its Asimov data gives the same σ.

References
----------
P. de Castro, T. Dorigo, "INFERNO: Inference-Aware Neural Optimisation",
Comput. Phys. Commun. 244 (2019) 170, arXiv:1806.04743;
S. Wunsch, S. Jörger, R. Wolf, G. Quast, "Optimal statistical inference in the
presence of systematic uncertainties using neural network optimization based on
binned Poisson likelihoods with nuisance parameters", Comput. Softw. Big Sci. 5
(2021) 4, arXiv:2003.07186;
CMS Collaboration, "Development of systematic uncertainty-aware neural network
trainings for binned-likelihood analyses at the LHC", arXiv:2502.13047.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from torch import nn

from unbinned.aware.config import AwareConfig
from unbinned.aware.fisher_loss import FisherModel, fisher_sigmas
from unbinned.aware.results import AwareEvaluation, TrainingHistory, region_names
from unbinned.aware.samples import AwareSamples, ShapeVariation, WeightedEvents, split_batches
from unbinned.aware.softhist import SoftHistogram, weighted_counts
from unbinned.aware.standardize import Standardize
from unbinned.binned import ScoredEvents
from unbinned.exceptions import ConfigError, DataError
from unbinned.model.spec import ModelSpec

__all__ = [
    "AwareConfig",
    "AwareEvaluation",
    "AwareSamples",
    "AwareTrainer",
    "ShapeVariation",
    "Standardize",
    "TrainingHistory",
    "WeightedEvents",
]


class AwareTrainer:
    """Cross-entropy pre-training, then the expected-uncertainty (Fisher) loss.

    Parameters
    ----------
    model
        Any module mapping inputs (N, d) to outputs (N, n_outputs).
    spec
        The statistical model: POIs, rate and shape nuisances, processes.
    config
        :class:`AwareConfig`.
    processes
        Process order of the events' ``process`` indices (default: the spec's).
    classes
        Multiclass networks: process name → class index (for the pre-training);
        default: process i → class i.
    signal
        Processes counted as signal in binary pre-training (default: the spec's
        ``signal: true`` processes).
    poi_weights
        Weights w_i of the loss Σ_i w_i σ_i over several POIs (default 1 each;
        e.g. 1/σ_i of a reference training, so that each POI counts relatively).

    Examples
    --------
    >>> trainer = AwareTrainer(net, spec, AwareConfig(aware_steps=200))  # doctest: +SKIP
    >>> history = trainer.fit(train_samples)  # doctest: +SKIP
    >>> trainer.evaluate(test_samples).sigmas  # doctest: +SKIP
    {'mu': 0.097}
    """

    def __init__(
        self,
        model: nn.Module,
        spec: ModelSpec,
        config: AwareConfig | None = None,
        *,
        processes: Sequence[str] | None = None,
        classes: Mapping[str, int] | None = None,
        signal: Sequence[str] | None = None,
        poi_weights: Mapping[str, float] | None = None,
    ) -> None:
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        self.model = model
        self.spec = spec
        self.config = AwareConfig() if config is None else config
        self.fisher = FisherModel(spec, processes, poi_weights)
        self.processes = self.fisher.processes
        sig = [p.name for p in spec.processes if p.signal] if signal is None else list(signal)
        unknown = [p for p in sig if p not in self.processes]
        if unknown or not sig:
            raise ConfigError(
                f"signal processes {sig} must be a non-empty subset of {list(self.processes)}"
            )
        self._is_signal = torch.tensor([p in sig for p in self.processes])
        if classes is not None:
            missing = [p for p in self.processes if p not in classes]
            if missing:
                raise ConfigError(f"classes lacks a class index for process(es) {missing}")
            self._class_of = torch.tensor([int(classes[p]) for p in self.processes])
        else:
            self._class_of = torch.arange(len(self.processes))
        self.history = TrainingHistory()
        self._histogram = self.config.histogram

    # ------------------------------------------------------------------ helpers
    @property
    def histogram(self) -> SoftHistogram:
        """The differentiable histogram in use (the configuration's, temperature annealed)."""
        return self._histogram

    def _check_samples(self, samples: AwareSamples) -> None:
        if not isinstance(samples, AwareSamples):
            raise TypeError(f"samples must be AwareSamples, got {type(samples).__name__}")
        missing = [k for k in self.fisher.shape_nuisances if k not in samples.variations]
        if missing:
            raise DataError(
                f"the model's shape nuisance(s) {missing} have no ShapeVariation in the samples"
            )
        n_p = len(self.processes)
        for ev in samples.all_events():
            if len(ev) and (int(ev.process.min()) < 0 or int(ev.process.max()) >= n_p):
                raise DataError(
                    f"process indices must lie in [0, {n_p}) for processes {list(self.processes)}"
                )

    def _outputs(self, x: torch.Tensor, chunk: int = 65536) -> torch.Tensor:
        if x.shape[0] <= chunk:
            out: torch.Tensor = self.model(x)
            return out
        return torch.cat([self.model(x[i : i + chunk]) for i in range(0, x.shape[0], chunk)])

    def histograms(
        self, samples: AwareSamples, *, hard: bool = False, scale: float = 1.0
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Per-process histograms, shape derivatives and simulated counts per bin.

        Returns
        -------
        nominal, derivatives, mc_counts
            (P, B), (K, P, B) per σ of each shape nuisance (``FisherModel`` order),
            and the (soft) number of nominal simulated events per bin (B,).
            Differentiable unless ``hard``.
        """
        hist = self.histogram
        n_p = len(self.processes)

        def member(ev: WeightedEvents) -> torch.Tensor:
            z = self._outputs(ev.x)
            if hard:
                return nn.functional.one_hot(
                    hist.bin_index(z), hist.n_bins_total(z.shape[1] if z.dim() == 2 else 1)
                ).to(torch.float64)
            return hist.membership(z)

        nom = samples.nominal
        m0 = member(nom)
        h0 = weighted_counts(m0, nom.weights * scale, nom.process, n_p)
        derivs = []
        for k in self.fisher.shape_nuisances:
            v = samples.variations[k]
            if v.log_weight_derivative is not None:
                d = weighted_counts(m0, nom.weights * v.log_weight_derivative * scale,
                                    nom.process, n_p)  # fmt: skip
            else:
                assert v.up is not None
                hu = weighted_counts(member(v.up), v.up.weights * scale, v.up.process, n_p)
                if v.down is not None:
                    hd = weighted_counts(member(v.down), v.down.weights * scale,
                                         v.down.process, n_p)  # fmt: skip
                    d = (hu - hd) / (2.0 * v.step)
                else:
                    d = (hu - h0) / v.step
            derivs.append(d)
        d_all = torch.stack(derivs) if derivs else torch.zeros((0, *h0.shape), dtype=torch.float64)
        mc = m0.to(torch.float64).sum(0) * scale
        return h0, d_all, mc

    # ------------------------------------------------------------------ pre-training
    def pretrain(self, samples: AwareSamples | WeightedEvents) -> list[float]:
        """Class-balanced cross-entropy pre-training for ``config.ce_epochs`` epochs."""
        cfg = self.config
        ev = samples.nominal if isinstance(samples, AwareSamples) else samples
        if cfg.ce_epochs == 0 or len(ev) == 0:
            return []
        gen = torch.Generator().manual_seed(cfg.seed + 1)
        with torch.no_grad():
            n_out = self.model(ev.x[:2]).shape[1]
        mode = "softmax" if self.histogram.method == "softmax" else (
            "binary" if n_out == 1 else "multiclass")  # fmt: skip
        if mode == "binary" or mode == "softmax":
            target = self._is_signal[ev.process].to(torch.long)
            n_cls = 2
        else:
            target = self._class_of[ev.process]
            n_cls = n_out
            if int(target.max()) >= n_out:
                raise ConfigError(
                    f"class indices up to {int(target.max())} for a network with {n_out} outputs"
                )
        sums = torch.zeros(n_cls, dtype=torch.float64).index_add(0, target, ev.weights)
        if bool(torch.any(sums <= 0)):
            raise DataError(f"every class needs positive total weight; per class {sums.tolist()}")
        w = ev.weights / sums[target] * (float(ev.weights.sum()) / n_cls)
        w = (w / w.mean()).to(ev.x.dtype)
        opt = torch.optim.Adam(self.model.parameters(), lr=cfg.ce_lr)
        losses = []
        self.model.train()
        for _ in range(cfg.ce_epochs):
            perm = torch.randperm(len(ev), generator=gen)
            total, count = 0.0, 0
            for i in range(0, len(ev), cfg.ce_batch_size):
                idx = perm[i : i + cfg.ce_batch_size]
                z = self.model(ev.x[idx])
                loss = _ce(z, target[idx], w[idx], mode)
                opt.zero_grad()
                loss.backward()
                opt.step()
                total += float(loss.detach()) * idx.numel()
                count += idx.numel()
            losses.append(total / max(count, 1))
        self.history.ce_loss += losses
        if cfg.adapt_edges:
            self.adapt_edges(ev)
        return losses

    def adapt_edges(self, events: WeightedEvents) -> npt.NDArray[np.float64]:
        """Set the score edges to the signal-score quantiles of ``events``.

        Per class (one row for a one-output network): inner edges at the weighted
        quantiles of the class score of the signal events assigned to that class
        (equal expected signal per bin); the outer edges stay at the score range
        ([0, 1], or [1/C, 1] for C classes).  A class without signal events keeps
        equal-width bins.  Returns the (n_classes, B + 1) edges.
        """
        hist = self.config.histogram
        if hist.method == "softmax":
            raise ConfigError("adapt_edges needs a 'kernel' or 'kde' histogram of a score")
        self.model.eval()
        with torch.no_grad():
            z = self._outputs(events.x)
            cls, score = hist.scores(z)
        rows = hist.class_edges(z.shape[1]).copy()
        n_b = rows.shape[1] - 1
        sig = self._is_signal[events.process].numpy()
        c_np, s_np, w_np = cls.numpy(), score.to(torch.float64).numpy(), events.weights.numpy()
        for c in range(rows.shape[0]):
            sel = sig & (c_np == c)
            if int(sel.sum()) < n_b:
                continue
            order = np.argsort(s_np[sel])
            cw = np.cumsum(w_np[sel][order])
            q = np.linspace(0.0, 1.0, n_b + 1)[1:-1] * cw[-1]
            inner = np.interp(q, cw, s_np[sel][order])
            lo, hi = rows[c, 0], rows[c, -1]
            edges = np.concatenate([[lo], inner, [hi]])
            gap = 1e-6 * (hi - lo)
            for k in range(1, n_b + 1):
                edges[k] = max(edges[k], edges[k - 1] + gap)
            if edges[-2] < hi:
                edges[-1] = hi
                rows[c] = edges
        self._histogram = replace(hist, edges=tuple(tuple(r) for r in rows.tolist()))
        self.config = replace(self.config, histogram=self._histogram)
        self.model.train()
        return rows

    # ------------------------------------------------------------------ aware training
    def loss(self, samples: AwareSamples, scale: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
        """(Fisher loss, populated-bin penalty) of a batch (weights scaled by ``scale``)."""
        cfg = self.config
        h0, d, mc = self.histograms(samples, scale=scale)
        mean_bin = float(h0.detach().sum()) / h0.shape[1]
        loss = self.fisher.loss(h0, d if d.shape[0] else None, floor=cfg.floor * mean_bin)
        pen = torch.zeros((), dtype=torch.float64)
        if cfg.min_bin_events > 0 and cfg.bin_penalty > 0:
            pen = cfg.bin_penalty * torch.relu(1.0 - mc / cfg.min_bin_events).pow(2).sum()
        return loss, pen

    def train(self, samples: AwareSamples, validation: AwareSamples | None = None) -> list[float]:
        """``config.aware_steps`` Adam steps on the aware loss; returns the batch losses.

        With ``validation`` (an independent sample) the exact hard-histogram loss
        on it is computed every ``config.eval_every`` steps and the network
        state with the lowest one is restored at the end (early stopping by model
        selection); its values are kept in ``history.validation``.
        """
        cfg = self.config
        self._check_samples(samples)
        if validation is not None:
            self._check_samples(validation)
        if cfg.aware_steps == 0:
            return []
        gen = torch.Generator().manual_seed(cfg.seed + 2)
        everything = samples.all_events()
        n_ids = int(max(int(e.event_id.max()) for e in everything if len(e))) + 1
        n_batches = max(1, round(1.0 / cfg.batch_fraction))
        opt = torch.optim.AdamW(self.model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(
            opt, T_max=cfg.aware_steps, eta_min=cfg.lr * cfg.lr_final
        )
        losses: list[float] = []
        best: tuple[float, dict[str, torch.Tensor]] | None = None
        self.model.train()
        step = 0
        while step < cfg.aware_steps:
            batches = (
                split_batches(samples, torch.randperm(n_ids, generator=gen) % n_batches, n_batches)
                if n_batches > 1
                else [samples]
            )
            for batch in batches:
                if step >= cfg.aware_steps:
                    break
                if cfg.final_temperature is not None:
                    t0 = cfg.histogram.temperature
                    frac = step / max(cfg.aware_steps - 1, 1)
                    temp = t0 * (cfg.final_temperature / t0) ** frac
                    self._histogram = replace(cfg.histogram, temperature=temp)
                loss, pen = self.loss(batch, scale=float(n_batches))
                total = loss + pen
                if not bool(torch.isfinite(total)):
                    raise DataError(
                        f"aware loss is {float(total.detach())} at step {step}: a bin without "
                        "events or a free parameter no bin measures; raise min_bin_events or floor"
                    )
                opt.zero_grad()
                total.backward()
                if cfg.grad_clip is not None:
                    nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip)
                opt.step()
                sched.step()
                losses.append(float(loss.detach()))
                self.history.penalty.append(float(pen.detach()))
                step += 1
                last = step == cfg.aware_steps
                if validation is not None and (step % cfg.eval_every == 0 or last):
                    value = self._validation_loss(validation)
                    self.history.validation.append(value)
                    if best is None or value < best[0]:
                        best = (value, {k: v.detach().clone()
                                        for k, v in self.model.state_dict().items()})  # fmt: skip
                    self.model.train()
        if best is not None:
            self.model.load_state_dict(best[1])
        self.history.aware_loss += losses
        return losses

    def _validation_loss(self, validation: AwareSamples) -> float:
        ev = self.evaluate(validation)
        w = self.fisher.poi_weights
        return float(sum(w[k] * v for k, v in ev.sigmas.items()))

    def fit(self, samples: AwareSamples, validation: AwareSamples | None = None) -> TrainingHistory:
        """Pre-train with cross-entropy, then train with the aware loss (see :meth:`train`)."""
        t0 = time.perf_counter()
        self.pretrain(samples)
        self.train(samples, validation)
        self.model.eval()
        self.history.seconds += time.perf_counter() - t0
        return self.history

    # ------------------------------------------------------------------ evaluation
    def evaluate(self, samples: AwareSamples) -> AwareEvaluation:
        """Exact hard-histogram σ of the POIs on ``samples`` (e.g. an independent test set)."""
        self._check_samples(samples)
        self.model.eval()
        with torch.no_grad():
            h0, d, _ = self.histograms(samples, hard=True)
            n_out = self.model(samples.nominal.x[:2]).shape[1]
        info = self.fisher.information(h0, d if d.shape[0] else None)
        sig = fisher_sigmas(info, self.fisher.poi_indices)
        hist = self.histogram
        edges = (
            np.arange(n_out + 1.0)[None, :] if hist.method == "softmax" else hist.class_edges(n_out)
        )
        return AwareEvaluation(
            sigmas={p: float(v) for p, v in zip(self.fisher.poi_names, sig.tolist(), strict=True)},
            information=info.numpy(),
            parameter_names=self.fisher.parameter_names,
            processes=self.processes,
            nominal=h0.numpy(),
            derivatives=d.numpy(),
            shape_nuisances=self.fisher.shape_nuisances,
            edges=np.asarray(edges, dtype=np.float64),
            n_classes=hist.n_classes(n_out),
            n_empty_bins=int((h0.sum(0) <= 0).sum()),
        )

    def scored_events(self, events: WeightedEvents, regions: Sequence[str] | None = None) -> Any:
        """The events as the binned baseline's :class:`~unbinned.binned.ScoredEvents`.

        Score = :meth:`SoftHistogram.scores`, process = process name, region = the
        arg-max class's region name (multiclass); histogram them with
        ``edges = evaluation.edges`` in :func:`~unbinned.binned.build_templates`.
        """
        self.model.eval()
        with torch.no_grad():
            z = self._outputs(events.x)
            cls, score = self.histogram.scores(z)
        n_cls = self.histogram.n_classes(z.shape[1])
        names = np.asarray(region_names(regions, n_cls), dtype=object)
        procs = np.asarray(self.processes, dtype=object)
        return ScoredEvents(
            score.to(torch.float64).numpy(),
            events.weights.numpy(),
            procs[events.process.numpy()],
            names[cls.numpy()] if n_cls > 1 else None,
        )


def _ce(z: torch.Tensor, target: torch.Tensor, w: torch.Tensor, mode: str) -> torch.Tensor:
    if mode == "binary":
        per = nn.functional.binary_cross_entropy_with_logits(
            z[:, 0], target.to(z.dtype), reduction="none"
        )
    elif mode == "softmax":
        k = z.shape[1]
        logp = torch.log_softmax(z, dim=1)
        lp_sig = torch.logsumexp(logp[:, k // 2 :], dim=1)
        lp_bkg = torch.logsumexp(logp[:, : k // 2], dim=1)
        per = -torch.where(target == 1, lp_sig, lp_bkg)
    else:
        per = nn.functional.cross_entropy(z, target, reduction="none")
    return (per * w).mean()
