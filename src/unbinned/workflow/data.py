"""Where an analysis's events come from: training sources, test samples, pseudo-data.

The ``data`` section of the config chooses the kind:

* ``simulator``: the built-in H→ττ simulator; the ``simulate`` step writes a raw
  training sample and, with another seed, a raw test sample (parquet);
* ``parquet`` / ``root``: challenge-format files given by the user;
* ``files``: the user's own samples and shape variations
  (:class:`unbinned.data.FileSamples`, :class:`unbinned.ml.FileVariationSource`):
  the training and reference samples are these files less a held-out fifth of their
  events, on which the validation and the surrogates' health check run
  (:func:`holds_out`, :func:`heldout_source`; also ``parquet``/``root`` without a
  ``test`` file);
* ``oracle``: an analytic oracle model (:class:`unbinned.ml.OracleSource`);
* ``toy``: the two-feature Gaussian toy (:class:`unbinned.ml.GaussianToySource`).

Pseudo-experiments of the kinds that can simulate (:data:`SIMULATING_KINDS`) are,
in the toy study, simulated afresh for every toy (:func:`toy_sampling`): for the
simulator :func:`unbinned.sim.htautau.simulate_pseudo_experiment` (n_p ~
Poisson(f_p Λ_p) raw events of unit weight, Λ_p measured on the ``simulate`` step's
test and reference samples, :func:`simulator_rates`), for an oracle or the toy a
new simulation of the model with the toy's seed.  Otherwise they are drawn from one
fixed pool: those of the challenge kinds use
:func:`unbinned.sim.pseudo.pseudo_experiment` (systematics applied, events drawn
Poisson(w) times from the test sample); those of the other kinds draw each event of
the test source's varied simulation Poisson(w f_p) times, f_p the rate factor of its
process (:func:`source_pseudo_data`).  Every toy drawn from one pool shares its
Monte-Carlo fluctuation (:func:`toy_sampling_record` warns when the pool's events
are fewer than :data:`POOL_RATIO_MIN` × the pseudo-data's).  File-based
variations exist only at their points, so the pseudo-experiments of the ``files``
kind draw the rate nuisances from their priors and keep the shape nuisances
nominal (an explicit shape value must be one of the variation points); with a
``callable`` the events exist at any ν and every nuisance is drawn, as for the
other kinds.  The fit profiles every
nuisance.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from unbinned.data import EventSet
from unbinned.data.callables import load_callable
from unbinned.data.files import expand_files
from unbinned.data.schema import FEATURES, PROCESS_COLUMN, PROCESSES, WEIGHT_COLUMN
from unbinned.exceptions import ConfigError, DataError
from unbinned.model import ModelSpec
from unbinned.sim.htautau import simulate_pseudo_experiment
from unbinned.sim.oracle import ResonanceModel
from unbinned.sim.pseudo import pseudo_experiment
from unbinned.sim.systematics import Nuisances, apply_systematics
from unbinned.workflow.config import (
    AnalysisConfig,
    DataFiles,
    OracleData,
    SampleFilesData,
    ToyData,
)

__all__ = [
    "CHALLENGE_KINDS",
    "POOL_RATIO_MIN",
    "SIMULATING_KINDS",
    "challenge_processes",
    "challenge_source_frame",
    "draw_parameters",
    "heldout_source",
    "holds_out",
    "load_frame",
    "model_spec",
    "observed_events",
    "pseudo_data",
    "rate_factors",
    "sample_file_paths",
    "simulator_rates",
    "source_pseudo_data",
    "test_frame",
    "test_source",
    "toy_sampling",
    "toy_sampling_record",
    "training_source",
]

CHALLENGE_KINDS = ("simulator", "parquet", "root")
"""Data kinds in the challenge format (H→ττ features, challenge systematics)."""

SIMULATING_KINDS = ("simulator", "oracle", "toy")
"""Data kinds whose events can be simulated afresh for every pseudo-experiment."""
POOL_RATIO_MIN = 20.0
"""A pool's events per expected pseudo-data event below which the toy study warns."""
FRESH_SEED_TAG = 4_611
"""Mixed into the seed of a toy's fresh oracle or toy-model simulation."""

