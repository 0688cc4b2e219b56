"""Print one closing line for a test run from the JUnit XML reports Pants wrote.

Pants prints a line per test target; people and CI want the total. Exits non-zero when a test
failed or errored, when nothing ran at all, or (with --no-skips, as CI runs it) when a test was
skipped, because a skipped test must not pass for a passing one.
"""

from __future__ import annotations

import argparse
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Totals:
    passed: int = 0
    failed: int = 0
    skipped: int = 0

    def line(self) -> str:
        return f"tests: {self.passed} passed, {self.failed} failed, {self.skipped} skipped"


def count(report_dir: Path) -> Totals:
    totals = Totals()
    for report in sorted(report_dir.glob("*.xml")):
        for case in ET.parse(report).getroot().iter("testcase"):  # noqa: S314 - our own reports
            outcome = {child.tag for child in case}
            if outcome & {"failure", "error"}:
                totals.failed += 1
            elif "skipped" in outcome:
                totals.skipped += 1
            else:
                totals.passed += 1
    return totals


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report_dir", type=Path, help="folder of JUnit XML files")
    parser.add_argument("--no-skips", action="store_true", help="treat a skipped test as failure")
    options = parser.parse_args(argv)
    totals = count(options.report_dir)
    print(totals.line())
    if totals.failed or totals.passed == 0:
        return 1
    if options.no_skips and totals.skipped:
        print("skipped tests are not allowed here (CI=true)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
