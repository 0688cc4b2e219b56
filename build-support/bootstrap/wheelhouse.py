"""Fill the git-ignored wheelhouse that the lockfile's artifacts point at.

The lockfile names every artifact as ``file://${WHEELHOUSE}/<wheel>`` with a sha256, so committed
files never name a package host. This script makes those files exist locally: it downloads exactly
the pinned artifacts the lockfile lists (verifying their hashes) and, before a lockfile is
(re)generated, whatever ``requirements.txt`` resolves to. It runs on the Pants venv's Python (3.9)
and asks pip for wheels of the code's Python (3.11) for this platform.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import NamedTuple

WHEELHOUSE_URL_PREFIX = "file://${WHEELHOUSE}/"


class LockedArtifact(NamedTuple):
    project: str
    version: str
    filename: str
    sha256: str


def read_locked_artifacts(lockfile: Path) -> list[LockedArtifact]:
    """The artifacts a Pants lockfile pins; its ``//`` header lines are not JSON."""
    body = "\n".join(
        line for line in lockfile.read_text().splitlines() if not line.startswith("//")
    )
    artifacts = []
    for resolve in json.loads(body)["locked_resolves"]:
        for requirement in resolve["locked_requirements"]:
            for artifact in requirement["artifacts"]:
                url = artifact["url"]
                if not url.startswith(WHEELHOUSE_URL_PREFIX):
                    raise SystemExit(
                        f"{lockfile}: artifact {url!r} is not in the wheelhouse; regenerate the "
                        "lockfile with ./pants generate-lockfiles"
                    )
                artifacts.append(
                    LockedArtifact(
                        project=requirement["project_name"],
                        version=requirement["version"],
                        filename=url[len(WHEELHOUSE_URL_PREFIX) :],
                        sha256=artifact["hash"],
                    )
                )
    return artifacts


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def pip_download(dest: Path, python_version: str, args: Iterable[str]) -> None:
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--disable-pip-version-check",
        "--quiet",
        "--only-binary=:all:",
        "--python-version",
        python_version,
        "--implementation",
        "cp",
        "--abi",
        "cp" + python_version.replace(".", ""),
        "--dest",
        str(dest),
        *args,
    ]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        noise = "is ignored: it is neither a file nor a directory"
        lines = [line for line in result.stderr.splitlines() if noise not in line]
        print("\n".join(lines[-15:]), file=sys.stderr)
        raise SystemExit(f"pip download failed: {' '.join(args)}")


def fetch_locked(dest: Path, python_version: str, artifacts: list[LockedArtifact]) -> None:
    missing = [a for a in artifacts if not (dest / a.filename).is_file()]
    if missing:
        print(f"[bootstrap] fetching {len(missing)} pinned wheels into the wheelhouse", flush=True)
        pins = sorted({f"{a.project}=={a.version}" for a in missing})
        pip_download(dest, python_version, ["--no-deps", *pins])
    bad = [a for a in artifacts if not (dest / a.filename).is_file()]
    if bad:
        names = ", ".join(a.filename for a in bad[:5])
        raise SystemExit(
            f"the package index did not provide the locked artifacts {names}; "
            "if the lockfile was made on another platform, regenerate it here with "
            "./pants generate-lockfiles"
        )
    for artifact in artifacts:
        actual = sha256_of(dest / artifact.filename)
        if actual != artifact.sha256:
            (dest / artifact.filename).unlink()
            raise SystemExit(
                f"{artifact.filename}: sha256 {actual} does not match the lockfile's "
                f"{artifact.sha256}; the file was removed, run ./pants again to refetch it"
            )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dest", type=Path, required=True, help="the wheelhouse folder")
    parser.add_argument("--python-version", required=True, help="e.g. 3.11")
    parser.add_argument("--lockfile", type=Path, help="fetch every artifact this lockfile pins")
    parser.add_argument("--requirements", type=Path, help="requirements.txt of the resolve")
    parser.add_argument(
        "--resolve-requirements",
        action="store_true",
        help="also fetch what --requirements resolves to (before generating a lockfile)",
    )
    parser.add_argument("--extra", action="append", default=[], help="an extra pinned wheel")
    options = parser.parse_args(argv)

    options.dest.mkdir(parents=True, exist_ok=True)
    if options.extra:
        missing_extras = [
            pin for pin in options.extra if not list(options.dest.glob(_wheel_glob(pin)))
        ]
        if missing_extras:
            pip_download(options.dest, options.python_version, ["--no-deps", *missing_extras])
    if options.resolve_requirements and options.requirements:
        print("[bootstrap] resolving requirements.txt into the wheelhouse", flush=True)
        pip_download(options.dest, options.python_version, ["-r", str(options.requirements)])
    if options.lockfile:
        fetch_locked(options.dest, options.python_version, read_locked_artifacts(options.lockfile))
    return 0


def _wheel_glob(pin: str) -> str:
    name, _, version = pin.partition("==")
    return f"{name.replace('-', '_')}-{version}-*.whl"


if __name__ == "__main__":
    sys.exit(main())
