r"""Pseudo-experiments simulated afresh, instead of drawn from one fixed weighted sample.

:func:`unbinned.sim.pseudo.pseudo_experiment` Poisson-samples a fixed weighted
sample, as the challenge does.  Every pseudo-experiment drawn from it then shares
that sample's Monte-Carlo fluctuation: μ̂ moves by about
:math:`\sqrt{N_\mathrm{data}/N_\mathrm{sample}}` standard deviations, by the same
amount in every pseudo-experiment, a bias no number of pseudo-experiments averages
away (with a test sample of 3 × 10⁵ events per process and 5 % of the challenge's
luminosity, three samples gave μ̂ = 0.50, 0.98 and 1.07 on their Asimov data at
μ = 1, BENCHMARKS.md).  A coverage study needs independent data.

:func:`simulate_pseudo_experiment` generates them: per process
:math:`n_p \sim \mathrm{Poisson}(f_p\,\Lambda_p)` raw events of unit weight, where
:math:`\Lambda_p` is the expected number of raw (pre-selection) events at the
luminosity (:func:`raw_rates`) and :math:`f_p` the process's rate factor (μ for
the signal; ``bkg_scale`` times ``ttbar_scale`` or ``diboson_scale`` for the
backgrounds), then applies tes, jes and soft MET and the selection.  The selected
events are exactly a Poisson process with the expected density: no event repeats
and nothing is shared between pseudo-experiments.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence

import numpy as np

from unbinned.data.schema import EXPECTED_YIELDS_10FB, PROCESSES, SIGNAL_PROCESSES
from unbinned.exceptions import ConfigError
from unbinned.sim.htautau._config import SimulationConfig
from unbinned.sim.htautau._simulate import build_frame, process_frame
from unbinned.sim.pseudo import PseudoExperiment
from unbinned.sim.systematics import Nuisances, apply_systematics

__all__ = ["raw_rates", "simulate_pseudo_experiment"]

# the child streams of a pseudo-experiment's seed; nuisances and soft MET use the
# same indices as unbinned.sim.pseudo, so one seed draws the same truth in both
_NUISANCE_STREAM, _SOFT_MET_STREAM, _COUNT_STREAM, _EVENT_STREAM = 0, 1, 2, 3


def raw_rates(
    luminosity: float = 10.0,
    *,
    events_per_process: int = 1_000_000,
    seed: int = 20_260_000,
    processes: Sequence[str] = PROCESSES,
    config: SimulationConfig | None = None,
) -> dict[str, float]:
    r"""Expected number of raw (stored, pre-selection) events per process.

    :math:`\Lambda_p = Y_p\,(L / 10\,\mathrm{fb}^{-1}) / \varepsilon_p`, with
    :math:`Y_p` the expected selected yield at 10 fb⁻¹
    (:data:`~unbinned.data.schema.EXPECTED_YIELDS_10FB`) and :math:`\varepsilon_p`
    the fraction of raw events passing the nominal selection, measured on
    ``events_per_process`` simulated events (relative precision
    :math:`\sqrt{(1-\varepsilon)/(\varepsilon n)}`, 4 × 10⁻⁴ for Z→ττ with the default
    10⁶, where the prior of ``bkg_scale`` allows 10⁻³).

    Parameters
    ----------
    luminosity
        Integrated luminosity in fb⁻¹.
    events_per_process
        Raw events simulated per process to measure the efficiencies.
    seed
        Seed of that simulation.
    processes
        Which processes.
    config
        Simulation parameters (default: :class:`SimulationConfig`).
    """
    if not (isinstance(luminosity, int | float) and math.isfinite(luminosity) and luminosity > 0):
        raise ConfigError(f"luminosity = {luminosity!r}: expected a positive number of fb^-1")
    cfg = config or SimulationConfig()
    children = np.random.SeedSequence(int(seed)).spawn(len(PROCESSES))
    out: dict[str, float] = {}
    for p in processes:
        if p not in PROCESSES:
            raise ConfigError(f"unknown process {p!r}; expected one of {list(PROCESSES)}")
        rng = np.random.Generator(np.random.PCG64(children[PROCESSES.index(p)]))
        _, n_nominal = process_frame(p, int(events_per_process), rng, cfg)
        if n_nominal == 0:
            raise ConfigError(f"no simulated {p} event passes the selection; simulate more")
        out[p] = EXPECTED_YIELDS_10FB[p] * luminosity / 10.0 * events_per_process / n_nominal
    return out


def simulate_pseudo_experiment(
    rates: Mapping[str, float],
    *,
    mu: float,
    nuisances: Nuisances | None = None,
    draw_nuisances: bool = False,
    seed: int,
    config: SimulationConfig | None = None,
) -> PseudoExperiment:
    r"""One pseudo-experiment simulated afresh (see the module docstring).

    Parameters
    ----------
    rates
        Expected raw events per process at the wanted luminosity (:func:`raw_rates`).
    mu
        True signal strength (>= 0).
    nuisances
        True nuisance values (nominal when omitted); exclusive with ``draw_nuisances``.
    draw_nuisances
        Draw them from :data:`~unbinned.sim.systematics.CHALLENGE_PRIORS` (the same
        draw as :func:`unbinned.sim.pseudo.pseudo_experiment` with this seed).
    seed
        Non-negative integer; everything derives from it.
    config
        Simulation parameters.

    Returns
    -------
    PseudoExperiment
        Selected events with ``weights`` = 1; ``expected`` holds the expected raw
        counts :math:`f_p\Lambda_p` per process (``n_distinct`` = the number of events).
    """
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ConfigError(f"seed={seed!r} must be a non-negative int (it names the experiment)")
    if not (math.isfinite(mu) and mu >= 0):
        raise ConfigError(f"signal strength mu={mu} must be finite and >= 0")
    if draw_nuisances and nuisances is not None:
        raise ConfigError("pass either nuisances= or draw_nuisances=True, not both")
    streams = np.random.SeedSequence(int(seed)).spawn(4)
    if draw_nuisances:
        nu = Nuisances.draw(np.random.default_rng(streams[_NUISANCE_STREAM]))
    else:
        nu = nuisances if nuisances is not None else Nuisances()
    cfg = config or SimulationConfig()
    counts_rng = np.random.default_rng(streams[_COUNT_STREAM])
    event_streams = streams[_EVENT_STREAM].spawn(len(PROCESSES))
    requests: list[tuple[str, int, np.random.Generator]] = []
    expected: dict[str, float] = {}
    for p, rate in rates.items():
        if p not in PROCESSES:
            raise ConfigError(f"unknown process {p!r} in rates; expected {list(PROCESSES)}")
        if not (math.isfinite(rate) and rate >= 0):
            raise ConfigError(f"rate of {p!r} = {rate!r}; expected a finite number >= 0")
        expected[p] = (mu if p in SIGNAL_PROCESSES else nu.rate_factor(p)) * rate
        n = int(counts_rng.poisson(expected[p]))
        if n == 0:
            continue
        rng = np.random.Generator(np.random.PCG64(event_streams[PROCESSES.index(p)]))
        requests.append((p, n, rng))
    if not requests:
        raise ConfigError(f"no events expected (rates {dict(rates)}, mu={mu})")
    # one frame, no per-process copies; DER_* left out: apply_systematics computes them
    raw = build_frame(requests, cfg, derived=False)[0]
    # the rate factors are already in the counts: only the shape nuisances act here
    shapes = dataclasses.replace(nu, ttbar_scale=1.0, diboson_scale=1.0, bkg_scale=1.0)
    soft_rng = np.random.default_rng(streams[_SOFT_MET_STREAM])
    data = apply_systematics(raw, shapes, seed=soft_rng).reset_index(drop=True)
    return PseudoExperiment(
        data=data,
        mu=float(mu),
        nuisances=nu,
        seed=int(seed),
        expected=expected,
        n_distinct=len(data),
        max_multiplicity=1 if len(data) else 0,
    )