TEST_SEED_OFFSET = 7919
REFERENCE_SEED_OFFSET = 104729
"""The test sample uses seed + this (never the training seed)."""
HOLDOUT_FRACTION = 0.2
"""Data without a test sample: the fraction of their events held out of the training."""


def model_spec(cfg: AnalysisConfig) -> ModelSpec:
    """The model declaration: the preset's, or the one spelled out in the config.

    The preset with ``preset.production_modes`` is
    :func:`~unbinned.analysis.production_mode_spec` (POIs ``mu_ggh``, ``mu_vbf``);
    ``preset.control_regions`` become counting regions next to the unbinned ``SR``.
    """
    if isinstance(cfg.model, ModelSpec):
        return cfg.model
    # deferred: pulls in torch (~2 s)
    from unbinned.analysis import challenge_spec, production_mode_spec

    preset = cfg.preset
    if preset.production_modes:
        return production_mode_spec(control_regions=preset.control_regions)
    spec: ModelSpec = challenge_spec()
    if not preset.control_regions:
        return spec
    decl = spec.model_dump(mode="json")
    decl["regions"] = [{"name": "SR", "kind": "unbinned"}] + [
        {"name": n, "kind": "counting", "selection": sel}
        for n, sel in preset.control_regions.items()
    ]
    return ModelSpec.from_dict(decl)


def challenge_processes(cfg: AnalysisConfig) -> tuple[str, ...]:
    """The processes of a challenge-kind source: ggH and VBF apart with production modes."""
    if cfg.preset.production_modes:
        from unbinned.analysis import PRODUCTION_MODES  # deferred: pulls in torch (~2 s)

        return (*PRODUCTION_MODES, *(p for p in PROCESSES if p != "htautau"))
    return PROCESSES


def challenge_source_frame(cfg: AnalysisConfig, frame: pd.DataFrame) -> pd.DataFrame:
    """A challenge-format frame as its source reads it (signal split by production mode)."""
    if not cfg.preset.production_modes:
        return frame
    from unbinned.analysis import split_production_modes  # deferred: pulls in torch (~2 s)

    return split_production_modes(frame)


def load_frame(path: Path, cfg: AnalysisConfig) -> pd.DataFrame:
    """Read a challenge-format file (parquet or ROOT) as a DataFrame."""
    if not path.is_file():
        raise ConfigError(f"data file {str(path)!r} does not exist; fix the path in data:")
    data = cfg.data
    if isinstance(data, DataFiles) and data.kind == "root":
        ev = EventSet.read_root(path, data.tree)
        frame = ev.to_pandas()
    else:
        try:
            frame = pd.read_parquet(path)
        except Exception as exc:  # pyarrow raises several types for corrupt files
            raise DataError(f"cannot read {str(path)!r} as parquet: {exc}") from None
    return frame


def _challenge_path(cfg: AnalysisConfig, data_dir: Path, which: str) -> Path:
    data = cfg.data
    if data.kind == "simulator":
        return data_dir / f"{which}.parquet"
    assert isinstance(data, DataFiles)
    if which == "test" and data.test is not None:
        return cfg.resolve(data.test)
    return cfg.resolve(data.train)


def test_frame(cfg: AnalysisConfig, data_dir: Path) -> pd.DataFrame:
    """The raw weighted sample pseudo-experiments are drawn from (challenge kinds)."""
    return load_frame(_challenge_path(cfg, data_dir, "test"), cfg)


def holds_out(cfg: AnalysisConfig) -> bool:
    """The data have no independent test sample: a part of the training's is held out.

    The ``files`` kind, and ``parquet``/``root`` without a ``test`` file:
    :data:`HOLDOUT_FRACTION` of their generated events (:func:`unbinned.ml.split_source`,
    by a hash of the event ids with the config's seed) never train; they are the
    sample the surrogates' health check and the validation run on (:func:`heldout_source`).
    """
    data = cfg.data
    return isinstance(data, SampleFilesData) or (isinstance(data, DataFiles) and data.test is None)


