r"""A two-region, two-POI H→ττ analysis: ggH and VBF signal strengths, SR + counting CR.

Simulates H→ττ events (:func:`unbinned.sim.htautau.simulate`), labels the signal by
its production mode (:func:`unbinned.analysis.split_production_modes`) and trains
the analysis of :func:`unbinned.analysis.production_mode_spec` with the library
defaults (:func:`unbinned.analysis.train_analysis`, on CPU): one unbinned signal
region ``SR`` and one counting control region ``CR`` defined by a selection
(default: the high-transverse-mass events, ``DER_mass_transverse_met_lep > 80``,
rich in tt̄ and poor in signal), POIs ``mu_ggh`` and ``mu_vbf``, the challenge's
shape and normalisation nuisances.  The surrogates train on one simulation, the
integration sample and the binned templates come from an independent one.

On the Asimov dataset at the nominal point (μ_ggH = μ_VBF = 1, 10 fb⁻¹) it measures,
unbinned and with the binned baseline (one category per production mode, 10 bins
each, and the CR's count), the profiled 68.27 % interval of each POI: σ is its half
width; ``correlation`` is ρ(μ_ggH, μ_VBF) of the fit's covariance.  With ``--scan``
it also scans the profiled Δq on a grid of the two POIs (unbinned and binned) and
writes it as JSON (``--scan-out``) for the report.  Prints one JSON line.

The heavy backgrounds need many more events than the signal (BENCHMARKS.md, "Two
regions, two POIs"): ``--process-events`` and ``--reference-process-events`` set the
raw events of one process in the training and the reference sample.
``--fisher-check`` compares the information the fractions claim with the true labels'
on an independent simulation.

Example (≈ 10 min on 2 shared cores, 7.5 GB; the scan at 9 × 9 points far longer)::

    python benchmarks/two_poi.py --events 30000 --signal 200000 \
        --process-events ztautau=300000 ttbar=60000 \
        --reference-process-events ztautau=1500000 ttbar=150000 diboson=60000
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

BACKGROUNDS = ("ztautau", "ttbar", "diboson")


def sizes(base: dict[str, int], overrides: list[str]) -> dict[str, int]:
    """Raw events per simulated process: ``base`` with ``PROCESS=N`` overrides applied."""
    out = dict(base)
    for item in overrides:
        name, _, n = item.partition("=")
        if name not in out or not n.isdigit():
            raise SystemExit(f"{item!r}: expected PROCESS=N with PROCESS one of {list(out)}")
        out[name] = int(n)
    return out


def frame(counts: dict[str, int], seed: int) -> pd.DataFrame:
    """Raw simulated events, ``counts[p]`` of process p, the signal split by production mode.

    Each process is simulated on its own (the simulator seeds every process apart and
    weights it to its expected yield), so the counts may differ.
    """
    from unbinned.analysis import split_production_modes
    from unbinned.sim.htautau import simulate

    parts = [simulate(n, seed=seed, processes=[p]) for p, n in counts.items()]
    return split_production_modes(pd.concat(parts, ignore_index=True))


def train(train_counts: dict[str, int], ref_counts: dict[str, int], cr: str, seed: int) -> Any:
    """The two-region, two-POI analysis trained with the library defaults (CPU)."""
    from unbinned.analysis import PRODUCTION_MODES, production_mode_spec, train_analysis
    from unbinned.ml import HTauTauSource
    from unbinned.ml.runtime import RunOptions

    processes = (*PRODUCTION_MODES, *BACKGROUNDS)
    source = HTauTauSource(frame(train_counts, seed), processes=processes, seed=seed)
    reference = HTauTauSource(frame(ref_counts, seed + 100), processes=processes,
                              seed=seed + 100)  # fmt: skip
    spec = production_mode_spec(control_regions={"CR": cr})
    return train_analysis(source, spec, reference=reference, seed=seed,
                          run=RunOptions(device="cpu", progress=False))  # fmt: skip


def stat_only(lik: Any, pois: list[str]) -> dict[str, Any]:
    """σ of each POI and their correlation with every nuisance fixed, from the Hessian.

    At the Asimov point the stat-only covariance of the POIs is 2 (∂²q/∂μ∂μ')⁻¹
    (q = −2 ln L, errordef 1); the profiled one from the same Hessian,
    2 (∂²q/∂θ∂θ')⁻¹ restricted to the POIs, is reported as ``sigma_hesse``.
    """
    h = np.asarray(lik.hessian(lik.vector({})))
    idx = [list(lik.parameter_names).index(p) for p in pois]
    stat = 2.0 * np.linalg.inv(h[np.ix_(idx, idx)])
    prof = (2.0 * np.linalg.inv(h))[np.ix_(idx, idx)]
    s, sp = np.sqrt(np.diag(stat)), np.sqrt(np.diag(prof))
    return {"sigma_stat": dict(zip(pois, s.tolist(), strict=True)),
            "rho_stat": float(stat[0, 1] / (s[0] * s[1])),
            "sigma_hesse": dict(zip(pois, sp.tolist(), strict=True))}  # fmt: skip


def _sigmas(info: Any) -> dict[str, Any]:
    """σ of each POI and ρ from a 2 × 2 Fisher information."""
    cov = np.linalg.inv(info)
    sd = np.sqrt(np.diag(cov))
    return {"sigma": sd.tolist(), "rho": float(cov[0, 1] / (sd[0] * sd[1]))}


def fisher_check(model: Any, counts: dict[str, int], seed: int, bins: int = 20) -> dict[str, Any]:
    r"""Stat-only information the fractions claim against the true labels', on new events.

    On an independent simulation (``counts`` raw events per process): claimed
    I_ab = Σ_SR w c_a c_b + S_a S_b / N of the CR (S_p = Σ_CR w c_p), what the unbinned
    Asimov fit uses; true: the same with the true labels histogrammed in the binned
    baseline's score (category of the larger signal fraction, ``bins`` bins of equal
    true signal of Σ_signal c in each), I_ab = Σ_b S_ab S_bb / N_b, plus the CR's true
    counts.  A calibrated classifier claims at least the histogram's information.
    """
    from unbinned.analysis import PRODUCTION_MODES
    from unbinned.ml import HTauTauSource

    procs = list(model.surrogate.processes)
    events = HTauTauSource(frame(counts, seed), processes=(*PRODUCTION_MODES, *BACKGROUNDS),
                           seed=seed).nominal()  # fmt: skip
    region = model.layout.labels(events)
    c = np.concatenate([model.tensors(ch).fractions for ch in events.chunks(200_000)])
    w = np.asarray(events.weights)
    labels = np.asarray(events.process_labels)
    sig = [procs.index(p) for p in model.signals]
    truth = np.stack([labels == procs[k] for k in sig], 1).astype(np.float64)
    sr, cr = region == 0, region == 1
    cs = c[:, sig]

    def cr_term(frac: Any) -> Any:
        yields = (frac[cr] * w[cr, None]).sum(0)
        return np.outer(yields, yields) / w[cr].sum()

    claimed = (cs[sr] * w[sr, None]).T @ cs[sr] + cr_term(cs)
    key = np.full(len(w), -1)
    category, total = np.argmax(cs, 1), cs.sum(1)
    for k in range(len(sig)):
        m = sr & (category == k)
        order = np.argsort(total[m])
        cum = np.cumsum((truth[m].sum(1) * w[m])[order])
        cuts = np.interp(np.linspace(0, cum[-1], bins + 1)[1:-1], cum, total[m][order])
        key[m] = k * bins + np.searchsorted(cuts, total[m])
    true = cr_term(truth)
    for b in np.unique(key[key >= 0]):
        m = key == b
        yields = (truth[m] * w[m, None]).sum(0)
        true += np.outer(yields, yields) / w[m].sum()
    yields = (cs[sr] * w[sr, None]).sum(0) / (truth[sr] * w[sr, None]).sum(0)
    return {"events": counts, "seed": seed, "bins_per_category": bins,
            "claimed": _sigmas(claimed), "true_label_histogram": _sigmas(true),
            "information_ratio_claimed_over_true": (np.diag(claimed) / np.diag(true)).tolist(),
            "signal_yield_sr_claimed_over_true": yields.tolist()}  # fmt: skip


def plot(scans: dict[str, Any], path: Path) -> None:
    """The 68 % and 95 % joint contours of the two POIs (label → Scan2D) as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from unbinned.plot import plot_scan_2d

    fig, ax = plt.subplots(figsize=(5, 4.2))
    plot_scan_2d(scans, ax=ax)
    ax.legend()
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)


