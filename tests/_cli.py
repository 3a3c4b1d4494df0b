"""Running the ``unbinned`` command in a subprocess, as the CLI tests do."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

#: One thread per subprocess: the tests share 2 cores.
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def cli_command(*args: str) -> list[str]:
    """The command line of ``unbinned ARGS`` with this interpreter."""
    return [sys.executable, "-m", "unbinned.cli", *args]


def run_cli(
    *args: str, cwd: Path | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """Run ``unbinned ARGS``; its output captured, its exit code not checked."""
    return subprocess.run(cli_command(*args), capture_output=True, text=True, timeout=timeout,
                          check=False, cwd=cwd, env=ENV)  # fmt: skip


def one_error_line(proc: subprocess.CompletedProcess[str]) -> str:
    """The single ``unbinned: ...`` error line of a run that exited with code 2."""
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr
    lines = [ln for ln in proc.stderr.strip().splitlines() if ln.startswith("unbinned")]
    assert len(lines) == 1, proc.stderr
    return lines[0]
