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


def _ndtr(a: Any) -> Any:
    import tensorflow as tf  # deferred: only in the zfit interpreter

    return 0.5 * tf.math.erfc(-a / math.sqrt(2.0))


def _gamma_log(pt: Any, shape: float, scale: Any) -> Any:
    from zfit import z  # deferred: only in the zfit interpreter

    log = z.numpy.log
    return (shape - 1.0) * log(pt) - pt / scale - math.lgamma(shape) - shape * log(scale)


def _angular(c: Any, a: float) -> Any:
    return (1.0 + a * c * c) / (2.0 + 2.0 * a / 3.0)


def peak_acceptance(spec: tuple[float, ...], k: Any, w: Any) -> Any:
    """A = Φ((200 - kM)/(kSw)) - Φ((50 - kM)/(kSw)) of a peak (M, S) = spec[:2]."""
    mean, sigma = spec[0] * k, spec[1] * k * w
    return _ndtr((MASS_WINDOW[1] - mean) / sigma) - _ndtr((MASS_WINDOW[0] - mean) / sigma)


def _exp_acceptance(tau: float, k: Any) -> Any:
    from zfit import z  # deferred: only in the zfit interpreter

    exp = z.numpy.exp
    return exp(-MASS_WINDOW[0] / (tau * k)) - exp(-MASS_WINDOW[1] / (tau * k))


def cont_acceptance(k: Any, f: Any) -> Any:
    """A_cont = f A_steep + (1 - f) A_shallow."""
    return f * _exp_acceptance(STEEP[0], k) + (1.0 - f) * _exp_acceptance(SHALLOW[0], k)


def peak_h(spec: tuple[float, ...], x: Any, k: Any, w: Any) -> Any:
    """h = N(m | kM, (kSw)²) Gamma(pt | shape, k·scale) (1 + a c²)/(2 + 2a/3)."""
    from zfit import z  # deferred: only in the zfit interpreter

    mean, sigma, shape, scale, a = spec
    m, pt, c = z.unstack_x(x)
    zz = (m - mean * k) / (sigma * k * w)
    log_m = -0.5 * zz * zz - z.numpy.log(sigma * k * w) - 0.5 * math.log(2.0 * math.pi)
    return z.numpy.exp(log_m + _gamma_log(pt, shape, scale * k)) * _angular(c, a)


def cont_h(x: Any, k: Any, f: Any) -> Any:
    """h = f h_steep + (1 - f) h_shallow, h_j = Exp(m | kτ_j) Gamma(pt) (1 + c²/2)·3/7."""
    from zfit import z  # deferred: only in the zfit interpreter

    m, pt, c = z.unstack_x(x)
    out = []
    for tau, shape, scale, a in (STEEP, SHALLOW):
        log_t = -z.numpy.log(tau * k) - m / (tau * k) + _gamma_log(pt, shape, scale * k)
        out.append(z.numpy.exp(log_t) * _angular(c, a))
    return f * out[0] + (1.0 - f) * out[1]


def pdf_classes() -> tuple[Any, Any, Any]:
    """The three processes as zfit ``ZPDF`` s: h_p unnormalised, A_p their analytic integral."""
    import zfit  # deferred: only in the zfit interpreter

    class Signal(zfit.pdf.ZPDF):
        _PARAMS = ["k", "w"]  # noqa: RUF012 - zfit's declaration

        def _unnormalized_pdf(self, x: Any) -> Any:
            return peak_h(SIGNAL, x, self.params["k"], self.params["w"])

    class Peak(zfit.pdf.ZPDF):
        _PARAMS = ["k", "w"]  # noqa: RUF012 - zfit's declaration

        def _unnormalized_pdf(self, x: Any) -> Any:
            return peak_h(PEAK, x, self.params["k"], self.params["w"])

    class Continuum(zfit.pdf.ZPDF):
        _PARAMS = ["k", "f"]  # noqa: RUF012 - zfit's declaration

        def _unnormalized_pdf(self, x: Any) -> Any:
            return cont_h(x, self.params["k"], self.params["f"])

    # the integral over the whole observable space (the pt and cos parts integrate to one):
    # the mass-window acceptance; used for the normalisation over the observable space only
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
    return Signal, Peak, Continuum


