"""``unbinned simulate`` (options, or a workflow config) and ``unbinned pseudo-experiment``."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from unbinned.cli._common import finite, positive_int
from unbinned.data import EventSet
from unbinned.data.schema import PROCESSES
from unbinned.exceptions import ConfigError, DataError
from unbinned.sim.htautau import simulate
from unbinned.sim.pseudo import pseudo_experiment
from unbinned.sim.systematics import Nuisances, apply_systematics
from unbinned.workflow import Analysis, load_config

__all__ = ["add_commands"]

_NUISANCE_OPTIONS = (
    ("tes", "tau energy scale (1 = nominal)"),
    ("jes", "jet energy scale (1 = nominal)"),
    ("soft_met", "soft MET smearing in GeV (0 = nominal)"),
    ("ttbar_scale", "ttbar normalisation (1 = nominal)"),
    ("diboson_scale", "diboson normalisation (1 = nominal)"),
    ("bkg_scale", "normalisation of every background (1 = nominal)"),
)


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
        g.add_argument(f"--{name.replace('_', '-')}", dest=name, type=finite, help=text)


def _nuisances(args: argparse.Namespace) -> Nuisances:
    given = {n: getattr(args, n) for n, _ in _NUISANCE_OPTIONS if getattr(args, n) is not None}
    return Nuisances(**given)


def _add_sample_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--events-per-process",
        type=positive_int,
        default=100_000,
        metavar="N",
        help="simulated raw events per process (default: %(default)s)",
    )
    p.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    p.add_argument(
        "--luminosity",
        type=finite,
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
    p.add_argument("--mu", type=finite, required=True, help="signal strength")
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


def _simulate(args: argparse.Namespace) -> pd.DataFrame:
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


def _report(events: EventSet, args: argparse.Namespace, extra: dict[str, Any]) -> None:
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


def _to_events(frame: pd.DataFrame) -> EventSet:
    extras = [c for c in ("labels", "production_mode") if c in frame.columns]
    extras += [c for c in frame.columns if c.startswith("gen_")]
    return EventSet.from_pandas(frame, extra_columns=extras, process_names=PROCESSES)


def _cmd_simulate(args: argparse.Namespace) -> int:
    if args.config is not None:
        return _simulate_config(args)
    if args.out is None:
        raise ConfigError(
            "give --out FILE.parquet, or an analysis config (unbinned simulate CONFIG)"
        )
    try:
        args.out = _out_path(args.out)
    except argparse.ArgumentTypeError as exc:
        raise ConfigError(str(exc)) from None

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


def _read_sample(path: Path) -> pd.DataFrame:
    try:
        return pd.read_parquet(path)
    except pa.ArrowException as exc:  # a corrupt or non-parquet file (ArrowInvalid, ...)
        raise DataError(f"cannot read {str(path)!r} as parquet: {exc}") from exc


def _cmd_pseudo(args: argparse.Namespace) -> int:
    if args.draw_nuisances and any(getattr(args, n) is not None for n, _ in _NUISANCE_OPTIONS):
        raise ConfigError("give either --draw-nuisances or explicit nuisance values, not both")
    frame = _read_sample(args.source) if args.source is not None else _simulate(args)
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
