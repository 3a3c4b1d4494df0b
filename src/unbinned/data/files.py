r"""User samples from files: per process a list of parquet or ROOT files, read as an EventSet.

A :class:`FileSamples` declares where an analysis's simulated events are and how
to read them:

* per process, a list of files (parquet, or ROOT through uproot -- the ``root``
  extra -- with the TTree ``tree``); glob patterns (``"sig_*.parquet"``) are
  expanded and sorted, relative paths are relative to ``base_dir``;
* or, instead of a file per process, shared ``files`` and a ``label_column``
  saying each event's process (``labels`` maps the column's values to the process
  names; default: the values are the names);
* the ``weight`` column (None: every event weighs 1), the ``features``;
* an optional ``selection`` every event must pass and named ``regions``, each a
  further selection; both are safe expressions (:mod:`unbinned.data.expr`).

The declaration is checked when it is made (names, expressions, labels); the files
when they are read (:meth:`FileSamples.load`), with one line naming the file and
column: a pattern that matches nothing, a file without a feature column (every
sample must carry the same features), a weight column with NaN, a process with no
events in a region.

Examples
--------
>>> import numpy as np, pandas as pd, tempfile, pathlib
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> for p, m in (("sig", 1.0), ("bkg", 0.0)):
...     df = pd.DataFrame({"x": np.linspace(m, m + 1, 5), "w": np.ones(5)})
...     df.to_parquet(d / f"{p}.parquet")
>>> samples = FileSamples({"sig": ["sig.parquet"], "bkg": ["bkg*.parquet"]}, features=["x"],
...                       weight="w", selection="x > 0.2", base_dir=d)
>>> samples.load().yields()
{'sig': 5.0, 'bkg': 4.0}
"""

from __future__ import annotations

import glob
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow.parquet as pq

from unbinned.data.events import EventSet
from unbinned.data.expr import Selection
from unbinned.exceptions import ConfigError, DataError

__all__ = [
    "FileSamples",
    "check_variation_keys",
    "column_names",
    "expand_files",
    "read_columns",
]

ID_COLUMN = "event_id"
"""The extra column holding each event's id (the generated event it comes from)."""

_PROCESS = "__process__"
_ROW = "__row__"


def _show(names: Sequence[Any], limit: int = 10) -> str:
    names = list(names)
    text = ", ".join(repr(n) for n in names[:limit])
    return "[" + text + (f", ... ({len(names)} in all)" if len(names) > limit else "") + "]"


def expand_files(
    patterns: Sequence[str | os.PathLike[str]], base_dir: Path, what: str
) -> list[Path]:
    """Every file the patterns name (globs expanded, each pattern's matches sorted).

    Raises
    ------
    DataError
        When a pattern matches no file (``what`` says whose pattern it is).
    """
    out: list[Path] = []
    for pattern in patterns:
        path = Path(pattern)
        full = path if path.is_absolute() else base_dir / path
        if glob.has_magic(str(pattern)):
            matches = sorted(Path(m) for m in glob.glob(str(full)) if Path(m).is_file())
            if not matches:
                raise DataError(
                    f"{what}: the pattern {str(pattern)!r} matches no file (looked in "
                    f"{str(full.parent)!r}); fix the pattern or the folder"
                )
            out += matches
        elif not full.is_file():
            raise DataError(f"{what}: no file {str(full)!r}; fix the path")
        else:
            out.append(full)
    if not out:
        raise DataError(f"{what}: no files given; list at least one")
    return list(dict.fromkeys(out))


def _root_tree(f: Any, tree: str | None, path: Path) -> Any:
    trees = [
        k for k, v in f.classnames(cycle=False).items() if v.startswith(("TTree", "ROOT::RNTuple"))
    ]
    if tree is None:
        if len(trees) != 1:
            raise DataError(
                f"{str(path)!r} holds the trees {_show(trees)}; name the one to read (tree:)"
            )
        tree = trees[0]
    if tree not in f:
        raise DataError(f"{str(path)!r} has no tree {tree!r}; it holds {_show(trees)}")
    return f[tree]


