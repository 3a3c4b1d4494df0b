"""The public entry point: :func:`simulate` the four challenge processes."""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping, Sequence
from numbers import Integral
from typing import Final

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
from tqdm import tqdm

from unbinned.data.derived import compute_derived
from unbinned.data.schema import (
    DER_FEATURES,
    EXPECTED_YIELDS_10FB,
    HAD_PT_MIN,
    LABEL_COLUMN,
    LEP_PT_MIN,
    PRI_FEATURES,
    PROCESS_COLUMN,
    PROCESSES,
    SIGNAL_PROCESSES,
    WEIGHT_COLUMN,
)
from unbinned.exceptions import ConfigError
from unbinned.sim.htautau._config import SimulationConfig
from unbinned.sim.htautau._detector import (
    reconstruct,
    reconstruct_leptons,
    truth_cuts,
)
from unbinned.sim.htautau._processes import (
    GENERATORS,
    MODE_GGH,
    MODE_NONE,
    MODE_VBF,
    TRUTH_COLUMNS,
    isr_jets,
)

__all__ = [
    "CHALLENGE_COLUMNS",
    "PRODUCTION_MODE_COLUMN",
    "SIMULATOR_ATTR",
    "TRAINING_EVENTS",
    "simulate",
]

CHALLENGE_COLUMNS: Final[tuple[str, ...]] = (
    *PRI_FEATURES,
    WEIGHT_COLUMN,
    PROCESS_COLUMN,
    LABEL_COLUMN,
    *DER_FEATURES,
)
"""The 31 columns of the challenge data, in the order of its metadata file."""

PRODUCTION_MODE_COLUMN: Final = "production_mode"
"""Extra column: "ggH" or "VBF" for the signal, "none" for the backgrounds."""

SIMULATOR_ATTR: Final = "unbinned.simulator"
"""Key of :func:`simulate`'s provenance record in the frame's ``attrs``: ``{"name":
"unbinned.sim.htautau", "luminosity": L, "default_config": bool}`` (JSON, so that it
survives ``to_parquet``/``read_parquet``).  Real challenge data and the user's files lack
it: what may be simulated again with another seed is known by it
(:func:`unbinned.analysis.independent_source`)."""

TRAINING_EVENTS: Final[Mapping[str, int]] = {
    "htautau": 200_000,
    "ztautau": 2_000_000,
    "ttbar": 2_000_000,
    "diboson": 200_000,
}
"""Raw events per process of the validated training sample of the challenge analysis.

``simulate(TRAINING_EVENTS)``; the shipped ``challenge.yaml`` (``unbinned demo``,
``unbinned init``) trains on the same counts.  A Z→ττ event weighs 10³ signal events
and a tt̄ one 46 at equal raw counts: with 200 k of each, the classifier learns the
background under the signal-like tail from a few dozen events and over-claims the
signal there (μ̂ follows μ with slope 0.81); 10× the Z→ττ and tt̄ events give
0.87–0.96 on the models measured, but a retrained demo (another random stream)
over-claims as before (Fisher closure 1.40): not yet a validated fix (BENCHMARKS.md,
"Scale error of μ̂").
"""

_BATCH: Final = 1 << 15
"""Generated candidates per batch (before the raw selection)."""

_MODE_NAMES: Final = pa.array(
    [n for _, n in sorted({MODE_NONE: "none", MODE_GGH: "ggH", MODE_VBF: "VBF"}.items())],
    type=pa.large_string(),  # pandas' "str" storage: no cast
)
_PROCESS_NAMES: Final = pa.array(list(PROCESSES), type=pa.large_string())


def _labels(names: pa.Array, codes: npt.NDArray[np.int8]) -> pd.api.extensions.ExtensionArray:
    """A string column ``names[codes]`` (arrow's take: 20x faster than from Python strings)."""
    return pd.array(names.take(pa.array(codes)), dtype="str")


