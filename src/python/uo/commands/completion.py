"""`uo completion bash`: print the shell completion script (uo.completion)."""

from __future__ import annotations

import argparse
from typing import Any

from uo.errors import EXIT_OK


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "completion",
        help="print a shell completion script: source <(./uo completion bash)",
        description="Print a completion script for the shell, generated from uo's own parsers "
        "(commands, options, their choices, git refs for --since). Load it in the current "
        "shell with `source <(./uo completion bash)`, or for every new one with "
        "`./uo completion bash > ~/.local/share/bash-completion/completions/uo`.",
    )
    parser.add_argument("shell", choices=["bash"], help="the shell (bash 4.3 or later)")
    parser.set_defaults(run=run)


def run(options: argparse.Namespace) -> int:
    from uo.cli import build_parser  # the full parser, every command included
    from uo.completion import bash_script

    print(bash_script(build_parser()), end="")
    return EXIT_OK
