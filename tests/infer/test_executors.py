"""The pluggable executors: serial, local processes, Dask on a loopback LocalCluster."""

from __future__ import annotations

import math
import sys
from collections.abc import Iterator

import pytest

from unbinned.exceptions import ConfigError
from unbinned.infer.executors import (
    DaskExecutor,
    Executor,
    ProcessExecutor,
    SerialExecutor,
    make_executor,
)

# Builtins pickle by reference, so worker processes need no test module.
ITEMS = [float(i) for i in range(20)]
EXPECTED = sorted(math.sqrt(x) for x in ITEMS)


@pytest.fixture(scope="module")
def processes() -> Iterator[ProcessExecutor]:
    with ProcessExecutor(2) as ex:
        yield ex


@pytest.fixture(scope="module")
def dask() -> Iterator[DaskExecutor]:
    with DaskExecutor(n_workers=2) as ex:
        yield ex


def test_serial_in_order_and_raises() -> None:
    ex = SerialExecutor()
    assert list(ex.map_unordered(math.sqrt, [4.0, 9.0])) == [2.0, 3.0]
    with pytest.raises(ValueError, match="math domain error"):
        list(ex.map_unordered(math.sqrt, [1.0, -1.0]))
    assert isinstance(ex, Executor)
    assert repr(ex) == "SerialExecutor()"


def test_processes_results_and_errors(processes: ProcessExecutor) -> None:
    assert isinstance(processes, Executor)
    assert sorted(processes.map_unordered(math.sqrt, ITEMS)) == EXPECTED
    with pytest.raises(ValueError, match="math domain error"):
        list(processes.map_unordered(math.sqrt, [1.0, -1.0, 4.0]))
    # a stopped iteration cancels the rest, and the pool is still usable
    it = processes.map_unordered(math.sqrt, ITEMS)
    next(it)
    it.close()
    assert sorted(processes.map_unordered(math.sqrt, ITEMS)) == EXPECTED
    assert "n_workers=2" in repr(processes)


def test_process_options() -> None:
    with pytest.raises(ConfigError, match="'fork' is unsafe"):
        ProcessExecutor(1, context="fork")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="at least 1"):
        ProcessExecutor(0)
    with pytest.raises(TypeError, match="n_workers"):
        ProcessExecutor(1.5)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="threads_per_worker"):
        ProcessExecutor(1, threads_per_worker=0)
    with pytest.raises(ConfigError, match="max_in_flight"):
        ProcessExecutor(1, max_in_flight=0)
    ex = ProcessExecutor(1)
    ex.close()  # never started: nothing to do
    ex.close()


def test_dask_local_cluster(dask: DaskExecutor) -> None:
    assert isinstance(dask, Executor)
    assert dask.scheduler_address.startswith("tcp://127.0.0.1:")
    assert sorted(dask.map_unordered(math.sqrt, ITEMS)) == EXPECTED
    with pytest.raises(ValueError, match="math domain error"):
        list(dask.map_unordered(math.sqrt, [1.0, -1.0, 4.0]))
    it = dask.map_unordered(math.sqrt, ITEMS)
    next(it)
    it.close()  # cancels the rest
    assert sorted(dask.map_unordered(math.sqrt, ITEMS)) == EXPECTED
    assert "local cluster" in repr(dask)


def test_dask_by_scheduler_address(dask: DaskExecutor) -> None:
    with make_executor("dask", scheduler=dask.scheduler_address) as remote:
        assert isinstance(remote, DaskExecutor)
        assert remote.n_workers == 2
        assert sorted(remote.map_unordered(math.sqrt, ITEMS)) == EXPECTED
        assert "scheduler at tcp://127.0.0.1:" in repr(remote)
    # closing a client of an existing scheduler leaves the cluster running
    assert sorted(dask.map_unordered(math.sqrt, ITEMS[:3])) == EXPECTED[:3]
    with pytest.raises(ConfigError, match="closed"):
        next(remote.map_unordered(math.sqrt, ITEMS))


def test_dask_options() -> None:
    with pytest.raises(ConfigError, match="tcp://HOST:PORT"):
        DaskExecutor("127.0.0.1:8786")
    with pytest.raises(ConfigError, match="n_workers only applies"):
        DaskExecutor("tcp://127.0.0.1:1", n_workers=2)


def test_dask_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(ImportError, match=r"pip install 'unbinned\[dask\]'"):
        DaskExecutor()


def test_make_executor() -> None:
    assert isinstance(make_executor(), SerialExecutor)
    with make_executor("processes", n_workers=1) as ex:
        assert isinstance(ex, ProcessExecutor)
    with pytest.raises(ConfigError, match="one of"):
        make_executor("threads")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="needs kind='dask'"):
        make_executor("processes", scheduler="tcp://127.0.0.1:8786")
    with pytest.raises(ConfigError, match="one worker"):
        make_executor("serial", n_workers=2)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_process_workers_exit_when_the_parent_is_killed(tmp_path) -> None:
    import os
    import subprocess
    import time
    from pathlib import Path

    script = tmp_path / "parent.py"
    script.write_text(
        "import math, time\n"
        "from unbinned.infer.executors import ProcessExecutor\n"
        "if __name__ == '__main__':\n"
        "    ex = ProcessExecutor(1)\n"
        "    list(ex.map_unordered(math.sqrt, [4.0]))\n"
        "    print(*ex._get_pool()._processes, flush=True)\n"
        "    time.sleep(120)\n"
    )
    with subprocess.Popen(
        [sys.executable, str(script)], stdout=subprocess.PIPE, text=True
    ) as parent:
        assert parent.stdout is not None
        worker = int(parent.stdout.readline().split()[0])
        parent.kill()
        parent.wait()

    def alive() -> bool:
        stat = Path(f"/proc/{worker}/stat")
        try:
            return stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"  # zombies are gone
        except (FileNotFoundError, ProcessLookupError):
            return False

    deadline = time.monotonic() + 20
    while alive() and time.monotonic() < deadline:
        time.sleep(0.2)
    still = alive()
    if still:
        os.kill(worker, 9)
    assert not still, "the worker outlived its killed parent"
