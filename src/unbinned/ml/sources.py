r"""Where nominal and varied simulation come from: the :class:`VariationSource` protocol.

A source hands out, per process, the nominal simulation and the *same generated
events* varied to any standardised nuisance point ν, as
:class:`~unbinned.data.EventSet`\ s carrying an ``event_id`` extra column (the
generated event each one comes from), so that training, splitting and closure
tests can pair nominal and varied events.  The same trainer works with any source
(any object with the protocol's members); the built-in ones derive from
:class:`BaseVariationSource`, which holds the process check and :meth:`nominal`:

* :class:`HTauTauSource`: challenge-format events (from
  :func:`unbinned.sim.htautau.simulate`, or real challenge data) and the
  challenge's systematics (:func:`unbinned.sim.systematics.apply_systematics`,
  which re-selects and recomputes the DER features); the soft-MET smearing of a
  point uses a seed fixed by (seed, process, ν), so a point is reproducible.
* :class:`OracleSource`: an analytic oracle model (:mod:`unbinned.sim.oracle`):
  events drawn from latent vectors and mapped to ν (``mode="vary"``), or the
  nominal events reweighted exactly (``mode="reweight"``); exposes the exact
  ln R and fractions for accuracy checks.
* :class:`GaussianToySource`: a two-process, two-feature Gaussian toy with a
  scale and a shift nuisance and a selection cut, whose ln R is known in closed
  form (for tests and examples).
"""

from __future__ import annotations

import hashlib
import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt
import pandas as pd

from unbinned.data.events import EventSet
from unbinned.data.schema import FEATURES, PROCESS_COLUMN, PROCESSES, WEIGHT_COLUMN
from unbinned.exceptions import ConfigError, DataError, SchemaError
from unbinned.ml.design import ShapeNuisance
from unbinned.sim.htautau import SIMULATOR_ATTR
from unbinned.sim.systematics import NUISANCE_NAMES, Nuisances, apply_systematics

if TYPE_CHECKING:
    from unbinned.sim.oracle import OracleModel

__all__ = [
    "EVENT_ID",
    "HTAUTAU_REGION",
    "HTAUTAU_SHAPE_NUISANCES",
    "BaseVariationSource",
    "ExactSource",
    "GaussianToySource",
    "HTauTauSource",
    "OracleSource",
    "Region",
    "VariationSource",
]

FloatArray = npt.NDArray[np.float64]
EVENT_ID = "event_id"
"""Name of the extra column holding the generated-event id."""


@dataclass(frozen=True)
class Region:
    """An analysis region: a name and a human-readable selection."""

    name: str
    selection: str = ""

    def to_dict(self) -> dict[str, str]:
        """JSON form."""
        return {"name": self.name, "selection": self.selection}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Region:
        """Inverse of :meth:`to_dict`."""
        return cls(str(data["name"]), str(data.get("selection", "")))


HTAUTAU_SHAPE_NUISANCES: tuple[ShapeNuisance, ...] = (
    ShapeNuisance("tes", 1.0, 0.01, 0.9, 1.1),
    ShapeNuisance("jes", 1.0, 0.01, 0.9, 1.1),
    ShapeNuisance("soft_met", 0.0, math.sqrt(5.0), 0.0, 5.0, power=2),
)
"""The challenge's shape nuisances: ν = (tes - 1)/0.01, (jes - 1)/0.01, soft_met²/(5 GeV²).

soft_met is the width of a Gaussian smearing of the MET components, so the varied
densities depend on it only through soft_met² (see :class:`ShapeNuisance`); its scale
maps the range [0, 5] GeV to ν in [0, 5].
"""

HTAUTAU_REGION = Region(
    "inclusive",
    "PRI_had_pt >= 26 GeV, PRI_lep_pt >= 20 GeV; jets below 26 GeV removed (DESIGN.md §2)",
)


