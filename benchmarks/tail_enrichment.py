r"""Tail enrichment of the classifier's training sample against the demo's plain sample.

Issue 18: a Z→ττ event weighs ~10³ signal events and a tt̄ one ~46, so the classifier
learns the background under the signal-like tail from a few thousand raw events and
over-claims the signal there.  *Enrichment* simulates ``--big`` raw events of each heavy
background (Z→ττ, tt̄) in chunks of ``--chunk`` and keeps every event whose first-pass
signal score s(x) is at least a threshold t (the tail) and a random 1/k of the others,
with their weight multiplied by k:

.. math::

    w_i' = w_i \left[\mathbb 1(s_i \ge t) + k\,\mathbb 1(s_i < t)\,\mathbb 1(u_i < 1/k)\right],
    \qquad u_i \sim U(0, 1),

so that E[w'] = w event by event: the expected weighted density is unchanged everywhere
(unbiased by construction), while the tail holds ``big/plain`` times the raw events of
the plain sample.  The per-process weight w is Y_p L / (10 fb⁻¹ N_p^sel) with N_p^sel
counted over *all* ``--big`` generated events.  s(x) is the signal fraction of a cheap
first-pass classifier (trained on ``--first-pass-events`` raw events per process, another
seed, ``--first-pass-epochs`` epochs); t leaves the fraction ``--tail-signal`` of that
sample's selected signal weight above it.  Only one chunk and the kept events are ever in
memory.

For each ``--seeds`` s this trains the demo's classifier (``SurrogateConfig().classifier``
with the planned epochs and batch size, ``calibration_fraction`` 0.2, the
``FeatureTransform`` fitted on the training sample, as ``train_surrogate`` does) on

* ``plain``: the demo's sample, ``simulate(TRAINING_EVENTS, seed=s)``;
* ``enriched``: the same htautau and diboson events, Z→ττ and tt̄ enriched as above,

and scores it on an independent nominal simulation (``--test`` raw events per process,
seed ``--test-seed``, default the health check's) with the formulas of
:mod:`unbinned.analysis.health` (``_fraction_closure``, ``_fisher_closure``, its default
``HealthOptions``), so the figures match ``benchmarks/surrogate_health.py``:
``fraction_closure_worst``, ``top_bin`` (true/claimed in the top of 20 equal-signal bins)
± ``top_bin_error``, ``fisher_closure`` ± ``fisher_closure_error``.  One JSON line on
stdout (a row per variant × seed), progress on stderr.  Example (≈ 25 min on one core)::

    python benchmarks/tail_enrichment.py --seeds 0 1
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
import torch

from unbinned.analysis.health import HealthOptions, _fisher_closure, _fraction_closure
from unbinned.data.events import EventSet
from unbinned.data.schema import EXPECTED_YIELDS_10FB, FEATURES, PROCESSES
from unbinned.ml import HTauTauSource, RunOptions, SurrogateConfig, TrainConfig
from unbinned.ml._features import FeatureTransform, feature_matrix
from unbinned.ml.classifier import ProcessClassifier, train_classifier
from unbinned.sim.htautau import TRAINING_EVENTS, SimulationConfig, simulate
from unbinned.sim.htautau._simulate import process_frame

HEAVY = ("ztautau", "ttbar")
LUMI = 10.0


def say(text: str) -> None:
    """A progress line on stderr."""
    print(f"[tail_enrichment {time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def nominal(frame: pd.DataFrame, seed: int) -> EventSet:
    """The nominal selected events of a raw frame."""
    return HTauTauSource(frame, seed=seed).nominal()


def train(events: EventSet, seed: int, config: TrainConfig | None = None) -> ProcessClassifier:
    """The demo's classifier training (``train_surrogate``'s call) on ``events``."""
    cfg = SurrogateConfig()
    names = tuple(FEATURES)
    transform = FeatureTransform.fit(feature_matrix(events, names), names)
    return train_classifier(
        events, processes=PROCESSES, feature_names=names, transform=transform,
        config=config or cfg.classifier, calibration_fraction=cfg.calibration_fraction,
        seed=seed, run=RunOptions(device="cpu", progress=False),
    )  # fmt: skip


def raw_score(clf: ProcessClassifier) -> Callable[[pd.DataFrame], np.ndarray]:
    """s(x): the classifier's signal fraction on raw (not re-selected) events."""
    j = clf.processes.index("htautau")

    def score(frame: pd.DataFrame) -> np.ndarray:
        ev = EventSet.from_pandas(frame, feature_columns=FEATURES, process_names=PROCESSES)
        return clf.fractions(ev)[:, j]

    return score


