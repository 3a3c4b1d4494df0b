r"""Pseudo-experiment (toy) studies at scale: resumable, reproducible, on any executor.

A study runs one *task* per seed.  ``task(seed)`` does a whole pseudo-experiment
(generate the data from the simulator or from a fitted model, fit, find the
interval) and returns one flat row: a mapping of names to JSON scalars that holds at
least ``seed``, ``mu_true``, ``mu_hat``, ``p16``, ``p84`` (the 68 % interval) and
``valid``.  Every random number must derive from the seed (e.g.
``numpy.random.default_rng(seed)``), so that a pseudo-experiment is the same
wherever and whenever it runs.

:func:`run_toys` spreads the seeds over an executor
(:mod:`unbinned.infer.executors`) and appends each row to a JSON-lines *store* as
soon as it arrives (written, flushed and fsync'd one line at a time).  Run again
with the same store, it skips the seeds already there: an interrupted study
resumes without losing or repeating a pseudo-experiment, and ends with exactly the
rows an uninterrupted run gives.  A task that raises is recorded as a failure row
(``valid`` false, the message in ``error``) and counted, never dropped.

:class:`ToyStudy` holds the rows (a :class:`pandas.DataFrame` in the order of the
seeds) and :meth:`ToyStudy.summary` gives coverage, bias, pulls and the challenge
score (:func:`unbinned.challenge.challenge_score`).

Store format
------------
UTF-8 text, one JSON object per line, as written by Python's :mod:`json` (NaN and
±Infinity as the bare tokens ``NaN``, ``Infinity``, so floats round-trip exactly).
The first line is a header ``{"unbinned_toys": 1, "task": "<description>"}``; a store
is only resumed by the task it was started with (the description is the task's
qualified name with the arguments of a :func:`functools.partial`).  A last line cut
short by a crash is dropped (the file is truncated after the last complete row) and
that seed runs again.  While a study runs the store is locked (``flock``, POSIX), so
two runs cannot interleave in one file.

Picklability
------------
With worker processes or Dask the task is pickled: it must be a module-level
function of an importable module, or a :func:`functools.partial` of one (lambdas,
closures and functions defined in ``__main__`` of a notebook or in a test file
work with the serial executor only).  :func:`gaussian_toy_task` and
:func:`counting_toy_task` are examples.

Examples
--------
>>> from functools import partial
>>> from unbinned.infer.toys import gaussian_toy_task, run_toys
>>> study = run_toys(partial(gaussian_toy_task, mu_true=1.0, sigma=0.2), range(200),
...                  store=None, progress=False)
>>> s = study.summary()
>>> s.n_valid, abs(s.coverage - 0.6827) < 3 * s.coverage_error
(200, True)
"""

from __future__ import annotations

import functools
import json
import math
import numbers
import os
import re
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
from tqdm import tqdm

from unbinned.infer.score import NOMINAL_COVERAGE, ScoreResult, challenge_score
from unbinned.exceptions import ConfigError, DataError
from unbinned.infer.executors import Executor, ExecutorKind, make_executor

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "REQUIRED_COLUMNS",
    "ToyStudy",
    "ToySummary",
    "ToyTask",
    "counting_toy_task",
    "gaussian_toy_task",
    "run_toys",
]

ToyTask = Callable[[int], Mapping[str, Any]]
"""One pseudo-experiment: ``task(seed) -> row`` (see the module docstring)."""

REQUIRED_COLUMNS = ("seed", "mu_true", "mu_hat", "p16", "p84", "valid")
"""The keys every row of a task must have."""

_FLOAT_COLUMNS = ("mu_true", "mu_hat", "p16", "p84")
_FORMAT_VERSION = 1
_HEADER_KEY = "unbinned_toys"
_MAX_ERROR_CHARS = 2000


