"""Systematic-aware vs cross-entropy training on the H→ττ simulator, six nuisances, 10 fb⁻¹.

Data: ``unbinned.sim.htautau.simulate`` (training, validation and an independent
test set; Z→ττ, the dominant background, with ``--ztautau-factor`` × more MC),
the nominal selection and the variations by ``apply_systematics`` on the same
events (an ``event_id`` column pairs them): tes and jes at 1 ± 0.01 (two-sided),
soft_met at +1 GeV (one-sided: nominal 0, prior width 1 GeV), and the
normalisations ttbar_scale N(1, 0.02), diboson_scale N(1, 0.25), bkg_scale
N(1, 0.001) (DESIGN.md §2) as rate modifiers.  Network: the 28 features
standardised (log1p of momenta and masses), -25 markers replaced by 0 with one
indicator input per missing-jet group (``unbinned.ml.FeatureTransform``); an MLP
with two hidden layers of 64.

* **Binary** (POI μ of the inclusive cross-section): one sigmoid output binned in
  ``--bins`` bins.  CE: class-balanced cross-entropy only (6 epochs).  Aware:
  3 epochs of the same pre-training, the bin edges then fixed at the signal-score
  quantiles (equal signal per bin), then ``--steps`` steps of the binned Asimov
  Fisher loss (:class:`unbinned.aware.AwareTrainer`, exact forward counts with
  a Gaussian-kernel surrogate gradient, batches of 20 % of the events, Adam 1e-3),
  keeping the state with the lowest σ on an independent validation sample
  (evaluated every 25 steps).  ``sigma_reduction_vs_ce`` = 1 - σ_aware/σ_CE,
  where σ_CE is the better of the equal-width and the quantile-signal binning
  of the CE score (the binned baseline's default), so that the reduction is not
  inflated by a poor CE binning.
* **Multiclass** (POIs μ_ggH, μ_VBF): outputs ggH, VBF, Z→ττ, tt̄+diboson; each
  event in its arg-max class, histogrammed in that class's probability
  (``--class-bins`` bins per class, quantile edges per class as above); loss
  Σ σ_i/σ_i^pre (σ of the pre-trained network on the validation sample), so that
  both POIs count relatively.
  ``sigma_reduction_ggH``, ``sigma_reduction_vbf``.

All σ: expected (Asimov) profiled Fisher σ of the binned likelihood on the test
set, hard histograms; ``binned_fit_sigma_mu`` checks the aware binary σ with the
binned baseline's own fit (``unbinned.binned.BinnedLikelihood`` + ``unbinned.infer.fit``).
Medians over ``--inits`` initialisations.

Run: ``.venv/bin/python benchmarks/aware_htautau.py [--quick]``; one JSON line.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from unbinned.aware import (
    AwareConfig,
    AwareSamples,
    AwareTrainer,
    ShapeVariation,
    SoftHistogram,
    WeightedEvents,
)
from unbinned.data.schema import DER_FEATURES, PRI_FEATURES
from unbinned.infer import fit
from unbinned.ml import MLP, FeatureTransform
from unbinned.model import ModelSpec
from unbinned.sim.htautau import simulate
from unbinned.sim.systematics import Nuisances, apply_systematics

FEATURES = tuple(PRI_FEATURES) + tuple(DER_FEATURES)
BINARY = ("htautau", "ztautau", "ttbar", "diboson")
MULTI = ("ggH", "VBF", "ztautau", "ttbar", "diboson")
VARIATIONS = {
    "tes": ((1.01, 0.99), 0.01),
    "jes": ((1.01, 0.99), 0.01),
    "soft_met": ((1.0,), 1.0),
}


def _spec(multiclass: bool) -> ModelSpec:
    procs = MULTI if multiclass else BINARY
    pois = ["mu_ggH", "mu_VBF"] if multiclass else ["mu"]
    poi_of = {"ggH": "mu_ggH", "VBF": "mu_VBF", "htautau": "mu"}
    rate = {"ttbar": ["ttbar_scale", "bkg_scale"], "diboson": ["diboson_scale", "bkg_scale"],
            "ztautau": ["bkg_scale"]}  # fmt: skip
    return ModelSpec.from_dict(
        {
            "pois": [{"name": p, "init": 1.0, "bounds": [-5.0, 10.0]} for p in pois],
            "nuisances": [
                {"name": "tes", "nominal": 1.0, "width": 0.01, "acts_on": "shape",
                 "bounds": [0.9, 1.1]},
                {"name": "jes", "nominal": 1.0, "width": 0.01, "acts_on": "shape",
                 "bounds": [0.9, 1.1]},
                {"name": "soft_met", "nominal": 0.0, "width": 1.0, "acts_on": "shape",
                 "bounds": [-5.0, 5.0]},
                {"name": "ttbar_scale", "nominal": 1.0, "width": 0.02, "bounds": [0.8, 1.2]},
                {"name": "diboson_scale", "nominal": 1.0, "width": 0.25, "bounds": [0.0, 2.0]},
                {"name": "bkg_scale", "nominal": 1.0, "width": 0.001, "bounds": [0.99, 1.01]},
            ],
            "processes": [
                {"name": p, "signal": p in poi_of,
                 "modifiers": [{"parameter": poi_of[p]}] if p in poi_of
                 else [{"parameter": q} for q in rate[p]]}
                for p in procs
            ],
            "regions": (
                [{"name": r} for r in ("ggH", "VBF", "ztautau", "top_diboson")]
                if multiclass else [{"name": "inclusive"}]
            ),
        }
    )  # fmt: skip


def _frames(
    n_sig: int, n_bkg: int, seed: int, ztautau_factor: int = 1
) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """Nominal and varied frames; Z→ττ (the large background) gets ``ztautau_factor`` × more."""
    parts = [simulate(n_sig, seed=seed, processes=["htautau"]),
             simulate(n_bkg * ztautau_factor, seed=seed, processes=["ztautau"]),
             simulate(n_bkg, seed=seed, processes=["ttbar", "diboson"])]  # fmt: skip
    raw = pd.concat(parts, ignore_index=True)
    raw["event_id"] = np.arange(len(raw))
    nominal = apply_systematics(raw, Nuisances())
    varied = {}
    for name, (values, _) in VARIATIONS.items():
        for v in values:
            varied[f"{name}={v}"] = apply_systematics(raw, Nuisances(**{name: v}), seed=seed + 17)
    return nominal, varied


def _events(df: pd.DataFrame, ft: FeatureTransform, multiclass: bool) -> WeightedEvents:
    procs = MULTI if multiclass else BINARY
    label = df["detailed_labels"].astype(str).to_numpy()
    if multiclass:
        mode = df["production_mode"].astype(str).to_numpy()
        label = np.where(label == "htautau", mode, label)
    index = {p: i for i, p in enumerate(procs)}
    proc = np.array([index[v] for v in label])
    x = ft(df[list(FEATURES)].to_numpy(dtype=np.float64))
    return WeightedEvents.from_numpy(x, df["weights"].to_numpy(), proc, df["event_id"].to_numpy())


def _samples(
    nominal: pd.DataFrame, varied: dict[str, pd.DataFrame], ft: FeatureTransform, multi: bool
) -> AwareSamples:
    var = {}
    for name, (values, _) in VARIATIONS.items():
        evs = [_events(varied[f"{name}={v}"], ft, multi) for v in values]
        var[name] = ShapeVariation(up=evs[0], down=evs[1] if len(evs) > 1 else None)
    return AwareSamples(_events(nominal, ft, multi), var)


def _net(n_in: int, n_out: int, seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return MLP(n_in, n_out, (64, 64), activation="silu")


def _ce_sigma_best(
    trainer: AwareTrainer, train: AwareSamples, test: AwareSamples
) -> dict[str, float]:
    """σ of the CE network: equal-width bins and quantile-signal bins (the better of the two).

    The quantile edges are the signal-score quantiles of the *training* events per
    class (``AwareTrainer.adapt_edges``), the same binning the aware training starts from.
    """
    equal = trainer.evaluate(test).sigmas
    trainer.adapt_edges(train.nominal)
    quant = trainer.evaluate(test).sigmas
    return {k: min(equal[k], quant[k]) for k in equal}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--inits", type=int, default=3)
    parser.add_argument("--sig-events", type=int, default=120_000)
    parser.add_argument("--bkg-events", type=int, default=120_000, help="per background process")
    parser.add_argument("--ztautau-factor", type=int, default=3, help="x more Z->tautau MC")
    parser.add_argument("--bins", type=int, default=10)
    parser.add_argument("--class-bins", type=int, default=5)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--no-multiclass", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.inits, args.sig_events, args.bkg_events, args.steps = 1, 50_000, 50_000, 100
    torch.set_num_threads(args.threads)
    t_start = time.perf_counter()

    zf = args.ztautau_factor
    train_df, train_var = _frames(args.sig_events, args.bkg_events, 101, zf)
    val_df, val_var = _frames(args.sig_events // 2, args.bkg_events // 2, 303, zf)
    test_df, test_var = _frames(args.sig_events, args.bkg_events, 202, zf)
    ft = FeatureTransform.fit(train_df[list(FEATURES)].to_numpy(dtype=np.float64), FEATURES)
    print(f"simulated: {len(train_df)} train / {len(test_df)} test events "
          f"({time.perf_counter() - t_start:.0f} s)", file=sys.stderr)  # fmt: skip

    out: dict[str, Any] = {}
    # ------------------------------------------------------------------ binary
    spec = _spec(False)
    train, test = _samples(train_df, train_var, ft, False), _samples(test_df, test_var, ft, False)
    val = _samples(val_df, val_var, ft, False)
    hist = SoftHistogram("kernel", n_bins=args.bins)
    ce_s, aw_s, fit_s = [], [], []
    for init in range(args.inits):
        ce_cfg = AwareConfig(histogram=hist, ce_epochs=6, aware_steps=0, seed=init)
        ce_tr = AwareTrainer(_net(ft.n_outputs, 1, init), spec, ce_cfg)
        ce_tr.fit(train)
        ce_s.append(_ce_sigma_best(ce_tr, train, test)["mu"])
        cfg = AwareConfig(histogram=hist, ce_epochs=3, aware_steps=args.steps,
                          batch_fraction=0.2, lr=1e-3, lr_final=1.0, min_bin_events=50.0,
                          adapt_edges=True, seed=init)  # fmt: skip
        aw_tr = AwareTrainer(_net(ft.n_outputs, 1, init), spec, cfg)
        aw_tr.fit(train, val)
        ev = aw_tr.evaluate(test)
        aw_s.append(ev.sigmas["mu"])
        res = fit(ev.binned_likelihood(spec))
        fit_s.append(res.errors["mu"])
        print(f"binary init {init}: sigma_CE {ce_s[-1]:.4f}  sigma_aware {aw_s[-1]:.4f}  "
              f"(binned fit {fit_s[-1]:.4f}, {ev.n_empty_bins} empty bins)",
              file=sys.stderr)  # fmt: skip
    out["sigma_ce"] = round(statistics.median(ce_s), 5)
    out["sigma_aware"] = round(statistics.median(aw_s), 5)
    out["sigma_reduction_vs_ce"] = round(1.0 - statistics.median(aw_s) / statistics.median(ce_s), 4)
    out["binned_fit_sigma_mu"] = round(statistics.median(fit_s), 5)

    # ------------------------------------------------------------------ multiclass
    if not args.no_multiclass:
        spec_m = _spec(True)
        train_m = _samples(train_df, train_var, ft, True)
        test_m = _samples(test_df, test_var, ft, True)
        val_m = _samples(val_df, val_var, ft, True)
        classes = {"ggH": 0, "VBF": 1, "ztautau": 2, "ttbar": 3, "diboson": 3}
        mhist = SoftHistogram("kernel", n_bins=args.class_bins)
        red_g, red_v, ce_g, ce_v, aw_g, aw_v = [], [], [], [], [], []
        for init in range(args.inits):
            ce_cfg = AwareConfig(histogram=mhist, ce_epochs=6, aware_steps=0, seed=init)
            ce_tr = AwareTrainer(_net(ft.n_outputs, 4, init), spec_m, ce_cfg, classes=classes)
            ce_tr.fit(train_m)
            ce_sig = _ce_sigma_best(ce_tr, train_m, test_m)
            pre_cfg = replace(ce_cfg, ce_epochs=3, adapt_edges=True)
            pre = AwareTrainer(_net(ft.n_outputs, 4, init), spec_m, pre_cfg, classes=classes)
            pre.fit(train_m)
            ref = pre.evaluate(val_m).sigmas
            weights = {k: 1.0 / v for k, v in ref.items()}
            cfg = AwareConfig(histogram=pre.histogram, ce_epochs=0, aware_steps=args.steps,
                              batch_fraction=0.2, lr=1e-3, lr_final=1.0, min_bin_events=50.0,
                              seed=init)  # fmt: skip
            aw_tr = AwareTrainer(pre.model, spec_m, cfg, classes=classes, poi_weights=weights)
            aw_tr.fit(train_m, val_m)
            aw_sig = aw_tr.evaluate(test_m).sigmas
            ce_g.append(ce_sig["mu_ggH"])
            ce_v.append(ce_sig["mu_VBF"])
            aw_g.append(aw_sig["mu_ggH"])
            aw_v.append(aw_sig["mu_VBF"])
            red_g.append(1.0 - aw_g[-1] / ce_g[-1])
            red_v.append(1.0 - aw_v[-1] / ce_v[-1])
            print(f"multiclass init {init}: ggH {ce_g[-1]:.4f} -> {aw_g[-1]:.4f}, "
                  f"VBF {ce_v[-1]:.4f} -> {aw_v[-1]:.4f}", file=sys.stderr)  # fmt: skip
        out["sigma_ce_ggH"] = round(statistics.median(ce_g), 5)
        out["sigma_aware_ggH"] = round(statistics.median(aw_g), 5)
        out["sigma_ce_vbf"] = round(statistics.median(ce_v), 5)
        out["sigma_aware_vbf"] = round(statistics.median(aw_v), 5)
        out["sigma_reduction_ggH"] = round(1.0 - out["sigma_aware_ggH"] / out["sigma_ce_ggH"], 4)
        out["sigma_reduction_vbf"] = round(1.0 - out["sigma_aware_vbf"] / out["sigma_ce_vbf"], 4)
    out.update(
        {
            "luminosity_fb": 10.0,
            "nuisances": ["tes", "jes", "soft_met", "ttbar_scale", "diboson_scale", "bkg_scale"],
            "inits": args.inits,
            "bins": args.bins,
            "class_bins": args.class_bins,
            "aware_steps": args.steps,
            "train_events": len(train_df),
            "test_events": len(test_df),
            "total_s": round(time.perf_counter() - t_start, 1),
            "torch_threads": torch.get_num_threads(),
            "quick": bool(args.quick),
        }
    )
    print(json.dumps(out))


if __name__ == "__main__":
    main()
