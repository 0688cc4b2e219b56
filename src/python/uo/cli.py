"""uo: the UnifyOps operator's command line.

Run it as `./uo <command> ...` (a launcher that runs a cached pex of this package outside Pants).
This module only assembles the parsers of the commands (one module each in uo.commands) and maps
failures to exit codes: a ``UoError`` (uo.errors) is one line on stderr and its class's exit
code; a usage error is one line and exit 2; a reader that stops early (``uo status | head``)
ends the command quietly.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from uo.commands import COMMANDS
from uo.errors import EXIT_USAGE, UoError

EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, what a shell reports for a writer whose reader left
EXIT_INTERRUPTED = 130  # 128 + SIGINT


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (`uo <command>: error: ...`), not usage + error."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


class VersionAction(argparse.Action):
    """``--version``, computed only when asked for (argparse's own takes a fixed string)."""

    def __init__(self, option_strings: Sequence[str], dest: str, help: str) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, help=help)

    def __call__(self, parser: argparse.ArgumentParser, *_: object) -> None:
        from uo.version import version_line

        print(version_line())
        parser.exit(0)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="uo",
        description="Operate UnifyOps: compute and publish the images a change affects, record "
        "them in infra/ (bump, promote), show what runs where, and run environments on this "
        "machine (up, down, logs). `uo COMMAND --help` explains each command.",
    )
    parser.add_argument(
        "--version",
        action=VersionAction,
        help="print the checkout's commit, the unifyops_core and chart versions, and exit",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    options = build_parser().parse_args(argv)
    try:
        code: int = options.run(options)
        sys.stdout.flush()
        return code
    except UoError as exc:
        print(f"uo {options.command}: {exc}", file=sys.stderr)
        if exc.detail:
            print(exc.detail, file=sys.stderr)
        return exc.exit_code
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_BROKEN_PIPE
    except KeyboardInterrupt:
        print(f"uo {options.command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so the interpreter's final flush cannot fail (and print a
    BrokenPipe traceback) after the reader went away (Python docs, "Note on SIGPIPE")."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout is no real file (a test's stream): nothing to flush
        pass


def entrypoint() -> None:
    sys.exit(main())


__all__ = ["EXIT_BROKEN_PIPE", "build_parser", "entrypoint", "main"]
