"""`uo up` as a user runs it (``main(argv)``), on environment ``test``: it ends with the URLs and
a ready-made login that works, and a second run changes nothing and touches no container. The two
runs are the ones that started the e2e environment (e2e/environment.py)."""

from __future__ import annotations

import re

import httpx

from e2e.environment import ENVIRONMENT, Running
from unifyops_core.naming import STACKS

SUMMARY = re.compile(rf"^{ENVIRONMENT} is up in \d+s \((?P<changes>.*)\)$")
URL_LINE = re.compile(r"^  (?P<name>[a-z-]+)\s+(?P<url>http://127\.0\.0\.1:\d+)$")
LOGIN_LINE = re.compile(r"^  login\s+(?P<email>\S+@\S+) / (?P<password>.+)$")


def _printed(stdout: str) -> tuple[str, dict[str, str], tuple[str, str] | None]:
    summary, urls, login = "", {}, None
    for line in stdout.splitlines():
        if match := SUMMARY.match(line):
            summary = match["changes"]
        elif match := LOGIN_LINE.match(line):
            login = (match["email"], match["password"])
        elif match := URL_LINE.match(line):
            urls[match["name"]] = match["url"]
    return summary, urls, login


def test_the_first_uo_up_prints_every_app_and_api_url_and_a_login_that_works(
    running: Running,
) -> None:
    first = running.cli_runs[0]
    assert first.code == 0, first.stdout
    summary, urls, login = _printed(first.stdout)
    assert summary, first.stdout
    assert summary != "nothing changed", first.stdout
    tiers = {f"{stack}-{tier}" for stack in STACKS for tier in ("app", "api")}
    assert set(urls) == tiers | {"prometheus"}
    assert urls == {name: running.url(name) for name in urls}  # what the reconciler reports
    for name in tiers:  # app server and gateway alike answer liveness
        assert httpx.get(urls[name] + "/health/live", timeout=10).status_code == 200, name
    assert httpx.get(urls["prometheus"] + "/-/ready", timeout=10).status_code == 200
    assert login is not None, first.stdout
    signed_in = httpx.post(
        f"{urls['auth-api']}/v1/auth/login",
        json={"email": login[0], "password": login[1]},
        timeout=10,
    )
    assert signed_in.status_code == 200, signed_in.text
    assert signed_in.json()["access_token"]


def test_a_second_uo_up_changes_nothing_and_touches_no_container(running: Running) -> None:
    first, second = running.cli_runs
    assert second.code == 0, second.stdout
    summary, urls, login = _printed(second.stdout)
    assert summary == "nothing changed", second.stdout
    assert urls == _printed(first.stdout)[1]
    assert login == _printed(first.stdout)[2]
    # Same containers, same ids, not restarted (a start time moves on any restart).
    assert second.containers == first.containers
    assert len(first.containers) >= 4 * len(STACKS)