# ---------------------------------------------------------------------------- rows
def _scalar(key: str, value: Any) -> Any:
    """A JSON scalar from a task's value (numpy scalars unwrapped), or TypeError."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or isinstance(value, bool | int | float | str):
        return value
    raise TypeError(
        f"toy task returned {type(value).__name__} for {key!r}; rows must be flat: "
        "every value a number, bool, string or None (store arrays in separate columns)"
    )


def _check_row(out: Any, seed: int) -> dict[str, Any]:
    if not isinstance(out, Mapping):
        raise TypeError(
            f"toy task returned {type(out).__name__} for seed {seed}; it must return a mapping "
            f"with at least the keys {list(REQUIRED_COLUMNS)}"
        )
    missing = [k for k in REQUIRED_COLUMNS if k not in out]
    if missing:
        raise DataError(
            f"toy task row for seed {seed} lacks {missing}; a row needs {list(REQUIRED_COLUMNS)}"
        )
    if "error" in out:
        raise DataError("toy task rows must not use the key 'error': it is reserved for failures")
    row: dict[str, Any] = {}
    for key, value in out.items():
        if not isinstance(key, str):
            raise TypeError(f"toy task row keys must be strings, got {key!r}")
        row[key] = _scalar(key, value)
    if row["seed"] != seed or isinstance(row["seed"], bool):
        raise DataError(f"toy task for seed {seed} returned seed {row['seed']!r}; return the seed")
    if not isinstance(row["valid"], bool):
        raise TypeError(f"toy task 'valid' must be a bool, got {row['valid']!r}")
    for key in _FLOAT_COLUMNS:
        v = row[key]
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise TypeError(f"toy task {key!r} must be a number, got {v!r}")
        row[key] = float(v)
    row["error"] = None
    return row


def _failure_row(seed: int, exc: Exception) -> dict[str, Any]:
    message = f"{type(exc).__name__}: {exc}"
    if len(message) > _MAX_ERROR_CHARS:
        message = message[: _MAX_ERROR_CHARS - 3] + "..."
    row: dict[str, Any] = {"seed": seed, **dict.fromkeys(_FLOAT_COLUMNS, math.nan)}
    row.update(valid=False, error=message)
    return row


def _run_one(task: ToyTask, seed: int) -> dict[str, Any]:
    """Run one pseudo-experiment where the executor puts it; a raising task gives a failure row.

    A row that breaks the contract (missing keys, nested values) raises instead: that
    is a bug of the task, which must stop the study rather than fill the store.
    """
    try:
        out = task(seed)
    except Exception as exc:  # the task failed: recorded, not dropped
        return _failure_row(seed, exc)
    return _check_row(out, seed)


def _describe(task: Any) -> str:
    """A stable description of a task (qualified name and partial arguments)."""
    if isinstance(task, functools.partial):
        args = [repr(a) for a in task.args]
        args += [f"{k}={v!r}" for k, v in sorted(task.keywords.items())]
        text = f"{_describe(task.func)}({', '.join(args)})"
    elif hasattr(task, "__qualname__") and hasattr(task, "__module__"):
        text = f"{task.__module__}.{task.__qualname__}"
    else:
        text = repr(task)
    return re.sub(r" at 0x[0-9a-fA-F]+", "", text)


# ---------------------------------------------------------------------------- store
def _parse_lines(data: bytes, path: Path) -> tuple[list[dict[str, Any]], int]:
    """Parse the complete, valid lines of a store; return them and the bytes they span.

    Trailing garbage (a line cut short by a crash, or zero bytes left by a file
    system) is ignored; a bad line followed by good ones means corruption.
    """
    records: list[dict[str, Any]] = []
    good_end = 0
    pos = 0
    bad_at: int | None = None
    line_no = 0
    while pos < len(data):
        nl = data.find(b"\n", pos)
        end = len(data) if nl < 0 else nl + 1
        line = data[pos:end]
        line_no += 1
        obj: Any = None
        if nl >= 0 and line.strip():
            try:
                obj = json.loads(line)
            except (ValueError, UnicodeDecodeError):
                obj = None
        if isinstance(obj, dict):
            if bad_at is not None:
                raise DataError(
                    f"toy store {str(path)!r} is corrupt at line {bad_at} (valid rows follow it); "
                    "repair or delete that line, or start a new store"
                )
            records.append(obj)
            good_end = end
        elif bad_at is None:
            bad_at = line_no
        pos = end
    return records, good_end


class _Store:
    """The append-only JSON-lines file of a study, locked while open."""

    def __init__(self, path: str | os.PathLike[str], description: str) -> None:
        self.path = Path(path)
        self.description = description
        self.fd: int | None = None

    def open(self) -> dict[int, dict[str, Any]]:
        """Lock the store, repair a cut last line, check the header; return the rows by seed."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        created = not self.path.exists()
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
        self.fd = fd
        try:
            if fcntl is not None:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    raise ConfigError(
                        f"toy store {str(self.path)!r} is in use by another run; wait for it "
                        "to finish or use another store file"
                    ) from None
            if created:
                _fsync_dir(self.path.parent)
            data = self.path.read_bytes()
            records, good_end = _parse_lines(data, self.path)
            rows: dict[int, dict[str, Any]] | None = None
            if records:
                rows = self._rows(records)  # checks header and task before anything changes
            elif data and not data.startswith(b'{"' + _HEADER_KEY.encode()):
                raise DataError(
                    f"{str(self.path)!r} is not a toy store (it does not start with a "
                    f"{_HEADER_KEY!r} header); pass a new file name"
                )
            if good_end < len(data):
                os.ftruncate(fd, good_end)  # drop the line a crash cut short
                os.fsync(fd)
            if rows is None:
                self._write({_HEADER_KEY: _FORMAT_VERSION, "task": self.description})
                return {}
            return rows
        except BaseException:
            self.close()
            raise

    def _rows(self, records: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
        header, body = records[0], records[1:]
        version = header.get(_HEADER_KEY)
        if version is None:
            raise DataError(
                f"{str(self.path)!r} is not a toy store (its first line has no "
                f"{_HEADER_KEY!r} header); pass a new file name"
            )
        if version != _FORMAT_VERSION:
            raise DataError(
                f"toy store {str(self.path)!r} has format {version!r}; this version of "
                f"unbinned reads format {_FORMAT_VERSION}"
            )
        if header.get("task") != self.description:
            raise ConfigError(
                f"toy store {str(self.path)!r} holds pseudo-experiments of task "
                f"{header.get('task')!r}, not of {self.description!r}; use another store file "
                "(or delete this one to start over)"
            )
        rows: dict[int, dict[str, Any]] = {}
        for i, rec in enumerate(body, start=2):
            seed = rec.get("seed")
            if isinstance(seed, bool) or not isinstance(seed, int):
                raise DataError(f"toy store {str(self.path)!r} line {i}: no integer 'seed'")
            if seed in rows:
                raise DataError(
                    f"toy store {str(self.path)!r} holds seed {seed} twice (line {i}); it was "
                    "written by something other than run_toys"
                )
            rows[seed] = rec
        return rows

    def _write(self, record: Mapping[str, Any]) -> None:
        assert self.fd is not None
        data = (json.dumps(record, allow_nan=True) + "\n").encode("utf-8")
        view = memoryview(data)
        while view:
            written = os.write(self.fd, view)
            view = view[written:]
        os.fsync(self.fd)

    def append(self, row: Mapping[str, Any]) -> dict[str, Any]:
        """Append one row durably; return it as it will read back."""
        self._write(row)
        return _roundtrip(row)

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)  # releases the lock
            self.fd = None


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - directories cannot be opened on Windows
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover - some file systems refuse
        pass
    finally:
        os.close(fd)