def training_source(cfg: AnalysisConfig, data_dir: Path, *, test: bool = False) -> Any:
    """The :class:`~unbinned.ml.VariationSource` of the training (or, ``test``, test) data.

    Data without an independent test sample (:func:`holds_out`): the training source
    is their kept part, the test source the whole sample (what the pseudo-experiments
    are drawn from).
    """
    # deferred: unbinned.ml pulls in torch (~2 s); the CLI imports the workflow at start-up
    from unbinned.ml import split_source

    whole = _whole_source(cfg, data_dir, test=test)
    if test or not holds_out(cfg):
        return whole
    return split_source(whole, HOLDOUT_FRACTION, seed=cfg.seed)[0]


def heldout_source(cfg: AnalysisConfig, data_dir: Path) -> Any:
    """Events the training never saw: the test source, or the held-out part (:func:`holds_out`)."""
    from unbinned.ml import split_source  # deferred: as above

    if not holds_out(cfg):
        return test_source(cfg, data_dir)
    return split_source(_whole_source(cfg, data_dir), HOLDOUT_FRACTION, seed=cfg.seed)[1]


def _whole_source(cfg: AnalysisConfig, data_dir: Path, *, test: bool = False) -> Any:
    """The source of the training (``test``: test) data, none of it held out."""
    from unbinned.ml import GaussianToySource, HTauTauSource, OracleSource  # deferred: as above

    data = cfg.data
    seed = cfg.seed + (TEST_SEED_OFFSET if test else 0)
    if isinstance(data, SampleFilesData):
        return file_source(cfg, data, seed)
    if data.kind in CHALLENGE_KINDS:
        frame = load_frame(_challenge_path(cfg, data_dir, "test" if test else "train"), cfg)
        return HTauTauSource(challenge_source_frame(cfg, frame), seed=seed,
                             processes=challenge_processes(cfg))  # fmt: skip
    if isinstance(data, OracleData):
        return OracleSource(ResonanceModel(), data.events_per_process, seed=seed, mode=data.mode)
    assert isinstance(data, ToyData)
    return GaussianToySource(data.events_per_process, seed=seed)


def file_source(cfg: AnalysisConfig, data: SampleFilesData, seed: int = 0) -> Any:
    """The :class:`~unbinned.ml.FileVariationSource` of ``data: kind: files``.

    With ``data.callable``, a :class:`~unbinned.ml.CallableVariationSource` (``seed``:
    the function's base seed).  The shape nuisances are the model's ``acts_on:
    shape`` ones (in its order), with their nominal, width (the scale of ν; 1
    without one) and bounds.
    """
    # deferred: unbinned.ml pulls in torch (~2 s)
    from unbinned.ml import (
        CallableVariationSource,
        FileVariationSource,
        ShapeNuisance,
        VariationPoint,
    )

    spec = model_spec(cfg)
    nuisances = []
    for n in spec.nuisances:
        if n.acts_on != "shape":
            continue
        lo, hi = n.bounds or (-math.inf, math.inf)
        nuisances.append(ShapeNuisance(n.name, n.nominal, n.width or 1.0, lo, hi))
    samples = data.samples(cfg.base_dir)
    try:
        if data.callable is not None:
            fn = load_callable(data.callable, key="data.callable", search=cfg.base_dir)
            return CallableVariationSource(
                samples, nuisances, fn, region=data.region, columns=data.columns, seed=seed
            )
        points = [
            VariationPoint(v.at, files=v.files, weight=v.weight, factor=v.factor)
            for v in data.variations
        ]
        return FileVariationSource(samples, nuisances, points, region=data.region)
    except ConfigError as exc:
        raise ConfigError(f"data: {exc}") from None


