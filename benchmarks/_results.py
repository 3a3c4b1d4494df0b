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


def write_result(path: str | Path, name: str, summary: Mapping[str, Any]) -> Path:
    """Write the study's ``summary`` with the exact command, the commit and the date, atomically.

    ``uncommitted_changes`` says whether tracked files differed from that commit.
    """
    target = Path(path)
    record = {
        "benchmark": name,
        "command": " ".join([".venv/bin/python", *sys.argv]),
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "code_commit": _git("rev-parse", "--short", "HEAD"),
        "uncommitted_changes": bool(_git("status", "--porcelain", "--untracked-files=no")),
        "summary": dict(summary),
    }
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(target.suffix + ".tmp")
    tmp.write_text(json.dumps(record, indent=1) + "\n")
    os.replace(tmp, target)
    return target
