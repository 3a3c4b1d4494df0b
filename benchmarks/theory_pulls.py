"""Benchmark: the reference scheme for theory uncertainties against LO scale variation.

Reproduces the per-particle reference uncertainty δ±_ref from the pure-QCD table
(+14.7 % / -9.34 %, Ghosh et al., arXiv:2210.15167) and the LO→NLO pulls of 19 LHC
processes under both schemes, with the fraction of outliers |t| > 2 (and > 1).
Prints one JSON line; ``--plot PATH`` writes the pull distributions.

    python benchmarks/theory_pulls.py [--plot pulls.png]
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np

from unbinned.theory import lo_nlo_pulls, per_particle_reference


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--plot", default=None, help="write the pull distributions here")
    args = parser.parse_args(argv)
    ref = per_particle_reference()
    table = lo_nlo_pulls(ref)
    max_dev = float(np.max(np.abs(table.pull_ref - table.quoted_pull_ref)))
    out = {
        "delta_up_ref": ref.delta_up,
        "delta_down_ref": ref.delta_down,
        "outlier_fraction_scale_2": table.outlier_fraction("scale", 2.0),
        "outlier_fraction_ref_2": table.outlier_fraction("reference", 2.0),
        "outlier_fraction_scale_1": table.outlier_fraction("scale", 1.0),
        "outlier_fraction_ref_1": table.outlier_fraction("reference", 1.0),
        "median_abs_pull_scale": float(np.median(np.abs(table.pull_scale))),
        "median_abs_pull_ref": float(np.median(np.abs(table.pull_ref))),
        "max_abs_dev_pull_ref_vs_quoted": max_dev,
        "pulls": {
            p: {"scale": float(s), "reference": float(r)}
            for p, s, r in zip(table.processes, table.pull_scale, table.pull_ref, strict=True)
        },
    }
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        from unbinned.theory.plot import plot_pull_distributions

        fig, ax = plt.subplots(figsize=(6, 4))
        plot_pull_distributions(table, ax=ax)
        fig.tight_layout()
        fig.savefig(args.plot, dpi=120)
        print(f"plot written to {args.plot}", file=sys.stderr)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
