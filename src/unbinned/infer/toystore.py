r"""The crash-safe JSON-lines store of a toy study (see :mod:`unbinned.infer.toys`).

Format
------
UTF-8 text, one JSON object per line, as written by Python's :mod:`json` (NaN and
±Infinity as the bare tokens ``NaN``, ``Infinity``, so floats round-trip exactly).
The first line is a header ``{"unbinned_toys": 1, "task": "<description>"}``; the
other lines are rows, one per seed.  Each line is written, flushed and fsync'd on
its own.  A last line cut short by a crash is dropped on opening (the file is
truncated after the last complete row); a bad line followed by good ones is
corruption and raises.  While open the store is locked (``flock``, POSIX), so two
runs cannot interleave in one file.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from unbinned.exceptions import ConfigError, DataError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = ["ToyStore", "as_stored", "read_store"]

_FORMAT_VERSION = 1
_HEADER_KEY = "unbinned_toys"


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


class ToyStore:
    """The append-only JSON-lines file of a study, locked while open.

    Parameters
    ----------
    path
        The store file (created with its directory if missing).
    description
        Description of the task the rows belong to (its header ``task``); a store
        is only opened by the task it was started with.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "toys.jsonl"
    >>> st = ToyStore(path, "my.task")
    >>> st.open()
    {}
    >>> st.append({"seed": 0, "mu_hat": 1.5})
    {'seed': 0, 'mu_hat': 1.5}
    >>> st.close()
    >>> ToyStore(path, "my.task").open()[0]["mu_hat"]  # the lock is released on exit
    1.5
    """

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
        return as_stored(row)

    def close(self) -> None:
        """Close the file and release the lock (again: nothing happens)."""
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


def as_stored(row: Mapping[str, Any]) -> dict[str, Any]:
    """A row as it reads back from a store (the JSON round trip of its values)."""
    out: dict[str, Any] = json.loads(json.dumps(row, allow_nan=True))
    return out


def read_store(path: str | os.PathLike[str]) -> tuple[str, dict[int, dict[str, Any]]]:
    """Read a store without locking or repairing it.

    Parameters
    ----------
    path
        The store file.

    Returns
    -------
    tuple
        The task description of its header and the rows by seed (a last line cut
        short is ignored, not repaired).

    Raises
    ------
    FileNotFoundError
        No such file.
    DataError
        Not a toy store, another format version, or corrupt.
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"no toy store {str(p)!r}")
    records, _ = _parse_lines(p.read_bytes(), p)
    if not records or _HEADER_KEY not in records[0]:
        raise DataError(f"{str(p)!r} is not a toy store (no {_HEADER_KEY!r} header line)")
    task = str(records[0].get("task", ""))
    return task, ToyStore(p, task)._rows(records)
