"""The FAIR Universe HiggsML Uncertainty Challenge's model interface, backed by this library.

The challenge's ingestion program builds ``Model(get_train_set=..., systematics=...)``,
calls ``fit()`` once, then ``predict(test_set)`` for every pseudo-experiment and
scores the returned 68 % intervals (:func:`unbinned.challenge.challenge_score`).
Here ``fit`` trains the whole unbinned analysis (:func:`unbinned.analysis.train_analysis`:
calibrated classifier, response networks for tes, jes and soft_met, yield models,
the integration sample) on the training set, with the nuisances applied by the
challenge's own ``systematics`` function; ``predict`` fits the unbinned profile
likelihood with every nuisance profiled and returns the profiled interval.

The training set is split by row parity: even rows train the networks, odd rows are
the independent nominal sample the learned density is integrated over (their
weights doubled, so that both halves keep the expected yields).

A training set too small for the data it is to measure is refused with a
:class:`~unbinned.exceptions.DataError` naming each short process and the events it
needs (:func:`check_training_statistics`): the profiled interval holds the data's
statistical and the nuisances' uncertainty, not the Monte-Carlo error of densities
learned from a few simulated events, so such a training gives confident wrong answers.

``fit`` also checks the learned densities on the integration half
(:func:`unbinned.analysis.surrogate_health`); failed checks are kept with the model
(:attr:`Model.warnings`) and returned with every ``predict`` (``"warnings"``), since
the ingestion program shows nothing that is printed.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from unbinned.analysis import AnalysisModel, HealthOptions, TemplateOptions, train_analysis
from unbinned.data.events import EventSet
from unbinned.data.schema import FEATURES, PROCESS_COLUMN, PROCESSES, WEIGHT_COLUMN
from unbinned.exceptions import ConfigError, DataError, SchemaError
from unbinned.ml.runtime import RunOptions, torch_threads
from unbinned.ml.sources import HTauTauSource
from unbinned.ml.surrogate import SurrogateConfig
from unbinned.sim.systematics import Nuisances, apply_systematics

__all__ = [
    "MIN_EVENTS_PER_PROCESS",
    "ChallengeSettings",
    "Model",
    "challenge_systematics",
    "check_training_statistics",
]

MIN_EVENTS_PER_PROCESS = 100
"""Selected events of each process that each half of the training set must hold at least."""
HEALTH_MAX_EVENTS = 50_000
"""Generated events per process in the health check's tail response closure (bounds its cost)."""


def challenge_systematics(
    frame: pd.DataFrame,
    tes: float = 1.0,
    jes: float = 1.0,
    soft_met: float = 0.0,
    seed: int = 31415,
    **_: Any,
) -> pd.DataFrame:
    """The challenge's ``systematics`` calling convention on this library's implementation.

    (:func:`unbinned.sim.systematics.apply_systematics`: the nuisances of DESIGN.md §2,
    re-selection, every DER feature recomputed; all input columns kept.)
    """
    return apply_systematics(frame, Nuisances(tes=tes, jes=jes, soft_met=soft_met), seed=seed)


@dataclass
class ChallengeSettings:
    """Settings of :class:`Model` (defaults: the full-size training).

    Parameters
    ----------
    surrogate
        :class:`~unbinned.ml.SurrogateConfig` of the networks (None:
        :meth:`SurrogateConfig.precise() <unbinned.ml.SurrogateConfig.precise>`, the
        settings validated for coverage).
    bins
        Bins of the binned baseline that is trained alongside (0: none).
    seed
        Training seed.
    progress
        Progress bars on stderr.
    num_threads
        Torch threads during training and evaluation (None: unchanged).
    model_dir
        Save the trained analysis here (and reuse it if it is already there).
    min_simulation_ratio
        Selected events per expected data event that every process needs in each
        half of the training set (:func:`check_training_statistics`; 0 turns the
        check off, at the risk of intervals that omit the Monte-Carlo error of the
        learned densities and of the integration sample).
    """

    surrogate: SurrogateConfig | None = None
    bins: int = 0
    seed: int = 0
    progress: bool = True
    num_threads: int | None = None
    model_dir: str | os.PathLike[str] | None = None
    min_simulation_ratio: float = 1.0

    def __post_init__(self) -> None:
        r = self.min_simulation_ratio
        if not (isinstance(r, int | float) and math.isfinite(r) and r >= 0):
            raise ConfigError(f"min_simulation_ratio={r!r}; expected a finite number >= 0")


