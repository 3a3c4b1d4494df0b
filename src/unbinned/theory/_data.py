"""Package data of the theory scheme: the tables and their cited sources."""

from __future__ import annotations

import io
from importlib import resources

import pandas as pd

from unbinned.exceptions import SchemaError

__all__ = ["load_table", "table_source"]

_TABLES = {
    "qcd_reference_processes": ("process", "n_particles", "rel_up", "rel_down"),
    "lo_nlo_pulls": (
        "process",
        "n_particles",
        "rel_scale_unc",
        "pull_scale",
        "rel_ref_unc",
        "pull_ref",
    ),
}


def _text(name: str) -> str:
    if name not in _TABLES:
        raise SchemaError(f"unknown theory table {name!r}; expected one of {sorted(_TABLES)}")
    return resources.files("unbinned.theory").joinpath("data", f"{name}.csv").read_text("utf-8")


def table_source(name: str) -> str:
    """Return the comment header (source citation) of a packaged table, without ``#``."""
    lines = [ln[1:].strip() for ln in _text(name).splitlines() if ln.startswith("#")]
    return "\n".join(lines)


def load_table(name: str) -> pd.DataFrame:
    """Load a packaged table (``qcd_reference_processes`` or ``lo_nlo_pulls``)."""
    frame = pd.read_csv(io.StringIO(_text(name)), comment="#")
    missing = [c for c in _TABLES[name] if c not in frame.columns]
    if missing:
        raise SchemaError(f"packaged table {name!r} lacks columns {missing}; reinstall unbinned")
    return frame
