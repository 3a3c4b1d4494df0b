"""Example analysis configurations shipped with unbinned (package data).

- ``challenge.yaml``: the H→ττ challenge measurement with the built-in simulator.
- ``oracle.yaml``: the analytic resonance oracle model (small and fast).
- ``files.yaml``: your own samples from files (``data: kind: files``); ``unbinned init
  --example files`` writes small example samples next to it.
- ``two_poi.yaml``: two POIs (the ggH and VBF signal strengths) and a counting control
  region next to the unbinned signal region, on the H→ττ simulator.

``unbinned init --example NAME FILE`` copies one; :func:`example_path` finds one.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from unbinned.exceptions import ConfigError

__all__ = ["EXAMPLES", "example_path", "example_text"]

EXAMPLES = ("challenge", "oracle", "files", "two_poi")
"""Names of the shipped example configs."""


def example_text(name: str) -> str:
    """The text of a shipped example config."""
    if name not in EXAMPLES:
        raise ConfigError(f"no example config {name!r}; the examples are {list(EXAMPLES)}")
    return resources.files(__name__).joinpath(f"{name}.yaml").read_text(encoding="utf-8")


def example_path(name: str) -> Path:
    """The path of a shipped example config (inside the installed package)."""
    example_text(name)
    return Path(str(resources.files(__name__).joinpath(f"{name}.yaml")))
