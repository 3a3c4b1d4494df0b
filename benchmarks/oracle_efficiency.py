"""Efficiency of the learned unbinned likelihood against the exact one, on the analytic oracle.

The resonance oracle (:class:`unbinned.sim.oracle.ResonanceModel`: signal, peaking and
continuum backgrounds in (mass, pt, cos_theta); shape nuisances ``energy_scale``,
``resolution``, ``mix_frac``; normalisations ``peak_norm`` (1.1^θ) and ``cont_norm``)
has closed-form densities, so the optimal analysis of its data is known: the exact
extended unbinned profile likelihood.  This benchmark measures how close the learned
analysis (:func:`unbinned.analysis.train_analysis`: calibrated classifier, response
networks and yield models trained on oracle simulation, shapes normalised over an
independent reference sample) comes to it, on the *same* pseudo-experiments.

Protocol (one pseudo-experiment per seed, all random numbers from the seed):

* true μ ~ U(0.5, 2); true nuisances drawn from their priors (the constraint terms of
  both fits): energy_scale N(1, 0.02), resolution N(1, 0.1), mix_frac N(0.6, 0.1),
  peak_norm N(0, 1), cont_norm N(1, 0.05), each truncated to ±3σ (the range the
  response networks are trained on) by redrawing;
* the events are drawn from the oracle at those values with a Poisson total
  (:meth:`~unbinned.sim.oracle.OracleModel.sample`, ≈ 9 200 events);
* *learned*: :meth:`AnalysisModel.measure` (unbinned, no binned baseline); *exact*:
  the oracle's own q(θ) = -2 ln L (:meth:`~unbinned.sim.oracle.OracleModel.nll_torch`,
  the same Gaussian constraints centred at the nominal values) wrapped as a
  :class:`~unbinned.infer.Fittable` with its exact gradient and Hessian; both fitted
  with the same engine (:func:`unbinned.infer.fit`, then
  :func:`unbinned.infer.profile_interval` at Δq = 1), the same parameters, bounds and
  priors (:data:`SPEC`).  Drawing the true nuisances from the priors while the
  constraints stay centred at nominal is the prior-averaged (hybrid) protocol of the
  challenge: for Gaussian constraints it is equivalent to fixed true values with
  randomised auxiliary measurements, so a correct interval covers 68.27 % on average.

Figures (one JSON line on stdout; progress on stderr):

* ``width_ratio_to_oracle``: mean learned 68 % width / mean exact width over the toys
  where both fits are valid (target ≤ 1.05);
* ``coverage`` (learned, target window [0.653, 0.712]) and ``coverage_oracle``, with
  binomial errors; ``bias`` (mean μ̂ - μ_true), pulls, invalid counts;
* ``mu_hat_diff_rms``: RMS of learned minus exact μ̂ on the same data, in units of the
  exact interval half-width (how far the learned answer is from the optimal one).

The learned analysis is trained with the library's defaults (:class:`SurrogateConfig`
and :func:`~unbinned.analysis.train_analysis`'s option groups, apart from no binned
templates and the integration mode); ``--recipe legacy`` gives the hand-set settings of
the first run (2026-11-23: one network, 12 epochs, fixed batch sizes).

The trained analysis is saved under ``--work-dir`` and the toy rows are appended to a
JSON-lines store there (:func:`unbinned.infer.run_toys`), so a rerun resumes.

It also writes the summary, the exact command and the commit to
``benchmarks/results/oracle_efficiency.json`` (``--out``).

Run: ``.venv/bin/python benchmarks/oracle_efficiency.py`` (about 6 minutes on two
loaded cores; ``--quick`` for a small check).
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import os
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch

from unbinned.exceptions import ConfigError, DataError
from unbinned.ml.runtime import RunOptions
from unbinned.model import ModelSpec
from unbinned.sim.oracle import ResonanceModel

FloatArray = npt.NDArray[np.float64]

MU_RANGE = (0.5, 2.0)
TRUNCATE_SIGMA = 3.0

SPEC: dict[str, Any] = {
    "pois": [{"name": "mu", "init": 1.0, "bounds": [0.0, 10.0]}],
    "nuisances": [
        {"name": "energy_scale", "nominal": 1.0, "prior": "gaussian", "width": 0.02,
         "bounds": [0.9, 1.1], "acts_on": "shape"},
        {"name": "resolution", "nominal": 1.0, "prior": "gaussian", "width": 0.1,
         "bounds": [0.5, 1.5], "acts_on": "shape"},
        {"name": "mix_frac", "nominal": 0.6, "prior": "gaussian", "width": 0.1,
         "bounds": [0.1, 0.95], "acts_on": "shape"},
        {"name": "peak_norm", "nominal": 0.0, "prior": "gaussian", "width": 1.0,
         "bounds": [-5.0, 5.0]},
        {"name": "cont_norm", "nominal": 1.0, "prior": "gaussian", "width": 0.05,
         "bounds": [0.75, 1.25]},
    ],
    "processes": [
        {"name": "signal", "signal": True, "modifiers": [{"parameter": "mu"}]},
        {"name": "peak_bkg",
         "modifiers": [{"parameter": "peak_norm", "kind": "lognormal", "kappa": 1.1}]},
        {"name": "cont_bkg", "modifiers": [{"parameter": "cont_norm"}]},
    ],
    "regions": [{"name": "resonance_3d", "kind": "unbinned"}],
}  # fmt: skip
"""The oracle's statistical model: the same parameters, priors and bounds for both fits."""


