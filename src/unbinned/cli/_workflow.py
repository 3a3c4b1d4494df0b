"""The workflow commands of :mod:`unbinned.workflow` on the command line.

``unbinned init``, ``train``, ``validate``, ``fit``, ``scan``, ``toys``, ``report``,
``run`` and ``demo`` (``simulate CONFIG`` is in :mod:`unbinned.cli._sim`).

Each command runs the steps it needs first (skipping those that are up to date)
and then its own; ``--force`` re-runs the named step even when it is up to date.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

from unbinned.cli._common import count, positive_int
from unbinned.configs import EXAMPLES, example_path, example_text
from unbinned.exceptions import ConfigError
from unbinned.workflow import STEPS, Analysis, load_config

__all__ = ["add_commands", "fit_table", "run_config"]

_NEEDS = {
    "simulate": ("simulate",),
    "train": ("simulate", "train"),
    "validate": ("simulate", "train", "validate"),
    "fit": ("simulate", "train", "fit"),
    "scan": ("simulate", "train", "fit", "scan"),
    "toys": ("simulate", "train", "toys"),
    "report": ("simulate", "train", "validate", "fit", "scan", "toys", "report"),
    "run": ("simulate", "train", "validate", "fit", "scan", "toys", "report"),
}

_HELP = {
    "train": "train the surrogates and the binned baseline",
    "validate": "classifier calibration, reweighting closure and the surrogates' health checks "
    "on held-out simulation (a failed check is a WARNING line)",
    "fit": "measure the Asimov and the observed (pseudo-)data, unbinned and binned",
    "scan": "profile-likelihood scans of the POI, unbinned and binned",
    "toys": "a resumable pseudo-experiment study (coverage, bias, pulls)",
    "report": "write the HTML report and its JSON summary (runs what it needs)",
    "run": "run every step of the analysis (same as report)",
}


def _config_path(text: str) -> Path:
    path = Path(text)
    if not path.is_file():
        raise argparse.ArgumentTypeError(
            f"no config file {text!r}; write one with `unbinned init {text}`"
        )
    return path


def _add_common(p: argparse.ArgumentParser, *, config: bool = True) -> None:
    if config:
        p.add_argument("config", type=_config_path, help="the analysis config (YAML)")
    p.add_argument("--out", type=Path, help="output folder (default: the config's `output`)")
    p.add_argument("--force", action="store_true", help="re-run this step even if up to date")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("--json", action="store_true", help="print the result as one JSON line")


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register the workflow commands."""
    p = sub.add_parser(
        "init",
        help="write a commented starting config",
        description="Write a commented analysis config to start from (an example shipped "
        "with unbinned).",
    )
    p.add_argument("file", nargs="?", type=Path, default=Path("analysis.yaml"),
                   help="where to write it (default: %(default)s)")  # fmt: skip
    p.add_argument("--example", choices=EXAMPLES, default="challenge",
                   help="which example (default: %(default)s)")  # fmt: skip
    p.add_argument("--force", action="store_true", help="overwrite an existing file")
    p.set_defaults(func=_cmd_init)

    for name in ("train", "validate", "fit", "scan", "toys", "report", "run"):
        p = sub.add_parser(name, help=_HELP[name], description=_HELP[name])
        _add_common(p)
        if name == "run":
            p.add_argument("--steps", help="comma-separated steps to run (default: all)")
        if name == "fit":
            p.add_argument("--observed", type=Path, metavar="FILE", action="append",
                           help="measure this file (repeat for several) instead of the "
                           "config's observed data or pseudo-experiment")  # fmt: skip
        if name == "toys":
            g = p.add_argument_group("pseudo-experiments (override the config)")
            g.add_argument("--n", type=count, help="number of pseudo-experiments")
            g.add_argument("--executor", choices=("serial", "processes", "dask"))
            g.add_argument("--workers", type=positive_int, help="worker processes")
            g.add_argument("--scheduler", metavar="tcp://HOST:PORT",
                           help="an existing Dask scheduler (implies --executor dask)")  # fmt: skip
        p.set_defaults(func=_cmd_step, step=name)

    p = sub.add_parser(
        "demo",
        help="the end-to-end demonstration: simulate, train, fit, compare, toys, report",
        description="Run the H→ττ challenge analysis end to end (the shipped challenge "
        "config) and print its result table; --quick is a small version for tests.",
    )
    p.add_argument("--quick", action="store_true", help="a small, fast version")
    p.add_argument("--seed", type=int, default=0, help="base seed (default: %(default)s)")
    p.add_argument("--out", type=Path, default=Path("runs/demo"),
                   help="output folder (default: %(default)s)")  # fmt: skip
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON line")
    p.set_defaults(func=_cmd_demo)


