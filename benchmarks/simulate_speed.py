"""Throughput and memory of the H→ττ simulator and of the systematics on its output.

Prints one JSON line:

* ``events_per_s``: stored events per wall-clock second of ``simulate`` (all four
  processes, every feature); ``events_per_cpu_s`` the same per CPU second of this
  process (numpy runs on one core), a figure less sensitive to other load on a
  shared machine; ``load_average`` the 1-minute load when the run started.
* ``syst_events_per_s``: events per second through ``apply_systematics`` with
  tes, jes and soft_met varied (MET propagation, re-selection, DER recomputed).
* ``peak_rss_gb``: peak resident memory of the process (``ru_maxrss``).

Targets (2 cores): >= 100,000 events/s generated, >= 500,000 events/s through the
systematics, <= 2 GB for 1 M events.

Usage: ``python benchmarks/simulate_speed.py [--events N]`` (per process; default
250,000, i.e. 1 M events).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time

from unbinned.sim.htautau import simulate
from unbinned.sim.systematics import Nuisances, apply_systematics


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=250_000, help="events per process")
    args = parser.parse_args()

    load = os.getloadavg()[0]
    simulate(1000, seed=0)  # warm-up: imports, tables
    wall, cpu = time.perf_counter(), time.process_time()
    df = simulate(args.events, seed=1)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    n = len(df)
    log(f"simulated {n} events in {wall:.2f} s wall, {cpu:.2f} s CPU (load {load:.1f})")

    nuisances = Nuisances(tes=1.03, jes=0.97, soft_met=2.0)
    apply_systematics(df.iloc[:1000], nuisances, seed=0)  # warm-up
    t_syst = time.perf_counter()
    varied = apply_systematics(df, nuisances, seed=0)
    t_syst = time.perf_counter() - t_syst
    log(f"systematics on {n} events in {t_syst:.2f} s ({len(varied)} survive the re-selection)")

    rss_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6  # kB on Linux
    print(
        json.dumps(
            {
                "events_per_s": round(n / wall),
                "events_per_cpu_s": round(n / cpu),
                "syst_events_per_s": round(n / t_syst),
                "peak_rss_gb": round(rss_gb, 3),
                "n_events": n,
                "load_average": round(load, 2),
            }
        )
    )


if __name__ == "__main__":
    main()
