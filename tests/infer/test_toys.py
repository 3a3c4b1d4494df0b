"""Toy studies: reproducibility across executors, resume after interruption, statistics."""

from __future__ import annotations

import json
import math
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterable, Iterator
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pandas as pd
import pytest

from unbinned.exceptions import ConfigError, DataError
from unbinned.infer.executors import DaskExecutor, Executor, ProcessExecutor, SerialExecutor
from unbinned.infer.toys import (
    REQUIRED_COLUMNS,
    ToyStudy,
    counting_toy_task,
    gaussian_toy_task,
    run_toys,
)

T = TypeVar("T")
R = TypeVar("R")

GAUSS = partial(gaussian_toy_task, mu_true=1.5, sigma=0.3)
SEEDS = list(range(30))


@pytest.fixture(scope="module")
def processes() -> Iterator[ProcessExecutor]:
    with ProcessExecutor(2) as ex:
        yield ex


@pytest.fixture(scope="module")
def dask() -> Iterator[DaskExecutor]:
    with DaskExecutor(n_workers=2) as ex:
        yield ex


@pytest.fixture(params=["serial", "processes", "dask"])
def executor(request: pytest.FixtureRequest) -> Executor:
    if request.param == "serial":
        return SerialExecutor()
    ex: Executor = request.getfixturevalue(request.param)
    return ex


@pytest.fixture(scope="module")
def reference() -> pd.DataFrame:
    """The uninterrupted serial run of GAUSS over SEEDS."""
    return run_toys(GAUSS, SEEDS, store=None, progress=False).rows