def _check_args(
    events_per_process: object,
    seed: object,
    luminosity: object,
    processes: object,
    config: object,
) -> tuple[dict[str, int], int, float, tuple[str, ...], SimulationConfig]:
    if not isinstance(seed, Integral) or isinstance(seed, bool):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    if seed < 0:
        raise ConfigError(f"seed = {seed}: expected a non-negative integer")
    if not isinstance(luminosity, int | float) or isinstance(luminosity, bool):
        raise TypeError(f"luminosity must be a number (fb^-1), got {type(luminosity).__name__}")
    if not (math.isfinite(luminosity) and luminosity > 0):
        raise ConfigError(f"luminosity = {luminosity!r}: expected a positive number of fb^-1")
    if isinstance(processes, str) or not isinstance(processes, Sequence):
        raise TypeError(
            f"processes must be a sequence of process names such as {list(PROCESSES)}, "
            f"got {processes!r}"
        )
    procs = tuple(processes)
    unknown = [p for p in procs if p not in PROCESSES]
    if unknown or not procs or len(set(procs)) != len(procs):
        raise ConfigError(
            f"processes = {list(procs)}: expected distinct names from {list(PROCESSES)} "
            "(at least one)"
        )
    if config is None:
        config = SimulationConfig()
    if not isinstance(config, SimulationConfig):
        raise TypeError(f"config must be a SimulationConfig, got {type(config).__name__}")
    return _counts(events_per_process, procs), int(seed), float(luminosity), procs, config


def _counts(events_per_process: object, procs: tuple[str, ...]) -> dict[str, int]:
    """Raw events of each of ``procs``: one int for all, or a mapping with one per process."""
    per_process = isinstance(events_per_process, Mapping)
    if isinstance(events_per_process, Mapping):
        given = dict(events_per_process)
        missing = [p for p in procs if p not in given]
        extra = [p for p in given if p not in procs]
        if missing or extra:
            raise ConfigError(
                f"events_per_process {given}: expected one count for each process of "
                f"{list(procs)}" + (f"; missing {missing}" if missing else "")
                + (f"; {extra} are not simulated (add them to processes)" if extra else "")
            )  # fmt: skip
    else:
        given = dict.fromkeys(procs, events_per_process)
    for p, n in given.items():
        of = f" for {p!r}" if per_process else ""
        if not isinstance(n, Integral) or isinstance(n, bool):
            raise TypeError(
                "events_per_process must be an int or a mapping of process name to int, "
                f"got {type(n).__name__}{of}"
            )
        if n < 1:
            raise ConfigError(
                f"events_per_process = {n}{of}: expected at least 1 event per process"
            )
    return {p: int(given[p]) for p in procs}


def _generate_process(
    process: str,
    out: dict[str, npt.NDArray[np.float64]],
    modes: npt.NDArray[np.int8],
    rng: np.random.Generator,
    cfg: SimulationConfig,
    progress: bool,
) -> None:
    """Generate batches until ``len(modes)`` events pass the raw selection.

    Writes the PRI (and, where ``out`` has them, truth) columns into the arrays of
    ``out`` and the production modes into ``modes``, in place.
    """
    n_events = int(modes.shape[0])
    generator = GENERATORS[process]
    with_truth = TRUTH_COLUMNS[0] in out
    n_have = 0
    bar = None
    if progress:
        bar = tqdm(total=n_events, desc=process, unit="ev", file=sys.stderr, leave=False)
    cuts = truth_cuts(cfg)._replace(with_truth=with_truth)
    while n_have < n_events:
        hard = generator(rng, _BATCH, cfg, cuts)
        leptons, selected = reconstruct_leptons(rng, hard, cfg)
        # the stored events of a batch in random order (channel blocks are mixed,
        # and a truncated last batch is an unbiased subset)
        idx = rng.permutation(np.flatnonzero(selected))[: n_events - n_have]
        hard, leptons = hard.take(idx), leptons.take(idx)
        isr = isr_jets(rng, hard, cfg)
        pri = reconstruct(rng, hard, leptons, isr, cfg)
        rows = slice(n_have, n_have + idx.size)
        for k, v in pri.items():
            out[k][rows] = v
        if with_truth:
            for k in TRUTH_COLUMNS:
                out[k][rows] = hard.truth[k]
        modes[rows] = hard.mode
        n_have += idx.size
        if bar is not None:
            bar.update(idx.size)
    if bar is not None:
        bar.close()


