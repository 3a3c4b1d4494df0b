"""Load a report in headless Chromium and return its DOM (to check what a reader sees).

Uses Debian's ``chromium`` (``apt-get install chromium``) or any Chromium/Chrome on
``PATH``, started with ``--headless --no-sandbox --disable-gpu`` and no network
services, on a ``file://`` URL.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

__all__ = ["CHROMIUM_FLAGS", "dump_dom", "find_chromium"]

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
)
"""Flags of the headless, offline, sandbox-free start (for containers and CI)."""

_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_chromium() -> str | None:
    """Path of a Chromium binary, or None."""
    for name in _NAMES:
        path = shutil.which(name)
        if path:
            return path
    return "/usr/bin/chromium" if Path("/usr/bin/chromium").is_file() else None


def dump_dom(html_path: str | Path, *, timeout: float = 120.0, budget_ms: int = 5000) -> str:
    """The DOM of ``html_path`` after the page's load event, as headless Chromium serialises it.

    Parameters
    ----------
    html_path
        The page.
    timeout
        Seconds before the browser is killed.
    budget_ms
        Chromium's virtual-time budget (scripts and image decoding finish within it).

    Raises
    ------
    FileNotFoundError
        No Chromium is installed.
    RuntimeError
        The browser failed.
    """
    exe = find_chromium()
    if exe is None:
        raise FileNotFoundError(
            "no Chromium found; install Debian's package with `apt-get install -y chromium`"
        )
    with tempfile.TemporaryDirectory(prefix="unbinned-chromium-") as profile:
        cmd = [
            exe,
            *CHROMIUM_FLAGS,
            f"--user-data-dir={profile}",
            f"--virtual-time-budget={budget_ms}",
            "--dump-dom",
            Path(html_path).resolve().as_uri(),
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"chromium failed ({proc.returncode}): {proc.stderr[-1000:]}")
    return proc.stdout
