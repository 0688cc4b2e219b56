from pathlib import Path

import pytest

from junit_summary import count, main

REPORT = """<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest">
  <testcase classname="a" name="ok1"/>
  <testcase classname="a" name="ok2"><system-out>noise</system-out></testcase>
  <testcase classname="a" name="bad"><failure message="boom"/></testcase>
  <testcase classname="a" name="err"><error message="boom"/></testcase>
  <testcase classname="a" name="skip"><skipped message="later"/></testcase>
</testsuite></testsuites>
"""


def _write(tmp_path: Path, body: str) -> Path:
    (tmp_path / "one.xml").write_text(body)
    return tmp_path


def test_counts_each_outcome(tmp_path: Path) -> None:
    totals = count(_write(tmp_path, REPORT))
    assert (totals.passed, totals.failed, totals.skipped) == (2, 2, 1)
    assert totals.line() == "tests: 2 passed, 2 failed, 1 skipped"


def test_failures_fail_the_run(tmp_path: Path) -> None:
    assert main([str(_write(tmp_path, REPORT))]) == 1


def test_no_tests_fails_the_run(tmp_path: Path) -> None:
    assert main([str(tmp_path)]) == 1


@pytest.mark.parametrize(("no_skips", "expected"), [(False, 0), (True, 1)])
def test_skips_fail_only_when_asked(tmp_path: Path, no_skips: bool, expected: int) -> None:
    report = REPORT.replace('<failure message="boom"/>', "").replace('<error message="boom"/>', "")
    args = [str(_write(tmp_path, report))] + (["--no-skips"] if no_skips else [])
    assert main(args) == expected
