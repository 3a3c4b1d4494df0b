"""The H→ττ reference (integration) sample of the coverage benchmarks, shared by the scripts."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd


def reference_frame(
    events_per_process: int, sizes: Mapping[str, str | int], seed: int, fraction: float = 1.0
) -> pd.DataFrame:
    """Raw simulated events: ``events_per_process`` of each process, ``sizes[p]`` of p.

    Every process's events are weighted to ``fraction`` of its expected yield (a batch
    of a reference simulated in several).  Deterministic in ``seed``.
    """
    from unbinned.data.schema import PROCESSES, WEIGHT_COLUMN
    from unbinned.sim.htautau import simulate

    others = [p for p in PROCESSES if p not in sizes]
    parts = [simulate(int(events_per_process * fraction), seed=seed, progress=True,
                      processes=others)]  # fmt: skip
    parts += [simulate(int(int(n) * fraction), seed=seed, progress=True, processes=[p])
              for p, n in sorted(sizes.items())]  # fmt: skip
    frame = pd.concat(parts, ignore_index=True)
    frame[WEIGHT_COLUMN] *= fraction  # simulate() weights each call to the full yield
    return frame