def sample_file_paths(
    cfg: AnalysisConfig, *, samples: bool = True, observed: bool = True
) -> list[Path]:
    """The files ``data: kind: files`` names (globs expanded): what the results depend on.

    ``samples``: the nominal and variation samples (what the training reads), and
    the source file of a ``callable`` (editing the function reruns the training);
    ``observed``: the observed dataset's files (what the fit reads).
    """
    data = cfg.data
    if not isinstance(data, SampleFilesData):
        return []
    groups: list[tuple[str, list[str]]] = [("data.files", list(data.files))]
    if isinstance(data.processes, dict):
        groups += [(f"data.processes.{p}", f) for p, f in data.processes.items()]
    for i, v in enumerate(data.variations):
        files = v.files or []
        parts = list(files.items()) if isinstance(files, dict) else [("", files)]
        groups += [(f"data.variations[{i}] {p}".strip(), f) for p, f in parts]
    if not samples:
        groups = []
    if observed:
        groups.append(("data.observed", list(data.observed or [])))
    out: list[Path] = []
    for what, patterns in groups:
        if patterns:
            out += expand_files(patterns, cfg.base_dir, what)
    if samples and data.callable is not None:
        fn = load_callable(data.callable, key="data.callable", search=cfg.base_dir)
        try:
            source = inspect.getsourcefile(fn)
        except TypeError:  # a builtin: no source file
            source = None
        if source is not None and Path(source).is_file():
            out.append(Path(source))
    return list(dict.fromkeys(out))


def reference_source(cfg: AnalysisConfig, data_dir: Path) -> Any | None:
    """The independent nominal sample the densities are integrated over (None: the training one).

    The simulator's ``reference`` sample; another seed of an oracle or toy model; for
    files, none (the training sample serves).
    """
    from unbinned.ml import GaussianToySource, HTauTauSource, OracleSource  # deferred: as above

    data = cfg.data
    seed = cfg.seed + REFERENCE_SEED_OFFSET
    if data.kind == "simulator":
        frame = challenge_source_frame(cfg, load_frame(data_dir / "reference.parquet", cfg))
        return HTauTauSource(frame, seed=seed, processes=challenge_processes(cfg))
    if isinstance(data, OracleData):
        return OracleSource(
            ResonanceModel(), 4 * data.events_per_process, seed=seed, mode=data.mode
        )
    if isinstance(data, ToyData):
        return GaussianToySource(4 * data.events_per_process, seed=seed)
    return None


def test_source(cfg: AnalysisConfig, data_dir: Path) -> Any:
    """The held-out source (another seed, or the test file)."""
    return training_source(cfg, data_dir, test=True)


# ---------------------------------------------------------------------------- parameters
def draw_parameters(
    spec: ModelSpec, rng: np.random.Generator, *, names: Any = None
) -> dict[str, float]:
    """Nuisance values drawn from the declared priors (clipped to the bounds).

    Gaussian: N(nominal, width); log-normal: nominal·exp(N(0, width)); uniform:
    U(bounds); free and fixed: the nominal value.
    """
    out: dict[str, float] = {}
    for n in spec.nuisances:
        if names is not None and n.name not in names:
            continue
        if n.prior == "gaussian":
            assert n.width is not None
            v = float(rng.normal(n.nominal, n.width))
        elif n.prior == "lognormal":
            assert n.width is not None
            v = float(n.nominal * math.exp(rng.normal(0.0, n.width)))
        elif n.prior == "uniform":
            assert n.bounds is not None
            v = float(rng.uniform(*n.bounds))
        else:
            v = float(n.nominal)
        if n.bounds is not None:
            v = float(np.clip(v, *n.bounds))
        out[n.name] = v
    return out


def rate_factors(spec: ModelSpec, values: Mapping[str, float]) -> dict[str, float]:
    """The rate factor f_p of each process at the parameter ``values`` (missing: init/nominal)."""
    full = {**spec.init_values(), **values}
    out = {}
    for p in spec.processes:
        f = 1.0
        for m in p.modifiers:
            v = full[m.parameter]
            if m.kind == "normfactor":
                f *= v
            else:
                assert m.kappa is not None
                f *= m.kappa**v
        out[p.name] = f
    return out