def log(*args: Any) -> None:
    print(*args, file=sys.stderr, flush=True)


class ExactLikelihood:
    """The oracle's exact q(θ) = -2 ln L of one dataset, as a :class:`~unbinned.infer.Fittable`.

    q(θ) = 2 [Σ_p n_p(μ, ν) - Σ_i ln Σ_p n_p(μ, ν) f_p(x_i|ν)] + Σ_k ((ν_k - c_k)/σ_k)²
    (:meth:`~unbinned.sim.oracle.OracleModel.nll_torch`), with the gradient and the
    Hessian by autodiff in one pass.  Parameters are those of ``spec`` (which must
    list the oracle's parameters in its order); points outside a nuisance's allowed
    range give q = +inf.
    """

    errordef = 1.0

    def __init__(self, model: ResonanceModel, spec: ModelSpec, x: FloatArray) -> None:
        if tuple(spec.parameter_names) != tuple(model.parameter_names):
            raise ConfigError(
                f"spec parameters {spec.parameter_names} must equal the oracle's "
                f"{model.parameter_names} (same order)"
            )
        self.model = model
        self.spec = spec
        self.parameter_names = spec.parameter_names
        self._x = torch.as_tensor(np.ascontiguousarray(x), dtype=torch.float64)
        self._eye = torch.eye(len(self.parameter_names), dtype=torch.float64)
        self._cache: tuple[bytes, int, float, FloatArray | None, FloatArray | None] | None = None

    def vector(self, values: Mapping[str, float] | None = None) -> FloatArray:
        """Parameter vector from a partial mapping (the rest at the start values)."""
        init = self.spec.init_values()
        init.update(values or {})
        return np.array([init[n] for n in self.parameter_names], dtype=np.float64)

    def evaluate(self, theta: npt.ArrayLike, order: int = 2) -> tuple[float, Any, Any]:
        """q and, up to ``order``, its exact gradient and Hessian."""
        x = np.asarray(theta, dtype=np.float64)
        key = x.tobytes()
        if self._cache is not None and self._cache[0] == key and self._cache[1] >= order:
            _, _, q, g, h = self._cache
            return q, None if g is None else g.copy(), None if h is None else h.copy()
        n = len(x)
        nan_g, nan_h = np.full(n, np.nan), np.full((n, n), np.nan)
        t = torch.tensor(x, dtype=torch.float64, requires_grad=order > 0)
        try:
            if order == 0:
                with torch.no_grad():
                    out: tuple[float, Any, Any] = (
                        float(self.model.nll_torch(t, self._x)), None, None
                    )  # fmt: skip
            else:
                qt = self.model.nll_torch(t, self._x)
                (gt,) = torch.autograd.grad(qt, t, create_graph=order > 1)
                h = None
                if order > 1:
                    (ht,) = torch.autograd.grad(gt, t, self._eye, is_grads_batched=True)
                    h = ht.detach().numpy().astype(np.float64)
                out = (float(qt.detach()), gt.detach().numpy().astype(np.float64), h)
        except (ConfigError, DataError):  # a nuisance outside the model's allowed range
            out = (math.inf, nan_g if order > 0 else None, nan_h if order > 1 else None)
        q, g, h = out
        if not math.isfinite(q) or (g is not None and not np.all(np.isfinite(g))):
            q = math.inf
        self._cache = (key, order, q, g, h)
        return q, None if g is None else g.copy(), None if h is None else h.copy()

    def __call__(self, theta: npt.ArrayLike) -> float:
        """q alone."""
        return self.evaluate(theta, 0)[0]

    def value_and_grad(self, theta: npt.ArrayLike) -> tuple[float, FloatArray]:
        """q and its gradient."""
        q, g, _ = self.evaluate(theta, 1)
        return q, g

    def hessian(self, theta: npt.ArrayLike) -> FloatArray:
        """The exact Hessian of q."""
        h: FloatArray = self.evaluate(theta, 2)[2]
        return h


