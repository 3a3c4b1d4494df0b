"""The resonance oracle's exact fit in zfit: run by ``fit_speed.py --zfit-python``, never imported.

Runs under a separate interpreter that has zfit (the ``bench`` dependency group,
kept out of the project's environment: zfit pulls in tensorflow).  Reads the events
(``.npy``, columns mass, pt, cos_theta) and the problem (a JSON file: start values,
bounds, constraints, yields), fits the exact extended likelihood of
:class:`unbinned.sim.oracle.ResonanceModel` written in zfit, then the profiled
68.27 % interval of μ (MINOS), and prints one JSON line with the timings and values.

The model, per process p with nominal yield n_p^0 and generator-level density h_p
(k = energy_scale, w = resolution, f = mix_frac; formulas in
``src/unbinned/sim/oracle/resonance.py``)::

    f_p(x | ν) = h_p(x | ν) / A_p(ν)          (A_p: mass-window acceptance, analytic)
    n_p(μ, ν)  = n_p^0 g_p(μ, ν) A_p(ν) / A_p(ν_0)
    NLL        = Σ_p n_p - Σ_i ln Σ_p n_p f_p(x_i) + ½ Σ_k ((ν_k - c_k)/σ_k)² + const

(zfit's ``ExtendedUnbinnedNLL`` of a ``SumPDF`` of extended ``ZPDF`` s with the
acceptance registered as their analytic integral, and ``GaussianConstraint``), i.e.
q / 2 of the oracle's exact ``nll`` up to a constant.

Timings: ``build_s`` (model, data, loss), ``cold_s`` (the first fit + MINOS, which
traces and compiles the tensorflow graphs), ``warm_s`` (each later fit + MINOS from the
same start) and ``compile_s`` (cold minus the median warm fit: graph compilation and
first-call overheads).

Usage: ``python _zfit_fit.py EVENTS.npy PROBLEM.json`` (written by ``fit_speed.py``).
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from typing import Any

MASS_WINDOW = (50.0, 200.0)
# the oracle's shapes (resonance.py): (mass mean, sigma, pt shape, pt scale, angular a)
SIGNAL = (125.0, 12.5, 4.0, 12.0, 0.0)
PEAK = (91.2, 10.0, 2.0, 10.0, 1.0)
# continuum components: (exponential mass scale, pt shape, pt scale, angular a)
STEEP = (30.0, 2.0, 12.0, 0.5)
SHALLOW = (80.0, 3.0, 15.0, 0.5)
PEAK_KAPPA = 1.1
PT_MAX = 1e4


def main() -> None:  # noqa: PLR0915 - one linear script: build, time, report
    """Build the zfit model, time the fits and print one JSON line (see the module docstring)."""
    if len(sys.argv) != 3:
        print(__doc__.splitlines()[0] + "\nusage: _zfit_fit.py EVENTS.npy PROBLEM.json")
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("ZFIT_DISABLE_TF_WARNINGS", "1")
    import numpy as np
    import tensorflow as tf  # deferred: only in the zfit interpreter

    problem = json.loads(open(sys.argv[2]).read())
    threads = int(problem["threads"])
    # before zfit initialises tensorflow's context
    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)
    import zfit  # deferred: only in the zfit interpreter
    from zfit import z  # deferred: only in the zfit interpreter
    x = np.load(sys.argv[1])
    znp = z.numpy

    def ndtr(a: Any) -> Any:
        return 0.5 * tf.math.erfc(-a / math.sqrt(2.0))

    def gamma_log(pt: Any, shape: float, scale: Any) -> Any:
        return (shape - 1.0) * znp.log(pt) - pt / scale - math.lgamma(shape) - shape * znp.log(scale)

    def angular(c: Any, a: float) -> Any:
        return (1.0 + a * c * c) / (2.0 + 2.0 * a / 3.0)

    def peak_acceptance(spec: tuple[float, ...], k: Any, w: Any) -> Any:
        mean, sigma = spec[0] * k, spec[1] * k * w
        return ndtr((MASS_WINDOW[1] - mean) / sigma) - ndtr((MASS_WINDOW[0] - mean) / sigma)

    def exp_acceptance(tau: float, k: Any) -> Any:
        return znp.exp(-MASS_WINDOW[0] / (tau * k)) - znp.exp(-MASS_WINDOW[1] / (tau * k))

    def cont_acceptance(k: Any, f: Any) -> Any:
        return f * exp_acceptance(STEEP[0], k) + (1.0 - f) * exp_acceptance(SHALLOW[0], k)

    def peak_h(spec: tuple[float, ...], x: Any, k: Any, w: Any) -> Any:
        mean, sigma, shape, scale, a = spec
        m, pt, c = z.unstack_x(x)
        zz = (m - mean * k) / (sigma * k * w)
        log_m = -0.5 * zz * zz - znp.log(sigma * k * w) - 0.5 * math.log(2.0 * math.pi)
        return znp.exp(log_m + gamma_log(pt, shape, scale * k)) * angular(c, a)

    def cont_h(x: Any, k: Any, f: Any) -> Any:
        m, pt, c = z.unstack_x(x)
        out = []
        for tau, shape, scale, a in (STEEP, SHALLOW):
            log_t = -znp.log(tau * k) - m / (tau * k) + gamma_log(pt, shape, scale * k)
            out.append(znp.exp(log_t) * angular(c, a))
        return f * out[0] + (1.0 - f) * out[1]

    class Signal(zfit.pdf.ZPDF):  # type: ignore[misc]
        _PARAMS = ["k", "w"]  # noqa: RUF012 - zfit's declaration

        def _unnormalized_pdf(self, x: Any) -> Any:
            return peak_h(SIGNAL, x, self.params["k"], self.params["w"])

    class Peak(zfit.pdf.ZPDF):  # type: ignore[misc]
        _PARAMS = ["k", "w"]  # noqa: RUF012 - zfit's declaration

        def _unnormalized_pdf(self, x: Any) -> Any:
            return peak_h(PEAK, x, self.params["k"], self.params["w"])

    class Continuum(zfit.pdf.ZPDF):  # type: ignore[misc]
        _PARAMS = ["k", "f"]  # noqa: RUF012 - zfit's declaration

        def _unnormalized_pdf(self, x: Any) -> Any:
            return cont_h(x, self.params["k"], self.params["f"])

    # the integral over the whole observable space (the pt and cos parts integrate to one):
    # the mass-window acceptance; registered for the normalisation range only
    any_space = zfit.Space(
        axes=(0, 1, 2),
        limits=((zfit.Space.ANY_LOWER,) * 3, (zfit.Space.ANY_UPPER,) * 3),
    )
    Signal.register_analytic_integral(
        lambda limits, params, model: peak_acceptance(SIGNAL, params["k"], params["w"]),
        limits=any_space,
    )
    Peak.register_analytic_integral(
        lambda limits, params, model: peak_acceptance(PEAK, params["k"], params["w"]),
        limits=any_space,
    )
    Continuum.register_analytic_integral(
        lambda limits, params, model: cont_acceptance(params["k"], params["f"]), limits=any_space
    )

    t0 = time.perf_counter()
    obs = (
        zfit.Space("mass", limits=MASS_WINDOW)
        # pt > 0: zfit's spaces compare limits by subtraction (inf - inf); above PT_MAX
        # the pt densities are below 1e-200 (exp(-PT_MAX / (15 GeV · 1.1)))
        * zfit.Space("pt", limits=(0.0, PT_MAX))
        * zfit.Space("cos_theta", limits=(-1.0, 1.0))
    )
    start, bounds = problem["start"], problem["bounds"]
    par = {
        name: zfit.Parameter(name, start[name], bounds[name][0], bounds[name][1])
        for name in problem["parameters"]
    }
    mu, k, w, f = par["mu"], par["energy_scale"], par["resolution"], par["mix_frac"]
    theta, cnorm = par["peak_norm"], par["cont_norm"]
    nominal = problem["nominal"]
    k0, w0, f0 = nominal["energy_scale"], nominal["resolution"], nominal["mix_frac"]
    acc0 = {
        "signal": float(peak_acceptance(SIGNAL, k0, w0)),
        "peak_bkg": float(peak_acceptance(PEAK, k0, w0)),
        "cont_bkg": float(cont_acceptance(k0, f0)),
    }
    n0 = problem["yields"]
    n_sig = zfit.ComposedParameter(
        "n_sig",
        lambda p: n0["signal"] * p["mu"] * peak_acceptance(SIGNAL, p["k"], p["w"])
        / acc0["signal"],
        params={"mu": mu, "k": k, "w": w},
    )  # fmt: skip
    n_peak = zfit.ComposedParameter(
        "n_peak",
        lambda p: n0["peak_bkg"] * znp.exp(p["t"] * math.log(PEAK_KAPPA))
        * peak_acceptance(PEAK, p["k"], p["w"]) / acc0["peak_bkg"],
        params={"t": theta, "k": k, "w": w},
    )  # fmt: skip
    n_cont = zfit.ComposedParameter(
        "n_cont",
        lambda p: n0["cont_bkg"] * p["c"] * cont_acceptance(p["k"], p["f"]) / acc0["cont_bkg"],
        params={"c": cnorm, "k": k, "f": f},
    )
    pdfs = [
        Signal(obs=obs, k=k, w=w, extended=n_sig),
        Peak(obs=obs, k=k, w=w, extended=n_peak),
        Continuum(obs=obs, k=k, f=f, extended=n_cont),
    ]
    model = zfit.pdf.SumPDF(pdfs)
    data = zfit.Data.from_numpy(obs=obs, array=x)
    cons = problem["constraints"]
    constraint = zfit.constraint.GaussianConstraint(
        params=[par[n] for n in cons],
        observation=[cons[n][0] for n in cons],
        sigma=[cons[n][1] for n in cons],
    )
    loss = zfit.loss.ExtendedUnbinnedNLL(model=model, data=data, constraints=constraint)
    minimizer = zfit.minimize.Minuit(
        gradient=problem["zfit_gradient"], tol=problem["zfit_tol"], mode=problem["zfit_mode"]
    )
    build_s = time.perf_counter() - t0

    def one_fit() -> tuple[float, Any, dict[str, Any]]:
        zfit.param.set_values(list(par.values()), [start[n] for n in par])
        t = time.perf_counter()
        result = minimizer.minimize(loss)
        errors, _ = result.errors(params=[mu], method="minuit_minos", cl=problem["cl"])
        return time.perf_counter() - t, result, errors

    cold_s, result, errors = one_fit()  # traces and compiles the graphs it needs
    warm = []
    for _ in range(int(problem["repeats"])):
        seconds, result, errors = one_fit()
        warm.append(seconds)
    zfit.param.set_values(list(par.values()), [start[n] for n in par])
    q_start = 2.0 * float(loss.value())
    err = errors[mu]
    values = {n: float(result.params[p]["value"]) for n, p in par.items()}
    zfit.param.set_values(list(par.values()), [values[n] for n in par])
    out = {
        "zfit": zfit.__version__,
        "tensorflow": tf.__version__,
        "valid": bool(result.valid) and bool(err.get("is_valid", True)),
        "values": values,
        "interval": [values["mu"] + float(err["lower"]), values["mu"] + float(err["upper"])],
        "q_start": q_start,
        "q_best": 2.0 * float(loss.value()),
        "edm": float(result.edm),
        "n_events": int(x.shape[0]),
        "build_s": build_s,
        "compile_s": cold_s - sorted(warm)[len(warm) // 2],
        "cold_s": cold_s,
        "warm_s": warm,
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
