"""The model-directory format: verified writing and reading of (kind, content, tensors).

The format is described in :mod:`unbinned.ml.serialization`, which dispatches on the
kind of object; this module knows the files, checksums and versions, and builds the
component kinds (network, classifier, response).  The surrogate kind is built by
:mod:`unbinned.ml.surrogate`, which passes its loader in (:func:`load_directory`), so
that the surrogate's own ``save``/``load`` need no import of the dispatching module.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import safetensors
import torch
from safetensors.torch import load as load_bytes
from safetensors.torch import save_file

from unbinned._version import __version__
from unbinned.exceptions import ConfigError, ModelFileError
from unbinned.ml.classifier import classifier_from_state
from unbinned.ml.networks import MLP, build_network
from unbinned.ml.response import response_from_state

__all__ = [
    "COMPONENT_LOADERS",
    "FORMAT",
    "FORMAT_VERSION",
    "MODEL_FILE",
    "WEIGHTS_FILE",
    "Loader",
    "check_network",
    "check_target",
    "load_directory",
    "prefix_names",
    "read_directory",
    "strip_names",
    "write_directory",
]

FORMAT = "unbinned.ml.model"
FORMAT_VERSION = 1
MODEL_FILE = "model.json"
WEIGHTS_FILE = "weights.safetensors"

Loader = Callable[[Mapping[str, Any], Mapping[str, torch.Tensor]], Any]
"""Builds the object of one kind from its ``content`` and tensors."""


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _canonical(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=True).encode()


def _version_tuple(text: str) -> tuple[int, ...]:
    parts = []
    for piece in str(text).split("+")[0].split("."):
        digits = "".join(ch for ch in piece if ch.isdigit())
        if not digits:
            break
        parts.append(int(digits))
    if not parts:
        raise ValueError(f"unparseable version {text!r}")
    return tuple(parts)


def prefix_names(tensors: Mapping[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    """The tensors with ``prefix`` put before every name."""
    return {f"{prefix}{k}": v for k, v in tensors.items()}


def strip_names(tensors: Mapping[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    """The tensors whose names start with ``prefix``, with it removed."""
    n = len(prefix)
    return {k[n:]: v for k, v in tensors.items() if k.startswith(prefix)}


def check_target(directory: str | os.PathLike[str], overwrite: bool) -> Path:
    """The target of a save; refuse an existing one without ``overwrite``, or a non-model one."""
    target = Path(directory)
    if target.exists() and not overwrite:
        raise ModelFileError(
            f"{str(target)!r} already exists; pass overwrite=True to replace it or choose "
            "another directory"
        )
    if target.exists() and not (target / MODEL_FILE).is_file() and any(target.iterdir()):
        raise ModelFileError(
            f"{str(target)!r} exists and is not a model directory; refusing to overwrite it"
        )
    return target


def write_directory(
    target: Path, kind: str, content: dict[str, Any], tensors: Mapping[str, torch.Tensor]
) -> Path:
    """Write ``content`` and ``tensors`` of a ``kind`` into ``target`` atomically; return it.

    ``content`` gains the ``tensors`` declaration; ``target`` comes from :func:`check_target`.
    """
    tensors = {k: v.contiguous() for k, v in tensors.items()}
    content["tensors"] = {
        k: {"shape": list(v.shape), "dtype": str(v.dtype).removeprefix("torch.")}
        for k, v in sorted(tensors.items())
    }
    try:
        json.dumps(content, allow_nan=True)
    except TypeError as exc:
        raise ConfigError(f"model metadata is not JSON-serialisable: {exc}") from exc
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        weights = tmp / WEIGHTS_FILE
        save_file(tensors, str(weights), metadata={"format": FORMAT})
        doc = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "kind": kind,
            "versions": {
                "unbinned": __version__,
                "torch": torch.__version__,
                "safetensors": safetensors.__version__,
            },
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "checksums": {
                "algorithm": "sha256",
                WEIGHTS_FILE: _sha256_file(weights),
                "content": hashlib.sha256(_canonical(content)).hexdigest(),
            },
            "content": content,
        }
        (tmp / MODEL_FILE).write_text(json.dumps(doc, indent=1, allow_nan=True), encoding="utf-8")
        if target.exists():
            old = Path(
                tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old", dir=target.parent)
            )
            old.rmdir()
            os.replace(target, old)
            os.replace(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def read_directory(directory: Path) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """Read and verify a model directory: its document (``_kind`` added) and tensors."""
    if not directory.is_dir():
        raise ModelFileError(f"no model directory at {str(directory)!r}")
    mfile, wfile = directory / MODEL_FILE, directory / WEIGHTS_FILE
    for f in (mfile, wfile):
        if not f.is_file():
            raise ModelFileError(
                f"model directory {str(directory)!r} lacks {f.name}; it is incomplete or not a "
                "model directory"
            )
    try:
        doc = json.loads(mfile.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFileError(
            f"{str(mfile)!r} is not valid JSON ({exc}); the file is corrupt"
        ) from exc
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ModelFileError(f"{str(mfile)!r} is not an unbinned model file (format {FORMAT!r})")
    version = doc.get("format_version")
    if version != FORMAT_VERSION:
        raise ModelFileError(
            f"{str(mfile)!r} has format version {version!r}; this unbinned reads version "
            f"{FORMAT_VERSION}. Fix: load it with the unbinned version that wrote it "
            f"({doc.get('versions', {}).get('unbinned')!r}) or retrain"
        )
    versions = doc.get("versions")
    if not isinstance(versions, dict) or not {"unbinned", "torch"} <= set(versions):
        raise ModelFileError(f"{str(mfile)!r} does not record the unbinned and torch versions")
    try:
        saved, here = _version_tuple(versions["unbinned"]), _version_tuple(__version__)
        _version_tuple(versions["torch"])
    except ValueError as exc:
        raise ModelFileError(f"{str(mfile)!r}: {exc}") from exc
    if saved[:2] > here[:2]:
        raise ModelFileError(
            f"{str(mfile)!r} was written by unbinned {versions['unbinned']}, newer than the "
            f"installed {__version__}; upgrade unbinned to read it"
        )
    checks = doc.get("checksums")
    content = doc.get("content")
    if not isinstance(checks, dict) or not isinstance(content, dict):
        raise ModelFileError(f"{str(mfile)!r} lacks its checksums or content")
    if hashlib.sha256(_canonical(content)).hexdigest() != checks.get("content"):
        raise ModelFileError(
            f"checksum mismatch in {str(mfile)!r}: its content was modified after saving "
            "(tampered or corrupt)"
        )
    raw = wfile.read_bytes()
    if hashlib.sha256(raw).hexdigest() != checks.get(WEIGHTS_FILE):
        raise ModelFileError(
            f"checksum mismatch: {str(wfile)!r} does not match the SHA-256 recorded in "
            f"{MODEL_FILE} (tampered, corrupt or from another model)"
        )
    try:
        tensors = load_bytes(raw)
    except Exception as exc:  # safetensors raises several error types on a bad header
        raise ModelFileError(f"{str(wfile)!r} is not a readable safetensors file: {exc}") from exc
    declared = content.get("tensors", {})
    if set(declared) != set(tensors):
        raise ModelFileError(
            f"tensors in {WEIGHTS_FILE} {sorted(set(tensors) ^ set(declared))[:6]} differ from "
            f"those declared in {MODEL_FILE}"
        )
    for k, spec in declared.items():
        if list(tensors[k].shape) != list(spec["shape"]):
            raise ModelFileError(
                f"tensor {k!r} has shape {list(tensors[k].shape)}; declared {spec['shape']}"
            )
    doc["_kind"] = doc.get("kind")
    return doc, tensors


def check_network(arch: Mapping[str, Any], tensors: Mapping[str, torch.Tensor], what: str) -> None:
    """Raise a ModelFileError unless ``tensors`` are those of the architecture ``arch``."""
    try:
        expected = build_network(arch).expected_tensors()
    except ConfigError as exc:
        raise ModelFileError(f"{what}: invalid architecture: {exc}") from exc
    missing = sorted(set(expected) - set(tensors))
    extra = sorted(set(tensors) - set(expected))
    wrong = sorted(
        k for k in set(expected) & set(tensors) if tuple(tensors[k].shape) != expected[k]
    )
    if missing or extra or wrong:
        raise ModelFileError(
            f"{what}: the weights do not match the architecture {dict(arch)}: missing "
            f"{missing[:4]}, unexpected {extra[:4]}, wrong shape {wrong[:4]}"
        )


def _network(content: Mapping[str, Any], tensors: Mapping[str, torch.Tensor]) -> MLP:
    check_network(content["architecture"], tensors, "network")
    net = build_network(content["architecture"])
    net.load_state_dict(tensors)
    net.eval()
    return net


def _classifier(content: Mapping[str, Any], tensors: Mapping[str, torch.Tensor]) -> Any:
    check_network(content["architecture"], tensors, "classifier")
    return classifier_from_state(content, tensors)


def _response(content: Mapping[str, Any], tensors: Mapping[str, torch.Tensor]) -> Any:
    check_network(content["architecture"], tensors, "response")
    return response_from_state(content, tensors)


COMPONENT_LOADERS: Mapping[str, Loader] = {
    "network": _network,
    "classifier": _classifier,
    "response": _response,
}
"""Loaders of the kinds below the surrogate."""


def load_directory(directory: str | os.PathLike[str], loaders: Mapping[str, Loader]) -> Any:
    """Read and verify a model directory, then build its object with ``loaders[kind]``.

    Malformed content (a missing key, a wrong type or value) raises a ModelFileError, as
    does a kind without a loader.
    """
    doc, tensors = read_directory(Path(directory))
    kind, content = doc["_kind"], doc["content"]
    loader = loaders.get(kind)
    try:
        if loader is not None:
            return loader(content, tensors)
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelFileError(f"model file content is malformed: {exc!r}") from exc
    raise ModelFileError(f"unknown model kind {kind!r} in {str(directory)!r}")
