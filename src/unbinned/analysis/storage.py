"""The on-disk format of a trained analysis (never pickle).

A directory with

* ``surrogate/``: the surrogate's own directory (safetensors + JSON,
  :meth:`~unbinned.ml.SurrogateModel.save`);
* ``spec.yaml``: the model declaration;
* ``tensors.safetensors``: the integration tensors (or moments) and the templates;
* ``analysis.json``: the format and its version, the metadata (the option groups
  included, :class:`~unbinned.analysis.options.AnalysisOptions`), the layout of the
  integration and the templates, and the SHA-256 of ``spec.yaml`` and
  ``tensors.safetensors``, checked on loading.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt
from safetensors import SafetensorError
from safetensors.numpy import load_file, save_file

from unbinned._io import atomic_path, atomic_write_text
from unbinned._version import __version__
from unbinned.analysis.options import AnalysisOptions
from unbinned.binned.templates import RegionTemplates, Templates
from unbinned.exceptions import ConfigError, ModelFileError
from unbinned.likelihood.moments import IntegrationMoments
from unbinned.likelihood.tensors import EventTensors
from unbinned.ml.serialization import _sha256_file
from unbinned.ml.surrogate import SurrogateModel
from unbinned.model.spec import ModelSpec

__all__ = ["FORMAT", "FORMAT_VERSION", "StoredAnalysis", "read_analysis", "write_analysis"]

FloatArray = npt.NDArray[np.float64]
FORMAT = "unbinned-analysis"
FORMAT_VERSION = 1
_CHECKED = ("spec.yaml", "tensors.safetensors")


class StoredAnalysis(NamedTuple):
    """The parts of an analysis as :func:`read_analysis` returns them."""

    spec: ModelSpec
    surrogate: SurrogateModel
    integration: EventTensors | IntegrationMoments
    templates: Templates | None
    metadata: dict[str, Any]
    integration_regions: npt.NDArray[np.int64] | None = None


# ---------------------------------------------------------------------------- writing
def _integration_arrays(
    integration: EventTensors | IntegrationMoments, arrays: dict[str, FloatArray]
) -> dict[str, Any]:
    """Add the integration tensors (or moments and their sample) to ``arrays``; their layout."""
    layout: dict[str, Any] = {"kind": "events"}
    events: EventTensors | None
    if isinstance(integration, IntegrationMoments):
        mo = integration
        for order in range(5):
            arrays[f"moments.m{order}"] = np.ascontiguousarray(getattr(mo, f"m{order}"))
        layout = {"kind": "moments", "n_events": mo.n_events, "max_rel_error": mo.max_rel_error}
        events = mo.sample
    else:
        events = integration
    if events is not None:
        arrays["integration.fractions"] = np.ascontiguousarray(events.fractions)
        arrays["integration.weights"] = np.ascontiguousarray(events.weights)
        if events.delta is not None:
            arrays["integration.delta"] = np.ascontiguousarray(events.delta)
    return layout


def _template_arrays(
    templates: Templates | None, arrays: dict[str, FloatArray]
) -> dict[str, Any] | None:
    """Add the templates' histograms to ``arrays``; their layout (None without templates)."""
    if templates is None:
        return None
    regions: list[dict[str, Any]] = []
    for i, r in enumerate(templates.regions):
        arrays[f"templates.{i}.edges"] = r.edges
        arrays[f"templates.{i}.nominal"] = r.nominal
        arrays[f"templates.{i}.sumw2"] = r.sumw2
        for k in templates.shape_nuisances:
            arrays[f"templates.{i}.down.{k}"] = r.down[k]
            arrays[f"templates.{i}.up.{k}"] = r.up[k]
        regions.append({"name": r.name, "processes": list(r.processes)})
    return {
        "regions": regions,
        "shape_nuisances": list(templates.shape_nuisances),
        "variation_points": {k: list(v) for k, v in templates.variation_points.items()},
        "parametrisation": {
            k: [float(o), int(p)] for k, (o, p) in templates.parametrisation.items()
        },
        "secants": {k: float(v) for k, v in templates.secants.items()},
    }


def write_analysis(
    path: Path,
    spec: ModelSpec,
    surrogate: Any,
    integration: EventTensors | IntegrationMoments,
    templates: Templates | None,
    metadata: dict[str, Any],
    *,
    overwrite: bool = False,
    integration_regions: npt.NDArray[np.int64] | None = None,
) -> Path:
    """Write the parts of an analysis to the directory ``path`` (module docstring); atomic per file.

    ``integration_regions`` (several regions): the region index of every integration
    event, kept as ``integration.regions``.

    Raises
    ------
    ModelFileError
        ``path`` exists, is not empty and ``overwrite`` is false.
    """
    if path.exists() and any(path.iterdir()) and not overwrite:
        raise ModelFileError(f"{path} exists and is not empty; pass overwrite=True")
    path.mkdir(parents=True, exist_ok=True)
    sur = path / "surrogate"
    if sur.exists():
        shutil.rmtree(sur)
    surrogate.save(sur)
    atomic_write_text(path / "spec.yaml", spec.to_yaml())
    arrays: dict[str, FloatArray] = {}
    integ_layout = _integration_arrays(integration, arrays)
    template_layout = _template_arrays(templates, arrays)
    if integration_regions is not None:
        arrays["integration.regions"] = np.asarray(integration_regions, dtype=np.float64)
    with atomic_path(path / "tensors.safetensors") as tmp:
        save_file({k: np.asarray(v, dtype=np.float64) for k, v in arrays.items()}, str(tmp))
    content = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "package_version": __version__,
        "metadata": metadata,
        "integration": integ_layout,
        "templates": template_layout,
        "sha256": {name: _sha256_file(path / name) for name in _CHECKED},
    }
    atomic_write_text(path / "analysis.json", json.dumps(content, indent=2))
    return path