def source_pseudo_data(
    source: Any, spec: ModelSpec, values: Mapping[str, float], seed: int
) -> EventSet:
    """A pseudo-dataset from a variation source at the parameter ``values``.

    Every event of the source's simulation at ν (the shape nuisances standardised
    by the source's own parametrisation) is drawn k ~ Poisson(w f_p) times; the drawn
    events are returned once each with weight k (the same dataset for the likelihood).
    """
    rng = np.random.default_rng(seed)
    full = {**spec.init_values(), **values}
    nu = np.array([n.standardize(full.get(n.name, n.nominal)) for n in source.nuisances])
    factors = rate_factors(spec, full)
    sets = []
    for p in source.processes:
        if p not in factors:
            raise ConfigError(
                f"the data has process {p!r}, which the model does not declare "
                f"(processes: {list(factors)})"
            )
        ev = source.varied(p, nu) if nu.size else source.nominal(p)
        k = rng.poisson(np.clip(ev.weights * factors[p], 0.0, None))
        drawn = np.flatnonzero(k)
        sets.append(ev.select(drawn).with_weights(k[drawn].astype(np.float64)))
    return EventSet.concat(sets)


def pseudo_data(
    cfg: AnalysisConfig,
    data_dir: Path,
    *,
    mu: float,
    seed: int,
    nuisances: Mapping[str, float] | None = None,
    draw: bool = False,
    frame: pd.DataFrame | None = None,
    source: Any = None,
    pois: Mapping[str, float] | None = None,
    fresh: bool = False,
    rates: Mapping[str, float] | None = None,
) -> tuple[EventSet, dict[str, float]]:
    """One pseudo-experiment and its true parameter values.

    Parameters
    ----------
    cfg, data_dir
        The analysis and the folder of the ``simulate`` step's outputs.
    mu
        True signal strength.
    seed
        Seed of the pseudo-experiment (and of the nuisance draw).
    nuisances
        True nuisance values (physical; missing ones nominal).
    draw
        Draw the nuisances from the priors instead.
    frame, source
        The test sample (challenge kinds) or test source (others), if already loaded.
    pois
        With several POIs: the true value of each (missing ones: ``mu``); ``mu`` is
        then the value of those not given.
    fresh
        Simulate the events afresh (:data:`SIMULATING_KINDS` only) instead of drawing
        them from the test sample: for the simulator
        :func:`~unbinned.sim.htautau.simulate_pseudo_experiment` (exactly a Poisson
        process at the true parameters, no event repeated), for an oracle or the toy
        a new simulation with a seed derived from ``seed`` (:func:`fresh_seed`).
    rates
        The simulator's expected raw events per process (:func:`simulator_rates`,
        read from ``data_dir`` when omitted).
    """
    if fresh and cfg.data.kind not in SIMULATING_KINDS:
        raise ConfigError(
            f"pseudo-data: data kind {cfg.data.kind!r} cannot simulate new events (only "
            f"{list(SIMULATING_KINDS)} can); draw from the test sample (fresh=False, "
            "toys.sampling: pool)"
        )
    spec = model_spec(cfg)
    poi = cfg.inference.poi or spec.poi_names[0]
    true_pois = {p: float(mu) for p in spec.poi_names} | {
        k: float(v) for k, v in (pois or {}).items()
    }
    unknown = sorted(set(true_pois) - set(spec.poi_names))
    if unknown:
        raise ConfigError(
            f"pseudo-data: unknown POI(s) {unknown}; the model has {list(spec.poi_names)}"
        )
    if cfg.data.kind in CHALLENGE_KINDS:
        given = dict(nuisances or {})
        unknown = sorted(set(given) - set(Nuisances.__dataclass_fields__))
        if unknown:
            raise ConfigError(
                f"inference.pseudo_experiment.nuisances: unknown {unknown}; expected some of "
                f"{sorted(Nuisances.__dataclass_fields__)}"
            )
        if fresh:
            return _fresh_challenge_data(
                cfg, data_dir, mu=mu, seed=seed, nuisances=None if draw else Nuisances(**given),
                draw=draw, pois=true_pois, rates=rates,
            )  # fmt: skip
        raw = test_frame(cfg, data_dir) if frame is None else frame
        if cfg.preset.production_modes:
            raw, mu = _scaled_modes(raw, true_pois), 1.0
        pe = pseudo_experiment(
            raw,
            mu=mu,
            nuisances=None if draw else Nuisances(**given),
            draw_nuisances=draw,
            seed=seed,
            collapse=True,
        )
        truth = {poi: float(mu), **{k: float(v) for k, v in asdict(pe.nuisances).items()}}
        return _challenge_events(pe.data), {**truth, **true_pois}
    if fresh:
        src = _simulated_source(cfg, fresh_seed(cfg, seed))
    else:
        src = test_source(cfg, data_dir) if source is None else source
    # file variations exist only at their points: the shape nuisances stay nominal
    names = (
        [n.name for n in spec.nuisances if n.acts_on != "shape"]
        if isinstance(cfg.data, SampleFilesData) and cfg.data.callable is None
        else None
    )
    values = (
        draw_parameters(spec, np.random.default_rng([seed, 1]), names=names)
        if draw
        else dict(nuisances or {})
    )
    truth = {**{n.name: n.nominal for n in spec.nuisances}, **values, **true_pois}
    return source_pseudo_data(src, spec, truth, seed), truth