class Model:
    """The challenge's model interface (module docstring).

    Parameters
    ----------
    get_train_set
        Callable returning the training set: a DataFrame with the 28 feature
        columns, ``weights``, ``labels`` and ``detailed_labels`` (31 columns), before
        the 26 GeV re-selection.
    systematics
        The challenge's systematics function (see :func:`challenge_systematics` for
        the calling convention); default: this library's.
    settings
        :class:`ChallengeSettings`.
    """

    def __init__(
        self,
        get_train_set: Callable[[], pd.DataFrame] | None = None,
        systematics: Callable[..., pd.DataFrame] | None = None,
        settings: ChallengeSettings | None = None,
    ) -> None:
        if get_train_set is not None and not callable(get_train_set):
            raise TypeError("get_train_set must be a callable returning the training DataFrame")
        self.get_train_set = get_train_set
        self.systematics = systematics or challenge_systematics
        self.settings = settings or ChallengeSettings()
        self.analysis: AnalysisModel | None = None

    def fit(self) -> None:
        """Train the analysis on the training set (or load it from ``settings.model_dir``)."""
        st = self.settings
        if st.model_dir is not None and (
            os.path.isfile(os.path.join(st.model_dir, "analysis.json"))
        ):
            self.analysis = AnalysisModel.load(st.model_dir)
            return
        if self.get_train_set is None:
            raise ConfigError("Model needs get_train_set to train (or a saved model_dir)")
        frame = self.get_train_set()
        _check_train_set(frame)
        frame = frame.reset_index(drop=True)
        even = frame.iloc[0::2].copy()
        odd = frame.iloc[1::2].copy()
        for half in (even, odd):
            half[WEIGHT_COLUMN] = half[WEIGHT_COLUMN] * 2.0
        source = HTauTauSource(even, seed=st.seed, systematics=self.systematics)
        reference = HTauTauSource(odd, seed=st.seed + 1, systematics=self.systematics)
        check_training_statistics(source, reference, min_ratio=st.min_simulation_ratio)
        with torch_threads(st.num_threads):
            self.analysis = train_analysis(
                source, reference=reference,
                surrogate_config=st.surrogate or SurrogateConfig.precise(),
                templates=TemplateOptions(bins=st.bins), seed=st.seed,
                run=RunOptions(device="cpu", progress=st.progress),
                health=HealthOptions(sample="reference", max_events=HEALTH_MAX_EVENTS),
            )  # fmt: skip
        if st.model_dir is not None:
            self.analysis.save(st.model_dir, overwrite=True)

    def predict(self, test_set: Mapping[str, Any] | pd.DataFrame) -> dict[str, Any]:
        """Measure μ on one pseudo-experiment.

        Parameters
        ----------
        test_set
            ``{"data": DataFrame of the 28 features, "weights": per-event weights}``
            (the ingestion program's form; weights are ones for unweighted data), or
            a DataFrame (weights 1 unless it has a ``weights`` column).

        Returns
        -------
        dict
            ``mu_hat``, ``delta_mu_hat`` (half the interval width), ``p16``, ``p84``
            (the profiled 68.27 % interval), ``valid`` (the fit's validity), and
            ``warnings``: the failed health checks of the trained analysis and the
            notes of the measurement (:attr:`warnings`; the ingestion program does not
            show what is printed, so they travel with every result).
        """
        if self.analysis is None:
            raise ConfigError("call fit() before predict()")
        if isinstance(test_set, pd.DataFrame):
            data, weights = test_set, test_set.get(WEIGHT_COLUMN)
        elif isinstance(test_set, Mapping) and "data" in test_set:
            data, weights = test_set["data"], test_set.get("weights")
        else:
            raise TypeError(
                "test_set must be {'data': DataFrame, 'weights': array} or a DataFrame, got "
                f"{type(test_set).__name__}"
            )
        missing = [c for c in FEATURES if c not in data.columns]
        if missing:
            raise SchemaError(f"the test data lack feature column(s) {missing}")
        w = np.ones(len(data)) if weights is None else np.asarray(weights, dtype=np.float64)
        if w.shape != (len(data),):
            raise DataError(f"weights have shape {w.shape}; expected ({len(data)},)")
        frame = data[list(FEATURES)].copy()
        frame[WEIGHT_COLUMN] = w
        events = EventSet.from_pandas(frame, feature_columns=FEATURES, weight_column=WEIGHT_COLUMN)
        with torch_threads(self.settings.num_threads):
            m = self.analysis.measure(events, binned=False)
        half = 0.5 * (m.upper - m.lower) if math.isfinite(m.width) else math.nan
        return {
            "mu_hat": float(m.value),
            "delta_mu_hat": float(half),
            "p16": float(m.lower),
            "p84": float(m.upper),
            "valid": bool(m.valid),
            "warnings": [*m.warnings, *m.notes],
        }

    @property
    def warnings(self) -> tuple[str, ...]:
        """The trained analysis's failed health checks (and why one was not run), if any.

        ``fit`` checks the learned densities on the odd rows of the training set (the
        integration half, which the networks never saw;
        :func:`~unbinned.analysis.surrogate_health`); a failure says the intervals
        may not cover.
        """
        if self.analysis is None:
            return ()
        return (*self.analysis.warnings, *self.analysis.notes)