def read_columns(
    path: Path, columns: Mapping[str, str], *, tree: str | None = None
) -> pd.DataFrame:
    """The named columns of one parquet or ROOT (``.root``) file.

    Parameters
    ----------
    path
        The file.
    columns
        Column name -> its role (``"feature"``, ``"weight"``, ...), for the error
        message when the file lacks it.
    tree
        The TTree of a ROOT file (None: its only tree).
    """
    names = list(columns)
    if path.suffix.lower() == ".root":
        try:
            import uproot
        except ImportError as exc:  # pragma: no cover - depends on the installed extras
            raise ImportError(
                "reading ROOT files needs uproot: pip install 'unbinned[root]'"
            ) from exc
        with uproot.open(path) as f:
            t = _root_tree(f, tree, path)
            present = list(t.keys())
            _check_present(path, columns, present)
            arrays = t.arrays(names, library="np")
        frame = pd.DataFrame({k: np.asarray(arrays[k]) for k in names})
    else:
        try:
            present = list(pq.read_schema(path).names)
            _check_present(path, columns, present)
            frame = pq.read_table(path, columns=names).to_pandas()
        except DataError:
            raise
        except Exception as exc:  # pyarrow raises several types for corrupt files
            raise DataError(f"cannot read {str(path)!r} as parquet: {exc}") from None
    for col in frame.columns:
        if frame[col].dtype.kind in "SO":
            frame[col] = frame[col].map(lambda v: v.decode() if isinstance(v, bytes) else v)
    return frame


def _check_present(path: Path, columns: Mapping[str, str], present: Sequence[str]) -> None:
    missing = [c for c in columns if c not in present]
    if missing:
        roles = sorted({columns[c] for c in missing})
        raise DataError(
            f"{str(path)!r} lacks the {'/'.join(roles)} column(s) {_show(missing)}; it has "
            f"{_show(present)}. Every sample must carry the same columns: add them to the "
            "file, or correct the names in the declaration"
        )