def build(problem: dict[str, Any], x: Any) -> tuple[Any, dict[str, Any], Any]:
    """Return zfit's loss, its parameters by name and the minimiser for ``problem``."""
    import zfit  # deferred: only in the zfit interpreter
    from zfit import z  # deferred: only in the zfit interpreter

    signal, peak, continuum = pdf_classes()
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
    k, w, f = par["energy_scale"], par["resolution"], par["mix_frac"]
    nominal = problem["nominal"]
    k0, w0, f0 = nominal["energy_scale"], nominal["resolution"], nominal["mix_frac"]
    n0 = problem["yields"]
    scale = {
        "signal": n0["signal"] / float(peak_acceptance(SIGNAL, k0, w0)),
        "peak_bkg": n0["peak_bkg"] / float(peak_acceptance(PEAK, k0, w0)),
        "cont_bkg": n0["cont_bkg"] / float(cont_acceptance(k0, f0)),
    }
    log_kappa = math.log(PEAK_KAPPA)
    n_sig = zfit.ComposedParameter(
        "n_sig",
        lambda p: scale["signal"] * p["mu"] * peak_acceptance(SIGNAL, p["k"], p["w"]),
        params={"mu": par["mu"], "k": k, "w": w},
    )
    n_peak = zfit.ComposedParameter(
        "n_peak",
        lambda p: scale["peak_bkg"] * z.numpy.exp(p["t"] * log_kappa)
        * peak_acceptance(PEAK, p["k"], p["w"]),
        params={"t": par["peak_norm"], "k": k, "w": w},
    )  # fmt: skip
    n_cont = zfit.ComposedParameter(
        "n_cont",
        lambda p: scale["cont_bkg"] * p["c"] * cont_acceptance(p["k"], p["f"]),
        params={"c": par["cont_norm"], "k": k, "f": f},
    )
    model = zfit.pdf.SumPDF(
        [
            signal(obs=obs, k=k, w=w, extended=n_sig),
            peak(obs=obs, k=k, w=w, extended=n_peak),
            continuum(obs=obs, k=k, f=f, extended=n_cont),
        ]
    )
    cons = problem["constraints"]
    constraint = zfit.constraint.GaussianConstraint(
        params=[par[n] for n in cons],
        observation=[cons[n][0] for n in cons],
        sigma=[cons[n][1] for n in cons],
    )
    data = zfit.Data.from_numpy(obs=obs, array=x)
    loss = zfit.loss.ExtendedUnbinnedNLL(model=model, data=data, constraints=constraint)
    minimizer = zfit.minimize.Minuit(
        gradient=problem["zfit_gradient"], tol=problem["zfit_tol"], mode=problem["zfit_mode"]
    )
    return loss, par, minimizer


def main() -> None:
    """Build the zfit model, time the fits and print one JSON line (see the module docstring)."""
    if len(sys.argv) != 3:
        print(__doc__.splitlines()[0] + "\nusage: _zfit_fit.py EVENTS.npy PROBLEM.json")
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("ZFIT_DISABLE_TF_WARNINGS", "1")
    import numpy as np
    import tensorflow as tf  # deferred: only in the zfit interpreter

    with open(sys.argv[2]) as stream:
        problem = json.load(stream)
    threads = int(problem["threads"])
    # before zfit initialises tensorflow's context
    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)
    import zfit  # deferred: only in the zfit interpreter

    x = np.load(sys.argv[1])
    t0 = time.perf_counter()
    loss, par, minimizer = build(problem, x)
    build_s = time.perf_counter() - t0
    start, mu = problem["start"], par["mu"]

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