def check_training_statistics(
    source: HTauTauSource,
    reference: HTauTauSource,
    *,
    min_ratio: float = 1.0,
    min_events: int = MIN_EVENTS_PER_PROCESS,
) -> dict[str, dict[str, float]]:
    r"""Check that both halves of a training set hold enough events of every process.

    For each process :math:`p` of :data:`~unbinned.data.schema.PROCESSES`, with
    :math:`n_p` selected nominal events in the half that trains the networks
    (``source``), :math:`m_p` in the integration half (``reference``) and
    :math:`Y_p = \sum_i w_i` the expected selected events of the data (the weights
    are expected events), it requires

    .. math:: \min(n_p, m_p) \ge \max(n_\mathrm{min},\ r_\mathrm{min} Y_p).

    The fit's expected yields are sums over the integration half, so μ̂ moves with
    its Monte-Carlo fluctuations by about :math:`\sqrt{Y_p/m_p}` of its statistical
    error, and the learned fractions carry a Monte-Carlo error of the same order from
    the training half; no interval contains either.  The default
    :math:`r_\mathrm{min} = 1` is a necessary condition, not a sufficient one:
    measured on the simulator (BENCHMARKS.md, "challenge.Model on small training
    sets"), every training set below it gave intervals that miss the truth by
    several σ, and one at ratio 1 still under-covered.

    Returns
    -------
    dict
        Per process: ``n_train``, ``n_integration``, ``expected``, ``needed``.

    Raises
    ------
    DataError
        A process is short, naming each short process, its counts and the raw
        training events that would be enough.
    """
    out: dict[str, dict[str, float]] = {}
    short = []
    for p in PROCESSES:
        raw = len(source.generated_ids(p)) if p in source.processes else 0
        n = len(source.nominal(p)) if raw else 0
        m = len(reference.nominal(p)) if p in reference.processes else 0
        y = float(source.nominal(p).weights.sum()) if n else 0.0
        need = max(min_events, math.ceil(min_ratio * y))
        out[p] = {"n_train": n, "n_integration": m, "expected": y, "needed": need}
        if min(n, m) < need:
            eff = n / raw if n else 1.0
            short.append(
                f"{p}: {n} selected events train the networks and {m} form the integration "
                f"sample (expected in the data: {y:.0f}); needs {need} in each half, i.e. at "
                f"least {math.ceil(2 * need / eff)} raw events of {p}"
            )
    if short:
        raise DataError(
            "the training set is too small for an honest measurement (μ̂ would move with "
            "its Monte-Carlo fluctuations by more than the interval's width): "
            + "; ".join(short)
            + f". Each process needs at least {min_events} selected events and "
            f"{min_ratio:g} per expected data event in each half (even rows train, odd rows "
            "integrate). Fix: a larger training set (or ChallengeSettings(min_simulation_ratio="
            "...) lowered at your own risk)"
        )
    return out


def _check_train_set(frame: Any) -> None:
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"get_train_set() must return a DataFrame, got {type(frame).__name__}")
    need = [*FEATURES, WEIGHT_COLUMN, PROCESS_COLUMN]
    missing = [c for c in need if c not in frame.columns and not c.startswith("DER_")]
    if missing:
        raise SchemaError(f"the training set lacks column(s) {missing}")
    if len(frame) < 4:
        raise DataError(f"the training set has {len(frame)} rows; too few to train on")