def _roundtrip(row: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = json.loads(json.dumps(row, allow_nan=True))
    return out


def _check_seeds(seeds: Iterable[int]) -> list[int]:
    if isinstance(seeds, str | bytes) or not isinstance(seeds, Iterable):
        raise TypeError(f"seeds must be a sequence of integers, got {type(seeds).__name__}")
    out: list[int] = []
    seen: set[int] = set()
    for s in seeds:
        if isinstance(s, bool) or not isinstance(s, numbers.Integral):
            raise TypeError(f"seeds must be integers, got {s!r} ({type(s).__name__})")
        s = int(s)
        if s < 0:
            raise ConfigError(f"seeds must be non-negative (numpy seeds are), got {s}")
        if s in seen:
            raise ConfigError(
                f"seed {s} is given twice; a repeated seed repeats the same pseudo-experiment"
            )
        seen.add(s)
        out.append(s)
    return out


def _frame(rows: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    columns = list(REQUIRED_COLUMNS)
    for row in rows:
        columns += [k for k in row if k not in columns and k != "error"]
    columns.append("error")
    df = pd.DataFrame.from_records(list(rows), columns=columns)
    if not rows:
        df = df.astype({"seed": "int64", "valid": "bool", **dict.fromkeys(_FLOAT_COLUMNS, "f8")})
    return df


# ---------------------------------------------------------------------------- runner
def run_toys(
    task: ToyTask,
    seeds: Iterable[int],
    *,
    store: str | os.PathLike[str] | None,
    executor: Executor | ExecutorKind | None = None,
    progress: bool = True,
) -> ToyStudy:
    """Run one pseudo-experiment per seed, resumably, and collect the rows.

    Parameters
    ----------
    task
        ``task(seed) -> row``: one pseudo-experiment end to end; the row is a flat
        mapping with at least :data:`REQUIRED_COLUMNS`.  Picklable for worker
        processes or Dask (a module-level function or a ``functools.partial``).
    seeds
        Distinct non-negative integers, one per pseudo-experiment.
    store
        JSON-lines file the rows are appended to as they arrive; the seeds already in
        it are skipped (resume).  ``None`` keeps the rows in memory only.
    executor
        Where the tasks run: an :class:`~unbinned.infer.executors.Executor` (left
        open), a kind ``"serial"``, ``"processes"`` or ``"dask"`` (made and closed
        here), or ``None`` for serial.
    progress
        Show a progress bar on stderr.

    Returns
    -------
    ToyStudy
        The rows of the requested seeds, in the order of ``seeds`` (rows of other
        seeds stay in the store but are not returned).

    Raises
    ------
    ConfigError
        The store belongs to another task or is in use; bad seeds.
    DataError
        The store is corrupt, or a task row lacks a required key.

    Notes
    -----
    Interrupting (Ctrl-C, a killed process, a crashed node) loses at most the rows
    not yet written; the next run with the same store computes exactly the missing
    seeds.  A worker that dies makes the executor raise: the study stops, and
    resumes on the next call.
    """
    if not callable(task):
        raise TypeError(f"task must be callable as task(seed), got {type(task).__name__}")
    seed_list = _check_seeds(seeds)
    description = _describe(task)
    own_executor = executor is None or isinstance(executor, str)
    ex: Executor
    if executor is None:
        ex = make_executor("serial")
    elif isinstance(executor, str):
        ex = make_executor(executor)
    else:
        ex = executor
    st = _Store(store, description) if store is not None else None
    try:
        done = st.open() if st is not None else {}
        todo = [s for s in seed_list if s not in done]
        with tqdm(
            total=len(seed_list),
            initial=len(seed_list) - len(todo),
            desc="toys",
            unit="toy",
            file=sys.stderr,
            disable=not progress,
            dynamic_ncols=True,
        ) as bar:
            n_failed = sum(1 for s in seed_list if s in done and done[s].get("error") is not None)
            if n_failed:
                bar.set_postfix(failed=n_failed)
            results = ex.map_unordered(functools.partial(_run_one, task), todo)
            try:
                for row in results:
                    done[row["seed"]] = st.append(row) if st is not None else _roundtrip(row)
                    if row["error"] is not None:
                        n_failed += 1
                        bar.set_postfix(failed=n_failed)
                    bar.update(1)
            finally:
                close = getattr(results, "close", None)
                if close is not None:
                    close()  # stops a generator now: the executor cancels what is queued
    finally:
        if st is not None:
            st.close()
        if own_executor:
            ex.close()
    rows = [done[s] for s in seed_list]
    return ToyStudy(_frame(rows), Path(store) if store is not None else None, description)


# ---------------------------------------------------------------------------- results
@dataclass(frozen=True)
class ToySummary:
    """Coverage, bias, pulls and the challenge score of a toy study.

    Only the *valid* pseudo-experiments enter the statistics: no error, ``valid``
    true, finite μ_true, μ̂, p16 ≤ p84.  The others are counted (``n_failed``: the task
    raised; ``n_invalid``: it returned an invalid fit or interval).

    Attributes
    ----------
    n, n_valid, n_failed
        Rows, valid rows, failure rows.
    coverage, coverage_error
        Fraction c of intervals with p16 ≤ μ_true ≤ p84 and its binomial
        uncertainty sqrt(c (1 - c) / n_valid).
    mean_width, median_width
        Of p84 - p16.
    bias, bias_error
        Mean of μ̂ - μ_true and its standard error.
    pull_mean, pull_mean_error, pull_width, pull_width_error
        Mean and standard deviation of the pulls (μ̂ - μ_true)/σ, with their errors
        (σ_pull/√n and σ_pull/√(2(n-1))); for correct intervals 0 and 1.
    pull_kind
        ``"side"``: σ is the interval half-width on the side of the truth
        (p84 - μ̂ when μ_true ≥ μ̂, else μ̂ - p16), so |pull| ≤ 1 exactly when the
        interval covers; ``"symmetric"``: σ = (p84 - p16)/2.
    n_pulls
        Valid rows with a finite pull (a zero half-width gives none).
    score
        The challenge score of the valid rows (None without any).
    """

    n: int
    n_valid: int
    n_failed: int
    coverage: float
    coverage_error: float
    mean_width: float
    median_width: float
    bias: float
    bias_error: float
    pull_mean: float
    pull_mean_error: float
    pull_width: float
    pull_width_error: float
    pull_kind: str
    n_pulls: int
    score: ScoreResult | None

    @property
    def n_invalid(self) -> int:
        """Rows whose task ran but returned an invalid fit or interval."""
        return self.n - self.n_valid - self.n_failed

    def as_dict(self) -> dict[str, Any]:
        """The figures as a JSON-able dict (the score as a nested dict)."""
        out = asdict(self)
        out["n_invalid"] = self.n_invalid
        if self.score is not None:
            out["score"] = {**asdict(self.score), "window": list(self.score.window)}
        return out

    def _lines(self) -> list[tuple[str, str]]:
        return [
            ("coverage", f"{self.coverage:.4f} ± {self.coverage_error:.4f}  "
                         f"(nominal {NOMINAL_COVERAGE})"),
            ("width", f"mean {self.mean_width:.5g}, median {self.median_width:.5g}"),
            ("bias", f"{self.bias:.4g} ± {self.bias_error:.2g}"),
            ("pull mean", f"{self.pull_mean:.4f} ± {self.pull_mean_error:.4f}"),
            ("pull width", f"{self.pull_width:.4f} ± {self.pull_width_error:.4f}  "
                           f"({self.pull_kind} σ, {self.n_pulls} pulls)"),
            ("score", "n/a" if self.score is None else
                      f"{self.score.score:.4f}  (f(c) = {self.score.f_c:.4g})"),
        ]  # fmt: skip

    def __repr__(self) -> str:
        head = (
            f"ToySummary({self.n} pseudo-experiments: {self.n_valid} valid, "
            f"{self.n_invalid} invalid, {self.n_failed} failed)"
        )
        return "\n".join([head, *(f"  {k:<12}{v}" for k, v in self._lines())])

    def _repr_html_(self) -> str:
        colour = "#c8f0c8" if self.n_valid == self.n and self.n else "#f0e0c0"
        rows = "".join(f"<tr><td>{k}</td><td>{v}</td></tr>" for k, v in self._lines())
        return (
            f"<table><tr><th colspan=2 style='background:{colour}'>{self.n} "
            f"pseudo-experiments: {self.n_valid} valid, {self.n_invalid} invalid, "
            f"{self.n_failed} failed</th></tr>{rows}</table>"
        )


def _mean_and_error(x: npt.NDArray[np.float64]) -> tuple[float, float, float, float]:
    """Mean, its error, standard deviation and its error (NaN where undefined)."""
    n = x.size
    if n == 0:
        return math.nan, math.nan, math.nan, math.nan
    mean = float(np.mean(x))
    if n < 2:
        return mean, math.nan, math.nan, math.nan
    sd = float(np.std(x, ddof=1))
    return mean, sd / math.sqrt(n), sd, sd / math.sqrt(2 * (n - 1))


@dataclass(frozen=True, eq=False)
class ToyStudy:
    """The rows of a toy study and where they are stored.

    Attributes
    ----------
    rows
        One row per seed, in the order the seeds were given; columns
        :data:`REQUIRED_COLUMNS`, the task's own columns, and ``error`` (None, or the
        exception of a failed task).
    store
        The JSON-lines store, if any.
    task
        Description of the task that made the rows.
    """

    rows: pd.DataFrame
    store: Path | None = None
    task: str = ""

    @classmethod
    def from_store(cls, path: str | os.PathLike[str]) -> ToyStudy:
        """Read a store without running anything.

        The rows come sorted by seed; a last line cut short is ignored, not repaired.
        """
        p = Path(path)
        if not p.is_file():
            raise FileNotFoundError(f"no toy store {str(p)!r}")
        records, _ = _parse_lines(p.read_bytes(), p)
        if not records or _HEADER_KEY not in records[0]:
            raise DataError(f"{str(p)!r} is not a toy store (no {_HEADER_KEY!r} header line)")
        task = str(records[0].get("task", ""))
        rows = _Store(p, task)._rows(records)
        return cls(_frame([rows[s] for s in sorted(rows)]), p, task)

    @property
    def failures(self) -> pd.DataFrame:
        """The rows of tasks that raised, with their ``error``."""
        return self.rows[self.rows["error"].notna()]

    def _valid_mask(self) -> npt.NDArray[np.bool_]:
        df = self.rows
        if df.empty:
            return np.zeros(0, dtype=bool)
        ok = df["error"].isna().to_numpy() & df["valid"].to_numpy(dtype=bool)
        vals = {k: df[k].to_numpy(dtype=np.float64) for k in _FLOAT_COLUMNS}
        for v in vals.values():
            ok &= np.isfinite(v)
        with np.errstate(invalid="ignore"):
            ok &= vals["p16"] <= vals["p84"]
        out: npt.NDArray[np.bool_] = ok
        return out

    def summary(self, *, pull: Literal["side", "symmetric"] = "side") -> ToySummary:
        """Coverage, bias, pulls and the challenge score of the valid rows.

        Parameters
        ----------
        pull
            How σ of the pull (μ̂ - μ_true)/σ is taken from the interval: ``"side"``
            (the half-width on the side of the truth) or ``"symmetric"``
            ((p84 - p16)/2).  See :class:`ToySummary`.
        """
        if pull not in ("side", "symmetric"):
            raise ConfigError(f"pull must be 'side' or 'symmetric', got {pull!r}")
        df = self.rows
        n = len(df)
        n_failed = int(df["error"].notna().sum()) if n else 0
        ok = self._valid_mask()
        v = df[ok]
        mu = v["mu_true"].to_numpy(dtype=np.float64)
        mu_hat = v["mu_hat"].to_numpy(dtype=np.float64)
        lo = v["p16"].to_numpy(dtype=np.float64)
        hi = v["p84"].to_numpy(dtype=np.float64)
        m = mu.size
        if m:
            c = float(np.mean((lo <= mu) & (mu <= hi)))
            c_err = math.sqrt(c * (1.0 - c) / m)
            width = hi - lo
            mean_w, med_w = float(np.mean(width)), float(np.median(width))
            score: ScoreResult | None = challenge_score(mu, lo, hi)
        else:
            c = c_err = mean_w = med_w = math.nan
            score = None
        bias, bias_err, _, _ = _mean_and_error(mu_hat - mu)
        if pull == "side":
            sigma = np.where(mu >= mu_hat, hi - mu_hat, mu_hat - lo)
        else:
            sigma = 0.5 * (hi - lo)
        with np.errstate(divide="ignore", invalid="ignore"):
            pulls = (mu_hat - mu) / sigma
        pulls = pulls[np.isfinite(pulls)]
        p_mean, p_mean_err, p_sd, p_sd_err = _mean_and_error(pulls)
        return ToySummary(
            n=n, n_valid=m, n_failed=n_failed, coverage=c, coverage_error=c_err,
            mean_width=mean_w, median_width=med_w, bias=bias, bias_error=bias_err,
            pull_mean=p_mean, pull_mean_error=p_mean_err, pull_width=p_sd,
            pull_width_error=p_sd_err, pull_kind=pull, n_pulls=int(pulls.size), score=score,
        )  # fmt: skip

    def __repr__(self) -> str:
        n = len(self.rows)
        n_failed = int(self.rows["error"].notna().sum()) if n else 0
        where = f", store {str(self.store)!r}" if self.store is not None else ""
        return (
            f"ToyStudy({n} pseudo-experiments of {self.task or 'an unnamed task'}{where}: "
            f"{int(self._valid_mask().sum())} valid, {n_failed} failed)"
        )

    def _repr_html_(self) -> str:
        where = f" (store <code>{self.store}</code>)" if self.store is not None else ""
        return f"<p>Toy study of <code>{self.task}</code>{where}</p>" + (
            self.summary()._repr_html_()
        )


# ---------------------------------------------------------------------------- example tasks
def gaussian_toy_task(seed: int, mu_true: float = 1.0, sigma: float = 0.2) -> dict[str, Any]:
    """An exactly solvable pseudo-experiment: one Gaussian measurement x ~ N(μ_true, σ).

    μ̂ = x and the interval [x - σ, x + σ] covers μ_true with probability
    erf(1/√2) = 0.6827 exactly; the pulls are standard normal.  For tests, docs and
    timing the machinery.

    Parameters
    ----------
    seed
        Seed of ``numpy.random.default_rng``.
    mu_true
        True value.
    sigma
        Known resolution (> 0).

    Returns
    -------
    dict
        seed, mu_true, mu_hat, p16, p84, valid (always True).
    """
    if not sigma > 0:
        raise ConfigError(f"sigma must be positive, got {sigma}")
    x = float(np.random.default_rng(seed).normal(mu_true, sigma))
    return {"seed": seed, "mu_true": float(mu_true), "mu_hat": x, "p16": x - sigma,
            "p84": x + sigma, "valid": True}  # fmt: skip


def counting_toy_task(
    seed: int,
    mu_true: float = 1.0,
    signal: float = 20.0,
    background: float = 50.0,
    kappa: float = 1.1,
    method: Literal["scan", "minos"] = "scan",
) -> dict[str, Any]:
    r"""A counting experiment with a constrained background, fitted with the real engine.

    n ~ Poisson(μ s + b) and an auxiliary measurement a ~ N(0, 1) of the background
    nuisance θ (true value 0), the background rate being b κ^θ.  Per toy a model
    with the constraint (θ - a)² is declared (the frequentist treatment: the global
    observable is randomised, not the nuisance), then
    :func:`unbinned.infer.fit` and :func:`unbinned.infer.profile_interval` (Δq = 1)
    give μ̂ and [p16, p84].

    Parameters
    ----------
    seed
        Seed of ``numpy.random.default_rng`` (the auxiliary value, then n).
    mu_true
        True signal strength (≥ 0).
    signal, background
        Expected signal (at μ = 1) and background counts (> 0).
    kappa
        Log-normal background uncertainty: a 1σ shift multiplies b by κ (> 1).
    method
        Interval method of :func:`~unbinned.infer.profile_interval`.

    Returns
    -------
    dict
        seed, mu_true, mu_hat, p16, p84, valid (fit and interval valid),
        sigma_hesse, theta_hat, n_obs, aux.

    Notes
    -----
    θ is bounded to [-5, 5] (the auxiliary value is clipped to [-4, 4], a 6e-5
    effect) and μ to [-b κ⁻⁵/(2s), μ_true + 5 + 10 √(μ_true s + b)/s], so the
    expected count stays positive.
    """
    from unbinned.infer.intervals import profile_interval
    from unbinned.infer.mle import fit
    from unbinned.likelihood import CountingRegion, Likelihood
    from unbinned.model.spec import ModelSpec

    if not (signal > 0 and background > 0 and kappa > 1 and mu_true >= 0):
        raise ConfigError(
            f"need signal > 0, background > 0, kappa > 1, mu_true >= 0; got signal={signal}, "
            f"background={background}, kappa={kappa}, mu_true={mu_true}"
        )
    rng = np.random.default_rng(seed)
    aux = float(np.clip(rng.normal(0.0, 1.0), -4.0, 4.0))
    n_obs = int(rng.poisson(mu_true * signal + background))
    mu_lo = -0.5 * background * kappa**-5 / signal
    mu_hi = mu_true + 5.0 + 10.0 * math.sqrt(mu_true * signal + background) / signal
    init = float(np.clip((n_obs - background) / signal, mu_lo + 0.1, mu_hi - 0.1))
    spec = ModelSpec.from_dict(
        {
            "pois": [{"name": "mu", "init": init, "bounds": [mu_lo, mu_hi]}],
            "nuisances": [
                {"name": "theta_b", "nominal": aux, "prior": "gaussian", "width": 1.0,
                 "bounds": [-5.0, 5.0]},
            ],
            "processes": [
                {"name": "signal", "signal": True, "modifiers": [{"parameter": "mu"}]},
                {"name": "background",
                 "modifiers": [{"parameter": "theta_b", "kind": "lognormal", "kappa": kappa}]},
            ],
            "regions": [{"name": "count", "kind": "counting"}],
        }
    )  # fmt: skip
    region = CountingRegion(
        "count", ("signal", "background"), float(n_obs), np.array([signal, background])
    )
    lik = Likelihood(spec, [region])
    best = fit(lik, seed=seed)
    iv = profile_interval(lik, "mu", best=best, method=method, seed=seed)
    return {
        "seed": seed,
        "mu_true": float(mu_true),
        "mu_hat": best.values["mu"],
        "p16": iv.lower,
        "p84": iv.upper,
        "valid": bool(best.valid and iv.valid),
        "sigma_hesse": best.errors["mu"],
        "theta_hat": best.values["theta_b"],
        "n_obs": n_obs,
        "aux": aux,
    }
