r"""Tail closure of the classifier's signal fraction vs training statistics and ensembles.

Issue 18: the demo's classifier (64, 64; 12 epochs of 4096 events) claims too much
signal in the signal-like tail.  This benchmark trains that classifier
(:func:`unbinned.ml.train_classifier`, calibrated as in the analysis) on nominal
H→ττ simulation of ``--train`` raw events per process, and scores it on an
independent nominal sample of ``--test`` raw events per process (another seed):

* ``top_bin``: true over claimed signal in the most signal-like of 20 equal-signal
  quantile bins of :math:`c_\mathrm{sig}` (the 5 % most signal-like signal events),

  .. math:: r_\mathrm{top} = \frac{\sum_{i \in \mathrm{top},\, i \in \mathrm{sig}} w_i}
            {\sum_{i \in \mathrm{top}} w_i\, c_\mathrm{sig}(x_i)} \Big/
            \frac{\sum_{i \in \mathrm{sig}} w_i}{\sum_i w_i\, c_\mathrm{sig}(x_i)}

  (the totals normalised, so that it measures the shape), with its Monte-Carlo error
  from the weights of all the bin's events (``top_bin_error``; the few background
  events in the tail, each weighing up to 10³ signal events, dominate it);
* ``worst_bin``: max over the 20 bins of :math:`|r - 1|`;
* ``fisher_closure``: the stat-only information about μ the fractions claim,
  :math:`\sum_i w_i c_\mathrm{sig}^2`, over the information of a 100-bin histogram of
  the same score with the true labels, :math:`\sum_b S_b^2 / (S_b + B_b)` (1 for a
  calibrated score; the binned value is a lower bound of the score's information);
* ``uncalibrated_top_bin``, ``uncalibrated_fisher_closure``: the same for the
  network before the temperature and bias calibration (``temperature``: its fitted T);
* ``sigma_true``: the stat-only σ_μ of that histogram, :math:`(\sum_b S_b^2/(S_b+B_b))^{-1/2}`
  at 10 fb⁻¹ (the score's real quality).

With ``--ensemble K`` it also scores the average of K classifiers trained with
seeds 0..K-1 (fractions averaged, :math:`\bar c_p = \frac1K\sum_k c_p^{(k)}`).
Prints one JSON line per configuration.  Example (≈ 4 min on one core)::

    python benchmarks/tail_closure.py --train 50000 200000 --test 300000 --ensemble 3
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace

import numpy as np
import torch

from unbinned.data.events import EventSet
from unbinned.ml import HTauTauSource, TrainConfig
from unbinned.ml.classifier import train_classifier
from unbinned.ml.runtime import RunOptions
from unbinned.sim.htautau import simulate

DEMO = TrainConfig(hidden=(64, 64), epochs=12, batch_size=4096, patience=4)
"""The demo's classifier settings (SurrogateConfig's defaults on the demo's sample)."""


def nominal(n: int, seed: int) -> EventSet:
    """Nominal selected events of every process from ``n`` raw events per process."""
    return HTauTauSource(simulate(n, seed=seed, luminosity=10.0), seed=seed).nominal()


def closure(c_sig: np.ndarray, w: np.ndarray, is_sig: np.ndarray) -> dict[str, float]:
    """Equal-signal quantile closure, Fisher closure and true σ_μ of the score ``c_sig``."""
    norm = w[is_sig].sum() / (w * c_sig).sum()
    order = np.argsort(c_sig)
    cs, ws, ss = c_sig[order], w[order], is_sig[order]
    cum = np.cumsum(ws * ss) / (ws * ss).sum()
    bins = np.minimum((cum * 20).astype(int), 19)
    ratios, errors = [], []
    for b in range(20):
        m = bins == b
        true = (ws[m] * ss[m]).sum()
        claimed = (ws[m] * cs[m]).sum() * norm
        ratios.append(true / claimed)
        # Monte-Carlo error of true/claimed from every event of the bin (the claimed sum's
        # background events weigh up to 10^3 times a signal event: a handful of Z->tautau
        # events dominate it in the signal-like tail)
        var_t, var_c = (ws[m] ** 2 * ss[m]).sum(), (ws[m] ** 2 * cs[m] ** 2).sum() * norm**2
        cov = (ws[m] ** 2 * ss[m] * cs[m]).sum() * norm
        rel2 = var_t / true**2 + var_c / claimed**2 - 2 * cov / (true * claimed)
        errors.append(float(true / claimed * np.sqrt(max(rel2, 0.0))))
    edges = np.quantile(c_sig, np.linspace(0, 1, 101))
    idx = np.clip(np.searchsorted(edges, c_sig, side="right") - 1, 0, 99)
    s = np.bincount(idx, weights=w * is_sig, minlength=100)
    t = np.bincount(idx, weights=w, minlength=100)
    info_true = float(np.sum(np.where(t > 0, s**2 / np.where(t > 0, t, 1), 0.0)))
    info_claimed = float((w * (c_sig * norm) ** 2).sum())
    return {
        "top_bin": round(float(ratios[-1]), 4),
        "top_bin_error": round(float(errors[-1]), 4),
        "worst_bin": round(float(np.max(np.abs(np.array(ratios) - 1))), 4),
        "fisher_closure": round(info_claimed / info_true, 4),
        "sigma_true": round(info_true**-0.5, 4),
        "integral_ratio": round(float(1 / norm), 4),
    }


def main() -> None:
    """Command line: train sizes, test size, ensemble size; one JSON line each."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--train", type=int, nargs="+", default=[50_000, 200_000])
    ap.add_argument("--test", type=int, default=300_000)
    ap.add_argument("--ensemble", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch-size", type=int, default=DEMO.batch_size)
    ap.add_argument("--epochs", type=int, default=DEMO.epochs)
    args = ap.parse_args()
    config = replace(DEMO, batch_size=args.batch_size, epochs=args.epochs)
    torch.set_num_threads(args.threads)
    test = nominal(args.test, seed=987_654)
    w = test.weights
    sig = test.process_names.index("htautau")
    is_sig = test.process_codes == sig
    for n in args.train:
        train = nominal(n, seed=12_345)
        fractions = []
        for k in range(args.ensemble):
            t0 = time.perf_counter()
            clf = train_classifier(train, config=config, seed=k, run=RunOptions(progress=False))
            c = clf.fractions(test)[:, clf.processes.index("htautau")]
            fractions.append(c)
            seconds = round(time.perf_counter() - t0, 1)
            row = {"train_raw_per_process": n, "member": k, "seconds": seconds,
                   "batch_size": config.batch_size, "epochs": config.epochs,
                   "steps": clf.history.steps if clf.history else None}  # fmt: skip
            row.update(closure(c, w, is_sig))
            # the same network without the temperature/bias calibration (prior shift only)
            z = torch.from_numpy(clf.logits(test)) + torch.from_numpy(clf.log_prior)
            c_raw = torch.softmax(z, dim=1)[:, clf.processes.index("htautau")].numpy()
            raw = closure(c_raw, w, is_sig)
            row.update({"uncalibrated_" + k: raw[k] for k in ("top_bin", "fisher_closure")})
            row["temperature"] = round(clf.temperature, 4)
            print(json.dumps(row), flush=True)
        if args.ensemble > 1:
            mean = np.mean(fractions, axis=0)
            print(json.dumps({"train_raw_per_process": n, "ensemble": args.ensemble,
                              **closure(mean, w, is_sig)}), flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
