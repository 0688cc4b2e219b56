"""`-o text|json|yaml` for the read commands (status, where, affected, trace): text for a person,
the same records as JSON or YAML for a script. ``--json`` stays as the short form of ``-o json``."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import yaml

TEXT = "text"
FORMATS = (TEXT, "json", "yaml")


def add_output_option(parser: argparse.ArgumentParser, records: str) -> None:
    """``records``: what the machine-readable forms hold, for the help text."""
    chosen = parser.add_mutually_exclusive_group()
    chosen.add_argument(
        "-o",
        "--output",
        choices=FORMATS,
        default=TEXT,
        help=f"text (default), or {records} as json or yaml",
    )
    chosen.add_argument(
        "--json",
        dest="output",
        action="store_const",
        const="json",
        default=argparse.SUPPRESS,
        help="the same as -o json",
    )


def emit(records: Any, output: str) -> None:
    """Print ``records`` as JSON or YAML (the YAML holds exactly what the JSON holds: values
    JSON cannot carry, e.g. times, are strings in both)."""
    plain = json.loads(json.dumps(records, default=str))
    if output == "json":
        print(json.dumps(plain, indent=2))
    else:
        yaml.safe_dump(plain, sys.stdout, sort_keys=False, allow_unicode=True)


__all__ = ["FORMATS", "TEXT", "add_output_option", "emit"]
