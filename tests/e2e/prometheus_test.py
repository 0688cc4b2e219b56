"""The Prometheus of environment ``test`` (uo.local.monitoring): after `uo up` it scrapes every
tier the chart's PodMonitors select, sees each one's ``uo_build_info``, has loaded the chart's
alert rules, and is the only thing that reaches a metrics port."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx

from e2e.environment import ENVIRONMENT, Running, bearer
from unifyops_core import __version__ as core_version
from unifyops_core.naming import IMAGE_TIERS, STACKS
from uo.local import values

METRICS_TIERS = IMAGE_TIERS  # the tiers whose metricsPort the chart sets (app too: 0.2.3)
METRICS_PORT = 9464
NAMESPACE = values.namespace(ENVIRONMENT)
EXPECTED = {(stack, tier) for stack in STACKS for tier in METRICS_TIERS}
# Tries a TCP connection to every address of every target; prints which target answered.
PROBE = """
import json, socket, sys
def answers(endpoint):
    try:
        socket.create_connection(tuple(endpoint), timeout=1.5).close()
        return True
    except OSError:
        return False
targets = json.loads(sys.argv[1])
print(json.dumps({name: any(answers(e) for e in ends) for name, ends in targets.items()}))
"""


def query(running: Running, expr: str) -> list[dict[str, Any]]:
    answer = httpx.get(running.url("prometheus", "/api/v1/query"), params={"query": expr})
    assert answer.status_code == 200, answer.text
    result: list[dict[str, Any]] = answer.json()["data"]["result"]
    return result


def by_tier(result: list[dict[str, Any]]) -> dict[tuple[str, str], str]:
    return {
        (r["metric"].get("stack", ""), r["metric"].get("tier", "")): r["value"][1] for r in result
    }


def test_prometheus_reports_every_tier_up_with_its_build_info(running: Running) -> None:
    # The first scrapes come one interval (10 s locally) after the targets' names resolve.
    deadline, up = time.monotonic() + 120, {}
    while time.monotonic() < deadline:
        up = by_tier(query(running, f'up{{namespace="{NAMESPACE}"}}'))
        if set(up) == EXPECTED and set(up.values()) == {"1"}:
            break
        time.sleep(2)
    assert up == dict.fromkeys(EXPECTED, "1")
    info = query(running, f'uo_build_info{{namespace="{NAMESPACE}"}}')
    assert set(by_tier(info)) == EXPECTED
    for series in info:
        labels = series["metric"]
        assert labels["core_version"], labels
        assert labels["service_name"] == f"{labels['stack']}-{labels['tier']}", labels
        assert labels["job"] == f"{NAMESPACE}/{labels['stack']}", labels


def target_down_alerts(running: Running) -> list[dict[str, Any]]:
    alerts = httpx.get(running.url("prometheus", "/api/v1/alerts")).json()["data"]["alerts"]
    return [a for a in alerts if a["labels"]["alertname"] == "UnifyOpsTargetDown"]


def test_the_charts_alert_rules_are_loaded_and_nothing_is_down(running: Running) -> None:
    answer = httpx.get(running.url("prometheus", "/api/v1/rules")).json()["data"]
    assert sorted(g["name"] for g in answer["groups"]) == sorted(f"unifyops-{s}" for s in STACKS)
    # A replica a rollout just replaced can leave a pending alert until the next rule evaluation
    # after its address drops out of DNS; one that stays means a target Prometheus cannot scrape.
    deadline, down = time.monotonic() + 90, target_down_alerts(running)
    while down and time.monotonic() < deadline:
        time.sleep(5)
        down = target_down_alerts(running)
    assert not down


def test_no_tier_and_not_the_edge_reaches_a_metrics_port(running: Running) -> None:
    targets = {}
    for stack, tier in sorted(EXPECTED):
        container = running.container(stack, tier)
        container.reload()
        networks = container.attrs["NetworkSettings"]["Networks"].values()
        targets[f"{stack}-{tier}"] = [
            (n["IPAddress"], METRICS_PORT) for n in networks if n.get("IPAddress")
        ]
    sources = [(stack, tier) for stack in STACKS for tier in ("service", "api", "app")]
    for stack, tier in [*sources, ("platform", "edge")]:
        result = running.container(stack, tier).exec_run(
            ["python3", "-c", PROBE, json.dumps(targets)]
        )
        assert result.exit_code == 0, result.output
        reached = json.loads(result.output.decode().strip().splitlines()[-1])
        # A container reaches its own addresses over loopback, as a pod does; that is no path.
        others = [name for name, ok in reached.items() if ok and name != f"{stack}-{tier}"]
        assert not others, (stack, tier, reached)


def live_state(running: Running, headers: dict[str, str]) -> dict[str, Any]:
    answer = httpx.get(running.url("environment-api", "/v1/live"), headers=headers)
    assert answer.status_code == 200, answer.text
    state: dict[str, Any] = answer.json()
    return state


def test_the_dashboards_live_state_is_what_runs_here(running: Running) -> None:
    """GET /v1/live through environment-api's published port: environment-service asks this
    environment's Prometheus (over the network the policies give it) and reports every tier
    running the image uo up started it from, ready, with the traffic it served."""
    assert running.outcome.login is not None
    email, password = running.outcome.login
    login = httpx.post(
        running.url("auth-api", "/v1/auth/login"), json={"email": email, "password": password}
    )
    assert login.status_code == 200, login.text
    headers = bearer(login.json()["access_token"])
    deadline, tiers = time.monotonic() + 120, {}
    while time.monotonic() < deadline:
        state = live_state(running, headers)
        assert state["prometheus"] == "ok", state
        here = [e for e in state["environments"] if e["namespace"] == NAMESPACE]
        if here:
            tiers = {
                (stack, tier): live
                for stack, s in here[0]["stacks"].items()
                for tier, live in s["tiers"].items()
            }
            # auth-api served the login above: once Prometheus has scraped it twice, a rate.
            if (
                set(tiers) == EXPECTED
                and all(t["status"] == "running" for t in tiers.values())
                and tiers["auth", "api"]["requests_per_second"] > 0
            ):
                break
        time.sleep(3)
    assert set(tiers) == EXPECTED, tiers
    (environment,) = here
    assert (environment["name"], environment["known"]) == (ENVIRONMENT, False)
    for (stack, tier), live in tiers.items():
        assert live["status"] == "running", (stack, tier, live)
        assert (live["replicas"], live["ready"]) == (1, 1), (stack, tier, live)
        started_from = {
            e.split("=", 1)[1]
            for e in running.container(stack, tier).attrs["Config"]["Env"]
            if e.startswith("UO_IMAGE=")
        }
        assert live["images"] == sorted(started_from), (stack, tier, live)
        assert live["desired"] is None  # infra/ has no environment "test"
        assert live["core_versions"] == [core_version], (stack, tier, live)
    assert tiers["auth", "api"]["requests_per_second"] > 0