def fresh_seed(cfg: AnalysisConfig, seed: int) -> int:
    """The seed of a toy's fresh oracle or toy-model simulation (never a sample's seed)."""
    state = np.random.SeedSequence([FRESH_SEED_TAG, int(cfg.seed), int(seed)]).generate_state(1)
    return int(state[0])


def _simulated_source(cfg: AnalysisConfig, seed: int) -> Any:
    """A new simulation of an oracle or toy model, as large as the configured one."""
    from unbinned.ml import GaussianToySource, OracleSource  # deferred: torch (~2 s)

    data = cfg.data
    if isinstance(data, OracleData):
        return OracleSource(ResonanceModel(), data.events_per_process, seed=seed, mode=data.mode)
    if isinstance(data, ToyData):
        return GaussianToySource(data.events_per_process, seed=seed)
    raise ConfigError(f"data kind {data.kind!r} has no simulation of its own")


def simulator_rates(data_dir: Path) -> tuple[dict[str, float], dict[str, int]]:
    r"""The expected raw events per process Λ_p of the simulator, and the events measured.

    Measured on the ``simulate`` step's raw ``test`` and ``reference`` samples (they are
    independent of the training and their weights are constant per process,
    :math:`w_k = Y_p L / (10\,\mathrm{fb}^{-1}\, N^\mathrm{sel}_k)`):
    :math:`\Lambda_p = Y_p (L/10) \sum_k N_k / \sum_k N^\mathrm{sel}_k
    = \sum_k N_k / \sum_k (N_k / \Lambda_k)`, :math:`\Lambda_k = \sum w` of sample
    :math:`k`; relative precision
    :math:`\sqrt{(1 - \varepsilon_p) / (\varepsilon_p \sum_k N_k)}`
    (cf. :func:`unbinned.sim.htautau.raw_rates`, which simulates for it).
    """
    n: dict[str, int] = {}
    inverse: dict[str, float] = {}
    for which in ("test", "reference"):
        path = data_dir / f"{which}.parquet"
        if not path.is_file():
            continue
        frame = pd.read_parquet(path, columns=[WEIGHT_COLUMN, PROCESS_COLUMN])
        labels = frame[PROCESS_COLUMN].astype(str).to_numpy()
        w = frame[WEIGHT_COLUMN].to_numpy(dtype=np.float64)
        for p in dict.fromkeys(labels.tolist()):
            wp = w[labels == p]
            n[p] = n.get(p, 0) + wp.size
            inverse[p] = inverse.get(p, 0.0) + wp.size / float(wp.sum())  # N_k / Λ_k
    if not n:
        raise ConfigError(
            f"no simulated test or reference sample in {str(data_dir)!r}; run the simulate step"
        )
    return {p: n[p] / inverse[p] for p in n}, n


