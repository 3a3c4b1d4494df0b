"""Where and how a training runs: device, precision, threads, progress bars, checkpoints.

These settings change how fast a training runs and whether it resumes, never what it
learns (on CPU with a fixed number of threads the weights are bit-identical for a
seed).  They are grouped in one checked object, :class:`RunOptions`, that every
training function takes as ``run=`` (:func:`~unbinned.ml.training.train_network`,
:func:`~unbinned.ml.classifier.train_classifier`, :func:`~unbinned.ml.response.train_response`,
:func:`~unbinned.ml.surrogate.train_surrogate`, :func:`~unbinned.analysis.train_analysis`),
so that the hyper-parameters (:class:`~unbinned.ml.training.TrainConfig`) stay apart from
the machine they run on.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch

from unbinned.exceptions import ConfigError

__all__ = ["RunOptions", "resolve_device", "resolve_dtype", "torch_threads"]


def resolve_device(device: str | torch.device | None = None) -> torch.device:
    """The torch device to use: ``None`` or ``"auto"`` picks CUDA when present, else CPU.

    A named device that is not available (``"cuda"`` without a GPU) raises ConfigError.
    """
    if device is None or (isinstance(device, str) and device == "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = _parsed_device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(
            f"device={device!r} was asked for but CUDA is not available; use device='cpu' "
            "or device='auto'"
        )
    return dev


def _parsed_device(device: str | torch.device) -> torch.device:
    try:
        return torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ConfigError(f"device={device!r} is not a torch device: {exc}") from exc


def resolve_dtype(dtype: torch.dtype | str | None) -> torch.dtype:
    """float32 (default) or float64; anything else raises ConfigError."""
    if dtype is None:
        return torch.float32
    table = {"float32": torch.float32, "float64": torch.float64}
    if isinstance(dtype, str):
        if dtype not in table:
            raise ConfigError(f"dtype={dtype!r}; expected 'float32' or 'float64'")
        return table[dtype]
    if dtype not in (torch.float32, torch.float64):
        raise ConfigError(f"dtype={dtype!r}; expected torch.float32 or torch.float64")
    return dtype


@contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run the block with ``n`` torch intra-op threads (unchanged for None), restoring after."""
    if n is None:
        yield
        return
    if n < 1:
        raise ConfigError(f"num_threads={n}; expected a positive number of threads")
    before = torch.get_num_threads()
    torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(before)


@dataclass(frozen=True)
class RunOptions:
    """The machine side of a training: device, precision, threads, progress, checkpoints.

    Checked when built; passed as one ``run=`` argument to the training functions.

    Parameters
    ----------
    device
        Training device: ``None`` or ``"auto"`` picks CUDA when present, else the CPU
        (:func:`resolve_device`; a named device that is absent raises ConfigError when the
        training starts).
    dtype
        Training precision, ``"float32"`` (default) or ``"float64"``.
    progress
        tqdm progress bars on stderr.
    checkpoint_dir
        Folder of the checkpoints of every network: rerunning an interrupted training
        resumes it (finished networks are reloaded, the running one continues after its
        last completed epoch).  None: no checkpoints.
    num_threads
        Torch intra-op threads during the training (restored afterwards); None leaves the
        setting alone.  1 is fastest on a machine shared with other busy processes.

    Examples
    --------
    >>> RunOptions(device="cpu", progress=False, num_threads=1)
    RunOptions(device='cpu', dtype=None, progress=False, checkpoint_dir=None, num_threads=1)
    """

    device: str | torch.device | None = None
    dtype: torch.dtype | str | None = None
    progress: bool = True
    checkpoint_dir: str | os.PathLike[str] | None = None
    num_threads: int | None = None

    def __post_init__(self) -> None:
        if self.device is not None and not (isinstance(self.device, str) and self.device == "auto"):
            _parsed_device(self.device)
        resolve_dtype(self.dtype)
        if not isinstance(self.progress, bool):
            raise ConfigError(f"progress={self.progress!r}; expected True or False")
        if self.num_threads is not None and (
            isinstance(self.num_threads, bool)
            or not isinstance(self.num_threads, int)
            or self.num_threads < 1
        ):
            raise ConfigError(
                f"num_threads={self.num_threads!r}; expected a positive integer or None"
            )

    @property
    def torch_device(self) -> torch.device:
        """The resolved device (:func:`resolve_device`)."""
        return resolve_device(self.device)

    @property
    def torch_dtype(self) -> torch.dtype:
        """The resolved precision (:func:`resolve_dtype`)."""
        return resolve_dtype(self.dtype)

    @property
    def checkpoint_path(self) -> Path | None:
        """``checkpoint_dir`` as a Path (None without checkpoints)."""
        return None if self.checkpoint_dir is None else Path(self.checkpoint_dir)

    def threads(self) -> Any:
        """Context manager running its block with ``num_threads`` torch threads."""
        return torch_threads(self.num_threads)

    def replace(self, **changes: Any) -> RunOptions:
        """A copy with ``changes`` (checked again)."""
        return replace(self, **changes)
