"""`uo seal`: SealedSecrets for every Secret the rendered chart references."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from unifyops_core.naming import ENVIRONMENTS
from uo.sealed_layout import CERTIFICATE_FILE, SEALED_DIR

DESCRIPTION = (
    "Write infra/environments/<env>/sealed/<stack>.yaml: a Bitnami SealedSecret for every Secret "
    "the rendered chart of that environment references (secretKeyRef), encrypted to the "
    f"environment's controller certificate ({CERTIFICATE_FILE}). Missing Secrets get freshly "
    "generated values; existing ones keep their ciphertext unless --rotate. Values are never "
    "printed or written unencrypted. Commit the result; Argo CD applies it with each stack. "
    "See docs/secrets.md."
)


def register(commands: Any) -> None:
    seal = commands.add_parser(
        "seal", help="seal every Secret the chart references into infra/ (SealedSecrets)",
        description=DESCRIPTION,
    )  # fmt: skip
    seal.add_argument("--env", required=True, choices=ENVIRONMENTS, help="environment to seal for")
    seal.add_argument(
        "--secret", metavar="NAME", help="only this Secret (others are left exactly as they are)"
    )
    seal.add_argument(
        "--rotate",
        action="store_true",
        help="generate new values even for Secrets that exist (all, or the --secret one)",
    )
    seal.add_argument(
        "--from-literal", action="append", default=[], metavar="KEY=VALUE",
        help="a value you supply for a key of --secret (repeatable; prefer --from-file, since "
        "arguments can show up in process lists and shell history)",
    )  # fmt: skip
    seal.add_argument(
        "--from-file", action="append", default=[], metavar="KEY=PATH",
        help="a key of --secret whose value is the content of PATH (repeatable)",
    )  # fmt: skip
    seal.set_defaults(run=run)


def _pairs(options: argparse.Namespace) -> dict[str, str]:
    from uo.sealed_secrets import SealError

    values: dict[str, str] = {}
    for flag, items in (
        ("--from-literal", options.from_literal),
        ("--from-file", options.from_file),
    ):
        for item in items:
            name, sep, value = item.partition("=")
            if not sep or not name:
                # Never echo the argument: it may be the value itself, typed without its key.
                raise SealError(f"{flag} takes KEY=VALUE (an argument had no key)")
            if name in values:
                raise SealError(f"key {name!r} given twice")
            if flag == "--from-file":
                try:
                    value = Path(value).read_text()
                except OSError as exc:
                    raise SealError(f"--from-file {name}: {exc.strerror}: {value}") from exc
            values[name] = value
    return values


def run(options: argparse.Namespace) -> int:
    # Sealing imports cryptography and Helm (~0.1 s): only when a command seals.
    from uo.repo import find_repo_root
    from uo.sealed_secrets import Request, seal_environment

    repo = find_repo_root()
    request = Request(options.env, options.secret, options.rotate, _pairs(options))
    changes, written = seal_environment(repo, request)
    for change in changes:
        print(change)
        if change.warning:
            print(f"uo seal: warning: {change.warning}", file=sys.stderr)
    folder = f"infra/environments/{options.env}/{SEALED_DIR}"
    if written:
        names = ", ".join(path.name for path in written)
        print(f"wrote {folder}/ ({names}); review and commit it")
    else:
        print(f"{folder}/ is up to date")
    return 0


__all__ = ["DESCRIPTION", "register", "run"]
