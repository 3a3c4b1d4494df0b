"""Benchmark: the 3-jet efficiency response with 2 and 4 jet-energy-scale nuisances.

For each number of simulation points, the MSE on the 25^d test grid in [0.5, 1.5]^d of
the efficiency normalised to nominal, ε(ν)/ε(1), for

- ``onaxis``: the factorised on-axis approximation (nominal + points on each axis);
- ``grid_gp``, ``grid_dgp``: a GP / derivative GP on the largest regular grid k^d <= N;
- ``random_gp``, ``random_dgp``: GP / derivative GP on uniform random points (mean over
  ``--random-reps`` repetitions);
- ``gp_bed``, ``dgp_bed``: GP / derivative GP with points chosen sequentially by Bayesian
  experimental design (expected reduction of the trace of the posterior covariance over
  a Sobol utility set, weighted by the delta-method factor of the output transform),
  starting from the nominal point; one point per step below 30 points, then 4; mean
  over ``--bed-reps`` independent runs.

Every simulation point is an independent sample of ``--sim-events`` generated events
(hard cuts for the value, sigmoid-smoothed cuts for the gradient).  The GPs model
ε/ε(1) itself (predictions floored at 0) with an additive (ANOVA) RBF kernel, a sum of
components on every single nuisance, every pair and every triple (an event has three
jets, so ε is a sum over the jets' η classes of functions of at most three
nuisances), with weights fitted by marginal likelihood, on the inputs ln ν (a jet
energy scale acts multiplicatively), each component also acting on the differences
ln ν_a - ln ν_b of its pairs of nuisances (the MET cut follows the balance of the
jets, i.e. the ratios of their scales); see ``gp_options``.  For comparison, in the
same run up to 30 points: ``dgp_bed_previous``, the derivative GP + design with the
previous default model (√(ε/ε(1) + 0.01), ANOVA orders 1, 2 and d, no pair
differences), and ``dgp_bed_nopd``, the current model without the pair differences.
The truth is counted on a fixed sample of ``--truth-events`` events.  Reference (Romero,
Cranmer, Whiteson, arXiv:2509.15500, 4 nuisances): derivative GP + design ≈ 0.015 at 25
points and ≈ 0.006 at 97; on-axis ≈ 0.08 at any number of points.

Prints one JSON line; ``--plot PATH`` writes the MSE curves.  Usage:

    python benchmarks/response_gp.py [--plot mse.png]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

import numpy as np
import numpy.typing as npt
import torch

from unbinned.response import (
    DerivativeGP,
    OnAxisModel,
    SqrtTransform,
    anova_components,
    grid_design,
    on_axis_design,
    random_design,
    sequential_design,
)
from unbinned.response.threejet import ThreeJetProblem, grid_points

FloatArray = npt.NDArray[np.float64]
N_POINTS = {2: [5, 9, 13, 17, 21, 25, 30, 40, 50], 4: [9, 13, 17, 21, 25, 30, 40, 50, 65, 81, 97]}
#: output transform of the previous default model (``dgp_bed_previous``)
PREVIOUS_TRANSFORM = SqrtTransform(offset=0.01)
#: the comparison curves run up to this number of points
N_COMPARE = 30


def gp_options(d: int) -> dict[str, Any]:
    """The GP model of every GP curve (on ε/ε(1)).

    ANOVA components of orders 1 to min(3, d) on ln ν, each also on the differences of
    its pairs of nuisances.
    """
    return {
        "components": anova_components(d, range(1, min(3, d) + 1)),
        "input_warp": "log",
        "pair_differences": True,
    }


def previous_options(d: int) -> dict[str, Any]:
    """The previous default model (on √(ε/ε(1) + 0.01)): orders 1, 2 and d on ln ν."""
    return {"components": anova_components(d, (1, 2, d)), "input_warp": "log"}


def to_response(pred: FloatArray) -> FloatArray:
    """Map a GP prediction of ε/ε(1) back to the response: floored at 0 (ε >= 0)."""
    return np.maximum(pred, 0.0)


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def run_dimension(d: int, args: argparse.Namespace) -> dict[str, Any]:
    t_start = time.perf_counter()
    problem = ThreeJetProblem(
        d, n_truth_events=args.truth_events, n_sim_events=args.sim_events, seed=args.seed
    )
    axis, truth = problem.truth_grid(25)
    test = grid_points(axis, d)
    target = truth.reshape(-1)
    log(f"[d={d}] {problem}; truth grid {truth.shape} in {time.perf_counter() - t_start:.1f}s")
    n_list = N_POINTS[d]
    bounds = problem.bounds

    def mse(pred: FloatArray) -> float:
        return float(np.mean((pred - target) ** 2))

    def simulate(points: FloatArray, seed: int) -> tuple[FloatArray, FloatArray]:
        sim = problem.simulator(seed)
        out = [sim(p) for p in points]
        return np.array([v for v, _ in out]), np.array([g for _, g in out])

    def gp_mse(points: FloatArray, values: FloatArray, grads: FloatArray, use_g: bool) -> float:
        gp = DerivativeGP(bounds, seed=args.seed, n_restarts=1, **gp_options(d)).fit(
            points, values, grads if use_g else None
        )
        pred = gp.predict(test)
        assert isinstance(pred, np.ndarray)
        return mse(to_response(pred))

    curves: dict[str, list[float | None]] = {}
    used: dict[str, list[int | None]] = {}

    # on-axis
    t0 = time.perf_counter()
    curves["onaxis"], used["onaxis"] = [], []
    for n in n_list:
        pts = on_axis_design(bounds, n)
        vals, _ = simulate(pts, args.seed + 1000 + n)
        model = OnAxisModel(nominal=np.ones(d)).fit(pts, vals)
        curves["onaxis"].append(mse(model.predict(test)))
        used["onaxis"].append(len(pts))
    log(f"[d={d}] onaxis {curves['onaxis']} ({time.perf_counter() - t0:.1f}s)")

    # regular grid
    t0 = time.perf_counter()
    cache: dict[int, tuple[float, float, int]] = {}
    curves["grid_gp"], curves["grid_dgp"], used["grid"] = [], [], []
    for n in n_list:
        pts = grid_design(bounds, n)
        k = round(len(pts) ** (1.0 / d))
        if k < 2:
            curves["grid_gp"].append(None)
            curves["grid_dgp"].append(None)
            used["grid"].append(None)
            continue
        if k not in cache:
            vals, grads = simulate(pts, args.seed + 2000 + k)
            cache[k] = (gp_mse(pts, vals, grads, False), gp_mse(pts, vals, grads, True), len(pts))
        curves["grid_gp"].append(cache[k][0])
        curves["grid_dgp"].append(cache[k][1])
        used["grid"].append(cache[k][2])
    log(f"[d={d}] grid dgp {curves['grid_dgp']} ({time.perf_counter() - t0:.1f}s)")

    # random points
    t0 = time.perf_counter()
    curves["random_gp"], curves["random_dgp"] = [], []
    for n in n_list:
        gp_vals, dgp_vals = [], []
        for rep in range(args.random_reps):
            rng = np.random.default_rng(args.seed + 3000 + 100 * rep + n)
            pts = random_design(bounds, n, rng)
            vals, grads = simulate(pts, args.seed + 4000 + 100 * rep + n)
            gp_vals.append(gp_mse(pts, vals, grads, False))
            dgp_vals.append(gp_mse(pts, vals, grads, True))
        curves["random_gp"].append(float(np.mean(gp_vals)))
        curves["random_dgp"].append(float(np.mean(dgp_vals)))
    log(f"[d={d}] random dgp {curves['random_dgp']} ({time.perf_counter() - t0:.1f}s)")

    # Bayesian experimental design (averaged over --bed-reps independent runs)
    def schedule(n: int) -> int:
        # one point per step below 30 points, then up to 4, landing on every checkpoint
        upcoming = [m for m in n_list if m > n]
        return 1 if n < 30 else min(4, (upcoming[0] - n) if upcoming else 4)

    def bed(use_g: bool, n_max: int, seed: int, model: str = "current") -> list[float | None]:
        """One design run of the model "current", "previous" (on √(ε/ε(1) + 0.01)) or "nopd"."""
        previous = model == "previous"
        options = previous_options(d) if previous else gp_options(d)
        if model == "nopd":
            options["pair_differences"] = False
        sim = problem.simulator(seed)

        def sim_t(nu: FloatArray) -> tuple[float, FloatArray | None]:
            v, g = sim(nu)
            return PREVIOUS_TRANSFORM.forward(v, g) if previous else (v, g)

        record: dict[int, float] = {}

        def callback(res: Any) -> None:
            n = len(res.values)
            if n in n_list:
                pred = res.gp.predict(test)
                record[n] = mse(PREVIOUS_TRANSFORM.inverse(pred) if previous else to_response(pred))

        sequential_design(
            sim_t,
            bounds,
            n_max,
            use_gradients=use_g,
            batch_size=schedule,
            utility_weights=PREVIOUS_TRANSFORM.weights if previous else None,
            seed=seed,
            refit_restarts=1,
            callback=callback,
            gp_options=options,
        )
        return [record.get(n) for n in n_list]

    def mean_curve(runs: list[list[float | None]]) -> list[float | None]:
        out: list[float | None] = []
        for vals in zip(*runs, strict=True):
            got = [v for v in vals if v is not None]
            out.append(float(np.mean(got)) if len(got) == len(vals) else None)
        return out

    n_max = n_list[-1]
    spread: dict[str, list[float | None]] = {}
    for name, use_g in (("gp_bed", False), ("dgp_bed", True)):
        t0 = time.perf_counter()
        runs = [bed(use_g, n_max, args.seed + 5000 + 17 * r) for r in range(args.bed_reps)]
        curves[name] = mean_curve(runs)
        spread[name] = [
            float(np.std(v)) if all(x is not None for x in v) else None
            for v in zip(*runs, strict=True)
        ]
        log(f"[d={d}] {name} {curves[name]} ({time.perf_counter() - t0:.1f}s)")
    n_cmp = N_COMPARE if N_COMPARE in n_list else n_max
    for name, model in (("dgp_bed_previous", "previous"), ("dgp_bed_nopd", "nopd")):
        t0 = time.perf_counter()
        runs = [bed(True, n_cmp, args.seed + 5000 + 17 * r, model) for r in range(args.bed_reps)]
        curves[name] = mean_curve(runs)
        spread[name] = [
            float(np.std(v)) if all(x is not None for x in v) else None
            for v in zip(*runs, strict=True)
        ]
        log(f"[d={d}] {name} {curves[name]} ({time.perf_counter() - t0:.1f}s)")

    return {
        "n_points": n_list,
        "points_used": used,
        "curves": curves,
        "bed_std_over_reps": spread,
        "nominal_efficiency": problem.nominal_efficiency,
        "truth_variance": float(np.var(target)),
        "seconds": time.perf_counter() - t_start,
    }


def at(result: dict[str, Any], key: str, n: int) -> float | None:
    value = result["curves"][key][result["n_points"].index(n)]
    return None if value is None else float(value)


#: the reference of DESIGN.md §6 (4 nuisances): derivative GP + design, and on-axis
REFERENCE_DGP_BED = {25: 0.015, 97: 0.006}
REFERENCE_ONAXIS = 0.08


def plot_results(results: dict[str, Any], path: str) -> None:
    """Write the MSE curves of every dimension, with the reference points for d = 4."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from unbinned.response.plot import plot_mse_curves

    fig, axes = plt.subplots(1, len(results), figsize=(6 * len(results), 4.5), squeeze=False)
    for ax, (name, res) in zip(axes[0], results.items(), strict=True):
        xs = {
            key: res["points_used"].get(key.split("_")[0], res["n_points"]) for key in res["curves"]
        }
        plot_mse_curves(xs, res["curves"], ax=ax, title=f"3-jet efficiency, {name}")
        if name == "d4":
            ax.axhline(REFERENCE_ONAXIS, color="C0", ls=":", label="reference on-axis")
            ax.plot(
                list(REFERENCE_DGP_BED),
                list(REFERENCE_DGP_BED.values()),
                "k*",
                markersize=9,
                label="reference dgp_bed",
            )
        ax.legend(fontsize="small", ncol=2, loc="lower left")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--plot", default=None, help="write the MSE curves to this path")
    parser.add_argument("--truth-events", type=int, default=400_000)
    parser.add_argument("--sim-events", type=int, default=20_000)
    parser.add_argument("--random-reps", type=int, default=2)
    parser.add_argument("--bed-reps", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dims", default="2,4", help="comma-separated: 2, 4 or 2,4")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    dims = [int(v) for v in args.dims.split(",")]
    results = {f"d{d}": run_dimension(d, args) for d in dims}
    out: dict[str, Any] = {}
    r4 = results.get("d4")
    if r4 is not None:
        dgp30, on30 = at(r4, "dgp_bed", 30), at(r4, "onaxis", 30)
        out.update(
            {
                "mse_dgp_bed_30": dgp30,
                "mse_dgp_bed_30_std_over_reps": r4["bed_std_over_reps"]["dgp_bed"][
                    r4["n_points"].index(30)
                ],
                "mse_onaxis_30": on30,
                "onaxis_over_dgp_bed_30": (on30 / dgp30) if dgp30 and on30 else None,
                "mse_gp_bed_30": at(r4, "gp_bed", 30),
                "mse_random_dgp_30": at(r4, "random_dgp", 30),
                "mse_grid_dgp_30": at(r4, "grid_dgp", 30),
                "mse_dgp_bed_25": at(r4, "dgp_bed", 25),
                "mse_dgp_bed_97": at(r4, "dgp_bed", 97),
                "mse_dgp_bed_previous_30": at(r4, "dgp_bed_previous", 30),
                "mse_dgp_bed_previous_30_std_over_reps": r4["bed_std_over_reps"][
                    "dgp_bed_previous"
                ][r4["n_points"].index(30)],
                "mse_dgp_bed_nopd_30": at(r4, "dgp_bed_nopd", 30),
            }
        )
    r2 = results.get("d2")
    if r2 is not None:
        out.update(
            {
                "d2_mse_dgp_bed_30": at(r2, "dgp_bed", 30),
                "d2_mse_onaxis_30": at(r2, "onaxis", 30),
                "d2_mse_gp_bed_30": at(r2, "gp_bed", 30),
                "d2_mse_dgp_bed_50": at(r2, "dgp_bed", 50),
                "d2_mse_dgp_bed_previous_30": at(r2, "dgp_bed_previous", 30),
            }
        )
    out["settings"] = {
        "truth_events": args.truth_events,
        "sim_events_per_point": args.sim_events,
        "random_reps": args.random_reps,
        "bed_reps": args.bed_reps,
        "bed_batch": "1 point per step below 30 points, then up to 4 (landing on each N)",
        "bed_utility": "512 Sobol points (previous model: weighted by (dr/dy)^2, delta method)",
        "seed": args.seed,
        "test_grid": "25^d in [0.5, 1.5]^d",
        "gp_output": "eff_ratio itself, predictions floored at 0",
        "gp_kernel": (
            "RBF, ANOVA components of orders 1..min(3, d) (shared length scales), each also "
            "on the differences ln nu_a - ln nu_b of its pairs (pair_differences=True)"
        ),
        "gp_input_warp": "ln(nu)",
        "dgp_bed_previous": (
            "previous default model: sqrt(eff_ratio + 0.01), ANOVA orders 1, 2, d, no pair "
            f"differences; up to {N_COMPARE} points"
        ),
        "dgp_bed_nopd": f"the current model without pair differences; up to {N_COMPARE} points",
        "torch_threads": 1,
    }
    out["results"] = results
    if args.plot:
        plot_results(results, args.plot)
        log(f"plot written to {args.plot}")
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
