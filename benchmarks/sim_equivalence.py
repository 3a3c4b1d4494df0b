r"""Same physics? Every simulated column of this source tree against another's (issue 20).

Prints one JSON line.  Both trees simulate ``simulate(N, seed, with_truth=True)``
(``N`` per process, default 200,000); the other tree (``--baseline-src``, e.g. an
older commit exported with ``git archive``) runs in a subprocess, twice, with two
seeds.  Each float column of each process is histogrammed on 25 bins at the
baseline's quantiles (or on its distinct values when it has at most 12, one bin for
a constant up to rounding; MISSING and NaN entries in their own bins) and two
histograms are compared by the two-sample χ² :math:`\sum (a - b)^2/(a + b)` over the non-empty bins.

* ``new_vs_old``: this tree (seed ``--seed``) against the baseline (seed
  ``--seed + 1``); ``old_vs_old``: the baseline against itself at the two seeds, the
  null reference of statistically equivalent samples.
* For each: ``n_columns``, ``n_p_below_1e-3`` (expected about ``n_columns / 1000``
  for equivalent samples), ``min_p``, ``chi2_per_ndf`` (the sum of χ² over the sum of
  ndf; 1 for equivalent samples) and ``worst``: the five smallest p-values.
* ``weights_rel_diff``: per process, the relative difference of the constant weight
  (Y / N_nominal: the nominal-selection efficiency) between this tree and the
  baseline, with ``weights_rel_sigma`` its binomial standard deviation.

Usage: ``PYTHONPATH=src python benchmarks/sim_equivalence.py --baseline-src /tmp/old/src
[--events N] [--seed S]`` (a few minutes for the default).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
from typing import Any

import numpy as np

N_BINS = 25
DISCRETE_MAX = 12


def _float_columns(df: Any) -> list[str]:
    return [c for c in df.columns if df[c].dtype == np.float64]


def _edges(values: np.ndarray, missing: float) -> list[float]:
    regular = values[~np.isnan(values) & (values != missing)]
    if regular.size == 0:
        return []
    distinct = np.unique(regular)
    if distinct[-1] - distinct[0] <= 1e-9 * np.abs(distinct).max():
        return []  # one constant up to rounding (the Higgs mass): one bin
    if distinct.size <= DISCRETE_MAX:
        return [float(x) for x in 0.5 * (distinct[1:] + distinct[:-1])]
    q = np.quantile(regular, np.linspace(0.0, 1.0, N_BINS + 1)[1:-1])
    return [float(x) for x in np.unique(q)]


def _counts(values: np.ndarray, edges: list[float], missing: float) -> list[int]:
    nan = np.isnan(values)
    miss = values == missing
    full = np.concatenate(([-np.inf], np.asarray(edges, dtype=np.float64), [np.inf]))
    regular = np.histogram(values[~nan & ~miss], bins=full)[0]
    return [int(c) for c in regular] + [int(miss.sum()), int(nan.sum())]


def _describe(events: int, seed: int, edges: dict[str, dict[str, list[float]]] | None) -> dict:
    """Edges (the baseline's, or from these events), counts and weights per process."""
    from unbinned.data.schema import MISSING, PROCESSES, WEIGHT_COLUMN
    from unbinned.sim.htautau import simulate

    df = simulate(events, seed=seed, with_truth=True)
    out: dict[str, Any] = {}
    for p in PROCESSES:
        part = df[df["detailed_labels"] == p]
        cols: dict[str, Any] = {}
        for c in _float_columns(part):
            values = part[c].to_numpy(dtype=np.float64)
            e = edges[p][c] if edges is not None else _edges(values, MISSING)
            cols[c] = {"edges": e, "counts": _counts(values, e, MISSING)}
        out[p] = {"columns": cols, "weight": float(part[WEIGHT_COLUMN].iloc[0]), "n": len(part)}
    return out


def _compare(a: dict, b: dict) -> dict[str, Any]:
    from scipy import stats

    results = []
    for p, pa in a.items():
        for c, ca in pa["columns"].items():
            x = np.asarray(ca["counts"], dtype=np.float64)
            y = np.asarray(b[p]["columns"][c]["counts"], dtype=np.float64)
            used = (x + y) > 0
            x, y = x[used], y[used]
            if used.sum() < 2:
                continue
            chi2 = float(np.sum((x - y) ** 2 / (x + y)))
            ndf = int(used.sum()) - 1
            results.append((float(stats.chi2.sf(chi2, ndf)), chi2, ndf, f"{p}:{c}"))
    results.sort()
    return {
        "n_columns": len(results),
        "n_p_below_1e-3": sum(r[0] < 1e-3 for r in results),
        "min_p": results[0][0],
        "chi2_per_ndf": round(sum(r[1] for r in results) / sum(r[2] for r in results), 3),
        "worst": [f"{name} p={pv:.2g} chi2={c2:.1f}/{nd}" for pv, c2, nd, name in results[:5]],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000, help="events per process")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--baseline-src", required=False, help="src folder of the other tree")
    parser.add_argument("--raw", default=None, help=argparse.SUPPRESS)  # seed,edges-file
    args = parser.parse_args()
    if args.raw is not None:  # the baseline's side: describe, with edges from a file or own
        seed, path = args.raw.split(",", 1)
        edges = None
        if path != "-":
            with open(path) as fh:
                ref = json.loads(fh.read())
            edges = {p: {c: v["edges"] for c, v in d["columns"].items()} for p, d in ref.items()}
        print(json.dumps(_describe(args.events, int(seed), edges)))
        return
    if not args.baseline_src:
        parser.error("--baseline-src is required")
    env = dict(os.environ, PYTHONPATH=os.path.abspath(args.baseline_src))

    def baseline(seed: int, edges_path: str) -> dict:
        cmd = [sys.executable, __file__, f"--events={args.events}", f"--raw={seed},{edges_path}"]
        res = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
        return json.loads(res.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]

    old_a = baseline(args.seed + 1, "-")
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        f.write(json.dumps(old_a))
    try:
        old_b = baseline(args.seed + 2, f.name)
    finally:
        os.unlink(f.name)
    edges = {p: {c: v["edges"] for c, v in d["columns"].items()} for p, d in old_a.items()}
    new = _describe(args.events, args.seed, edges)
    weights, sigma = {}, {}
    for p in new:
        weights[p] = round(new[p]["weight"] / old_b[p]["weight"] - 1.0, 5)
        # w = Y / N_nominal, N_nominal ~ Binomial(N, f): the relative sigma of the
        # ratio of two independent weights is sqrt(2 (1 - f) / (N f))
        f_nom = _nominal_fraction(old_a[p])
        sigma[p] = round(math.sqrt(2.0 * (1.0 - f_nom) / (new[p]["n"] * f_nom)), 5)
    print(
        json.dumps(
            {
                "new_vs_old": _compare(new, old_b),
                "old_vs_old": _compare(old_a, old_b),
                "weights_rel_diff": weights,
                "weights_rel_sigma": sigma,
                "events_per_process": args.events,
                "load_average": round(os.getloadavg()[0], 2),
            }
        )
    )


def _nominal_fraction(desc: dict) -> float:
    """Rough nominal-selection fraction: the share of τ_h pT above 26 GeV."""
    col = desc["columns"]["PRI_had_pt"]
    edges = np.asarray(col["edges"])
    counts = np.asarray(col["counts"][: len(edges) + 1], dtype=np.float64)
    above = counts[1:][edges >= 26.0].sum()
    return float(max(above / counts.sum(), 1e-3))


if __name__ == "__main__":
    main()