@runtime_checkable
class VariationSource(Protocol):
    """Nominal and varied simulation of the same events, per process."""

    @property
    def processes(self) -> tuple[str, ...]:
        """Process names (signal first)."""
        ...

    @property
    def feature_names(self) -> tuple[str, ...]:
        """The feature columns of the event sets."""
        ...

    @property
    def nuisances(self) -> tuple[ShapeNuisance, ...]:
        """The shape nuisances ν refers to, in order."""
        ...

    @property
    def region(self) -> Region:
        """The selection the events pass."""
        ...

    def generated_ids(self, process: str) -> npt.NDArray[np.int64]:
        """Ids of every generated event of the process (selected at some ν or not)."""
        ...

    def nominal(
        self, process: str | None = None, *, event_ids: npt.ArrayLike | None = None
    ) -> EventSet:
        """Nominal events of one process (all processes for None), optionally only some ids."""
        ...

    def varied(
        self, process: str, nu: npt.ArrayLike, *, event_ids: npt.ArrayLike | None = None
    ) -> EventSet:
        """The same generated events at standardised ν (after re-selection)."""
        ...


@runtime_checkable
class ExactSource(VariationSource, Protocol):
    """A source that also knows the exact ln R_p(x|ν) and nominal fractions c_p(x)."""

    def exact_log_ratio(self, x: FloatArray, process: str, nu: npt.ArrayLike) -> FloatArray:
        """Exact ln R_p(x|ν) for features ``x`` (N, F)."""
        ...

    def exact_fractions(self, x: FloatArray) -> FloatArray:
        """Exact nominal c_p(x), shape (N, P)."""
        ...


class BaseVariationSource(ABC):
    """Shared logic of the built-in :class:`VariationSource` implementations.

    A subclass declares the processes, features, nuisances and region, hands out the
    varied events (:meth:`varied`) and the nominal events of *one* process
    (:meth:`_nominal_process`); the base class checks process names and assembles
    :meth:`nominal` for all processes.
    """

    @property
    @abstractmethod
    def processes(self) -> tuple[str, ...]:
        """Process names (signal first)."""

    @property
    @abstractmethod
    def feature_names(self) -> tuple[str, ...]:
        """The feature columns of the event sets."""

    @property
    @abstractmethod
    def nuisances(self) -> tuple[ShapeNuisance, ...]:
        """The shape nuisances ν refers to, in order."""

    @property
    @abstractmethod
    def region(self) -> Region:
        """The selection the events pass."""

    @abstractmethod
    def generated_ids(self, process: str) -> npt.NDArray[np.int64]:
        """Ids of every generated event of the process (selected at some ν or not)."""

    @abstractmethod
    def varied(
        self, process: str, nu: npt.ArrayLike, *, event_ids: npt.ArrayLike | None = None
    ) -> EventSet:
        """The same generated events at standardised ν (after re-selection)."""

    @abstractmethod
    def _nominal_process(self, process: str, event_ids: npt.ArrayLike | None) -> EventSet:
        """Nominal events of one known process, optionally only some ids."""

    def _check_process(self, process: str) -> None:
        if process not in self.processes:
            raise ConfigError(f"unknown process {process!r}; expected one of {self.processes}")

    def nominal(
        self, process: str | None = None, *, event_ids: npt.ArrayLike | None = None
    ) -> EventSet:
        """Nominal events of one process (all processes for None), optionally only some ids."""
        if process is None:
            return EventSet.concat([self.nominal(p, event_ids=event_ids) for p in self.processes])
        self._check_process(process)
        return self._nominal_process(process, event_ids)


def _point_seed(seed: int, process_index: int, nu: FloatArray) -> int:
    digest = hashlib.sha256(np.ascontiguousarray(nu, dtype=np.float64).tobytes()).digest()
    return int(
        np.random.SeedSequence(
            [int(seed), process_index, int.from_bytes(digest[:8])]
        ).generate_state(1)[0]
    )