def enriched_process(
    process: str,
    n_big: int,
    chunk: int,
    factor: int,
    score: Callable[[pd.DataFrame], Any],
    threshold: float,
    seed: int,
) -> tuple[pd.DataFrame, dict[str, float]]:
    """``n_big`` raw events of ``process`` in chunks, the tail kept, the rest thinned by k."""
    ss = np.random.SeedSequence([seed, PROCESSES.index(process), 0xE4])
    gen_ss, keep_ss = ss.spawn(2)
    n_chunks = -(-n_big // chunk)
    gens, keeps = gen_ss.spawn(n_chunks), keep_ss.spawn(n_chunks)
    cfg = SimulationConfig()
    parts, n_sel, n_tail, done = [], 0, 0, 0
    for j in range(n_chunks):
        m = min(chunk, n_big - done)
        frame, nom = process_frame(process, m, np.random.Generator(np.random.PCG64(gens[j])), cfg)
        n_sel += nom
        tail = np.asarray(score(frame)) >= threshold
        u = np.random.Generator(np.random.PCG64(keeps[j])).random(m)
        keep = tail | (u < 1.0 / factor)
        mult = np.where(tail, 1.0, float(factor))[keep]
        part = frame.loc[keep].reset_index(drop=True)
        part["weights"] = mult
        parts.append(part)
        n_tail += int(tail.sum())
        done += m
        del frame
    out = pd.concat(parts, ignore_index=True)
    out["weights"] *= EXPECTED_YIELDS_10FB[process] * LUMI / 10.0 / n_sel
    stats = {"generated": n_big, "kept": len(out), "tail_raw": n_tail,
             "tail_fraction": n_tail / n_big}  # fmt: skip
    return out, stats


def evaluate(clf: ProcessClassifier, test: EventSet, is_sig: np.ndarray) -> dict[str, Any]:
    """The health check's fraction and Fisher closure of ``clf`` on ``test``."""
    c = clf.fractions(test)[:, clf.processes.index("htautau")]
    w, y = test.weights, is_sig.astype(np.float64)
    opts = HealthOptions()
    fraction, total = _fraction_closure(c, w, y, opts)
    claimed, true, fisher, err, binning, _ = _fisher_closure(c, w, y, opts)
    return {
        "fraction_closure_worst": round(float(np.nanmax(np.abs(fraction.ratio - 1.0))), 4),
        "top_bin": round(float(fraction.ratio[-1]), 4),
        "top_bin_error": round(float(fraction.error[-1]), 4),
        "fisher_closure": round(float(fisher), 4),
        "fisher_closure_error": round(float(err), 4),
        "fisher_binning_ratio": round(float(binning), 4),
        "claimed_total_ratio": round(float(total), 4),
        "sigma_mu_claimed": round(float(claimed) ** -0.5, 4),
        "sigma_mu_true": round(float(true) ** -0.5, 4),
        "fraction_ratio": [round(float(r), 3) for r in fraction.ratio],
    }


def main() -> None:
    """Command line; one JSON line on stdout."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--variants", nargs="+", default=["plain", "enriched"])
    ap.add_argument("--test", type=int, default=1_000_000, help="raw test events per process")
    ap.add_argument("--test-seed", type=int, default=918_273_645)
    ap.add_argument("--big", type=int, default=20_000_000, help="generated raw Z→ττ, tt̄ events")
    ap.add_argument("--factor", type=int, default=10, help="k: 1/k of the non-tail events kept")
    ap.add_argument("--chunk", type=int, default=1_000_000)
    ap.add_argument(
        "--tail-signal",
        type=float,
        default=0.5,
        help="the tail holds this fraction of the first pass's signal weight",
    )
    ap.add_argument("--first-pass-events", type=int, default=200_000)
    ap.add_argument("--first-pass-epochs", type=int, default=4)
    ap.add_argument(
        "--plain-scale",
        type=float,
        default=1.0,
        help="scale of TRAINING_EVENTS for the plain and the non-heavy samples",
    )
    ap.add_argument(
        "--light-events",
        type=int,
        default=None,
        help="raw htautau and diboson events (default: TRAINING_EVENTS')",
    )
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    t_start = time.perf_counter()
    counts = {p: max(10, int(n * args.plain_scale)) for p, n in TRAINING_EVENTS.items()}
    if args.light_events is not None:
        counts.update({p: args.light_events for p in PROCESSES if p not in HEAVY})
    say(f"test sample: {args.test} raw per process, seed {args.test_seed}")
    test = nominal(simulate(args.test, seed=args.test_seed, luminosity=LUMI), args.test_seed)
    is_sig = np.asarray(test.process_mask("htautau"), dtype=bool)
    rows = []
    for s in args.seeds:
        for variant in args.variants:
            t0 = time.perf_counter()
            extra: dict[str, Any] = {}
            if variant == "plain":
                frame = simulate(counts, seed=s, luminosity=LUMI)
            else:
                say(f"seed {s}: first pass ({args.first_pass_events} raw per process)")
                fp_frame = simulate(args.first_pass_events, seed=s + 7_000_000, luminosity=LUMI)
                fp_events = nominal(fp_frame, s)
                fp = train(fp_events, s, TrainConfig(epochs=args.first_pass_epochs,
                                                     batch_size=1024, patience=4))  # fmt: skip
                fs = fp.fractions(fp_events)[:, fp.processes.index("htautau")]
                fsig = np.asarray(fp_events.process_mask("htautau"), dtype=bool)
                wsig = fp_events.weights[fsig]
                thr = float(np.quantile(fs[fsig], 1.0 - args.tail_signal, weights=wsig,
                                        method="inverted_cdf"))  # fmt: skip
                del fp_frame, fp_events
                t_fp = time.perf_counter() - t0
                light = [p for p in PROCESSES if p not in HEAVY]
                frames = [simulate({p: counts[p] for p in light}, seed=s, luminosity=LUMI,
                                   processes=light)]  # fmt: skip
                for p in HEAVY:
                    say(f"seed {s}: enriching {p}: {args.big} generated, k = {args.factor}")
                    part, st = enriched_process(p, args.big, args.chunk, args.factor,
                                                raw_score(fp), thr, s)  # fmt: skip
                    frames.append(part)
                    extra[p] = st
                frame = pd.concat(frames, ignore_index=True)
                extra.update(threshold=round(thr, 5), first_pass_seconds=round(t_fp, 1))
            events = nominal(frame, s)
            raw_sizes = frame["detailed_labels"].value_counts().to_dict()
            del frame
            t_sim = time.perf_counter() - t0
            say(f"seed {s} {variant}: {len(events)} selected events; training ...")
            t1 = time.perf_counter()
            clf = train(events, s)
            t_train = time.perf_counter() - t1
            row = {"variant": variant, "seed": s, "raw_events": raw_sizes,
                   "selected_events": len(events),
                   "steps": clf.history.steps if clf.history else None,
                   "train_seconds": round(t_train, 1), "sample_seconds": round(t_sim, 1),
                   **extra, **evaluate(clf, test, is_sig)}  # fmt: skip
            say(json.dumps({k: v for k, v in row.items() if k != "fraction_ratio"}))
            rows.append(row)
            del events, clf
    out = {
        "benchmark": "tail_enrichment",
        "rows": rows,
        "test_events_per_process": args.test,
        "test_seed": args.test_seed,
        "big": args.big,
        "factor": args.factor,
        "tail_signal": args.tail_signal,
        "plain_counts": counts,
        "threads": args.threads,
        "load": os.getloadavg()[0],
        "seconds": round(time.perf_counter() - t_start, 1),
        "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