def draw_truth(seed: int, spec: ModelSpec) -> tuple[float, dict[str, float]]:
    """True μ ~ U(0.5, 2) and nuisances from their Gaussian priors truncated to ±3σ."""
    rng = np.random.default_rng([int(seed), 7411])
    mu = float(rng.uniform(*MU_RANGE))
    nu: dict[str, float] = {}
    for n in spec.nuisances:
        width = float(n.width or 0.0)
        z = rng.standard_normal()
        while abs(z) > TRUNCATE_SIGMA:
            z = rng.standard_normal()
        nu[n.name] = float(n.nominal + width * z)
    return mu, nu


@functools.lru_cache(maxsize=1)
def _analysis(path: str) -> Any:
    from unbinned.analysis import AnalysisModel

    return AnalysisModel.load(path)


def oracle_toy_task(seed: int, *, analysis: str, threads: int = 1) -> dict[str, Any]:
    """One pseudo-experiment measured by the learned analysis and by the exact likelihood."""
    from unbinned.data import EventSet
    from unbinned.infer import fit, profile_interval

    torch.set_num_threads(int(threads))
    t0 = time.perf_counter()
    model = _analysis(analysis)
    oracle = ResonanceModel()
    spec = ModelSpec.from_dict(SPEC)
    mu_true, nu_true = draw_truth(seed, spec)
    data = oracle.sample(mu_true, nu_true, seed=np.random.default_rng([int(seed), 7412]))
    events = EventSet.from_numpy(data.x, feature_names=oracle.feature_names)
    learned = model.measure(events, binned=False, seed=int(seed))
    t1 = time.perf_counter()
    exact = ExactLikelihood(oracle, spec, data.x)
    best = fit(exact, seed=int(seed))
    iv = profile_interval(exact, "mu", cl=0.6827, best=best, seed=int(seed))
    t2 = time.perf_counter()
    row: dict[str, Any] = {
        "seed": int(seed),
        "mu_true": mu_true,
        "mu_hat": learned.value,
        "p16": learned.lower,
        "p84": learned.upper,
        "valid": bool(learned.valid),
        "interval_method": learned.interval.method,
        "oracle_mu_hat": best.values["mu"],
        "oracle_p16": iv.lower,
        "oracle_p84": iv.upper,
        "oracle_valid": bool(best.valid and iv.valid),
        "oracle_interval_method": iv.method,
        "n_events": len(data),
        "learned_seconds": t1 - t0,
        "oracle_seconds": t2 - t1,
    }
    for name, value in nu_true.items():
        row[f"true_{name}"] = value
        row[f"fit_{name}"] = learned.fit.values[name]
        row[f"oracle_fit_{name}"] = best.values[name]
    return row