def _check_nu(nu: npt.ArrayLike, nuisances: Sequence[ShapeNuisance]) -> FloatArray:
    arr = np.asarray(nu, dtype=np.float64)
    if arr.shape != (len(nuisances),) or not np.isfinite(arr).all():
        raise DataError(
            f"nu={arr.tolist()} must be {len(nuisances)} finite standardised values, one per "
            f"nuisance {[n.name for n in nuisances]}"
        )
    return arr


def _select_ids(ids: FloatArray | npt.NDArray[np.int64], event_ids: npt.ArrayLike | None) -> Any:
    if event_ids is None:
        return slice(None)
    return np.isin(ids, np.asarray(event_ids))


# ---------------------------------------------------------------------------- H -> tau tau
class HTauTauSource(BaseVariationSource):
    """Challenge-format events plus the challenge's systematics (see the module docstring).

    Parameters
    ----------
    frame
        Raw challenge-format events *before* the 26 GeV re-selection (as
        :func:`unbinned.sim.htautau.simulate` returns them, or real challenge data),
        with ``weights`` and ``detailed_labels``.  An ``event_id`` column is added
        (the row number) when absent.  The simulator's provenance record in
        ``frame.attrs`` is kept as :attr:`simulation`.
    nuisances
        The shape nuisances and their parametrisation (names must be fields of
        :class:`unbinned.sim.systematics.Nuisances`).
    processes
        Process order (default: the challenge's processes present in ``frame``).
    feature_names
        Feature columns (default: the 28 challenge features).
    seed
        Base seed of the soft-MET smearing.
    systematics
        The function that applies the nuisances to a frame, called as
        ``systematics(frame, tes=..., jes=..., soft_met=..., seed=...)`` and returning
        the re-selected frame with every input column kept (e.g. the challenge's own
        function, as its ingestion program hands it over); default:
        :func:`unbinned.sim.systematics.apply_systematics`.
    """

    def __init__(
        self,
        frame: pd.DataFrame,
        *,
        nuisances: Sequence[ShapeNuisance] = HTAUTAU_SHAPE_NUISANCES,
        processes: Sequence[str] | None = None,
        feature_names: Sequence[str] = FEATURES,
        seed: int = 0,
        region: Region = HTAUTAU_REGION,
        systematics: Callable[..., pd.DataFrame] | None = None,
    ) -> None:
        if not isinstance(frame, pd.DataFrame):
            raise TypeError(f"frame must be a pandas.DataFrame, got {type(frame).__name__}")
        for col in (WEIGHT_COLUMN, PROCESS_COLUMN):
            if col not in frame.columns:
                raise SchemaError(f"the frame lacks the {col!r} column that training needs")
        unknown = [n.name for n in nuisances if n.name not in NUISANCE_NAMES]
        if unknown:
            raise ConfigError(
                f"shape nuisance(s) {unknown} are not challenge nuisances {NUISANCE_NAMES}"
            )
        present = set(frame[PROCESS_COLUMN].unique().tolist())
        procs = (
            tuple(p for p in PROCESSES if p in present) if processes is None else tuple(processes)
        )
        absent = [p for p in procs if p not in present]
        if absent or not procs:
            raise DataError(f"the frame has no events of process(es) {absent or list(procs)}")
        missing = [c for c in feature_names if c not in frame.columns and not c.startswith("DER_")]
        if missing:
            raise SchemaError(f"the frame lacks feature column(s) {missing}")
        self._nuisances = tuple(nuisances)
        self._processes = procs
        self._features = tuple(feature_names)
        self._region = region
        self.seed = int(seed)
        if systematics is not None and not callable(systematics):
            raise TypeError(f"systematics must be callable, got {type(systematics).__name__}")
        self._systematics = systematics
        keep = [c for c in frame.columns if c != EVENT_ID]
        ids = (
            frame[EVENT_ID].to_numpy(np.int64)
            if EVENT_ID in frame.columns
            else np.arange(len(frame), dtype=np.int64)
        )
        labels = frame[PROCESS_COLUMN].to_numpy()
        self._raw: dict[str, pd.DataFrame] = {}
        for p in procs:
            mask = labels == p
            sub = frame.loc[mask, keep].reset_index(drop=True)
            sub[EVENT_ID] = ids[mask]
            self._raw[p] = sub
        self._cache: dict[str, EventSet] = {}
        record = frame.attrs.get(SIMULATOR_ATTR)
        self._simulation = dict(record) if isinstance(record, Mapping) else None

    @property
    def simulation(self) -> dict[str, Any] | None:
        """Where the events come from: the built-in simulator's record, or None.

        ``frame.attrs[SIMULATOR_ATTR]`` as :func:`unbinned.sim.htautau.simulate` writes
        it (:data:`~unbinned.sim.htautau.SIMULATOR_ATTR`); None for real challenge data
        and other files, which a fresh simulation would not reproduce.
        """
        return None if self._simulation is None else dict(self._simulation)

    @property
    def processes(self) -> tuple[str, ...]:
        """Process names."""
        return self._processes

    @property
    def feature_names(self) -> tuple[str, ...]:
        """Feature columns."""
        return self._features

    @property
    def nuisances(self) -> tuple[ShapeNuisance, ...]:
        """Shape nuisances."""
        return self._nuisances

    @property
    def region(self) -> Region:
        """The nominal challenge selection."""
        return self._region

    def generated_ids(self, process: str) -> npt.NDArray[np.int64]:
        """Ids of the raw events of the process."""
        self._check_process(process)
        return self._raw[process][EVENT_ID].to_numpy(np.int64)

    def _to_events(self, frame: pd.DataFrame) -> EventSet:
        return EventSet.from_pandas(
            frame,
            feature_columns=self._features,
            weight_column=WEIGHT_COLUMN,
            process_column=PROCESS_COLUMN,
            extra_columns=(EVENT_ID,),
            process_names=self._processes,
        )

    def _apply(
        self, process: str, values: Mapping[str, float], seed: int, event_ids: Any
    ) -> EventSet:
        raw = self._raw[process]
        if event_ids is not None:
            raw = raw[np.isin(raw[EVENT_ID].to_numpy(), np.asarray(event_ids))]
        if self._systematics is None:
            out = apply_systematics(raw, Nuisances(**values), seed=seed)
        else:
            full = Nuisances(**values)
            out = self._systematics(
                raw.copy(), tes=full.tes, jes=full.jes, soft_met=full.soft_met, seed=seed
            )
            if not isinstance(out, pd.DataFrame) or EVENT_ID not in out.columns:
                raise SchemaError(
                    "the systematics function must return a DataFrame that keeps every input "
                    f"column (the {EVENT_ID!r} column is missing from its output)"
                )
        return self._to_events(out)

    def _nominal_process(self, process: str, event_ids: npt.ArrayLike | None) -> EventSet:
        """Nominal events (the nominal re-selection applied)."""
        if process not in self._cache:
            self._cache[process] = self._apply(process, {}, self.seed, None)
        ev = self._cache[process]
        if event_ids is None:
            return ev
        return ev.select(np.isin(ev.extras[EVENT_ID].to_numpy(), np.asarray(event_ids)))

    def varied(
        self, process: str, nu: npt.ArrayLike, *, event_ids: npt.ArrayLike | None = None
    ) -> EventSet:
        """The same raw events with the systematics at ν applied and re-selected."""
        self._check_process(process)
        arr = _check_nu(nu, self._nuisances)
        values = {n.name: float(n.physical(v)) for n, v in zip(self._nuisances, arr, strict=True)}
        seed = _point_seed(self.seed, self._processes.index(process), arr)
        return self._apply(process, values, seed, event_ids)

    def __repr__(self) -> str:
        counts = ", ".join(f"{p}={len(f)}" for p, f in self._raw.items())
        return f"HTauTauSource(raw events {counts}; nuisances {[n.name for n in self._nuisances]})"