def simulate(
    events_per_process: int | Mapping[str, int] = 100_000,
    *,
    seed: int = 0,
    luminosity: float = 10.0,
    processes: Sequence[str] = PROCESSES,
    with_truth: bool = False,
    progress: bool = False,
    config: SimulationConfig | None = None,
) -> pd.DataFrame:
    r"""Simulate H→ττ lep–had events and its backgrounds in the challenge format.

    The four processes (``htautau`` with its ggH and VBF modes, ``ztautau``,
    ``ttbar``, ``diboson``) are generated from their hard process, τ decays,
    initial-state radiation and a detector model (see the package docstring).
    The events are stored *before* the 26 GeV analysis selection, like the
    challenge's raw sample: lepton pT ≥ 20 GeV, τ_h pT ≥ 22 GeV, jets from 22 GeV.

    Parameters
    ----------
    events_per_process
        Number of stored (raw-selected) events of each process, or a mapping with
        one count per process of ``processes`` (each process is weighted by its own
        count); :data:`TRAINING_EVENTS` is the validated training sample of the
        challenge analysis.
    seed
        Seed of the random streams.  Each process draws from its own child of
        ``numpy.random.SeedSequence(seed)`` (its index in
        :data:`~unbinned.data.schema.PROCESSES`), so the events of one process do
        not depend on which others are generated.
    luminosity
        Integrated luminosity in fb⁻¹ for the weights.
    processes
        Which processes to generate (default: all four).
    with_truth
        Add generator-level columns ``gen_*`` (hard-system pT, η, rapidity, φ,
        mass; true visible lepton/τ_h pT; true MET; τ visible energy fractions;
        τ_h decay mode).
    progress
        Show a progress bar on stderr.
    config
        Physics and detector parameters (default: the tuned
        :class:`SimulationConfig`).

    Returns
    -------
    pandas.DataFrame
        The 31 challenge columns in the challenge's order (features float64,
        ``weights`` float64, ``labels`` float64 1/0, ``detailed_labels`` str), then
        ``production_mode`` ("ggH", "VBF" or "none") and, with ``with_truth``,
        the ``gen_*`` columns.  Each process has a constant weight
        :math:`w_p = Y_p\,(L/10\,\mathrm{fb}^{-1}) / N_p^{sel}` where
        :math:`N_p^{sel}` counts its events passing the nominal selection
        (τ_h pT ≥ 26 GeV, lepton pT ≥ 20 GeV), so that after it the yields equal
        the expected ones (:data:`~unbinned.data.schema.EXPECTED_YIELDS_10FB`).

    Raises
    ------
    TypeError
        For arguments of the wrong type.
    ConfigError
        For invalid values (no events, negative seed, unknown process, ...).

    Examples
    --------
    >>> from unbinned.sim.htautau import simulate
    >>> df = simulate(1000, seed=1, processes=["htautau"])
    >>> len(df), df["detailed_labels"].iloc[0]
    (1000, 'htautau')
    """
    counts, seed, luminosity, procs, cfg = _check_args(
        events_per_process, seed, luminosity, processes, config
    )
    children = np.random.SeedSequence(seed).spawn(len(PROCESSES))
    requests = [
        (p, counts[p], np.random.Generator(np.random.PCG64(children[PROCESSES.index(p)])))
        for p in procs
    ]
    frame = build_frame(requests, cfg, luminosity, with_truth, progress)[0]
    frame.attrs[SIMULATOR_ATTR] = {
        "name": "unbinned.sim.htautau",
        "luminosity": float(luminosity),
        "default_config": cfg == SimulationConfig(),
    }
    return frame


def _float_columns(with_truth: bool) -> tuple[str, ...]:
    """The float64 columns, in output order without the two string columns."""
    truth = TRUTH_COLUMNS if with_truth else ()
    return (*PRI_FEATURES, WEIGHT_COLUMN, LABEL_COLUMN, *DER_FEATURES, *truth)