# ---------------------------------------------------------------------------- reading
def _read_content(path: Path) -> dict[str, Any]:
    """``analysis.json``, its format and version checked."""
    meta_path = path / "analysis.json"
    if not meta_path.is_file():
        raise ModelFileError(f"{path} is not an analysis directory: analysis.json is missing")
    try:
        content = json.loads(meta_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelFileError(f"{meta_path} is not valid JSON ({exc}); the file is damaged") from exc
    if not isinstance(content, dict) or content.get("format") != FORMAT:
        raise ModelFileError(f"{meta_path} is not an unbinned analysis file")
    if content.get("format_version") != FORMAT_VERSION:
        raise ModelFileError(
            f"{meta_path} has format version {content.get('format_version')}; this "
            f"version of unbinned reads version {FORMAT_VERSION}"
        )
    return content


def _verify_checksums(path: Path, digests: dict[str, str]) -> None:
    for name, digest in digests.items():
        file = path / name
        if not file.is_file():
            raise ModelFileError(f"{file} is missing from the analysis directory")
        if _sha256_file(file) != digest:
            raise ModelFileError(
                f"{file} does not match its recorded SHA-256: the file was modified or "
                "damaged; retrain or restore it"
            )


def _read_arrays(path: Path) -> dict[str, FloatArray]:
    try:
        arrays = load_file(str(path / "tensors.safetensors"))
    except (SafetensorError, OSError) as exc:
        raise ModelFileError(f"{path / 'tensors.safetensors'} cannot be read: {exc}") from exc
    return {k: np.array(v) for k, v in arrays.items()}  # writable copies


def _read_integration(
    path: Path, layout: dict[str, Any], arrays: dict[str, FloatArray]
) -> EventTensors | IntegrationMoments:
    events = None
    if "integration.fractions" in arrays:
        events = EventTensors(
            arrays["integration.fractions"],
            arrays["integration.weights"],
            arrays.get("integration.delta"),
        )
    if layout.get("kind") == "moments":
        return IntegrationMoments(
            arrays["moments.m0"],
            arrays["moments.m1"],
            arrays["moments.m2"],
            arrays["moments.m3"],
            arrays["moments.m4"],
            n_events=int(layout["n_events"]),
            max_rel_error=float(layout["max_rel_error"]),
            sample=events,
        )
    if events is None:
        raise ModelFileError(f"{path}: the integration tensors are missing")
    return events


def _read_templates(
    layout: dict[str, Any] | None, arrays: dict[str, FloatArray]
) -> Templates | None:
    if not layout:
        return None
    shape = tuple(layout["shape_nuisances"])
    regions = tuple(
        RegionTemplates(
            r["name"],
            arrays[f"templates.{i}.edges"],
            tuple(r["processes"]),
            arrays[f"templates.{i}.nominal"],
            arrays[f"templates.{i}.sumw2"],
            {k: arrays[f"templates.{i}.down.{k}"] for k in shape},
            {k: arrays[f"templates.{i}.up.{k}"] for k in shape},
        )
        for i, r in enumerate(layout["regions"])
    )
    points = {k: (float(v[0]), float(v[1])) for k, v in layout["variation_points"].items()}
    # files written before the powered parametrisation have none
    powered = {k: (float(v[0]), int(v[1])) for k, v in layout.get("parametrisation", {}).items()}
    secants = {k: float(v) for k, v in layout.get("secants", {}).items()}
    return Templates(regions, shape, points, powered, secants)


def read_analysis(path: Path) -> StoredAnalysis:
    """Read the parts of an analysis written by :func:`write_analysis`, checksums verified.

    Raises
    ------
    ModelFileError
        Not an analysis directory, another format version, a file missing, modified
        or damaged, or option groups in the metadata that cannot be read.
    """
    content = _read_content(path)
    _verify_checksums(path, dict(content.get("sha256", {})))
    spec = ModelSpec.from_yaml(path / "spec.yaml")
    surrogate = SurrogateModel.load(path / "surrogate")
    arrays = _read_arrays(path)
    integration = _read_integration(
        path, dict(content.get("integration") or {"kind": "events"}), arrays
    )
    templates = _read_templates(content.get("templates"), arrays)
    metadata = dict(content.get("metadata", {}))
    try:
        AnalysisOptions.from_metadata(metadata)
    except ConfigError as exc:
        raise ModelFileError(f"{path / 'analysis.json'}: {exc}") from exc
    labels = arrays.get("integration.regions")
    regions = None if labels is None else np.rint(labels).astype(np.int64)
    return StoredAnalysis(spec, surrogate, integration, templates, metadata, regions)