# ---------------------------------------------------------------------------- commands
def _cmd_init(args: argparse.Namespace) -> int:
    path: Path = args.file
    if path.exists() and not args.force:
        raise ConfigError(f"{str(path)!r} exists; choose another name or pass --force")
    if not path.parent.is_dir() and str(path.parent):
        raise ConfigError(f"folder {str(path.parent)!r} does not exist; create it first")
    samples = path.parent / "samples"
    if args.example == "files" and samples.exists() and any(samples.iterdir()) and not args.force:
        raise ConfigError(
            f"{str(samples)!r} exists and is not empty (the example writes its samples there); "
            "choose another folder or pass --force"
        )
    path.write_text(example_text(args.example), encoding="utf-8")
    if args.example == "files":
        # deferred: the example samples come from the oracle simulator (numpy, pandas)
        from unbinned.workflow.examples import write_example_samples

        written = write_example_samples(samples)
        print(f"wrote {len(written)} example sample files to {samples}/")
    print(f"wrote {path} (the {args.example} example); run it with `unbinned run {path}`")
    return 0


def run_config(
    cfg: Any,
    command: str,
    *,
    out: Path | None = None,
    force: bool = False,
    progress: bool = True,
    toy_options: dict[str, Any] | None = None,
    steps: list[str] | None = None,
) -> Any:
    """Run the steps ``command`` needs on ``cfg``; returns the :class:`Analysis`."""
    analysis = Analysis(cfg, output=out, force=[command] if force else (), progress=progress)
    todo = list(steps) if steps else list(_NEEDS[command])
    if force and command == "run":
        analysis.force = set(todo)
    for step in todo:
        if step == "toys" and toy_options:
            analysis.toys(**toy_options)
        else:
            analysis.run([step])
    return analysis


def _cmd_step(args: argparse.Namespace) -> int:
    cfg = load_config(args.config)
    if getattr(args, "observed", None):
        cfg = _with_observed(cfg, [p.resolve() for p in args.observed])
    toy_options = None
    if args.step == "toys":
        toy_options = {
            k: getattr(args, k)
            for k in ("n", "executor", "workers", "scheduler")
            if getattr(args, k) is not None
        }
    steps = None
    if args.step == "run" and args.steps:
        steps = [s.strip() for s in args.steps.split(",") if s.strip()]
        bad = [s for s in steps if s not in STEPS]
        if bad:
            raise ConfigError(f"--steps: unknown step(s) {bad}; the steps are {list(STEPS)}")
    analysis = run_config(
        cfg,
        args.step,
        out=args.out,
        force=args.force,
        progress=not args.no_progress,
        toy_options=toy_options,
        steps=steps,
    )
    _print_outcome(analysis, args.step, as_json=args.json)
    return 0


def _with_observed(cfg: Any, paths: list[Path]) -> Any:
    """The config measuring ``paths`` (``fit --observed``)."""
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise ConfigError(f"--observed: no file {missing[0]!r}; fix the path")
    if cfg.data.kind == "files":
        return cfg.replace(data={"observed": [str(p) for p in paths]})
    if cfg.data.kind in ("parquet", "root"):
        if len(paths) != 1:
            raise ConfigError(f"--observed: data.kind {cfg.data.kind!r} measures one file")
        return cfg.replace(data={"observed": str(paths[0])})
    raise ConfigError(
        f"--observed needs data.kind files, parquet or root (the config has {cfg.data.kind!r})"
    )


def _print_outcome(analysis: Any, step: str, *, as_json: bool) -> None:
    ws = analysis.workspace
    if step == "fit":
        result = analysis.fit_result()
        print(json.dumps(result) if as_json else fit_table(result))
    elif step == "scan":
        data = json.loads((ws.step_dir("scan") / "scan.json").read_text())
        if as_json:
            print(json.dumps(data))
        else:
            for method in ("unbinned", "binned"):
                s = data[method]
                print(f"{method} scan of {data['poi']}:")
                for v, q, ok in zip(s["values"], s["delta_q"], s["valid"], strict=True):
                    print(f"  {v:10.4f}  Δq = {q:9.4f}{'' if ok else '  (invalid fit)'}")
    elif step == "toys":
        summary = json.loads((ws.step_dir("toys") / "summary.json").read_text())
        print(json.dumps(summary) if as_json else toy_table(summary))
        if not as_json:
            print_warnings(analysis.warnings())
    elif step in ("report", "run"):
        rec = ws.record("report")
        html = ws.step_dir("report") / "report.html"
        if as_json:
            print(json.dumps({"report": str(html), "summary": str(html.with_name("summary.json")),
                              "warnings": analysis.warnings()}))  # fmt: skip
        elif rec is not None:
            print(fit_table(analysis.fit_result()))
            print(f"report: {html}")
            print_warnings(analysis.warnings())
    else:
        rec = ws.require(step)
        if as_json:
            print(json.dumps(rec.to_dict()))
        else:
            print(f"{step}: outputs in {ws.step_dir(step)} ({rec.seconds:.1f} s)")
            if step == "validate":
                print_warnings(analysis.warnings())


def print_warnings(warnings: list[str]) -> None:
    """Each failed self-check as a ``WARNING:`` line on stdout."""
    for w in warnings:
        print(f"WARNING: {w}")


