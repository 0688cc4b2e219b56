"""Release-loop benchmarks. Prints its figures side by side; asserts nothing.

    python3 tests/bench/release_bench.py

In a throwaway clone of this repository (so the working tree is never touched):
1. `uo affected --since HEAD~1` after a one-service change, pantsd cold and warm, against a full
   warm `./pants package ::` of the next commit (target: affected <= 10 % of package);
2. one-line change -> `uo publish --since HEAD~1` -> `uo bump --env dev`: wall time to the infra
   commit, warm (target <= 45 s).
Needs the engine and registry (build-support/build has run once).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHANGED = "src/python/unifyops/identity/user/user_service/profiles.py"


def sh(repo: Path, *command: str) -> str:
    """Runs the command; returns its standard error (uo's progress lines)."""
    result = subprocess.run(command, cwd=repo, capture_output=True, text=True)
    if result.returncode != 0:
        tail = "\n".join(result.stderr.strip().splitlines()[-15:])
        raise SystemExit(f"{' '.join(command)} failed:\n{tail}")
    return result.stderr


def timed(repo: Path, *command: str) -> float:
    started = time.monotonic()
    sh(repo, *command)
    return round(time.monotonic() - started, 1)


def stop_pantsd(repo: Path) -> None:
    pid_file = repo / ".pants.d/pids/pantsd/pid"
    if pid_file.is_file():
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(pid_file.read_text().strip()), signal.SIGTERM)
        time.sleep(2)


def commit_change(repo: Path, note: str) -> None:
    with (repo / CHANGED).open("a") as file:
        file.write(f"\n# {note}\n")
    sh(repo, "git", "commit", "-qam", note)


def main() -> int:
    os.environ.setdefault("DOCKER_HOST", "unix:///var/lib/unifyops-docker/docker.sock")
    with tempfile.TemporaryDirectory() as folder:
        repo = Path(folder) / "repo"
        sh(ROOT, "git", "clone", "-q", str(ROOT), str(repo))
        sh(repo, "git", "config", "user.email", "bench@unifyops.invalid")
        sh(repo, "git", "config", "user.name", "bench")
        try:
            sh(repo, "./pants", "package", "::")  # warm everything once
            figures: dict[str, object] = {}
            figures["full ./pants package ::, same commit again (s)"] = timed(
                repo, "./pants", "package", "::"
            )
            # What CI packages on a push: a new commit (every image's revision label changes)
            # with one service changed, Pants' and the engine's caches warm.
            commit_change(repo, "benchmark change 0")
            package = timed(repo, "./pants", "package", "::")
            figures["full ./pants package ::, warm, next commit (s)"] = package
            commit_change(repo, "benchmark change 1")
            stop_pantsd(repo)
            figures["uo affected, pantsd cold (s)"] = timed(
                repo, "./uo", "affected", "--since", "HEAD~1"
            )
            warm = timed(repo, "./uo", "affected", "--since", "HEAD~1")
            figures["uo affected, pantsd warm (s)"] = warm
            figures["affected (warm) / full package (%)"] = round(100 * warm / package, 1)
            commit_change(repo, "benchmark change 2")
            started = time.monotonic()
            progress = sh(repo, "./uo", "publish", "--since", "HEAD~1")
            published = time.monotonic()
            sh(repo, "./uo", "bump", "--env", "dev")
            figures["one-line change -> infra commit, warm (s)"] = round(
                time.monotonic() - started, 1
            )
            # Where the loop's time went: uo publish's own progress lines, then the bump.
            for phase in ("built in", "pushed and recorded in"):
                line = next((x for x in progress.splitlines() if f"uo: {phase} " in x), "")
                figures[f"  of which publish: {phase} (s)"] = line.rsplit(" ", 2)[-2] or "?"
            figures["  of which uo publish in all (s)"] = round(published - started, 1)
            figures["  of which uo bump (s)"] = round(time.monotonic() - published, 1)
        finally:
            stop_pantsd(repo)
    width = max(len(name) for name in figures)
    print("\n## release loop")
    for name, value in figures.items():
        print(f"{name:<{width}}  {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
