"""Refit the binned baseline of a coverage study from its stored counts, with rebuilt templates.

Every row of a ``benchmarks/coverage.py`` toy store keeps the observed counts of its
pseudo-experiment in the binned baseline's bins (columns ``binned_n:REGION:BIN``).  This script
rebuilds the templates of the study's analysis with the current code on the same
reference sample (``coverage.py``'s: seed 102, ``--integration-events`` per process,
``--reference-process-events``; the bin edges are checked to be the same), writes that
analysis beside the old one, redoes every binned fit from the counts
(:meth:`unbinned.analysis.AnalysisModel.measure_counts`) and summarises both methods
on the same pseudo-experiments, as ``coverage.py`` does.  The unbinned results are
the store's.

``--variant`` (repeatable) chooses how the templates are built: ``linear`` (±1σ
templates only, ``template_reach=None``), ``powered`` (soft_met interpolated linearly
in soft_met², ``powered_templates=True``), either followed by ``+NAME=VALUE`` for a
secant up template to a simulation at NAME = VALUE (``template_reach``), e.g.
``linear+soft_met=5``, which is what the default ``template_reach="auto"`` of
:func:`unbinned.analysis.build_analysis` builds for the challenge model.  The
reference is simulated once for all variants; each variant's analysis is kept in
``<analysis>_binned_<variant>`` and reused.  Each variant's refitted rows go to
``<store>.binned_refit.<variant>.jsonl`` (the binned columns replaced, the old ones
kept as ``old_binned_*``).

Run: ``.venv/bin/python benchmarks/binned_refit.py --analysis DIR --store STORE
--variant linear --variant linear+soft_met=5``; one JSON line per variant.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np


def log(*args: Any) -> None:
    print(*args, file=sys.stderr, flush=True)


def parse_variant(text: str) -> tuple[bool, dict[str, float]]:
    """``linear`` / ``powered`` [``+NAME=VALUE`` ...] -> (powered, reach)."""
    base, *extra = text.split("+")
    if base not in ("linear", "powered"):
        raise SystemExit(f"--variant {text!r}: expected linear or powered, then +NAME=VALUE")
    reach = {}
    for item in extra:
        name, _, value = item.partition("=")
        reach[name] = float(value)
    return base == "powered", reach


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--analysis", required=True, help="the study's analysis_* directory")
    parser.add_argument("--store", required=True, help="its toys_*.jsonl store")
    parser.add_argument(
        "--variant",
        action="append",
        default=None,
        help="linear | powered [+NAME=VALUE]; repeatable (default: linear)",
    )
    parser.add_argument("--integration-events", type=int, default=1_000_000)
    parser.add_argument("--reference-process-events", nargs="*", default=[],
                        metavar="PROCESS=N")  # fmt: skip
    parser.add_argument("--seed", type=int, default=102, help="seed of the reference sample")
    args = parser.parse_args()

    import pandas as pd
    from tqdm.auto import tqdm

    from _reference import reference_frame
    from unbinned._io import atomic_path
    from unbinned.analysis import AnalysisModel
    from unbinned.analysis.toys import binned_counts
    from unbinned.infer import ToyStudy
    from unbinned.ml import HTauTauSource

    old = AnalysisModel.load(args.analysis)
    assert old.templates is not None
    store = Path(args.store)
    study = ToyStudy.from_store(store)
    rows = study.rows
    if not any(str(c).startswith("binned_n:") for c in rows.columns):
        raise SystemExit(f"{store} has no binned counts (written before they were stored)")
    source: Any = None

    def reference() -> Any:
        nonlocal source
        if source is None:
            log("simulating the reference sample ...")
            sizes = dict(item.split("=") for item in args.reference_process_events)
            frame = reference_frame(args.integration_events, sizes, args.seed)
            source = HTauTauSource(frame, seed=args.seed, nuisances=old.surrogate.nuisances)
        return source

    for variant in args.variant or ["linear"]:
        powered, reach = parse_variant(variant)
        out_dir = Path(f"{args.analysis.rstrip('/')}_binned_{variant}")
        if (out_dir / "analysis.json").is_file():
            new = AnalysisModel.load(out_dir)
        else:
            log(f"{variant}: rebuilding the templates ...")
            new = old.with_templates(
                reference(), powered_templates=powered, template_reach=reach or None
            )
            new.save(out_dir, overwrite=True)
        assert new.templates is not None
        for a, b in zip(old.templates.regions, new.templates.regions, strict=True):
            if not np.allclose(a.edges, b.edges, rtol=1e-12, atol=0.0):
                raise SystemExit(
                    f"region {a.name!r}: the rebuilt bin edges differ from the study's, so its "
                    "counts do not fit them; check --integration-events, "
                    "--reference-process-events and --seed against the coverage.py command"
                )
        t0 = time.perf_counter()
        out_rows = []
        for row in tqdm(rows.to_dict("records"), desc=f"{variant}: binned refits",
                        file=sys.stderr):  # fmt: skip
            counts = binned_counts(row)
            if counts is None:
                continue
            m = new.measure_counts(counts, seed=int(row["seed"]))
            fresh = dict(row)
            for key in ("mu_hat", "p16", "p84", "valid"):
                fresh[f"old_binned_{key}"] = row.get(f"binned_{key}")
            fresh.update(binned_mu_hat=m.value, binned_p16=m.lower, binned_p84=m.upper,
                         binned_valid=m.valid)  # fmt: skip
            out_rows.append(fresh)
        refit_s = time.perf_counter() - t0
        frame = pd.DataFrame(out_rows)
        target = store.with_suffix(f".binned_refit.{variant}.jsonl")
        with atomic_path(target) as tmp:
            Path(tmp).write_text("".join(json.dumps(r, default=float) + "\n" for r in out_rows))
        print(json.dumps(summarise(frame, variant, refit_s, out_dir, target)), flush=True)


def summarise(frame: Any, variant: str, refit_s: float, out_dir: Path, target: Path) -> Any:
    """Coverage, width, bias and pulls of the unbinned, new and old binned fits."""
    from unbinned.infer import ToyStudy

    def summary(prefix: str) -> Any:
        cols = {f"{prefix}mu_hat": "mu_hat", f"{prefix}p16": "p16", f"{prefix}p84": "p84",
                f"{prefix}valid": "valid"}  # fmt: skip
        sub = frame.drop(columns=["mu_hat", "p16", "p84", "valid"]).rename(columns=cols)
        sub["valid"] = sub["valid"].fillna(False).astype(bool)
        return ToyStudy(sub).summary()

    unb = ToyStudy(frame.assign(valid=frame["valid"].fillna(False).astype(bool))).summary()
    res = {"unbinned": unb, "binned": summary("binned_"), "binned_old": summary("old_binned_")}
    out: dict[str, Any] = {"variant": variant, "n_toys": len(frame), "refit_s": round(refit_s, 1),
                           "analysis": str(out_dir), "rows": str(target)}  # fmt: skip
    for name, s in res.items():
        out[f"coverage_{name}"] = round(s.coverage, 4)
        out[f"mean_width_{name}"] = round(s.mean_width, 4)
        out[f"bias_{name}"] = round(s.bias, 4)
        out[f"pull_mean_{name}"] = round(s.pull_mean, 3)
        out[f"pull_width_{name}"] = round(s.pull_width, 3)
        out[f"n_valid_{name}"] = s.n_valid
        out[f"score_{name}"] = None if s.score is None else round(s.score.score, 4)
    out["width_ratio"] = round(res["unbinned"].mean_width / res["binned"].mean_width, 4)
    out["width_ratio_old_binned"] = round(
        res["unbinned"].mean_width / res["binned_old"].mean_width, 4
    )
    # the binned bias against the true soft_met (what the template variants change)
    if "true_soft_met" in frame:
        d = frame["binned_mu_hat"] - frame["mu_true"]
        t = frame["true_soft_met"]
        out["binned_bias_slope_soft_met"] = round(float(np.polyfit(t, d, 1)[0]), 4)
        out["binned_bias_soft_met_above_3"] = round(float(d[t > 3.0].mean()), 4)
    return out


if __name__ == "__main__":
    main()