def _fresh_challenge_data(
    cfg: AnalysisConfig,
    data_dir: Path,
    *,
    mu: float,
    seed: int,
    nuisances: Nuisances | None,
    draw: bool,
    pois: Mapping[str, float],
    rates: Mapping[str, float] | None,
) -> tuple[EventSet, dict[str, float]]:
    """A pseudo-experiment of the simulator simulated afresh (:func:`pseudo_data`, ``fresh``).

    With production modes, the signal is simulated at the largest POI and each mode's
    events kept with probability μ_mode / μ_max (thinning a Poisson process is exact).
    """
    if cfg.data.kind != "simulator":
        raise ConfigError(f"data kind {cfg.data.kind!r} cannot simulate new events")
    poi = cfg.inference.poi or model_spec(cfg).poi_names[0]
    r = dict(simulator_rates(data_dir)[0] if rates is None else rates)
    modes = cfg.preset.production_modes
    mu_sim = max(pois.values()) if modes else float(mu)
    pe = simulate_pseudo_experiment(
        r, mu=mu_sim, nuisances=nuisances, draw_nuisances=draw, seed=int(seed)
    )
    data = pe.data
    if modes and mu_sim > 0:
        from unbinned.analysis import PRODUCTION_MODES  # deferred: pulls in torch (~2 s)

        keep = np.ones(len(data), dtype=bool)
        signal = data[PROCESS_COLUMN].astype(str).to_numpy() == "htautau"
        names = data["production_mode"].astype(str).to_numpy()
        u = np.random.default_rng([int(seed), 5]).random(len(data))
        for mode, name in PRODUCTION_MODES.items():
            sel = signal & (names == mode)
            keep[sel] = u[sel] < pois[name] / mu_sim
        data = data[keep].reset_index(drop=True)
    truth = {poi: float(mu), **{k: float(v) for k, v in asdict(pe.nuisances).items()}}
    return _challenge_events(data), {**truth, **pois}


def toy_sampling(cfg: AnalysisConfig) -> str:
    """How the toy study draws its pseudo-data: ``"simulated"`` afresh, or from a ``"pool"``.

    ``inference.toys.sampling``: ``auto`` simulates where the data kind can
    (:data:`SIMULATING_KINDS`); ``simulate`` with another kind is a ``ConfigError``.
    """
    want = cfg.inference.toys.sampling
    can = cfg.data.kind in SIMULATING_KINDS
    if want == "simulate" and not can:
        raise ConfigError(
            f"inference.toys.sampling: simulate needs a data kind that can simulate "
            f"({list(SIMULATING_KINDS)}), not {cfg.data.kind!r}; use auto or pool"
        )
    return "simulated" if can and want != "pool" else "pool"


def _pool_counts(
    cfg: AnalysisConfig, data_dir: Path, source: Any = None
) -> tuple[dict[str, int], dict[str, float]]:
    """Per process: the pool's events and their expected count (Σ w) at nominal."""
    events: dict[str, int] = {}
    expected: dict[str, float] = {}
    if cfg.data.kind in CHALLENGE_KINDS and source is None:
        varied = apply_systematics(test_frame(cfg, data_dir), Nuisances(), seed=0)
        labels = varied[PROCESS_COLUMN].astype(str).to_numpy()
        w = varied[WEIGHT_COLUMN].to_numpy(dtype=np.float64)
        for p in dict.fromkeys(labels.tolist()):
            events[p] = int(np.count_nonzero(labels == p))
            expected[p] = float(w[labels == p].sum())
        return events, expected
    src = test_source(cfg, data_dir) if source is None else source
    factors = rate_factors(model_spec(cfg), {})
    for p in src.processes:
        ev = src.nominal(p)
        events[p] = len(ev)
        expected[p] = float(ev.sum_weights) * factors.get(p, 1.0)
    return events, expected


