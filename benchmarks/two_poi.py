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

Example (≈ 6 min on 2 shared cores)::

    python benchmarks/two_poi.py --events 30000 --signal 100000 --scan 9
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


def frame(events: int, signal: int, seed: int) -> pd.DataFrame:
    """Raw simulated events, ``signal`` of the signal and ``events`` of each background."""
    from unbinned.analysis import split_production_modes
    from unbinned.sim.htautau import simulate

    parts = [
        simulate(signal, seed=seed, processes=["htautau"]),
        simulate(events, seed=seed, processes=["ztautau", "ttbar", "diboson"]),
    ]
    return split_production_modes(pd.concat(parts, ignore_index=True))


def train(events: int, signal: int, cr: str, seed: int) -> Any:
    """The two-region, two-POI analysis trained with the library defaults (CPU)."""
    from unbinned.analysis import PRODUCTION_MODES, production_mode_spec, train_analysis
    from unbinned.ml import HTauTauSource
    from unbinned.ml.runtime import RunOptions

    processes = (*PRODUCTION_MODES, "ztautau", "ttbar", "diboson")
    source = HTauTauSource(frame(events, signal, seed), processes=processes, seed=seed)
    reference = HTauTauSource(frame(events, signal, seed + 100), processes=processes,
                              seed=seed + 100)  # fmt: skip
    spec = production_mode_spec(control_regions={"CR": cr})
    return train_analysis(source, spec, reference=reference, seed=seed,
                          run=RunOptions(device="cpu", progress=False))  # fmt: skip


def main() -> None:
    """Train, measure the Asimov dataset, print one JSON line."""
    from unbinned.analysis import AnalysisModel

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=30000, help="raw events per background")
    ap.add_argument("--signal", type=int, default=100000, help="raw signal events (ggH + VBF)")
    ap.add_argument("--cr", default="DER_mass_transverse_met_lep > 80", help="CR selection")
    ap.add_argument("--scan", type=int, default=0, help="points per POI of the 2-D scan")
    ap.add_argument("--scan-out", type=Path, default=Path("two_poi_scan.json"))
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--save", type=Path, default=None, help="save the trained analysis here")
    ap.add_argument("--load", type=Path, default=None, help="measure a saved analysis instead")
    args = ap.parse_args()

    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if args.load is not None:
            model = AnalysisModel.load(args.load)
        else:
            model = train(args.events, args.signal, args.cr, args.seed)
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
        "events_per_background": args.events,
        "signal_events": args.signal,
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
        "warnings": sorted({str(w.message).split(":")[0] for w in caught}),
        "train_seconds": round(t_train, 1),
        "asimov_seconds": round(t_fit, 1),
    }  # fmt: skip
    if args.scan:
        grids = {k: np.linspace(max(0.0, 1 - 3 * s["unbinned"]), 1 + 3 * s["unbinned"], args.scan)
                 for k, s in out["sigma"].items()}  # type: ignore[attr-defined]  # fmt: skip
        values = (grids[pois[0]], grids[pois[1]])
        t2 = time.perf_counter()
        scans = {
            "unbinned": model.scan_2d(values).to_dict(),
            "binned": model.scan_2d(values, binned=True).to_dict(),
        }
        out["scan_seconds"] = round(time.perf_counter() - t2, 1)
        args.scan_out.write_text(json.dumps(scans))
        out["scan_out"] = str(args.scan_out)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