def build_frame(
    requests: Sequence[tuple[str, int, np.random.Generator]],
    cfg: SimulationConfig,
    luminosity: float | None = None,
    with_truth: bool = False,
    progress: bool = False,
    derived: bool = True,
) -> tuple[pd.DataFrame, list[int]]:
    r"""Raw events of several processes in one frame, each from its own generator.

    ``requests`` holds ``(process, n_events, rng)``; the events of each request are
    generated from its ``rng`` alone.  The float columns are written in place into
    one ``(columns, events)`` block that the frame wraps without a copy.

    Returns the frame (columns as :func:`simulate` returns them) and, per request,
    how many of its events pass the nominal selection (τ_h pT ≥ 26 GeV, lepton
    pT ≥ 20 GeV).  With ``derived=False`` the ``DER_*`` columns are NaN (for a caller
    that recomputes them, e.g. :func:`~unbinned.sim.systematics.apply_systematics`
    right after).  Weights: 1 without ``luminosity``, else
    :math:`Y_p (L/10\,\mathrm{fb}^{-1}) / N_p^{sel}` (a ``ConfigError`` when
    :math:`N_p^{sel} = 0`).
    """
    columns = _float_columns(with_truth)
    total = sum(n for _, n, _ in requests)
    block = np.empty((len(columns), total))
    col = {c: block[i] for i, c in enumerate(columns)}
    modes = np.empty(total, dtype=np.int8)
    names = np.empty(total, dtype=np.int8)
    n_nominal: list[int] = []
    start = 0
    for process, n, rng in requests:
        rows = slice(start, start + n)
        out = {c: v[rows] for c, v in col.items()}
        _generate_process(process, out, modes[rows], rng, cfg, progress)
        nominal = int(
            np.count_nonzero((out["PRI_had_pt"] >= HAD_PT_MIN) & (out["PRI_lep_pt"] >= LEP_PT_MIN))
        )
        if derived:
            for k, v in compute_derived(out).items():
                out[k][...] = v
        else:
            for k in DER_FEATURES:
                out[k][...] = np.nan
        out[LABEL_COLUMN][...] = 1.0 if process in SIGNAL_PROCESSES else 0.0
        out[WEIGHT_COLUMN][...] = (
            1.0 if luminosity is None else _weight(process, n, nominal, luminosity)
        )
        names[rows] = PROCESSES.index(process)
        n_nominal.append(nominal)
        start += n
    frame = pd.DataFrame(block.T, columns=list(columns), copy=False)
    labels = pd.Series(_labels(_PROCESS_NAMES, names), index=frame.index)
    frame.insert(len(PRI_FEATURES) + 1, PROCESS_COLUMN, labels)
    mode_names = pd.Series(_labels(_MODE_NAMES, modes), index=frame.index)
    frame.insert(len(CHALLENGE_COLUMNS), PRODUCTION_MODE_COLUMN, mode_names)
    return frame, n_nominal


def _weight(process: str, n: int, n_nominal: int, luminosity: float) -> float:
    """The constant weight of a process's events: its expected yield over N_nominal."""
    if n_nominal == 0:
        raise ConfigError(
            f"none of the {n} simulated {process} events passes the nominal selection "
            "(had_pt >= 26, lep_pt >= 20): increase events_per_process"
        )
    return float(EXPECTED_YIELDS_10FB[process] * luminosity / 10.0 / n_nominal)


def process_frame(
    process: str,
    n_events: int,
    rng: np.random.Generator,
    cfg: SimulationConfig,
    with_truth: bool = False,
    progress: bool = False,
) -> tuple[pd.DataFrame, int]:
    """``n_events`` raw events of one process in the challenge format, weights 1.

    Returns the frame (columns as :func:`simulate` returns them) and how many of
    its events pass the nominal selection (τ_h pT ≥ 26 GeV, lepton pT ≥ 20 GeV).
    """
    frame, n_nominal = build_frame([(process, n_events, rng)], cfg, None, with_truth, progress)
    return frame, n_nominal[0]