def toy_sampling_record(cfg: AnalysisConfig, data_dir: Path) -> dict[str, Any]:
    """How the toys are drawn, for the toy summary: method, sizes and a warning (or None).

    ``method``: ``simulated`` or ``pool`` (:func:`toy_sampling`).  A pool (and an
    oracle's or the toy model's fresh simulation) records per process its events,
    their expected count in the pseudo-data (Σ w at nominal) and the ratio; the
    smallest ratio below :data:`POOL_RATIO_MIN` is a ``warning``: a pool shared by
    every toy gives them a common Monte-Carlo fluctuation (μ̂ moves by about
    √(expected / events) standard deviations in each), which biases the coverage; a
    fresh simulation that small repeats events within a toy.  The simulator's fresh
    toys record the rates Λ_p (:func:`simulator_rates`).
    """
    method = toy_sampling(cfg)
    out: dict[str, Any] = {"method": method, "warning": None}
    if method == "simulated" and cfg.data.kind == "simulator":
        rates, measured = simulator_rates(data_dir)
        out["description"] = (
            "each pseudo-experiment simulated afresh with its own seed: n_p ~ Poisson(f_p "
            "Lambda_p) raw events of unit weight per process, systematics and selection "
            "applied (no event shared between toys or repeated in one)"
        )
        out["raw_rates"] = rates
        out["rate_events"] = measured
        return out
    if method == "simulated":
        events, expected = _pool_counts(cfg, data_dir, _simulated_source(cfg, fresh_seed(cfg, 0)))
        out["description"] = (
            f"each pseudo-experiment drawn (k ~ Poisson(w f_p)) from a fresh simulation of "
            f"the {cfg.data.kind} model with its own seed"
        )
    else:
        events, expected = _pool_counts(cfg, data_dir)
        which = (
            "the whole sample (no independent test sample)" if holds_out(cfg) else "the test sample"
        )
        out["description"] = (
            f"every pseudo-experiment drawn (k ~ Poisson(w)) from one fixed sample: {which}"
        )
    ratio = {p: events[p] / expected[p] if expected[p] > 0 else math.inf for p in events}
    worst = min(ratio, key=lambda p: ratio[p]) if ratio else None
    out.update({"events": events, "expected": expected, "ratio": ratio,
                "min_ratio": ratio[worst] if worst else None})  # fmt: skip
    if worst is not None and ratio[worst] < POOL_RATIO_MIN:
        if method == "pool":
            out["warning"] = (
                f"the pseudo-experiments are drawn from one sample with only "
                f"{ratio[worst]:.3g} events per expected pseudo-data event of {worst} "
                f"(want >= {POOL_RATIO_MIN:g}): its Monte-Carlo fluctuation is shared by "
                f"every toy (mu-hat moves by ~{math.sqrt(1 / ratio[worst]):.2g} sigma in "
                "each), which biases the coverage; give a larger test sample"
            )
        else:
            out["warning"] = (
                f"each toy's fresh simulation has only {ratio[worst]:.3g} events per "
                f"expected pseudo-data event of {worst} (want >= {POOL_RATIO_MIN:g}): events "
                "repeat within a toy, which widens the toys' spread; simulate more events"
            )
    return out


def _scaled_modes(raw: pd.DataFrame, pois: Mapping[str, float]) -> pd.DataFrame:
    """The raw challenge sample with each production mode's signal weights times its POI."""
    from unbinned.analysis import PRODUCTION_MODES  # deferred: pulls in torch (~2 s)

    out = raw.copy()
    signal = out[PROCESS_COLUMN].to_numpy() == "htautau"
    modes = out["production_mode"].astype(str).to_numpy()
    w = out[WEIGHT_COLUMN].to_numpy(dtype=np.float64).copy()
    for mode, name in PRODUCTION_MODES.items():
        w[signal & (modes == mode)] *= pois[name]
    out[WEIGHT_COLUMN] = w
    return out


def _challenge_events(frame: pd.DataFrame) -> EventSet:
    return EventSet.from_pandas(frame, feature_columns=FEATURES, process_names=PROCESSES)


def observed_events(cfg: AnalysisConfig) -> EventSet | None:
    """The user's observed dataset (``data.observed``), or None."""
    data = cfg.data
    if isinstance(data, SampleFilesData):
        if data.observed is None:
            return None
        samples = data.samples(cfg.base_dir)
        return samples.load_data(data.observed, data.region, what="data.observed")
    if not isinstance(data, DataFiles) or data.observed is None:
        return None
    frame = load_frame(cfg.resolve(data.observed), cfg)
    if PROCESS_COLUMN in frame.columns:
        return _challenge_events(frame)
    weights = WEIGHT_COLUMN if WEIGHT_COLUMN in frame.columns else None
    return EventSet.from_pandas(
        frame, feature_columns=FEATURES, weight_column=weights, process_column=None
    )
