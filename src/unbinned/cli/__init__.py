"""The ``unbinned`` command line.

The CLI only parses arguments and calls library functions.  Errors caused by the
user (bad options, missing files, invalid data) print one line saying what to
fix and exit with code 2; ``--debug`` shows the full traceback instead.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from unbinned._version import __version__
from unbinned.cli import _sim, _workflow
from unbinned.exceptions import UnbinnedError

__all__ = ["main"]

EXIT_USAGE = 2

_COMMANDS: tuple[Callable[[argparse._SubParsersAction[argparse.ArgumentParser]], None], ...] = (
    _sim.add_commands,
    _workflow.add_commands,
)


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one line and exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USAGE, f"unbinned: error: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser with every sub-command."""
    parser = _Parser(
        prog="unbinned",
        description="Unbinned profile likelihoods with machine-learned systematic uncertainties.",
    )
    parser.add_argument("--version", action="version", version=f"unbinned {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub: argparse._SubParsersAction[argparse.ArgumentParser] = parser.add_subparsers(
        dest="command", required=True, parser_class=_Parser
    )
    for add in _COMMANDS:
        add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return its exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("unbinned: interrupted", file=sys.stderr)
        return 130
    except (UnbinnedError, OSError) as exc:
        if args.debug:
            raise
        print(f"unbinned {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