class InterruptAfter:
    """Wraps an executor; raises KeyboardInterrupt (a Ctrl-C) after k results."""

    def __init__(self, inner: Executor, k: int) -> None:
        self.inner, self.k = inner, k

    def map_unordered(self, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[R]:
        for i, r in enumerate(self.inner.map_unordered(fn, items)):
            if i == self.k:
                raise KeyboardInterrupt
            yield r

    def close(self) -> None:
        pass

    def __enter__(self) -> InterruptAfter:
        return self

    def __exit__(self, *args: object) -> None:
        pass


def _store_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _check_store(path: Path, seeds: list[int]) -> None:
    lines = _store_lines(path)
    assert lines[0]["unbinned_toys"] == 1
    stored = [r["seed"] for r in lines[1:]]
    assert sorted(stored) == sorted(seeds)  # every seed once: none lost, none repeated
    assert path.read_bytes().endswith(b"\n")


# ------------------------------------------------------------------ reproducibility
def test_same_rows_on_every_executor(
    executor: Executor, reference: pd.DataFrame, tmp_path: Path
) -> None:
    study = run_toys(GAUSS, SEEDS, store=tmp_path / "toys.jsonl", executor=executor,
                     progress=False)  # fmt: skip
    pd.testing.assert_frame_equal(study.rows, reference)
    assert list(study.rows["seed"]) == SEEDS
    _check_store(tmp_path / "toys.jsonl", SEEDS)
    pd.testing.assert_frame_equal(ToyStudy.from_store(tmp_path / "toys.jsonl").rows, reference)


def test_real_engine_task() -> None:
    study = run_toys(partial(counting_toy_task, mu_true=1.0), [3], store=None, progress=False)
    r = study.rows.iloc[0]
    assert r["valid"]
    assert r["p16"] < r["mu_hat"] < r["p84"]
    # the profile interval of this near-Gaussian case is close to ± the HESSE error
    assert r["p84"] - r["p16"] == pytest.approx(2 * r["sigma_hesse"], rel=0.1)


# ------------------------------------------------------------------ resume
def test_resume_after_interruption(
    executor: Executor, reference: pd.DataFrame, tmp_path: Path
) -> None:
    store = tmp_path / "toys.jsonl"
    with pytest.raises(KeyboardInterrupt):
        run_toys(GAUSS, SEEDS, store=store, executor=InterruptAfter(executor, 7), progress=False)
    first = [r["seed"] for r in _store_lines(store)[1:]]
    assert len(first) == 7
    assert len(set(first)) == 7
    study = run_toys(GAUSS, SEEDS, store=store, executor=executor, progress=False)
    pd.testing.assert_frame_equal(study.rows, reference)
    _check_store(store, SEEDS)
    assert [r["seed"] for r in _store_lines(store)[1:8]] == first  # the first rows untouched


def test_resume_after_a_line_cut_short(reference: pd.DataFrame, tmp_path: Path) -> None:
    store = tmp_path / "toys.jsonl"
    run_toys(GAUSS, SEEDS[:10], store=store, progress=False)
    with store.open("ab") as f:
        f.write(b'{"seed": 10, "mu_true": 1.5, "mu_h')  # a crash in the middle of a write
    study = run_toys(GAUSS, SEEDS, store=store, progress=False)
    pd.testing.assert_frame_equal(study.rows, reference)
    _check_store(store, SEEDS)


def test_resume_after_kill(reference: pd.DataFrame, tmp_path: Path) -> None:
    """SIGKILL a run in another process half-way, then finish it here."""
    store = tmp_path / "toys.jsonl"
    script = textwrap.dedent(f"""
        import time
        from functools import partial
        from unbinned.infer.executors import SerialExecutor
        from unbinned.infer.toys import gaussian_toy_task, run_toys

        class Slow(SerialExecutor):
            def map_unordered(self, fn, items):
                for item in items:
                    time.sleep(0.05)
                    yield fn(item)

        task = partial(gaussian_toy_task, mu_true=1.5, sigma=0.3)
        run_toys(task, {SEEDS!r}, store={str(store)!r}, executor=Slow(), progress=False)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script])
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if store.exists() and store.read_bytes().count(b"\n") >= 6:
                break
            if proc.poll() is not None:
                pytest.fail(f"the run ended before it was killed (exit code {proc.returncode})")
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    n_before = len(_store_lines(store)) - 1
    assert 5 <= n_before < len(SEEDS)
    study = run_toys(GAUSS, SEEDS, store=store, progress=False)
    pd.testing.assert_frame_equal(study.rows, reference)
    _check_store(store, SEEDS)


def test_store_subset_and_order(reference: pd.DataFrame, tmp_path: Path) -> None:
    store = tmp_path / "toys.jsonl"
    run_toys(GAUSS, SEEDS, store=store, progress=False)
    again = run_toys(GAUSS, SEEDS[::-1][:5], store=store, executor="serial", progress=False)
    expected = reference.iloc[::-1].iloc[:5].reset_index(drop=True)
    pd.testing.assert_frame_equal(again.rows, expected)
    assert len(_store_lines(store)) == len(SEEDS) + 1  # nothing recomputed or rewritten


def test_store_checks(tmp_path: Path) -> None:
    store = tmp_path / "toys.jsonl"
    run_toys(GAUSS, [0, 1], store=store, progress=False)
    with pytest.raises(ConfigError, match="holds pseudo-experiments of task"):
        run_toys(partial(gaussian_toy_task, mu_true=2.0), [0, 1], store=store, progress=False)
    other = tmp_path / "other.jsonl"
    other.write_text('{"a": 1}\n')
    with pytest.raises(DataError, match="not a toy store"):
        run_toys(GAUSS, [0], store=other, progress=False)
    text = tmp_path / "notes.txt"
    text.write_text("my notes\nmore notes")
    with pytest.raises(DataError, match="not a toy store"):
        run_toys(GAUSS, [0], store=text, progress=False)
    assert text.read_text() == "my notes\nmore notes"  # untouched
    corrupt = tmp_path / "corrupt.jsonl"
    lines = store.read_text().splitlines()
    corrupt.write_text("\n".join([lines[0], "{oops", lines[1], ""]))
    with pytest.raises(DataError, match="corrupt at line 2"):
        run_toys(GAUSS, [0], store=corrupt, progress=False)
    twice = tmp_path / "twice.jsonl"
    twice.write_text("\n".join([lines[0], lines[1], lines[1], ""]))
    with pytest.raises(DataError, match="seed 0 twice"):
        ToyStudy.from_store(twice)
    with pytest.raises(FileNotFoundError, match="no toy store"):
        ToyStudy.from_store(tmp_path / "missing.jsonl")


def test_store_is_locked_while_in_use(tmp_path: Path) -> None:
    fcntl = pytest.importorskip("fcntl")
    store = tmp_path / "toys.jsonl"
    run_toys(GAUSS, [0], store=store, progress=False)
    with store.open("rb") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        with pytest.raises(ConfigError, match="in use by another run"):
            run_toys(GAUSS, [0, 1], store=store, progress=False)
    assert len(run_toys(GAUSS, [0, 1], store=store, progress=False).rows) == 2


# ------------------------------------------------------------------ failures and contract
def _fails_on_odd(seed: int) -> dict[str, Any]:
    if seed % 2:
        raise RuntimeError(f"no convergence for seed {seed}")
    return gaussian_toy_task(seed)


def test_failures_are_recorded(tmp_path: Path) -> None:
    store = tmp_path / "toys.jsonl"
    study = run_toys(_fails_on_odd, range(6), store=store, progress=False)
    assert list(study.failures["seed"]) == [1, 3, 5]
    assert study.failures["error"].iloc[0] == "RuntimeError: no convergence for seed 1"
    assert not study.failures["valid"].any()
    s = study.summary()
    assert (s.n, s.n_valid, s.n_failed, s.n_invalid) == (6, 3, 3, 0)
    assert "3 failed" in repr(s)
    assert "3 failed" in repr(study)
    # failures are results: a rerun does not repeat them
    again = run_toys(_fails_on_odd, range(6), store=store, progress=False)
    pd.testing.assert_frame_equal(again.rows, study.rows)
    assert len(_store_lines(store)) == 7


def test_failures_travel_from_workers(processes: ProcessExecutor) -> None:
    bad = partial(gaussian_toy_task, sigma=-1.0)
    study = run_toys(bad, [0, 1], store=None, executor=processes, progress=False)
    assert list(study.rows["error"]) == ["ConfigError: sigma must be positive, got -1.0"] * 2
    s = study.summary()
    assert s.n_valid == 0
    assert s.score is None
    assert math.isnan(s.coverage)
    assert "n/a" in repr(s)


def _returns(value: Any) -> Callable[[int], Any]:
    return lambda seed: value


_GOOD = {"seed": 0, "mu_true": 1.0, "mu_hat": 1.1, "p16": 0.9, "p84": 1.3, "valid": True}


@pytest.mark.parametrize(
    ("row", "error", "match"),
    [
        ([1, 2], TypeError, "must return a mapping"),
        ({"seed": 0, "mu_hat": 1.0}, DataError, "lacks"),
        ({**_GOOD, "curve": [1.0, 2.0]}, TypeError, "rows must be flat"),
        ({**_GOOD, "seed": 5}, DataError, "returned seed 5"),
        ({**_GOOD, "valid": "yes"}, TypeError, "'valid' must be a bool"),
        ({**_GOOD, "p16": "low"}, TypeError, "'p16' must be a number"),
        ({**_GOOD, "error": None}, DataError, "reserved"),
    ],
)
def test_task_contract(row: Any, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        run_toys(_returns(row), [0], store=None, progress=False)


def test_numpy_scalars_are_unwrapped() -> None:
    row = {**_GOOD, "mu_hat": np.float32(1.25), "valid": np.bool_(True), "n": np.int64(3)}
    study = run_toys(_returns(row), [0], store=None, progress=False)
    assert study.rows["n"].iloc[0] == 3
    assert study.rows["valid"].dtype == bool


@pytest.mark.parametrize(
    ("seeds", "error", "match"),
    [
        ([1, 2, 1], ConfigError, "seed 1 is given twice"),
        ([-1], ConfigError, "non-negative"),
        ([True], TypeError, "integers"),
        ([1.0], TypeError, "integers"),
        ("abc", TypeError, "sequence of integers"),
    ],
)
def test_bad_seeds(seeds: Any, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        run_toys(GAUSS, seeds, store=None, progress=False)


def test_task_must_be_callable() -> None:
    with pytest.raises(TypeError, match="callable"):
        run_toys(3, [0], store=None)  # type: ignore[arg-type]


# ------------------------------------------------------------------ statistics
def test_gaussian_coverage_and_pulls() -> None:
    study = run_toys(partial(gaussian_toy_task, mu_true=2.0, sigma=0.5), range(400),
                     store=None, progress=False)  # fmt: skip
    s = study.summary()
    tol = 3 * math.sqrt(0.6827 * 0.3173 / 400)  # binomial, 3 sigma
    assert abs(s.coverage - 0.6827) < tol
    assert s.coverage_error == pytest.approx(math.sqrt(s.coverage * (1 - s.coverage) / 400))
    assert s.mean_width == pytest.approx(1.0)
    assert s.median_width == pytest.approx(1.0)
    assert abs(s.bias) < 3 * s.bias_error
    assert abs(s.pull_mean) < 3 * s.pull_mean_error
    assert abs(s.pull_width - 1.0) < 3 * s.pull_width_error
    assert s.score is not None
    assert s.score.n == 400
    assert s.score.mean_width == pytest.approx(1.0)
    assert s.score.score == pytest.approx(-math.log(1.001))  # in the window: f(c) = 1
    # symmetric errors: both pull definitions agree
    sym = study.summary(pull="symmetric")
    assert sym.pull_width == pytest.approx(s.pull_width)
    d = s.as_dict()
    assert d["score"]["f_c"] == 1.0
    assert d["n_invalid"] == 0
    json.dumps(d)


def _overconfident(seed: int) -> dict[str, Any]:
    """x ~ N(1, 0.5) reported with ±0.3: intervals too narrow by 0.6."""
    row = gaussian_toy_task(seed, mu_true=1.0, sigma=0.5)
    return {**row, "p16": row["mu_hat"] - 0.3, "p84": row["mu_hat"] + 0.3}


def test_summary_flags_coverage_and_pull_width_outside_their_windows() -> None:
    good = run_toys(partial(gaussian_toy_task, mu_true=2.0, sigma=0.5), range(400),
                    store=None, progress=False).summary()  # fmt: skip
    assert good.warnings == ()
    assert "WARNING" not in repr(good)
    assert good.as_dict()["warnings"] == []
    bad = run_toys(_overconfident, range(400), store=None, progress=False).summary()
    assert len(bad.warnings) == 2
    cov, pull = bad.warnings
    assert cov.startswith("coverage 0.4")
    assert "under-cover" in cov
    assert "0.6827 ± 0.070" in cov  # 3 sqrt(0.6827 * 0.3173 / 400)
    assert pull.startswith(f"pull width {bad.pull_width:.3f} of 400 pulls")
    assert 1.4 < bad.pull_width < 1.9  # 0.5 / 0.3 = 1.67
    assert "1 ± 0.106" in pull  # 3 / sqrt(2 * 399)
    assert "too narrow" in pull
    assert f"WARNING: {cov}" in repr(bad)
    assert "WARNING: pull width" in bad._repr_html_()
    assert json.loads(json.dumps(bad.as_dict()))["warnings"] == list(bad.warnings)
    # a few pseudo-experiments cannot tell: the windows are wide
    assert run_toys(_overconfident, range(3), store=None, progress=False).summary().warnings == ()


def test_side_pull_matches_coverage() -> None:
    rows = [
        {"seed": 0, "mu_true": 1.0, "mu_hat": 1.2, "p16": 0.9, "p84": 2.0, "valid": True},
        {"seed": 1, "mu_true": 1.0, "mu_hat": 1.5, "p16": 1.1, "p84": 1.6, "valid": True},
        {"seed": 2, "mu_true": 1.0, "mu_hat": 0.5, "p16": 0.4, "p84": 0.6, "valid": False},
    ]
    study = run_toys(lambda s: rows[s], [0, 1, 2], store=None, progress=False)
    s = study.summary()
    assert (s.n_valid, s.n_invalid) == (2, 1)
    assert s.coverage == 0.5
    # side-of-truth sigma: 1.2 - 0.9 = 0.3 and 1.5 - 1.1 = 0.4 -> pulls 2/3 and 5/4
    assert s.pull_mean == pytest.approx((0.2 / 0.3 + 0.5 / 0.4) / 2)
    sym = study.summary(pull="symmetric")  # half-widths 0.55 and 0.25
    assert sym.pull_mean == pytest.approx((0.2 / 0.55 + 0.5 / 0.25) / 2)
    assert s.bias == pytest.approx(0.35)
    with pytest.raises(ConfigError, match="'side' or 'symmetric'"):
        study.summary(pull="both")  # type: ignore[arg-type]


def test_empty_study_and_reprs(tmp_path: Path) -> None:
    study = run_toys(GAUSS, [], store=tmp_path / "t.jsonl", progress=False)
    assert list(study.rows.columns[: len(REQUIRED_COLUMNS)]) == list(REQUIRED_COLUMNS)
    s = study.summary()
    assert s.n == 0
    assert s.score is None
    full = run_toys(GAUSS, range(5), store=tmp_path / "t.jsonl", progress=False)
    assert "5 pseudo-experiments of unbinned.infer.toys.gaussian_toy_task(" in repr(full)
    assert "mu_true=1.5" in full.task
    assert "<table>" in full._repr_html_()


def test_progress_bar_on_stderr(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    run_toys(GAUSS, range(3), store=tmp_path / "t.jsonl", progress=True)
    run_toys(_fails_on_odd, range(3), store=tmp_path / "f.jsonl", progress=True)
    out, err = capsys.readouterr()
    assert out == ""
    assert "3/3" in err
    assert "failed=1" in err


@pytest.mark.slow
def test_counting_coverage(processes: ProcessExecutor) -> None:
    """The counting toy covers about 68 %, with the same numbers in workers as here."""
    study = run_toys(partial(counting_toy_task, mu_true=1.0), range(300), store=None,
                     executor=processes, progress=False)  # fmt: skip
    serial = run_toys(partial(counting_toy_task, mu_true=1.0), range(5), store=None,
                      progress=False)  # fmt: skip
    pd.testing.assert_frame_equal(study.rows.iloc[:5], serial.rows)  # same numbers in workers
    s = study.summary()
    assert s.n_valid >= 295
    assert abs(s.coverage - 0.6827) < 3 * math.sqrt(0.6827 * 0.3173 / s.n_valid)
    assert abs(s.pull_width - 1.0) < 0.15
