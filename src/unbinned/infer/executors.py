"""Pluggable executors: run one function over many items, yielding results as they complete.

An executor has one method that matters, :meth:`Executor.map_unordered`, plus
:meth:`~Executor.close` (or use it as a context manager).  Three are provided:

* :class:`SerialExecutor`: in this process, one item after the other (the default;
  needs nothing picklable, best for debugging).
* :class:`ProcessExecutor`: local worker processes (:class:`concurrent.futures.ProcessPoolExecutor`)
  started with the ``"spawn"`` method by default.  ``fork`` is not offered: forking a
  process that has started torch's (or OpenMP's) thread pools can deadlock the
  child, so workers start fresh interpreters (``"spawn"``, portable) or fork from a
  clean server process (``"forkserver"``, POSIX only, faster to start many workers).
* :class:`DaskExecutor`: a Dask distributed cluster, either a
  :class:`distributed.LocalCluster` on the loopback interface or an existing
  scheduler at ``tcp://HOST:PORT``.  Dask is an optional extra
  (``pip install 'unbinned[dask]'``).

With worker processes the function and the items travel by pickle: the function
must be a module-level function (or a :func:`functools.partial` of one) that the
workers can import, i.e. defined in an installed package, not in a notebook or a
test file.  An exception raised by the function is re-raised by
``map_unordered`` in the calling process; the items not yet started are
cancelled when the iteration stops (exception, ``break`` or Ctrl-C).

Examples
--------
>>> from unbinned.infer.executors import make_executor
>>> with make_executor("serial") as ex:
...     sorted(ex.map_unordered(abs, [-2, 1, -3]))
[1, 2, 3]
"""

from __future__ import annotations

import concurrent.futures as cf
import logging
import multiprocessing
import os
import sys
import threading
import time
from collections.abc import Callable, Generator, Iterable, Iterator
from itertools import islice
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, Protocol, Self, TypeVar, runtime_checkable

from unbinned.exceptions import ConfigError

if TYPE_CHECKING:
    import distributed

__all__ = [
    "DaskExecutor",
    "Executor",
    "ExecutorKind",
    "ProcessExecutor",
    "SerialExecutor",
    "make_executor",
]

T = TypeVar("T")
R = TypeVar("R")
ExecutorKind = Literal["serial", "processes", "dask"]
_KINDS = ("serial", "processes", "dask")
_THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