# ---------------------------------------------------------------------------- oracle
class OracleSource(BaseVariationSource):
    """An analytic oracle model as a variation source with exact answers.

    Parameters
    ----------
    model
        An :class:`unbinned.sim.oracle.OracleModel`.
    n_per_process
        Generated events per process (int, or a mapping process -> int).
    nuisances
        Names of the model's nuisances to learn (default: all of kind ``"shape"``);
        each becomes a :class:`ShapeNuisance` with ``scale`` = its width.
    seed
        Seed of the latent vectors.
    mode
        ``"vary"``: the same latent vectors mapped to ν (exact varied events);
        ``"reweight"``: the nominal events with exact weights f_p(x|ν)/f_p(x|ν_0).
        Either way the weights carry Y_p(ν) so that sums give the varied yields.
    """

    def __init__(
        self,
        model: OracleModel,
        n_per_process: int | Mapping[str, int],
        *,
        nuisances: Sequence[str] | None = None,
        seed: int = 0,
        mode: Literal["vary", "reweight"] = "vary",
    ) -> None:
        if mode not in ("vary", "reweight"):
            raise ConfigError(f"mode={mode!r}; expected 'vary' or 'reweight'")
        self.model = model
        self.mode = mode
        names = (
            [n.name for n in model.nuisances if n.kind == "shape"]
            if nuisances is None
            else list(nuisances)
        )
        decl = []
        for name in names:
            nd = model.nuisance(name)
            decl.append(ShapeNuisance(nd.name, nd.nominal, nd.width, nd.low, nd.high))
        self._nuisances = tuple(decl)
        counts = (
            dict.fromkeys(model.processes, int(n_per_process))
            if isinstance(n_per_process, int | np.integer)
            else {p: int(n_per_process[p]) for p in model.processes}
        )
        yields = model.expected_yields()
        ss = np.random.SeedSequence(int(seed))
        self._samples: dict[str, Any] = {}
        self._ids: dict[str, npt.NDArray[np.int64]] = {}
        self._w: dict[str, float] = {}
        offset = 0
        for p, child in zip(model.processes, ss.spawn(len(model.processes)), strict=True):
            n = counts[p]
            if n < 2:
                raise ConfigError(f"n_per_process for {p!r} is {n}; expected at least 2")
            self._samples[p] = model.sample_process(p, n, seed=np.random.default_rng(child))
            self._ids[p] = np.arange(offset, offset + n, dtype=np.int64)
            self._w[p] = yields[p] / n
            offset += n

    @property
    def processes(self) -> tuple[str, ...]:
        """Process names."""
        return tuple(self.model.processes)

    @property
    def feature_names(self) -> tuple[str, ...]:
        """Feature columns."""
        return tuple(self.model.feature_names)

    @property
    def nuisances(self) -> tuple[ShapeNuisance, ...]:
        """Shape nuisances learned."""
        return self._nuisances

    @property
    def region(self) -> Region:
        """The model's support."""
        return Region(self.model.name, f"support of the oracle model {self.model.name!r}")

    def physical(self, nu: npt.ArrayLike) -> dict[str, float]:
        """Standardised ν -> the model's nuisance dictionary."""
        arr = _check_nu(nu, self._nuisances)
        return {n.name: float(n.physical(v)) for n, v in zip(self._nuisances, arr, strict=True)}

    def generated_ids(self, process: str) -> npt.NDArray[np.int64]:
        """Ids of the generated events of the process."""
        self._check_process(process)
        return self._ids[process]

    def _events(self, process: str, x: FloatArray, w: FloatArray, sel: Any) -> EventSet:
        return EventSet.from_numpy(
            x[sel],
            w[sel],
            np.full(len(w[sel]), self.processes.index(process), dtype=np.int32),
            feature_names=self.feature_names,
            process_names=self.processes,
            extras={EVENT_ID: self._ids[process][sel]},
        )

    def _nominal_process(self, process: str, event_ids: npt.ArrayLike | None) -> EventSet:
        """Nominal events (weights n_p / N)."""
        s = self._samples[process]
        w = np.full(len(s), self._w[process])
        return self._events(process, s.x, w, _select_ids(self._ids[process], event_ids))

    def varied(
        self, process: str, nu: npt.ArrayLike, *, event_ids: npt.ArrayLike | None = None
    ) -> EventSet:
        """The same events at ν (mapped or reweighted), weights times Y_p(ν)."""
        self._check_process(process)
        values = self.physical(nu)
        s = self._samples[process]
        sel = _select_ids(self._ids[process], event_ids)
        sub = s if isinstance(sel, slice) else s.select(sel)
        ids_saved = self._ids[process]
        if self.mode == "vary":
            x = self.model.vary(sub, values).x
            w = np.full(len(sub), self._w[process] * self.model.yield_ratio(process, values))
        else:
            x = sub.x
            w = self._w[process] * self.model.reweight(sub, values, include_yield=True)
        return EventSet.from_numpy(
            x,
            w,
            np.full(len(w), self.processes.index(process), dtype=np.int32),
            feature_names=self.feature_names,
            process_names=self.processes,
            extras={EVENT_ID: ids_saved[sel]},
        )

    def exact_log_ratio(self, x: FloatArray, process: str, nu: npt.ArrayLike) -> FloatArray:
        """Exact ln R_p(x|ν) from the model."""
        return np.asarray(
            self.model.log_ratio(np.asarray(x, np.float64), process, self.physical(nu))
        )

    def exact_fractions(self, x: FloatArray) -> FloatArray:
        """Exact nominal fractions c_p(x)."""
        return np.asarray(self.model.fractions(np.asarray(x, np.float64)))

    def __repr__(self) -> str:
        counts = ", ".join(f"{p}={len(s)}" for p, s in self._samples.items())
        return f"OracleSource({self.model.name}: {counts}; mode={self.mode!r})"


