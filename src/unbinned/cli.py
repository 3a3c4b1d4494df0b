"""Command-line interface (placeholder until the commands land)."""

import sys


def main(argv: list[str] | None = None) -> int:
    """Run the ``unbinned`` command line."""
    print("unbinned", file=sys.stderr)
    return 0
