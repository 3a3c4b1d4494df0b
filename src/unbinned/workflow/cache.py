"""Atomic step outputs and up-to-date checks.

Every step of the workflow writes its outputs into its own folder of the output
directory, ``<output>/<step>/``, next to a manifest ``step.json``::

    {"step": "train", "key": "<sha256>", "outputs": {"model/meta.json": "<sha256>", ...},
     "seconds": 12.3, "finished": "2025-01-01T12:00:00+00:00", "unbinned": "0.1.0"}

The *key* is the SHA-256 of the step's config sections and of its inputs' checksums
(the output checksums of the steps it reads, the checksums of user files).  A step
is up to date when its folder has a manifest with the same key and every listed
output file still has its checksum; then a re-run skips it.

Outputs are written atomically: the step writes into a staging folder
``<output>/.<step>.partial/``, the manifest is written last, and the staging folder
replaces the step folder by a rename.  An interrupted step leaves at most a
staging folder (removed by the next run), never a half-written step folder.
Work that survives an interruption on purpose (training checkpoints, the toy
store) lives in ``<output>/.work/<step>/``.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import shutil
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from unbinned._io import atomic_write_text
from unbinned._version import __version__
from unbinned.exceptions import ConfigError

__all__ = [
    "MANIFEST",
    "StepRecord",
    "Workspace",
    "file_digest",
    "write_json_atomic",
]

MANIFEST = "step.json"
_CHUNK = 1 << 20


def file_digest(path: str | os.PathLike[str]) -> str:
    """SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def write_json_atomic(path: str | os.PathLike[str], obj: Any) -> Path:
    """Write ``obj`` as indented JSON atomically (:func:`unbinned._io.atomic_write_text`)."""
    text = json.dumps(obj, indent=2, sort_keys=False, default=_json_default) + "\n"
    return atomic_write_text(path, text)


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"cannot write {type(obj).__name__} as JSON")


@dataclass(frozen=True)
class StepRecord:
    """The manifest of a finished step."""

    step: str
    key: str
    outputs: dict[str, str]
    seconds: float = 0.0
    finished: str = ""
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def digest(self) -> str:
        """One checksum of every output (what a downstream step's key includes)."""
        text = json.dumps(self.outputs, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "step": self.step,
            "key": self.key,
            "outputs": self.outputs,
            "seconds": self.seconds,
            "finished": self.finished,
            "unbinned": __version__,
            "info": self.info,
        }


class Workspace:
    """The output folder of an analysis: one sub-folder per step (see the module docstring)."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def step_dir(self, step: str) -> Path:
        """Where the outputs of ``step`` live."""
        return self.root / step

    def work_dir(self, step: str) -> Path:
        """Persistent scratch space of ``step`` (checkpoints, resumable stores); created."""
        d = self.root / ".work" / step
        d.mkdir(parents=True, exist_ok=True)
        return d

    def record(self, step: str) -> StepRecord | None:
        """The manifest of ``step``, or None if it never finished."""
        path = self.step_dir(step) / MANIFEST
        if not path.is_file():
            return None
        try:
            data = json.loads(path.read_text())
            return StepRecord(
                data["step"],
                data["key"],
                dict(data["outputs"]),
                float(data.get("seconds", 0.0)),
                str(data.get("finished", "")),
                dict(data.get("info", {})),
            )
        except (ValueError, KeyError, TypeError):
            return None

    def require(self, step: str) -> StepRecord:
        """The manifest of a step another one needs; an error that says what to run if absent."""
        rec = self.record(step)
        if rec is None:
            raise ConfigError(
                f"step {step!r} has not run in {str(self.root)!r}; run `unbinned {step} CONFIG` "
                "(or `unbinned run CONFIG`) first"
            )
        return rec

    def up_to_date(self, step: str, key: str) -> StepRecord | None:
        """The record if ``step`` finished with this key and its outputs are intact, else None."""
        rec = self.record(step)
        if rec is None or rec.key != key:
            return None
        d = self.step_dir(step)
        for rel, digest in rec.outputs.items():
            p = d / rel
            if not p.is_file() or file_digest(p) != digest:
                return None
        return rec

    @contextmanager
    def staging(self, step: str) -> Iterator[Path]:
        """A fresh, empty staging folder for ``step``; removed if the block raises."""
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.root / f".{step}.partial"
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir()
        try:
            yield tmp
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise

    def commit(
        self,
        step: str,
        staging: Path,
        key: str,
        *,
        seconds: float = 0.0,
        info: Mapping[str, Any] | None = None,
    ) -> StepRecord:
        """Checksum the staged files, write the manifest and move the folder into place."""
        outputs = {
            str(p.relative_to(staging)): file_digest(p)
            for p in sorted(staging.rglob("*"))
            if p.is_file() and p.name != MANIFEST
        }
        rec = StepRecord(
            step,
            key,
            outputs,
            round(seconds, 3),
            _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
            dict(info or {}),
        )
        write_json_atomic(staging / MANIFEST, rec.to_dict())
        final = self.step_dir(step)
        old = self.root / f".{step}.old"
        if old.exists():
            shutil.rmtree(old)
        if final.exists():
            os.replace(final, old)
        os.replace(staging, final)
        shutil.rmtree(old, ignore_errors=True)
        return rec
