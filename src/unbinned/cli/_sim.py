"""``unbinned simulate``, ``unbinned pseudo-experiment`` and the provisional ``demo``."""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

__all__ = ["add_commands"]

_NUISANCE_OPTIONS = (
    ("tes", "tau energy scale (1 = nominal)"),
    ("jes", "jet energy scale (1 = nominal)"),
    ("soft_met", "soft MET smearing in GeV (0 = nominal)"),
    ("ttbar_scale", "ttbar normalisation (1 = nominal)"),
    ("diboson_scale", "diboson normalisation (1 = nominal)"),
    ("bkg_scale", "normalisation of every background (1 = nominal)"),
)


def _finite(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _out_path(text: str) -> Path:
    path = Path(text)
    if path.suffix != ".parquet":
        raise argparse.ArgumentTypeError(f"{text!r}: the output must be a .parquet file")
    if path.exists() and path.is_dir():
        raise argparse.ArgumentTypeError(f"{text!r} is a directory; expected a file name")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise argparse.ArgumentTypeError(f"folder {str(parent)!r} does not exist; create it first")
    return path


def _in_path(text: str) -> Path:
    path = Path(text)
    if not path.is_file():
        raise argparse.ArgumentTypeError(f"no file {text!r}")
    return path


def _add_nuisance_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("nuisance parameters (DESIGN.md §2)")
    for name, text in _NUISANCE_OPTIONS:
        g.add_argument(f"--{name.replace('_', '-')}", dest=name, type=_finite, help=text)


def _nuisances(args: argparse.Namespace) -> Any:
    from unbinned.sim.systematics import Nuisances

    given = {n: getattr(args, n) for n, _ in _NUISANCE_OPTIONS if getattr(args, n) is not None}
    return Nuisances(**given)


def _add_sample_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--events-per-process",
        type=_positive_int,
        default=100_000,
        metavar="N",
        help="simulated raw events per process (default: %(default)s)",
    )
    p.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    p.add_argument(
        "--luminosity",
        type=_finite,
        default=10.0,
        metavar="L",
        help="integrated luminosity in fb^-1 (default: %(default)s)",
    )
    p.add_argument("--json", action="store_true", help="print the summary as JSON")


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register the simulation commands."""
    p = sub.add_parser(
        "simulate",
        help="simulate the H→ττ dataset (challenge format) and write it as parquet",
        description=(
            "Simulate htautau, ztautau, ttbar and diboson in the FAIR Universe schema. "
            "By default the systematics (nominal unless given) and the 26 GeV re-selection "
            "are applied; --raw writes the sample before them, as the challenge stores it."
        ),
    )
    _add_sample_options(p)
    p.add_argument("--out", type=_out_path, required=True, help="output .parquet file")
    p.add_argument("--raw", action="store_true", help="write the raw sample (no systematics)")
    p.add_argument("--truth", action="store_true", help="add generator-level gen_* columns")
    _add_nuisance_options(p)
    p.set_defaults(func=_cmd_simulate)

    p = sub.add_parser(
        "pseudo-experiment",
        help="draw one unweighted pseudo-dataset (Poisson sampling of a weighted sample)",
    )
    _add_sample_options(p)
    p.add_argument("--mu", type=_finite, required=True, help="signal strength")
    p.add_argument("--out", type=_out_path, required=True, help="output .parquet file")
    p.add_argument(
        "--from",
        dest="source",
        type=_in_path,
        help="raw weighted sample (parquet, challenge format) to sample from; "
        "default: simulate one with --events-per-process",
    )
    _add_nuisance_options(p)
    p.add_argument(
        "--draw-nuisances",
        action="store_true",
        help="draw the nuisances from the challenge priors (seeded)",
    )
    p.set_defaults(func=_cmd_pseudo)

    p = sub.add_parser("demo", help="run the end-to-end demonstration")
    p.add_argument("--quick", action="store_true", help="a small, fast version")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_cmd_demo)


def _simulate(args: argparse.Namespace) -> Any:
    from unbinned.sim.htautau import simulate

    print(
        f"simulating {args.events_per_process} raw events per process (seed {args.seed}) ...",
        file=sys.stderr,
    )
    return simulate(
        args.events_per_process,
        seed=args.seed,
        luminosity=args.luminosity,
        with_truth=getattr(args, "truth", False),
        progress=True,
    )


def _report(events: Any, args: argparse.Namespace, extra: dict[str, Any]) -> None:
    summary = events.summary()
    if args.json:
        out = {
            **extra,
            "n_events": summary.n_events,
            "yields": events.yields(),
            "n_negative_weights": summary.n_negative,
        }
        print(json.dumps(out))
    else:
        for k, v in extra.items():
            print(f"{k}: {v}")
        print(summary)


def _to_events(frame: Any) -> Any:
    from unbinned.data import EventSet
    from unbinned.data.schema import PROCESSES

    extras = [c for c in ("labels", "production_mode") if c in frame.columns]
    extras += [c for c in frame.columns if c.startswith("gen_")]
    return EventSet.from_pandas(frame, extra_columns=extras, process_names=PROCESSES)


def _cmd_simulate(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from unbinned.sim.systematics import apply_systematics

    nuis = _nuisances(args)
    frame = _simulate(args)
    if not args.raw:
        frame = apply_systematics(frame, nuis, seed=args.seed)
    events = _to_events(frame)
    events.to_parquet(args.out)
    _report(
        events,
        args,
        {"output": str(args.out), "raw": args.raw, "nuisances": None if args.raw else asdict(nuis)},
    )
    return 0


def _cmd_pseudo(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    import pandas as pd

    from unbinned.sim.pseudo import pseudo_experiment

    if args.draw_nuisances and any(getattr(args, n) is not None for n, _ in _NUISANCE_OPTIONS):
        raise ValueError("give either --draw-nuisances or explicit nuisance values, not both")
    frame = pd.read_parquet(args.source) if args.source is not None else _simulate(args)
    pe = pseudo_experiment(
        frame,
        mu=args.mu,
        nuisances=None if args.draw_nuisances else _nuisances(args),
        draw_nuisances=args.draw_nuisances,
        seed=args.seed,
    )
    events = _to_events(pe.data)
    events.to_parquet(args.out)
    _report(
        events,
        args,
        {"output": str(args.out), "mu": args.mu, "nuisances": asdict(pe.nuisances)},
    )
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from unbinned.sim.htautau import simulate
    from unbinned.sim.pseudo import pseudo_experiment
    from unbinned.sim.systematics import Nuisances, apply_systematics

    n = 20_000 if args.quick else 200_000
    print(f"[1/3] simulating {n} raw events per process ...", file=sys.stderr)
    raw = simulate(n, seed=args.seed, progress=True)
    print("[2/3] applying the nominal systematics and a +3 sigma tes shift ...", file=sys.stderr)
    nominal = _to_events(apply_systematics(raw, Nuisances(), seed=args.seed))
    shifted = _to_events(apply_systematics(raw, Nuisances(tes=1.03), seed=args.seed))
    print("nominal selection:")
    print(nominal.summary())
    print("tes = 1.03:")
    print(shifted.summary())
    print("[3/3] drawing a pseudo-experiment at mu = 1 with nuisances from the priors ...")
    pe = pseudo_experiment(raw, mu=1.0, draw_nuisances=True, seed=args.seed)
    print(pe)
    return 0
