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

import hashlib
import json
import math
import os
import shutil
import tempfile
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch

from unbinned.exceptions import ConfigError, ModelFileError
from unbinned.ml.calibration import ScoreCalibration
from unbinned.ml.classifier import ProcessClassifier, classifier_from_state, classifier_to_state
from unbinned.ml.design import ShapeNuisance
from unbinned.ml.networks import MLP, build_network
from unbinned.ml.response import ProcessResponse, response_from_state, response_to_state
from unbinned.ml.sources import Region
from unbinned.ml.surrogate import SurrogateModel

__all__ = ["FORMAT", "FORMAT_VERSION", "MODEL_FILE", "WEIGHTS_FILE", "load", "save"]

FORMAT = "unbinned.ml.model"
FORMAT_VERSION = 1
MODEL_FILE = "model.json"
WEIGHTS_FILE = "weights.safetensors"

Savable = SurrogateModel | ProcessClassifier | ProcessResponse | MLP


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


def _prefix(tensors: Mapping[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {f"{prefix}{k}": v for k, v in tensors.items()}


def _strip(tensors: Mapping[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    n = len(prefix)
    return {k[n:]: v for k, v in tensors.items() if k.startswith(prefix)}


def _to_state(obj: Savable) -> tuple[str, dict[str, Any], dict[str, torch.Tensor]]:
    if isinstance(obj, SurrogateModel):
        clf_meta, clf_t = classifier_to_state(obj.classifier)
        tensors = _prefix(clf_t, "classifier.")
        responses: dict[str, Any] = {}
        for i, p in enumerate(obj.processes):
            r = obj.responses[p]
            if r is None:
                responses[p] = None
                continue
            same = r.transform.to_dict() == obj.classifier.transform.to_dict()
            meta, t = response_to_state(r, with_transform=not same)
            meta["tensor_prefix"] = f"response.{i}."
            responses[p] = meta
            tensors.update(_prefix(t, f"response.{i}."))
        content = {
            "processes": list(obj.processes),
            "feature_names": list(obj.feature_names),
            "nuisances": [n.to_dict() for n in obj.nuisances],
            "trained_range": obj.trained_range.tolist(),
            "region": obj.region.to_dict(),
            "nominal_yields": dict(obj.nominal_yields),
            "simulated_yields": dict(obj.simulated_yields),
            "monomials": list(obj.monomial_names),
            "classifier": clf_meta,
            "responses": responses,
            "metadata": obj.metadata,
        }
        if obj.calibration is not None:
            content["score_calibration"] = obj.calibration.to_dict()
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
    from safetensors.torch import save_file

    from unbinned import __version__

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
    kind, content, tensors = _to_state(obj)
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
        import safetensors

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


def _read(directory: Path) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    from safetensors.torch import load as load_bytes

    from unbinned import __version__

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


def _check_network(arch: Mapping[str, Any], tensors: Mapping[str, torch.Tensor], what: str) -> None:
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


def load(directory: str | os.PathLike[str]) -> Any:
    """Load a model directory written by :func:`save`, verifying everything first.

    Returns the object of the saved kind (a :class:`~unbinned.ml.surrogate.SurrogateModel`,
    classifier, response or network).  Raises :class:`~unbinned.exceptions.ModelFileError`
    for a missing file, a corrupt or tampered file (checksums), an unsupported format or
    a newer unbinned version, or weights that do not match the declared architecture.
    """
    doc, tensors = _read(Path(directory))
    kind, content = doc["_kind"], doc["content"]
    try:
        if kind == "network":
            _check_network(content["architecture"], tensors, "network")
            net = build_network(content["architecture"])
            net.load_state_dict(tensors)
            net.eval()
            return net
        if kind == "classifier":
            _check_network(content["architecture"], tensors, "classifier")
            return classifier_from_state(content, tensors)
        if kind == "response":
            _check_network(content["architecture"], tensors, "response")
            return response_from_state(content, tensors)
        if kind == "surrogate":
            return _surrogate(content, tensors)
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelFileError(f"model file content is malformed: {exc!r}") from exc
    raise ModelFileError(f"unknown model kind {kind!r} in {str(directory)!r}")


def _surrogate(content: Mapping[str, Any], tensors: Mapping[str, torch.Tensor]) -> SurrogateModel:
    clf_t = _strip(tensors, "classifier.")
    _check_network(content["classifier"]["architecture"], clf_t, "classifier")
    clf = classifier_from_state(content["classifier"], clf_t)
    if list(clf.feature_names) != list(content["feature_names"]):
        raise ModelFileError("feature names of the classifier differ from the model's")
    responses: dict[str, ProcessResponse | None] = {}
    for p, meta in content["responses"].items():
        if meta is None:
            responses[p] = None
            continue
        t = _strip(tensors, meta["tensor_prefix"])
        _check_network(meta["architecture"], t, f"response of {p!r}")
        tf = None if "transform" in meta else clf.transform
        responses[p] = response_from_state(meta, t, tf)
    cal = content.get("score_calibration")
    model = SurrogateModel(
        tuple(content["processes"]),
        tuple(ShapeNuisance.from_dict(n) for n in content["nuisances"]),
        Region.from_dict(content["region"]),
        {str(k): float(v) for k, v in content["nominal_yields"].items()},
        clf,
        responses,
        {str(k): float(v) for k, v in content.get("simulated_yields", {}).items()},
        dict(content.get("metadata", {})),
        None if cal is None else ScoreCalibration.from_dict(cal),
    )
    stored = content.get("trained_range")
    if stored is not None and not all(
        math.isclose(a, b, abs_tol=1e-12)
        for a, b in zip(
            [v for row in stored for v in row], model.trained_range.ravel().tolist(), strict=True
        )
    ):
        raise ModelFileError("the stored trained range differs from the variation points")
    return model