def expected_sigmas(model: Any, oracle: ResonanceModel) -> dict[str, float | None]:
    """Expected σ_μ at μ = 1, nominal ν: learned (Asimov of its own density) and exact (Fisher).

    σ = sqrt((I⁻¹)_μμ) with I = H/2 the Hessian of q on the Asimov data (profiled) and
    1/sqrt(I_μμ) with every nuisance fixed (stat only).  A learned information above
    the exact one means the learned density is sharper than the truth.
    """
    from unbinned.likelihood import Likelihood

    lik = Likelihood(model.spec, [model._region(model._integration_events())])
    x0 = lik.vector({"mu": 1.0})
    info_l = lik.asimov(x0).hessian(x0) / 2.0
    _, info_o = oracle.fisher_information(1.0, n_per_process=2**16)
    prof_l, prof_o = (math.sqrt(float(np.linalg.inv(i)[0, 0])) for i in (info_l, info_o))
    stat_l, stat_o = (1.0 / math.sqrt(float(i[0, 0])) for i in (info_l, info_o))
    return {
        "sigma_learned": _r(prof_l),
        "sigma_oracle": _r(prof_o),
        "sigma_ratio": _r(prof_l / prof_o),
        "stat_only_ratio": _r(stat_l / stat_o),
    }


def _coverage(
    mu: FloatArray, lo: FloatArray, hi: FloatArray
) -> tuple[float, float]:  # fraction covered and its binomial error
    if mu.size == 0:
        return math.nan, math.nan
    c = float(np.mean((lo <= mu) & (mu <= hi)))
    return c, math.sqrt(c * (1.0 - c) / mu.size)