def _f(x: Any, fmt: str = "{:.4g}") -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "n/a"
    return fmt.format(x)


def fit_table(result: dict[str, Any]) -> str:
    """The readable table of ``unbinned fit``: best fit and 68 % interval per dataset/method."""
    poi = result["poi"]
    head = (
        f"{'dataset':<10}{'method':<10}{poi + ' best fit':>12} {'-σ':>9} {'+σ':>9} "
        f"{'68 % interval':>22} {'valid':>6}"
    )
    lines = [f"{poi}: best fit and 68 % profile-likelihood interval", head, "-" * len(head)]
    gains = []
    for ds in ("asimov", "observed"):
        for method in ("unbinned", "binned"):
            m = result[ds][method]
            if not m:
                continue
            interval = f"[{_f(m['lo'])}, {_f(m['hi'])}]"
            lines.append(
                f"{ds:<10}{method:<10}{_f(m['value']):>12} {_f(m['err_lo']):>9} "
                f"{_f(m['err_hi']):>9} {interval:>22} {'yes' if m['valid'] else 'NO':>6}"
            )
        u, b = result[ds]["unbinned"], result[ds]["binned"]
        if u and b and b["width"] > 0:
            gains.append(f"{100 * (1 - u['width'] / b['width']):.1f} % ({ds})")
    if gains:
        lines.append("unbinned interval narrower than binned by " + ", ".join(gains))
    truth = result.get("truth")
    if truth:
        lines.append(
            "true values of the pseudo-experiment: "
            + ", ".join(f"{k} = {_f(v)}" for k, v in truth.items())
        )
    fisher = result.get("fisher") or {}
    if fisher:
        lines.append(
            "expected σ(" + poi + ") from the Fisher information: "
            + ", ".join(f"{m} {_f(f['sigma'])} (stat. only {_f(f['sigma_stat'])})"
                        for m, f in fisher.items())
        )  # fmt: skip
    return "\n".join(lines)


def toy_table(summary: dict[str, Any]) -> str:
    """A readable summary of a toy study."""
    if not summary:
        return "no pseudo-experiments"
    return (
        f"{summary['n']} pseudo-experiments ({summary['n_valid']} valid, "
        f"{summary['n_failed']} failed): coverage {_f(summary['coverage'], '{:.3f}')} ± "
        f"{_f(summary['coverage_error'], '{:.3f}')}, bias {_f(summary['bias'])} ± "
        f"{_f(summary['bias_error'])}, pull width {_f(summary['pull_width'], '{:.3f}')}, "
        f"mean interval width {_f(summary['mean_width'])}"
    )


def demo_config(*, quick: bool, seed: int) -> Any:
    """The demonstration's config: the shipped challenge example (smaller with ``quick``)."""
    cfg = load_config(example_path("challenge"))
    changes: dict[str, Any] = {"seed": seed, "name": "demo" + ("-quick" if quick else "")}
    # 1 fb^-1 (about 105,000 events per pseudo-experiment): the reference sample (2.4 M
    # raw events) then outnumbers the data by ~17, as an honest measurement needs, within
    # the demo's 15 minutes on two cores
    changes["data"] = {"luminosity": 1.0, "reference_events_per_process": 600_000}
    if quick:
        small = {"epochs": 2, "patience": 1}
        changes.update(
            # every process alike (the config's 2 M Z→ττ and tt̄ would take minutes)
            data={"events_per_process": 6000, "test_events_per_process": 6000,
                  "reference_events_per_process": 20000, "luminosity": 0.1,
                  "process_events": {"ztautau": 6000, "ttbar": 6000}},
            training={"classifier": {**small, "hidden": [16]},
                      "response": {**small, "hidden": [16]},
                      "max_events_per_point": 4000, "design": {"steps": [1, 2], "mixed": [1]}},
            binned={"bins": 5},
            inference={"scan": {"points": 7}, "impacts": False, "toys": {"n": 3}},
        )  # fmt: skip
    return cfg.replace(**changes)


def _cmd_demo(args: argparse.Namespace) -> int:
    cfg = demo_config(quick=args.quick, seed=args.seed)
    steps = _NEEDS["run"]
    raw = ", ".join(f"{p} {n}" for p, n in cfg.data.raw_events("train").items())
    print(
        f"unbinned demo{' --quick' if args.quick else ''}: the H→ττ challenge analysis, "
        f"trained on simulated raw events {raw}; outputs in {args.out}",
        file=sys.stderr,
    )
    analysis = run_config(cfg, "run", out=args.out, progress=not args.no_progress)
    result = analysis.fit_result()
    toys = json.loads((analysis.workspace.step_dir("toys") / "summary.json").read_text())
    html = analysis.workspace.step_dir("report") / "report.html"
    if args.json:
        print(json.dumps({"fit": result, "toys": toys, "report": str(html),
                          "warnings": analysis.warnings()}))  # fmt: skip
        return 0
    print(fit_table(result))
    print(toy_table(toys))
    print(f"report: {html}")
    print_warnings(analysis.warnings())
    del steps
    return 0
