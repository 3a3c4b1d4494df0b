"""``unbinned simulate`` (options, or a workflow config) and ``unbinned pseudo-experiment``."""

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


def _integer(text: str, minimum: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < minimum:
        kind = "positive" if minimum == 1 else "non-negative" if minimum == 0 else f">= {minimum}"
        raise argparse.ArgumentTypeError(f"expected a {kind} integer, got {value}")
    return value


def _positive_int(text: str) -> int:
    return _integer(text, 1)


def _count(text: str) -> int:
    return _integer(text, 0)


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
    p.add_argument(
        "config",
        nargs="?",
        type=_in_path,
        help="an analysis config (YAML): run its simulate step instead (see `unbinned init`)",
    )
    _add_sample_options(p)
    p.add_argument(
        "--out", help="output .parquet file; with a config, the output folder (default: its own)"
    )
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

    if args.config is not None:
        return _simulate_config(args)
    if args.out is None:
        raise ValueError(
            "give --out FILE.parquet, or an analysis config (unbinned simulate CONFIG)"
        )
    try:
        args.out = _out_path(args.out)
    except argparse.ArgumentTypeError as exc:
        raise ValueError(str(exc)) from None

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


def _simulate_config(args: argparse.Namespace) -> int:
    from unbinned.workflow import Analysis, load_config

    cfg = load_config(args.config)
    analysis = Analysis(cfg, output=None if args.out is None else Path(args.out))
    rec = analysis.simulate().record
    if args.json:
        print(json.dumps(rec.to_dict()))
    else:
        print(f"simulate: outputs in {analysis.workspace.step_dir('simulate')}")
        for k, v in rec.info.items():
            print(f"  {k}: {v}")
    return 0