@dataclass(frozen=True)
class FileSamples:
    """Where an analysis's simulated samples are and how to read them (module docstring).

    Parameters
    ----------
    processes
        Process name -> its files (paths or glob patterns), in the model's order
        (signal first); with ``label_column``, just the process names.
    features
        The feature columns.
    weight
        The per-event weight column (None: every event weighs 1).
    files
        The shared files of every process (only with ``label_column``).
    label_column
        The column saying each event's process (instead of a file per process).
    labels
        Label value -> process name (default: the values are the process names).
        Events whose label is not listed are an error.
    selection
        An expression every event must pass (:class:`~unbinned.data.expr.Selection`).
    regions
        Region name -> a further selection expression.
    tree
        The TTree of ROOT files (None: the file's only tree).
    event_id
        A column naming the generated event (the same events in nominal and varied
        files); None: each file's rows are events of their own.
    base_dir
        Where relative paths start.
    """

    processes: Mapping[str, Sequence[str]] | Sequence[str]
    features: Sequence[str]
    weight: str | None = None
    files: Sequence[str] = ()
    label_column: str | None = None
    labels: Mapping[Any, str] | None = None
    selection: str | None = None
    regions: Mapping[str, str] = field(default_factory=dict)
    tree: str | None = None
    event_id: str | None = None
    base_dir: Path = Path(".")

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        procs = self.processes
        if isinstance(procs, Mapping):
            if self.label_column is not None:
                raise ConfigError(
                    "label_column is set, so processes must be just the process names "
                    "(their events come from the shared files:)"
                )
            table = {
                str(k): tuple(str(f) for f in _as_list(v, f"processes.{k}"))
                for k, v in procs.items()
            }
            empty = [k for k, v in table.items() if not v]
            if empty:
                raise ConfigError(f"processes {empty} list no files; give at least one each")
        else:
            if self.label_column is None:
                raise ConfigError(
                    "processes lists only names: give a mapping process -> files, or a "
                    "label_column (and files:) saying each event's process"
                )
            table = {str(k): () for k in _as_list(procs, "processes")}
        if not table:
            raise ConfigError("processes is empty; declare at least one process")
        set_(self, "processes", table)
        feats = tuple(_as_list(self.features, "features"))
        if not feats or len(set(feats)) != len(feats) or not all(isinstance(f, str) for f in feats):
            raise ConfigError(f"features {list(feats)} must be unique column names, at least one")
        set_(self, "features", feats)
        set_(self, "files", tuple(str(f) for f in _as_list(self.files, "files")))
        if self.label_column is not None and not self.files:
            raise ConfigError("label_column needs the shared files (files:) holding every process")
        if self.label_column is None and (self.files or self.labels):
            raise ConfigError("files: and labels: go with label_column; set it or drop them")
        if self.labels is not None:
            bad = sorted({str(v) for v in self.labels.values()} - set(table))
            if bad:
                raise ConfigError(
                    f"labels map to {bad}, which are not processes {list(table)}; fix the names"
                )
        for col in (self.weight, self.label_column, self.event_id):
            if col is not None and col in feats:
                raise ConfigError(
                    f"column {col!r} is a feature and the weight/label/id; choose one"
                )
        set_(self, "regions", dict(self.regions))
        for name, text in self.regions.items():
            if not str(name):
                raise ConfigError("a region needs a non-empty name")
            _selection(text, f"regions.{name}")
        if self.selection is not None:
            _selection(self.selection, "")
        set_(self, "base_dir", Path(self.base_dir))

    # ------------------------------------------------------------------ accessors
    @property
    def _table(self) -> Mapping[str, Sequence[str]]:
        assert isinstance(self.processes, Mapping)
        return self.processes

    @property
    def process_names(self) -> tuple[str, ...]:
        """The processes, in order."""
        return tuple(self.processes)

    def region_selection(self, region: str | None) -> str:
        """The full selection of a region (the common selection and-ed with the region's)."""
        parts = [f"({self.selection})"] if self.selection else []
        if region is not None:
            if region not in self.regions:
                raise ConfigError(f"unknown region {region!r}; declared: {list(self.regions)}")
            parts.append(f"({self.regions[region]})")
        return " and ".join(parts)

    def _selections(self, region: str | None) -> list[tuple[str, Selection]]:
        out = [("selection", Selection(self.selection))] if self.selection else []
        if region is not None:
            self.region_selection(region)
            out.append((f"region {region!r}", Selection(self.regions[region])))
        return out

    # ------------------------------------------------------------------ reading
    def load(
        self,
        region: str | None = None,
        *,
        files: Mapping[str, Sequence[str]] | Sequence[str] | None = None,
        processes: Sequence[str] | None = None,
        columns: Sequence[str] = (),
        what: str = "nominal",
    ) -> EventSet:
        """Read the samples (selection and region applied) as an :class:`EventSet`.

        Parameters
        ----------
        region
            A declared region (None: the common selection only).
        files
            Other files to read instead of the declared ones (a variation's files):
            process -> files, or the shared files with a label column.
        processes
            Read only these processes (default: every one, or with a mapping
            ``files`` the processes it names).
        columns
            More columns to carry along as extras (e.g. weight-variation columns).
        what
            What the samples are, for the error messages (``"nominal"``, a variation).

        Returns
        -------
        EventSet
            The features, weights and processes (in the declared order), with the
            extras ``event_id`` (the ``event_id`` column, or each event's row number
            among the files of its process) and ``columns``.
        """
        frame = self._frame(region, files, processes, columns, what)
        frame = frame[frame.pop("__keep__").to_numpy()].reset_index(drop=True)
        return EventSet.from_pandas(
            frame,
            feature_columns=self.features,
            weight_column=self.weight,
            process_column=_PROCESS,
            extra_columns=(ID_COLUMN, *[c for c in columns if c not in self.features]),
            process_names=self.process_names,
        )

    def frames(
        self, region: str | None = None, *, columns: Sequence[str] = (), what: str = "nominal"
    ) -> dict[str, pd.DataFrame]:
        """Every event of each process *before* the selection, as a DataFrame per process.

        For a function that varies the events (the selection applies after it,
        :meth:`passes`): the feature, weight and selection columns, ``columns`` and
        ``event_id`` (as in :meth:`load`).  A process with no selected event is an
        error here too.
        """
        frame = self._frame(region, None, None, columns, what).drop(columns="__keep__")
        out = {}
        for p in self.process_names:
            sub = frame[frame[_PROCESS] == p].drop(columns=_PROCESS)
            out[p] = sub.reset_index(drop=True)
        return out

    def passes(self, frame: pd.DataFrame, region: str | None = None) -> npt.NDArray[np.bool_]:
        """Which events of ``frame`` pass the selection (and the region's): a boolean mask."""
        keep = np.ones(len(frame), dtype=bool)
        for _, sel in self._selections(region):
            keep &= sel(frame)  # type: ignore[arg-type]  # a DataFrame maps names to columns
        return keep

    def _frame(
        self,
        region: str | None,
        files: Mapping[str, Sequence[str]] | Sequence[str] | None,
        processes: Sequence[str] | None,
        columns: Sequence[str],
        what: str,
    ) -> pd.DataFrame:
        """Every event read, with its process, ``event_id`` and a ``__keep__`` mask."""
        if processes is None:
            processes = list(files) if isinstance(files, Mapping) else self.process_names
        unknown = [p for p in processes if p not in self.processes]
        if unknown:
            raise ConfigError(
                f"{what}: unknown process(es) {unknown}; declared: {self.process_names}"
            )
        sels = self._selections(region)
        needed = self._needed(sels, columns)
        parts: list[pd.DataFrame] = []
        if self.label_column is not None and not isinstance(files, Mapping):
            frame = self._read(list(files or self.files), needed, sels, what)
            frame[_PROCESS] = self._processes_of(frame.pop(self.label_column), what)
            for p in processes:
                sub = frame[frame[_PROCESS] == p].reset_index(drop=True)
                parts.append(_with_ids(sub, self.event_id))
        else:
            table: Mapping[str, Sequence[str]] = (
                files if isinstance(files, Mapping) else self._table
            )
            for p in processes:
                sub = self._read(list(table[p]), needed, sels, f"{what} {p!r}")
                if self.label_column is not None:  # a process's own files, labelled
                    labels = self._processes_of(sub.pop(self.label_column), f"{what} {p!r}")
                    sub = sub[labels == p].reset_index(drop=True)
                sub[_PROCESS] = p
                parts.append(_with_ids(sub, self.event_id))
        for p, sub in zip(processes, parts, strict=True):
            if not bool(sub["__keep__"].any()):
                where = f" in region {region!r}" if region is not None else ""
                read = files if files is not None else (self.files or self._table[p])
                shown = list(read[p]) if isinstance(read, Mapping) else list(read)
                raise DataError(
                    f"{what}: process {p!r} has no events{where} after the selection "
                    f"{self.region_selection(region)!r} (files {_show(shown)}); loosen the "
                    "selection, or check the files and labels of the process"
                )
        return pd.concat(parts, ignore_index=True)

    def load_data(
        self, files: Sequence[str], region: str | None = None, *, what: str = "observed"
    ) -> EventSet:
        """An observed dataset (one process ``"data"``): features, selection and region.

        The weight column is used when the files have it, else every event weighs 1.
        """
        sels = self._selections(region)
        paths = expand_files(files, self.base_dir, what)
        has_weight = self.weight is not None and all(
            self.weight in column_names(p, self.tree) for p in paths
        )
        needed = self._needed(sels, (), weight=has_weight, label=False, ids=False)
        frame = self._read(list(files), needed, sels, what)
        frame = frame[frame.pop("__keep__").to_numpy()].reset_index(drop=True)
        if len(frame) == 0:
            raise DataError(f"{what}: no events pass {self.region_selection(region)!r}")
        return EventSet.from_pandas(
            frame,
            feature_columns=self.features,
            weight_column=self.weight if has_weight else None,
            process_column=None,
        )

    def _needed(
        self,
        sels: Sequence[tuple[str, Selection]],
        columns: Sequence[str],
        *,
        weight: bool = True,
        label: bool = True,
        ids: bool = True,
    ) -> dict[str, str]:
        needed = dict.fromkeys(self.features, "feature")
        if weight and self.weight is not None:
            needed.setdefault(self.weight, "weight")
        if label and self.label_column is not None:
            needed.setdefault(self.label_column, "label")
        if ids and self.event_id is not None:
            needed.setdefault(self.event_id, "event id")
        for c in columns:
            needed.setdefault(c, "variation")
        for name, sel in sels:
            for c in sel.columns:
                needed.setdefault(c, f"{name}")
        return needed

    def _read(
        self,
        patterns: Sequence[str],
        needed: Mapping[str, str],
        sels: Sequence[tuple[str, Selection]],
        what: str,
    ) -> pd.DataFrame:
        """The needed columns of every file, a ``__keep__`` mask and the row numbers."""
        frames = []
        offset = 0
        for path in expand_files(patterns, self.base_dir, what):
            frame = read_columns(path, needed, tree=self.tree)
            keep = np.ones(len(frame), dtype=bool)
            for _, sel in sels:
                keep &= sel(frame)  # type: ignore[arg-type]  # a DataFrame maps names to columns
            if self.weight is not None and self.weight in frame.columns:
                w = frame[self.weight].to_numpy()
                if w.dtype.kind not in "biuf":
                    raise DataError(
                        f"{str(path)!r}: the weight column {self.weight!r} has dtype {w.dtype}; "
                        "expected numbers"
                    )
                bad = np.flatnonzero(keep & ~np.isfinite(w.astype(np.float64)))
                if bad.size:
                    raise DataError(
                        f"{str(path)!r}: the weight column {self.weight!r} has {bad.size} NaN or "
                        f"infinite value(s) among the selected events, first at row {int(bad[0])}; "
                        "fix the weights upstream or remove those events"
                    )
            frame["__keep__"] = keep
            frame[_ROW] = np.arange(offset, offset + len(frame), dtype=np.int64)
            offset += len(frame)
            frames.append(frame)
        return pd.concat(frames, ignore_index=True)

    def _processes_of(self, labels: pd.Series, what: str) -> npt.NDArray[np.str_]:
        """The process name of each event from its label value."""
        values = labels.to_numpy()
        mapping: dict[Any, str]
        if self.labels is None:
            mapping = {p: p for p in self.process_names}
            keys = values.astype(str)
        elif values.dtype.kind in "biuf":
            mapping = {float(k): str(v) for k, v in self.labels.items()}
            keys = values.astype(np.float64)
        else:
            mapping = {str(k): str(v) for k, v in self.labels.items()}
            keys = values.astype(str)
        uniq, inverse = np.unique(keys, return_inverse=True)
        unknown = [u.item() for u in uniq if u.item() not in mapping]
        if unknown:
            raise DataError(
                f"{what}: the label column {self.label_column!r} has value(s) {_show(unknown)} "
                f"that name no process; map them in labels: (processes {list(self.process_names)})"
            )
        names = np.array([mapping[u.item()] for u in uniq], dtype=object)
        return np.asarray(names[inverse.reshape(-1)], dtype=str)

    def __repr__(self) -> str:
        sel = f", selection {self.selection!r}" if self.selection else ""
        reg = f", regions {list(self.regions)}" if self.regions else ""
        return (
            f"FileSamples({len(self.processes)} processes {list(self.process_names)}, "
            f"{len(self.features)} features{sel}{reg})"
        )


