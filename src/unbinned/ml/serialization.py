"""Model directories: safetensors weights plus a JSON description, verified on loading.

A model directory holds exactly two files:

``weights.safetensors``
    Every network tensor (no code, no pickle: the safetensors format stores raw
    little-endian arrays and a JSON header).
``model.json``
    ``format``/``format_version``, the ``kind`` of object (``"surrogate"``,
    ``"classifier"``, ``"response"`` or ``"network"``), the versions of unbinned,
    torch and safetensors that wrote it, and ``content``: architectures, feature
    names and order, standardisation, processes, nuisances with their trained
    ranges, variation points, yields, calibration, training history, and the name,
    shape and dtype of every tensor.  ``checksums`` holds the SHA-256 of the weights
    file and of the canonical JSON of ``content``.

:func:`save` writes both files into a temporary sibling directory and renames it
into place, so a directory is always complete.  :func:`load` verifies the format
version, that the model was not written by a newer unbinned, both checksums, and
that the tensors match the declared architectures (names and shapes); any
problem raises :class:`~unbinned.exceptions.ModelFileError` naming it.  Loading
never unpickles (``torch.load`` is never called).  The torch version that wrote
the file is recorded for provenance only: the weights are plain arrays.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from unbinned.ml._modelfile import (
    COMPONENT_LOADERS,
    FORMAT,
    FORMAT_VERSION,
    MODEL_FILE,
    WEIGHTS_FILE,
    check_target,
    load_directory,
    write_directory,
)
from unbinned.ml._modelfile import _canonical as _canonical  # re-exported for readers of files
from unbinned.ml._modelfile import _sha256_file as _sha256_file  # (analysis, tests)
from unbinned.ml.classifier import ProcessClassifier, classifier_to_state
from unbinned.ml.networks import MLP
from unbinned.ml.response import ProcessResponse, response_to_state
from unbinned.ml.surrogate import SurrogateModel, surrogate_from_state, surrogate_to_state

__all__ = ["FORMAT", "FORMAT_VERSION", "MODEL_FILE", "WEIGHTS_FILE", "load", "save"]


Savable = SurrogateModel | ProcessClassifier | ProcessResponse | MLP


def _to_state(obj: Savable) -> tuple[str, dict[str, Any], dict[str, torch.Tensor]]:
    if isinstance(obj, SurrogateModel):
        content, tensors = surrogate_to_state(obj)
        return "surrogate", content, tensors
    if isinstance(obj, ProcessClassifier):
        meta, t = classifier_to_state(obj)
        return "classifier", meta, t
    if isinstance(obj, ProcessResponse):
        meta, t = response_to_state(obj)
        return "response", meta, t
    if isinstance(obj, MLP):
        return (
            "network",
            {"architecture": obj.architecture()},
            {k: v.detach().cpu().contiguous() for k, v in obj.state_dict().items()},
        )
    raise TypeError(
        f"cannot save a {type(obj).__name__}; expected a SurrogateModel, ProcessClassifier, "
        "ProcessResponse or network"
    )


def save(obj: Savable, directory: str | os.PathLike[str], *, overwrite: bool = False) -> Path:
    """Write ``obj`` to the model directory ``directory`` (atomically); return its path.

    Parameters
    ----------
    obj
        A :class:`~unbinned.ml.surrogate.SurrogateModel`, a classifier, a response or a
        bare network.
    directory
        Target folder; it must not exist unless ``overwrite``.
    overwrite
        Replace an existing model directory.
    """
    target = check_target(directory, overwrite)
    kind, content, tensors = _to_state(obj)
    return write_directory(target, kind, content, tensors)


def load(directory: str | os.PathLike[str]) -> Any:
    """Load a model directory written by :func:`save`, verifying everything first.

    Returns the object of the saved kind (a :class:`~unbinned.ml.surrogate.SurrogateModel`,
    classifier, response or network).  Raises :class:`~unbinned.exceptions.ModelFileError`
    for a missing file, a corrupt or tampered file (checksums), an unsupported format or
    a newer unbinned version, or weights that do not match the declared architecture.
    """
    return load_directory(directory, {**COMPONENT_LOADERS, "surrogate": surrogate_from_state})
