"""Start-up of the ./uo launcher. Prints its figures; asserts nothing.

    python3 tests/bench/cli_bench.py

In a throwaway clone (the working tree is never touched), `./uo --help` timed:
1. first run in the clone (no cached pex for its inputs yet: Pants packages the CLI, pantsd cold);
2. after an uncommitted one-line edit to src/python/uo (the key changed: Pants repackages);
3. nothing changed since (the cached pex runs; no Pants call), the median of five runs.
Target for 3: under 1 s.
"""

from __future__ import annotations

import contextlib
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def timed(repo: Path, *command: str) -> float:
    started = time.monotonic()
    result = subprocess.run(command, cwd=repo, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{result.stderr[-2000:]}")
    return time.monotonic() - started


def main() -> int:
    figures: dict[str, str] = {}
    with tempfile.TemporaryDirectory() as folder:
        repo = Path(folder) / "repo"
        subprocess.run(["git", "clone", "-q", str(ROOT), str(repo)], check=True)
        try:
            figures["./uo --help, first run in a clone (s)"] = (
                f"{timed(repo, './uo', '--help'):.1f}"
            )
            with (repo / "src/python/uo/__init__.py").open("a") as file:
                file.write("# an edit the next ./uo must pick up\n")
            figures["./uo --help, after an edit to uo (s)"] = f"{timed(repo, './uo', '--help'):.1f}"
            warm = [timed(repo, "./uo", "--help") for _ in range(5)]
            figures["./uo --help, nothing changed, median of 5 (s)"] = (
                f"{statistics.median(warm):.2f} (min {min(warm):.2f}, max {max(warm):.2f})"
            )
            figures["./uo status --json, nothing changed (s)"] = (
                f"{timed(repo, './uo', 'status', '--json'):.2f}"
            )
        finally:
            pid_file = repo / ".pants.d/pids/pantsd/pid"
            if pid_file.is_file():
                with contextlib.suppress(ProcessLookupError, ValueError):
                    os.kill(int(pid_file.read_text().strip()), signal.SIGTERM)
    width = max(len(name) for name in figures)
    print("\n## ./uo start-up")
    for name, value in figures.items():
        print(f"{name:<{width}}  {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