# ---------------------------------------------------------------------------- Gaussian toy
class GaussianToySource(BaseVariationSource):
    r"""A two-feature, two-process Gaussian toy with an exactly known response.

    Processes ``sig`` ~ N((0.5, 0), diag(0.5², 0.7²)) and ``bkg`` ~ N((0, 0), diag(1, 1)),
    yields 100 and 1000 before the selection :math:`x_0 > -1.5`.  Nuisances (standardised):
    ``scale``: :math:`x_0 \to \lambda x_0`, :math:`\lambda = 1 + 0.05\nu_0` (both processes);
    ``shift``: :math:`x_1 \to x_1 + 0.2\nu_1` (background only).  Then

    .. math:: \ln R_p(x|\nu) = \ln f_p(x_0/\lambda, x_1 - \delta_p) - \ln\lambda - \ln f_p(x),

    inside the selection (the yield change is part of it).
    """

    _SPEC: Mapping[str, tuple[float, float, float, float, float]] = {
        "sig": (0.5, 0.0, 0.5, 0.7, 100.0),
        "bkg": (0.0, 0.0, 1.0, 1.0, 1000.0),
    }
    CUT = -1.5

    def __init__(self, n_per_process: int = 5000, *, seed: int = 0) -> None:
        if n_per_process < 10:
            raise ConfigError(f"n_per_process={n_per_process}; expected at least 10")
        self._nuisances = (ShapeNuisance("scale", 0.0, 1.0), ShapeNuisance("shift", 0.0, 1.0))
        rng = np.random.default_rng(int(seed))
        self._z = {p: rng.standard_normal((n_per_process, 2)) for p in self._SPEC}
        self._ids = {
            p: np.arange(i * n_per_process, (i + 1) * n_per_process, dtype=np.int64)
            for i, p in enumerate(self._SPEC)
        }
        self.n_per_process = n_per_process

    @property
    def processes(self) -> tuple[str, ...]:
        """``("sig", "bkg")``."""
        return tuple(self._SPEC)

    @property
    def feature_names(self) -> tuple[str, ...]:
        """``("x0", "x1")``."""
        return ("x0", "x1")

    @property
    def nuisances(self) -> tuple[ShapeNuisance, ...]:
        """``scale`` and ``shift``."""
        return self._nuisances

    @property
    def region(self) -> Region:
        """The cut x0 > -1.5."""
        return Region("toy", f"x0 > {self.CUT}")

    @staticmethod
    def _params(process: str, nu: FloatArray) -> tuple[float, float]:
        lam = 1.0 + 0.05 * float(nu[0])
        delta = 0.2 * float(nu[1]) if process == "bkg" else 0.0
        return lam, delta

    def _x(self, process: str, nu: FloatArray) -> FloatArray:
        m0, m1, s0, s1, _ = self._SPEC[process]
        lam, delta = self._params(process, nu)
        z = self._z[process]
        return np.column_stack([lam * (m0 + s0 * z[:, 0]), m1 + s1 * z[:, 1] + delta])

    def _events(self, process: str, nu: FloatArray, event_ids: Any) -> EventSet:
        x = self._x(process, nu)
        keep = x[:, 0] > self.CUT
        ids = self._ids[process]
        if event_ids is not None:
            keep &= np.isin(ids, np.asarray(event_ids))
        w = np.full(int(keep.sum()), self._SPEC[process][4] / self.n_per_process)
        return EventSet.from_numpy(
            x[keep],
            w,
            np.full(len(w), self.processes.index(process), dtype=np.int32),
            feature_names=self.feature_names,
            process_names=self.processes,
            extras={EVENT_ID: ids[keep]},
        )

    def _nominal_process(self, process: str, event_ids: npt.ArrayLike | None) -> EventSet:
        """Nominal selected events."""
        return self._events(process, np.zeros(2), event_ids)

    def varied(
        self, process: str, nu: npt.ArrayLike, *, event_ids: npt.ArrayLike | None = None
    ) -> EventSet:
        """The same generated events at ν, re-selected."""
        self._check_process(process)
        return self._events(process, _check_nu(nu, self._nuisances), event_ids)

    def generated_ids(self, process: str) -> npt.NDArray[np.int64]:
        """Ids of the generated events of the process."""
        self._check_process(process)
        return self._ids[process]

    def _log_f(self, process: str, x0: FloatArray, x1: FloatArray) -> FloatArray:
        m0, m1, s0, s1, _ = self._SPEC[process]
        return np.asarray(
            -0.5 * ((x0 - m0) / s0) ** 2 - 0.5 * ((x1 - m1) / s1) ** 2 - math.log(s0 * s1)
        )

    def exact_log_ratio(self, x: FloatArray, process: str, nu: npt.ArrayLike) -> FloatArray:
        """Exact ln R_p(x|ν) (the yield change included)."""
        self._check_process(process)
        arr = _check_nu(nu, self._nuisances)
        x = np.asarray(x, dtype=np.float64)
        lam, delta = self._params(process, arr)
        return np.asarray(
            self._log_f(process, x[:, 0] / lam, x[:, 1] - delta)
            - math.log(lam)
            - self._log_f(process, x[:, 0], x[:, 1])
        )

    def exact_fractions(self, x: FloatArray) -> FloatArray:
        """Exact nominal fractions c_p(x)."""
        x = np.asarray(x, dtype=np.float64)
        logs = np.stack(
            [self._log_f(p, x[:, 0], x[:, 1]) + math.log(self._SPEC[p][4]) for p in self.processes],
            axis=1,
        )
        logs -= logs.max(axis=1, keepdims=True)
        e = np.exp(logs)
        return np.asarray(e / e.sum(axis=1, keepdims=True))

    def __repr__(self) -> str:
        return f"GaussianToySource({self.n_per_process} events per process)"
