"""Cost of one pseudo-experiment's ingredients on one core (issue 20).

Prints one JSON line:

* ``simulate_events_per_s_per_core``: raw (stored) events per CPU second of
  ``unbinned.sim.htautau.simulate`` (all four processes, every feature, a frame
  as the library returns it), with numpy's, OpenMP's and torch's threads pinned to
  one; the best of ``--repeats`` runs.  CPU seconds rather than wall seconds: on
  a shared machine they are less sensitive to the other load.
  ``simulate_wall_events_per_s`` the same per wall-clock second.
* ``syst_events_per_s_per_core``: events per CPU second through
  ``apply_systematics`` (tes, jes and soft_met varied: MET propagation,
  re-selection, DER recomputed).
* with ``--baseline-src DIR``: ``baseline_*`` the same figures of another source
  tree (e.g. an older commit exported with ``git archive``), measured in a
  subprocess in the same run, and ``simulate_speedup`` the ratio.
* ``load_average``: the 1-minute load when the run started.

Target (issue 20): ``simulate_events_per_s_per_core`` >= 500,000.  The other
keys of the issue (``core_s_per_toy_full``, ``binned_toys_per_s``) are to be
added here.

Usage: ``python benchmarks/toy_speed.py [--events N] [--repeats R]
[--baseline-src DIR]`` (N per process, default 100,000).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"  # before numpy is imported: one core

import argparse  # noqa: E402
import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402


def measure(events: int, repeats: int) -> dict[str, float]:
    """Best-of-``repeats`` throughputs of the simulator and the systematics."""
    import torch

    torch.set_num_threads(1)
    from unbinned.sim.htautau import simulate
    from unbinned.sim.systematics import Nuisances, apply_systematics

    simulate(2000, seed=0)  # warm-up: imports, tables
    best_cpu = best_wall = best_syst = 0.0
    nuisances = Nuisances(tes=1.03, jes=0.97, soft_met=2.0)
    for r in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        df = simulate(events, seed=1 + r)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        n = len(df)
        best_cpu, best_wall = max(best_cpu, n / cpu), max(best_wall, n / wall)
        cpu = time.process_time()
        apply_systematics(df, nuisances, seed=r)
        best_syst = max(best_syst, n / (time.process_time() - cpu))
        del df
    return {
        "simulate_events_per_s_per_core": round(best_cpu),
        "simulate_wall_events_per_s": round(best_wall),
        "syst_events_per_s_per_core": round(best_syst),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000, help="events per process")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--baseline-src", default=None, help="src folder of the code to compare")
    parser.add_argument("--raw", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()

    load = os.getloadavg()[0]
    out: dict[str, object] = dict(measure(args.events, args.repeats))
    if args.raw:
        print(json.dumps(out))
        return
    if args.baseline_src:
        env = dict(os.environ, PYTHONPATH=os.path.abspath(args.baseline_src))
        cmd = [sys.executable, __file__, "--raw", f"--events={args.events}"]
        cmd.append(f"--repeats={args.repeats}")
        res = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
        base = json.loads(res.stdout.strip().splitlines()[-1])
        out.update({f"baseline_{k}": v for k, v in base.items()})
        out["simulate_speedup"] = round(
            out["simulate_events_per_s_per_core"] / base["simulate_events_per_s_per_core"], 2
        )
    out["n_events"] = 4 * args.events
    out["load_average"] = round(load, 2)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
