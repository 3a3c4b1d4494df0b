"""The record a long study leaves in ``benchmarks/results/NAME.json``: summary, command, commit."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any


def _git(*args: str) -> str:
    out = subprocess.run(["git", *args], capture_output=True, text=True, check=False)
    return out.stdout.strip()


def code_state() -> dict[str, Any]:
    """The commit checked out now and whether tracked files differ from it.

    Take it when the study starts: a study that runs for an hour may end on another
    commit than it began with.
    """
    return {
        "code_commit": _git("rev-parse", "--short", "HEAD"),
        "uncommitted_changes": bool(_git("status", "--porcelain", "--untracked-files=no")),
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def write_result(
    path: str | Path, name: str, summary: Mapping[str, Any], state: Mapping[str, Any]
) -> Path:
    """Write the study's ``summary`` with the exact command, the code and the dates, atomically.

    ``state`` is :func:`code_state` taken when the study started.
    """
    target = Path(path)
    record = {
        "benchmark": name,
        "command": " ".join([".venv/bin/python", *sys.argv]),
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        **dict(state),
        "summary": dict(summary),
    }
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(target.suffix + ".tmp")
    tmp.write_text(json.dumps(record, indent=1) + "\n")
    os.replace(tmp, target)
    return target