def _as_list(value: Any, key: str) -> list[Any]:
    if isinstance(value, str | os.PathLike):
        return [value]
    if not isinstance(value, Sequence):
        raise ConfigError(f"{key}: expected a list, got {type(value).__name__}")
    return list(value)


def _selection(text: Any, key: str) -> Selection:
    if not isinstance(text, str):
        raise ConfigError(f"{key or 'selection'}: expected an expression string, got {text!r}")
    try:
        return Selection(text)
    except ConfigError as exc:
        raise ConfigError(f"{key}: {exc}" if key else str(exc)) from None


def _with_ids(frame: pd.DataFrame, id_column: str | None) -> pd.DataFrame:
    rows = frame.pop(_ROW).to_numpy()
    frame[ID_COLUMN] = rows if id_column is None else frame[id_column].to_numpy(np.int64)
    return frame


def column_names(path: Path, tree: str | None = None) -> list[str]:
    """The column names of one parquet or ROOT file (its TTree ``tree``; None: the only one)."""
    if path.suffix.lower() == ".root":
        import uproot

        with uproot.open(path) as f:
            return list(_root_tree(f, tree, path).keys())
    return list(pq.read_schema(path).names)


def check_variation_keys(at: Any, files: Any, weight: Any, factor: Any) -> None:
    """Raise ConfigError unless a variation point gives files, a column, or files and a column.

    The rule of :class:`unbinned.ml.VariationPoint` and of the YAML's ``data.variations``
    (here, in the data layer, so that the config reads it without importing torch).
    """
    if weight is not None and factor is not None:
        raise ConfigError(
            f"variation at {dict(at)}: give weight or factor, not both (weight: the event's "
            "whole weight at the point; factor: multiplies the samples' weight)"
        )
    if files is None and weight is None and factor is None:
        raise ConfigError(
            f"variation at {dict(at)}: give files, a weight or factor column, or files with "
            "a weight or factor column (got none)"
        )