def _r(x: float, digits: int = 4) -> float | None:
    return round(x, digits) if math.isfinite(x) else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (a few minutes)")
    parser.add_argument("--toys", type=int, default=300)
    parser.add_argument("--first-seed", type=int, default=10_000)
    parser.add_argument("--train-events", type=int, default=50_000, help="per process")
    parser.add_argument("--reference-events", type=int, default=100_000, help="per process")
    parser.add_argument(
        "--recipe",
        choices=("default", "legacy"),
        default="default",
        help="surrogate settings: the library's defaults (SurrogateConfig()) or the "
        "hand-set ones of the 2026-11-23 run (--epochs applies to these only)",
    )
    parser.add_argument("--epochs", type=int, default=12, help="legacy recipe only")
    parser.add_argument("--workers", type=int, default=1, help="toy worker processes")
    parser.add_argument("--work-dir", default="benchmarks/.cache/oracle_efficiency")
    parser.add_argument(
        "--out",
        default="benchmarks/results/oracle_efficiency.json",
        help="where the summary, the command and the commit are written ('' : nowhere)",
    )
    parser.add_argument(
        "--integration-mode",
        choices=("events", "moments"),
        default="events",
        help="normalise the learned shapes over the reference events (exact) or their moments",
    )
    args = parser.parse_args()
    from _results import code_state

    state = code_state()  # the code the study starts with
    if args.quick:
        args.toys, args.train_events, args.reference_events, args.epochs = 30, 15_000, 50_000, 4

    from unbinned.analysis import (
        AnalysisModel,
        IntegrationOptions,
        TemplateOptions,
        train_analysis,
    )
    from unbinned.infer import make_executor, run_toys
    from unbinned.ml import OracleSource, SurrogateConfig, TrainConfig

    torch.set_num_threads(1)
    t_start = time.perf_counter()
    oracle = ResonanceModel()
    spec = ModelSpec.from_dict(SPEC)
    work = Path(args.work_dir)
    work.mkdir(parents=True, exist_ok=True)
    tag = f"tr{args.train_events}_ref{args.reference_events}_" + (
        "default" if args.recipe == "default" else f"ep{args.epochs}"
    )
    if args.integration_mode != "events":
        tag += f"_{args.integration_mode}"
    analysis_dir = work / f"analysis_{tag}"
    cfg = SurrogateConfig() if args.recipe == "default" else SurrogateConfig(
        classifier=TrainConfig(hidden=(64, 64), epochs=args.epochs, batch_size=2048, patience=4),
        response=TrainConfig(hidden=(32, 32), epochs=args.epochs, batch_size=16384,
                             learning_rate=1e-3, patience=4),
        max_events_per_point=None, classifier_members=1, classifier_bootstrap=False,
        response_emphasis=0.0, signal_response_epochs=None, max_events_per_point_largest=None,
    )  # fmt: skip
    train_s = 0.0
    if not (analysis_dir / "analysis.json").is_file():
        log(f"training the learned analysis ({args.train_events} events per process) ...")
        t0 = time.perf_counter()
        model = train_analysis(
            OracleSource(oracle, args.train_events, seed=1, mode="vary"), spec,
            reference=OracleSource(oracle, args.reference_events, seed=2),
            surrogate_config=cfg, templates=TemplateOptions(bins=0), seed=0,
            run=RunOptions(
                progress=False, num_threads=1, checkpoint_dir=work / f"checkpoints_{tag}"
            ),
            integration=IntegrationOptions(mode=args.integration_mode),
        )  # fmt: skip
        model.save(analysis_dir, overwrite=True)
        train_s = time.perf_counter() - t0
        (work / f"train_{tag}.json").write_text(json.dumps({"train_s": train_s}))
        log(f"trained in {train_s:.0f} s")
    else:
        record = work / f"train_{tag}.json"
        train_s = json.loads(record.read_text())["train_s"] if record.is_file() else math.nan
    model = AnalysisModel.load(analysis_dir)
    # the classifier-weighted nominal yields s_p the learned shapes are normalised to
    integ = model._integration_events()
    s_p = (integ.fractions * integ.weights[:, None]).sum(0)
    nominal = oracle.expected_yields()
    yield_closure = {p: _r(float(s_p[i] / nominal[p]), 5) for i, p in enumerate(oracle.processes)}
    log(f"classifier-weighted nominal yields / exact: {yield_closure}")
    expected = expected_sigmas(model, oracle)
    log(f"expected sigma_mu at mu = 1 (Asimov / Fisher): {expected}")

    task = functools.partial(oracle_toy_task, analysis=str(analysis_dir))
    store = work / f"toys_{tag}_seed{args.first_seed}.jsonl"
    seeds = range(args.first_seed, args.first_seed + args.toys)
    kind = "processes" if args.workers > 1 else "serial"
    executor = make_executor(kind, n_workers=args.workers)  # type: ignore[arg-type]
    t1 = time.perf_counter()
    try:
        study = run_toys(task, seeds, store=store, executor=executor, progress=True)
    finally:
        executor.close()
    toys_s = time.perf_counter() - t1

    summary = study.summary()
    df = study.rows
    ok_run = df["error"].isna().to_numpy()

    def col(name: str) -> FloatArray:
        return df[name].to_numpy(dtype=np.float64)

    def valid_of(prefix: str) -> npt.NDArray[np.bool_]:
        lo, hi = col(f"{prefix}p16"), col(f"{prefix}p84")
        flag = df[f"{prefix}valid"].fillna(False).to_numpy(dtype=bool)
        with np.errstate(invalid="ignore"):
            good = ok_run & flag & np.isfinite(lo) & np.isfinite(hi) & (lo <= hi)
        return np.asarray(good & np.isfinite(col(f"{prefix}mu_hat")))

    v_l, v_o = valid_of(""), valid_of("oracle_")
    both = v_l & v_o
    mu = col("mu_true")
    w_l, w_o = col("p84") - col("p16"), col("oracle_p84") - col("oracle_p16")
    cov_l, cov_l_err = _coverage(mu[v_l], col("p16")[v_l], col("p84")[v_l])
    cov_o, cov_o_err = _coverage(mu[v_o], col("oracle_p16")[v_o], col("oracle_p84")[v_o])
    cov_lb, _ = _coverage(mu[both], col("p16")[both], col("p84")[both])
    cov_ob, _ = _coverage(mu[both], col("oracle_p16")[both], col("oracle_p84")[both])
    ratio = float(np.mean(w_l[both]) / np.mean(w_o[both])) if both.any() else math.nan
    per_toy = w_l[both] / w_o[both]
    # paired error of the ratio of means (delta method over the same toys)
    if both.sum() > 2:
        a, b = w_l[both], w_o[both]
        d = a / b.mean() - ratio * b / b.mean()
        ratio_err = float(np.std(d, ddof=1) / math.sqrt(both.sum()))
    else:
        ratio_err = math.nan
    diff = (col("mu_hat") - col("oracle_mu_hat"))[both] / (0.5 * w_o[both])
    bias_o = float(np.mean((col("oracle_mu_hat") - mu)[v_o])) if v_o.any() else math.nan
    res_l, res_o = (col("mu_hat") - mu)[both], (col("oracle_mu_hat") - mu)[both]
    spread = float(np.std(res_l) / np.std(res_o)) if both.sum() > 2 else math.nan
    paired = (col("mu_hat") - col("oracle_mu_hat"))[both]
    out = {
        "width_ratio_to_oracle": _r(ratio),
        "width_ratio_error": _r(ratio_err),
        "width_ratio_per_toy_median": _r(float(np.median(per_toy))) if per_toy.size else None,
        "coverage": _r(cov_l),
        "coverage_error": _r(cov_l_err),
        "coverage_oracle": _r(cov_o),
        "coverage_oracle_error": _r(cov_o_err),
        "coverage_both_valid": _r(cov_lb),
        "coverage_oracle_both_valid": _r(cov_ob),
        "mean_width": _r(float(np.mean(w_l[v_l]))) if v_l.any() else None,
        "mean_width_oracle": _r(float(np.mean(w_o[v_o]))) if v_o.any() else None,
        "bias": _r(summary.bias),
        "bias_error": _r(summary.bias_error),
        "bias_oracle": _r(bias_o),
        "pull_mean": _r(summary.pull_mean, 3),
        "pull_width": _r(summary.pull_width, 3),
        "resid_std_ratio_to_oracle": _r(spread),
        "mu_hat_diff_mean": _r(float(np.mean(paired))) if paired.size else None,
        "mu_hat_diff_mean_error": _r(float(np.std(paired, ddof=1) / math.sqrt(paired.size)))
        if paired.size > 1
        else None,
        "mu_hat_diff_rms_in_halfwidths": _r(float(np.sqrt(np.mean(diff**2))))
        if diff.size
        else None,
        "n_toys": len(df),
        "n_valid": int(v_l.sum()),
        "n_valid_oracle": int(v_o.sum()),
        "n_both_valid": int(both.sum()),
        "n_failed": int((~ok_run).sum()),
        "yield_closure": yield_closure,
        "expected_at_mu1": expected,
        "settings": {
            "oracle": "ResonanceModel (default yields 200/3000/6000)",
            "mu_true": list(MU_RANGE),
            "nuisances_true": f"priors truncated at ±{TRUNCATE_SIGMA:g} sigma",
            "cl": 0.6827,
            "train_events_per_process": args.train_events,
            "reference_events_per_process": args.reference_events,
            "recipe": args.recipe,
            "epochs": args.epochs if args.recipe == "legacy" else None,
            "integration_mode": args.integration_mode,
            "first_seed": args.first_seed,
            "executor": kind,
            "workers": args.workers,
        },
        "data_events_mean": _r(float(np.mean(col("n_events")[ok_run])), 1)
        if ok_run.any()
        else None,
        "learned_seconds_per_toy": _r(float(np.nanmean(col("learned_seconds"))), 3),
        "oracle_seconds_per_toy": _r(float(np.nanmean(col("oracle_seconds"))), 3),
        "train_s": _r(train_s, 1),
        "toys_s_this_run": round(toys_s, 1),
        "toys_task_s_total": _r(
            float(np.nansum(col("learned_seconds") + col("oracle_seconds"))), 1
        ),
        "wall_s": round(time.perf_counter() - t_start, 1),
        "loadavg": round(os.getloadavg()[0], 2),
    }
    print(json.dumps(out))
    if args.out:
        from _results import write_result

        log(f"wrote {write_result(args.out, 'oracle_efficiency', out, state)}")


if __name__ == "__main__":
    main()