@runtime_checkable
class Executor(Protocol):
    """What :func:`unbinned.infer.toys.run_toys` needs to spread work over workers."""

    def map_unordered(self, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[R]:
        """Apply ``fn`` to every item; yield the results in the order they complete."""
        ...

    def close(self) -> None:
        """Release the workers (idempotent)."""
        ...

    def __enter__(self) -> Self:
        """Enter a ``with`` block."""
        ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Close on leaving a ``with`` block."""
        ...


class _Base:
    """Context-manager plumbing shared by the executors."""

    def close(self) -> None:
        """Release the workers (idempotent)."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _check_workers(n_workers: int | None) -> int:
    if n_workers is None:
        try:
            return max(1, len(os.sched_getaffinity(0)))
        except AttributeError:  # not on Linux
            return max(1, os.cpu_count() or 1)
    if isinstance(n_workers, bool) or not isinstance(n_workers, int):
        raise TypeError(f"n_workers must be an int or None, got {n_workers!r}")
    if n_workers < 1:
        raise ConfigError(f"n_workers must be at least 1, got {n_workers}")
    return n_workers


class SerialExecutor(_Base):
    """Run everything in this process, in order; nothing needs to be picklable."""

    n_workers = 1

    def map_unordered(self, fn: Callable[[T], R], items: Iterable[T]) -> Generator[R, None, None]:
        """Yield ``fn(item)`` for every item, in order."""
        for item in items:
            yield fn(item)

    def __repr__(self) -> str:
        return "SerialExecutor()"


def _limit_threads(threads: int) -> None:
    """Cap the threads of the numerical libraries started afterwards."""
    for var in _THREAD_VARIABLES:
        os.environ[var] = str(threads)
    torch = sys.modules.get("torch")
    if torch is not None:  # already imported by the unpickling of the initializer
        torch.set_num_threads(threads)


def _watch_parent(parent_pid: int, interval: float) -> None:
    """Exit this worker once the process that started the pool has gone."""
    while True:
        time.sleep(interval)
        try:
            os.kill(parent_pid, 0)  # signal 0: only checks that the process exists
        except ProcessLookupError:
            os._exit(1)
        except PermissionError:  # exists, owned by another user (pid reused): keep going
            pass


def _init_worker(threads: int | None, parent_pid: int, interval: float = 2.0) -> None:
    """Worker initializer: thread limits, and a watchdog on the parent process.

    A killed parent (SIGKILL, out of memory, a terminated job) leaves the workers of
    a :class:`concurrent.futures.ProcessPoolExecutor` waiting on its queue forever,
    each holding its cached analysis in memory; the watchdog ends them within
    ``interval`` seconds.
    """
    if threads is not None:
        _limit_threads(threads)
    threading.Thread(
        target=_watch_parent, args=(parent_pid, interval), name="parent-watchdog", daemon=True
    ).start()


class ProcessExecutor(_Base):
    """Local worker processes (:class:`concurrent.futures.ProcessPoolExecutor`).

    Parameters
    ----------
    n_workers
        Number of worker processes (default: the CPUs this process may use).
    context
        Start method: ``"spawn"`` (default, portable) or ``"forkserver"`` (POSIX).
        ``"fork"`` is refused: forking after torch or OpenMP started their thread
        pools can deadlock the workers.
    threads_per_worker
        Threads each worker lets torch/OpenMP/BLAS use (``OMP_NUM_THREADS`` and
        friends, and ``torch.set_num_threads``); 1 avoids oversubscribing the
        machine when every core runs a worker.  ``None`` leaves the defaults.
    max_in_flight
        Items submitted ahead of the results consumed (default 2 per worker), so a
        long iteration does not queue everything at once.

    Notes
    -----
    The pool starts on the first :meth:`map_unordered` and is reused until
    :meth:`close`.  Each worker imports the function's module when it receives
    its first item (a few seconds for torch).  Workers exit on their own within
    two seconds when this process dies.  A worker that dies (killed, out of
    memory) breaks the pool: ``map_unordered`` raises
    :class:`concurrent.futures.process.BrokenProcessPool`; close this executor and
    make a new one.
    """

    def __init__(
        self,
        n_workers: int | None = None,
        *,
        context: Literal["spawn", "forkserver"] = "spawn",
        threads_per_worker: int | None = 1,
        max_in_flight: int | None = None,
    ) -> None:
        self.n_workers = _check_workers(n_workers)
        if context not in ("spawn", "forkserver"):
            raise ConfigError(
                f"context must be 'spawn' or 'forkserver', got {context!r} ('fork' is unsafe "
                "with torch's thread pools)"
            )
        if context not in multiprocessing.get_all_start_methods():
            raise ConfigError(
                f"start method {context!r} is not available on this platform; use 'spawn'"
            )
        if threads_per_worker is not None and threads_per_worker < 1:
            raise ConfigError(f"threads_per_worker must be >= 1 or None, got {threads_per_worker}")
        self.context = context
        self.threads_per_worker = threads_per_worker
        if max_in_flight is not None and max_in_flight < 1:
            raise ConfigError(f"max_in_flight must be >= 1 or None, got {max_in_flight}")
        self.max_in_flight = max_in_flight or 2 * self.n_workers
        self._pool: cf.ProcessPoolExecutor | None = None

    def _get_pool(self) -> cf.ProcessPoolExecutor:
        if self._pool is None:
            self._pool = cf.ProcessPoolExecutor(
                max_workers=self.n_workers,
                mp_context=multiprocessing.get_context(self.context),
                initializer=_init_worker,
                initargs=(self.threads_per_worker, os.getpid()),
            )
        return self._pool

    def map_unordered(self, fn: Callable[[T], R], items: Iterable[T]) -> Generator[R, None, None]:
        """Yield ``fn(item)`` for every item as the workers finish them."""
        pool = self._get_pool()
        source = iter(items)
        pending = {pool.submit(fn, x) for x in islice(source, self.max_in_flight)}
        try:
            while pending:
                done, pending = cf.wait(pending, return_when=cf.FIRST_COMPLETED)
                for fut in done:
                    result = fut.result()  # re-raises the worker's exception
                    for x in islice(source, 1):
                        pending.add(pool.submit(fn, x))
                    yield result
        finally:
            for fut in pending:
                fut.cancel()

    def close(self) -> None:
        """Shut the pool down (running items finish, queued ones are cancelled)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def __repr__(self) -> str:
        return f"ProcessExecutor(n_workers={self.n_workers}, context={self.context!r})"


def _import_distributed() -> Any:
    try:
        import distributed  # optional extra (unbinned[dask]): imported only when used
    except ImportError as exc:
        raise ImportError(
            "the Dask executor needs dask.distributed, an optional extra: "
            "pip install 'unbinned[dask]'"
        ) from exc
    return distributed


class DaskExecutor(_Base):
    """Run items on a Dask distributed cluster.

    Parameters
    ----------
    scheduler
        ``None``: start a :class:`distributed.LocalCluster` of worker processes on the
        loopback interface (127.0.0.1, free ports chosen by the system, the HTTP
        server/dashboard included, so nothing clashes with a running cluster),
        closed with this executor.  A string ``"tcp://HOST:PORT"`` (or another Dask protocol):
        connect to that scheduler; the cluster stays up after :meth:`close`, and
        its workers must have ``unbinned`` (and the task's module) installed.
    n_workers
        Workers of the local cluster (default: the CPUs this process may use); not
        allowed with a scheduler address.
    threads_per_worker
        Threads per local worker (1: each worker runs one item at a time).
    max_in_flight
        Items submitted ahead of the results consumed (default 8 per worker thread
        known to the scheduler when iteration starts, at least 16); refilled in
        batches of half of it, one scheduler message per batch.
    timeout
        Seconds to wait for the connection to a scheduler.

    Notes
    -----
    Local workers are started by Dask's nannies (``spawn``), with the log output of
    the cluster silenced below ERROR.  Items are submitted with ``pure=False``, so an
    item is computed again if it is submitted again.
    """

    def __init__(
        self,
        scheduler: str | None = None,
        n_workers: int | None = None,
        *,
        threads_per_worker: int = 1,
        max_in_flight: int | None = None,
        timeout: float = 30.0,
    ) -> None:
        dd = _import_distributed()
        self._cluster: distributed.LocalCluster | None = None
        self.max_in_flight = max_in_flight
        if max_in_flight is not None and max_in_flight < 1:
            raise ConfigError(f"max_in_flight must be >= 1, got {max_in_flight}")
        if scheduler is None:
            self.n_workers = _check_workers(n_workers)
            self._cluster = dd.LocalCluster(
                n_workers=self.n_workers,
                threads_per_worker=threads_per_worker,
                processes=True,
                host="127.0.0.1",
                dashboard_address="127.0.0.1:0",  # the HTTP server always runs: any free port
                silence_logs=logging.ERROR,
            )
            try:
                self._client = dd.Client(self._cluster, set_as_default=False)
            except BaseException:
                self._cluster.close()
                raise
        else:
            if not isinstance(scheduler, str) or "://" not in scheduler:
                raise ConfigError(
                    f"scheduler must be an address like 'tcp://HOST:PORT', got {scheduler!r}"
                )
            if n_workers is not None:
                raise ConfigError(
                    "n_workers only applies to a local cluster; the workers of the scheduler "
                    f"at {scheduler} are started with that cluster (leave n_workers=None)"
                )
            self._client = dd.Client(scheduler, set_as_default=False, timeout=timeout)
            self.n_workers = len(self._client.scheduler_info().get("workers", {}))
        self._closed = False

    @property
    def scheduler_address(self) -> str:
        """The address of the scheduler (e.g. to connect a second client)."""
        return str(self._client.scheduler.address)

    @property
    def client(self) -> distributed.Client:
        """The :class:`distributed.Client` in use."""
        client: distributed.Client = self._client
        return client

    def _window(self) -> int:
        if self.max_in_flight is not None:
            return self.max_in_flight
        workers = self._client.scheduler_info().get("workers", {})
        threads = sum(int(w.get("nthreads", 1)) for w in workers.values())
        return max(16, 8 * threads)

    def map_unordered(self, fn: Callable[[T], R], items: Iterable[T]) -> Generator[R, None, None]:
        """Yield ``fn(item)`` for every item as the cluster finishes them."""
        if self._closed:
            raise ConfigError("this DaskExecutor is closed; create a new one")
        dd = _import_distributed()
        client = self._client
        source = iter(items)
        window = self._window()
        refill = max(1, window // 2)  # submit in batches: one scheduler message per batch
        pending = set(client.map(fn, list(islice(source, window)), pure=False))
        done_iter = dd.as_completed(list(pending), loop=client.loop)
        try:
            for fut in done_iter:
                pending.discard(fut)
                result = fut.result()  # re-raises the task's exception
                if len(pending) <= window - refill:
                    batch = list(islice(source, refill))
                    if batch:
                        new = client.map(fn, batch, pure=False)
                        pending.update(new)
                        done_iter.update(new)
                fut.release()
                yield result
        finally:
            done_iter.clear()
            if pending and client.status == "running":
                client.cancel(list(pending))

    def close(self) -> None:
        """Close the client, and the local cluster if this executor started it."""
        if self._closed:
            return
        self._closed = True
        self._client.close()
        if self._cluster is not None:
            self._cluster.close()

    def __repr__(self) -> str:
        where = "local cluster" if self._cluster is not None else "scheduler"
        return f"DaskExecutor({where} at {self.scheduler_address}, {self.n_workers} workers)"


def make_executor(
    kind: ExecutorKind = "serial",
    *,
    scheduler: str | None = None,
    n_workers: int | None = None,
) -> SerialExecutor | ProcessExecutor | DaskExecutor:
    """Make an executor by name (what a command line passes on).

    Parameters
    ----------
    kind
        ``"serial"``, ``"processes"`` or ``"dask"``.
    scheduler
        Dask scheduler address ``tcp://HOST:PORT`` (``kind="dask"`` only); ``None``
        starts a local cluster.
    n_workers
        Worker processes (processes, or a local Dask cluster).

    Returns
    -------
    SerialExecutor or ProcessExecutor or DaskExecutor
        Close it after use (it is a context manager).
    """
    if kind not in _KINDS:
        raise ConfigError(f"executor kind must be one of {list(_KINDS)}, got {kind!r}")
    if scheduler is not None and kind != "dask":
        raise ConfigError(
            f"a scheduler address ({scheduler!r}) needs kind='dask', got kind={kind!r}"
        )
    if kind == "serial":
        if n_workers not in (None, 1):
            raise ConfigError(f"the serial executor has one worker, got n_workers={n_workers}")
        return SerialExecutor()
    if kind == "processes":
        return ProcessExecutor(n_workers)
    return DaskExecutor(scheduler, n_workers)