def main() -> None:
    """Train, measure the Asimov dataset, print one JSON line."""
    from unbinned.analysis import AnalysisModel

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=30000, help="raw events per background")
    ap.add_argument("--signal", type=int, default=100000, help="raw signal events (ggH + VBF)")
    ap.add_argument(
        "--process-events",
        nargs="*",
        default=[],
        metavar="PROCESS=N",
        help="raw training events of a process (htautau, ztautau, ttbar, diboson)",
    )
    ap.add_argument(
        "--reference-process-events",
        nargs="*",
        default=[],
        metavar="PROCESS=N",
        help="raw events of a process in the reference (integration, templates); "
        "default: the training's",
    )
    ap.add_argument("--cr", default="DER_mass_transverse_met_lep > 80", help="CR selection")
    ap.add_argument("--scan", type=int, default=0, help="points per POI of the 2-D scan")
    ap.add_argument("--scan-out", type=Path, default=Path("two_poi_scan.json"))
    ap.add_argument(
        "--plot",
        type=Path,
        default=None,
        help="with --scan: draw the joint contours (unbinned and binned) here",
    )
    ap.add_argument(
        "--fisher-check",
        nargs="*",
        default=None,
        metavar="PROCESS=N",
        help="compare the claimed with the true-label information on an independent "
        "simulation of this many raw events (default sizes: the reference's)",
    )
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--save", type=Path, default=None, help="save the trained analysis here")
    ap.add_argument("--load", type=Path, default=None, help="measure a saved analysis instead")
    args = ap.parse_args()

    base = {"htautau": args.signal, **dict.fromkeys(BACKGROUNDS, args.events)}
    train_counts = sizes(base, args.process_events)
    ref_counts = sizes(train_counts, args.reference_process_events)
    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if args.load is not None:
            model = AnalysisModel.load(args.load)
        else:
            model = train(train_counts, ref_counts, args.cr, args.seed)
            if args.save is not None:
                model.save(args.save, overwrite=True)
    t_train = time.perf_counter() - t0
    t1 = time.perf_counter()
    m = model.measure_asimov()
    t_fit = time.perf_counter() - t1
    assert m.pois is not None
    assert m.binned is not None
    assert m.binned.pois is not None
    pois = list(model.pois)
    out: dict[str, object] = {
        "benchmark": "two_poi",
        "train_events": None if args.load else train_counts,
        "reference_events": None if args.load else ref_counts,
        "cr_selection": args.cr,
        "region_events": model.metadata.get("region_events"),
        "sigma": {
            k: {"unbinned": m.pois[k].width / 2, "binned": m.binned.pois[k].width / 2}
            for k in pois
        },
        "sigma_ratio_unbinned_over_binned": {
            k: m.pois[k].width / m.binned.pois[k].width for k in pois
        },
        "correlation": {
            "unbinned": m.correlation_of(*pois),
            "binned": m.binned.correlation_of(*pois),
        },
        "valid": {"unbinned": m.valid and all(v.valid for v in m.pois.values()),
                  "binned": m.binned.valid and all(v.valid for v in m.binned.pois.values())},
        "stat_only": {"unbinned": stat_only(model.asimov_likelihood(), pois),
                      "binned": stat_only(model.asimov_likelihood(binned=True), pois)},
        "warnings": sorted({str(w.message).split(":")[0] for w in caught}),
        "train_seconds": round(t_train, 1),
        "asimov_seconds": round(t_fit, 1),
    }  # fmt: skip
    if args.fisher_check is not None:
        t3 = time.perf_counter()
        out["fisher_check"] = fisher_check(model, sizes(ref_counts, args.fisher_check),
                                           args.seed + 200)  # fmt: skip
        out["fisher_check_seconds"] = round(time.perf_counter() - t3, 1)
    if args.scan:
        # ±3σ of the wider of the two methods, clipped at the POIs' lower bound 0
        width = {k: 3 * max(m.pois[k].width, m.binned.pois[k].width) / 2 for k in pois}
        grids = {k: np.linspace(max(0.0, 1 - width[k]), 1 + width[k], args.scan) for k in pois}
        values = (grids[pois[0]], grids[pois[1]])
        t2 = time.perf_counter()
        scans = {"unbinned": model.scan_2d(values), "binned": model.scan_2d(values, binned=True)}
        out["scan_seconds"] = round(time.perf_counter() - t2, 1)
        out["scan_nan_points"] = {k: int(np.isnan(v.delta_q).sum()) for k, v in scans.items()}
        args.scan_out.write_text(json.dumps({k: v.to_dict() for k, v in scans.items()}))
        out["scan_out"] = str(args.scan_out)
        if args.plot is not None:
            plot(scans, args.plot)
            out["plot"] = str(args.plot)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
