"""Write ``tests/sim/data/sim_reference.json``: the simulator's output at fixed seeds.

The fixture of ``tests/sim/test_sim_equivalence.py``, generated once from the
simulator as it was before its speed-up (commit 50282c0) and kept as the
reference every later version is compared with.  For each process of
``simulate(EVENTS, seed=SEED, with_truth=True)`` and each numeric column it stores

* ``edges``: bin edges at the reference quantiles (or the distinct values of a
  discrete column), ``counts``: the events in each bin including under- and
  overflow, ``missing``: events at the ``MISSING`` marker, ``nan``: NaN entries;
* ``first``: the first ``N_FIRST`` values at full precision (an event-by-event
  check while the random stream was unchanged; since the float32 simulator of
  issue 20 it is not, and the test compares the distributions only);
* ``weight``: the process's constant weight and ``n_nominal`` the events passing
  the nominal selection it is computed from.

Usage: ``PYTHONPATH=src python tests/sim/make_sim_reference.py`` (a few seconds).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd

from unbinned.data.schema import MISSING, PROCESSES, WEIGHT_COLUMN
from unbinned.sim.htautau import simulate

EVENTS = 20_000
"""Events per process."""
SEED = 2026
N_BINS = 25
"""Quantile bins of a continuous column (fewer where quantiles coincide)."""
N_FIRST = 5
DISCRETE_MAX = 12
"""A column with at most this many distinct values is binned on them."""
OUT = Path(__file__).parent / "data" / "sim_reference.json"


def numeric_columns(df: pd.DataFrame) -> list[str]:
    """The float columns of a simulated frame (features, weights, labels, truth)."""
    return [c for c in df.columns if df[c].dtype == np.float64]


def histogram(values: npt.NDArray[np.float64], edges: list[float]) -> dict[str, object]:
    """Counts in ``[-inf, e0, ..., e_k, inf]`` of the regular entries, MISSING and NaN apart."""
    nan = np.isnan(values)
    missing = values == MISSING
    regular = values[~nan & ~missing]
    full = np.concatenate(([-np.inf], np.asarray(edges, dtype=np.float64), [np.inf]))
    counts = np.histogram(regular, bins=full)[0]
    return {
        "counts": [int(c) for c in counts],
        "missing": int(missing.sum()),
        "nan": int(nan.sum()),
    }


def bin_edges(values: npt.NDArray[np.float64]) -> list[float]:
    """Quantile edges of the regular entries; the midpoints of a discrete column's values."""
    regular = values[~np.isnan(values) & (values != MISSING)]
    if regular.size == 0:
        return []
    distinct = np.unique(regular)
    if distinct.size <= DISCRETE_MAX:
        return [float(x) for x in 0.5 * (distinct[1:] + distinct[:-1])]
    q = np.quantile(regular, np.linspace(0.0, 1.0, N_BINS + 1)[1:-1])
    return [float(x) for x in np.unique(q)]


def describe(frame: pd.DataFrame) -> dict[str, object]:
    """The stored summary of one process's events."""
    cols: dict[str, object] = {}
    for c in numeric_columns(frame):
        values = frame[c].to_numpy(dtype=np.float64)
        edges = bin_edges(values)
        cols[c] = {"edges": edges, **histogram(values, edges), "first": values[:N_FIRST].tolist()}
    nominal = (frame["PRI_had_pt"] >= 26.0) & (frame["PRI_lep_pt"] >= 20.0)
    modes = frame["production_mode"].value_counts().to_dict()
    return {
        "columns": cols,
        "weight": float(frame[WEIGHT_COLUMN].iloc[0]),
        "n_nominal": int(nominal.sum()),
        "production_mode": {str(k): int(v) for k, v in modes.items()},
    }


def main() -> None:
    df = simulate(EVENTS, seed=SEED, with_truth=True)
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()
    out = {
        "generated_by": "tests/sim/make_sim_reference.py",
        "commit": commit,
        "events_per_process": EVENTS,
        "seed": SEED,
        "numpy": np.__version__,
        "processes": {
            p: describe(df[df["detailed_labels"] == p].reset_index(drop=True)) for p in PROCESSES
        },
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(out, indent=None, separators=(",", ":")) + "\n")
    print(f"wrote {OUT} ({OUT.stat().st_size / 1e3:.0f} kB)")


if __name__ == "__main__":
    main()
