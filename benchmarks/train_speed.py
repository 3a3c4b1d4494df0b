"""Training speed of the H→ττ surrogates on a GPU against the CPU, measured in the same run.

The training sample of the coverage study (``--events-per-process`` raw events per
process, simulated with seed 101) and the settings of ``SurrogateConfig.precise()``
(classifier (64, 64), 12 epochs at batches of 4096; responses (64, 64), batches of 16384,
every event at each of the 38 variation points).

1. **Per-epoch time, both devices.** The classifier and the Z→ττ response (the largest
   one) are trained for ``--timing-epochs`` epochs on each device of ``--devices``; the
   training loop's seconds per epoch (data preparation excluded) and their ratios,
   ``speedup_classifier`` and ``speedup_response`` (CPU / GPU), are reported.  The CPU
   uses ``--threads`` torch threads (default: every core of the machine).
2. **A whole training on the GPU** (``--full``): ``SurrogateConfig.precise()`` with
   early stopping, all four responses; ``train_minutes_full`` is the wall time of
   :func:`unbinned.ml.train_surrogate` (simulating the variations included),
   ``train_loop_minutes_full`` the networks' training loops alone.  With ``--save DIR``
   the trained surrogate is written there.

Prints one JSON line.  Run (on a machine with a CUDA device):

    python benchmarks/train_speed.py --full
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from typing import Any

import torch


def log(*args: Any) -> None:
    print(*args, file=sys.stderr, flush=True)


def per_epoch(history: Any) -> float:
    return float(history.seconds) / max(int(history.epochs_run), 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events-per-process", type=int, default=300_000)
    parser.add_argument("--timing-epochs", type=int, default=2)
    parser.add_argument("--devices", default="cuda,cpu")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--full", action="store_true", help="also a whole training on the GPU")
    parser.add_argument("--save", default=None, help="write the whole training's surrogate here")
    args = parser.parse_args()

    from unbinned.ml import HTauTauSource, RunOptions, SurrogateConfig, save, train_surrogate
    from unbinned.sim.htautau import simulate

    devices = [d for d in args.devices.split(",") if d]
    if any(d.startswith("cuda") for d in devices) and not torch.cuda.is_available():
        raise SystemExit("no CUDA device: run with --devices cpu, or on a machine with a GPU")
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    raw = simulate(args.events_per_process, seed=101, progress=False)
    source = HTauTauSource(raw, seed=101)
    log(f"simulated {len(raw)} raw events in {time.perf_counter() - t0:.0f} s")
    precise = SurrogateConfig.precise()
    out: dict[str, Any] = {
        "events_per_process": args.events_per_process,
        "timing_epochs": args.timing_epochs,
        "cpu_threads": args.threads,
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "torch": torch.__version__,
    }
    timing: dict[str, dict[str, float]] = {}
    for device in devices:
        n = args.timing_epochs
        cfg = dataclasses.replace(
            precise,
            classifier=dataclasses.replace(precise.classifier, epochs=n, patience=n + 1),
            response=dataclasses.replace(precise.response, epochs=n, patience=n + 1),
            response_processes=("ztautau",),
        )
        t1 = time.perf_counter()
        model = train_surrogate(
            source, config=cfg, seed=0, run=RunOptions(device=device, progress=False)
        )
        resp = model.responses["ztautau"]
        assert resp is not None
        assert resp.history is not None
        assert model.classifier.history is not None
        timing[device] = {
            "classifier_epoch_s": round(per_epoch(model.classifier.history), 3),
            "response_epoch_s": round(per_epoch(resp.history), 3),
            "wall_s": round(time.perf_counter() - t1, 1),
        }
        log(f"{device}: {timing[device]}")
    out["timing"] = timing
    gpu = next((d for d in devices if d.startswith("cuda")), None)
    if gpu is not None and "cpu" in timing:
        for key, name in (("classifier_epoch_s", "classifier"), ("response_epoch_s", "response")):
            out[f"speedup_{name}"] = round(timing["cpu"][key] / timing[gpu][key], 2)
    if args.full:
        t1 = time.perf_counter()
        model = train_surrogate(
            source, config=precise, seed=0, run=RunOptions(device=gpu, progress=False)
        )
        wall = time.perf_counter() - t1
        histories = [model.classifier.history] + [
            r.history for r in model.responses.values() if r is not None
        ]
        loop = sum(float(h.seconds) for h in histories if h is not None)
        out["train_minutes_full"] = round(wall / 60.0, 2)
        out["train_loop_minutes_full"] = round(loop / 60.0, 2)
        out["epochs_run_full"] = [int(h.epochs_run) for h in histories if h is not None]
        out["full_device"] = str(gpu)
        if args.save:
            save(model, args.save, overwrite=True)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
