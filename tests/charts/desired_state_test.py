"""Where the environment service takes the desired state from, as the chart tells it: a mounted
checkout of infra/ where one is given (`uo up`), else — a cluster — the recorded deployments."""

from __future__ import annotations

from typing import Any

import pytest

from charts.conftest import RenderWith
from charts.tracing_test import tier_env
from unifyops.platform.environment.environment_service.config import Settings
from uo.render import Manifest


def environment_stack(values: dict[str, Any]) -> None:
    values["stack"] = "environment"


def service_volumes(objects: list[Manifest]) -> list[dict[str, Any]]:
    (service,) = [
        o
        for o in objects
        if o["kind"] == "Deployment"
        and o["spec"]["template"]["metadata"]["labels"]["unifyops.io/tier"] == "service"
    ]
    volumes: list[dict[str, Any]] = service["spec"]["template"]["spec"]["volumes"]
    return volumes


def test_on_a_cluster_the_service_reads_the_recorded_deployments(
    render_with: RenderWith, monkeypatch: pytest.MonkeyPatch
) -> None:
    objects = render_with(environment_stack)
    env = tier_env(objects)["service"]
    assert env["UO_DESIRED_STATE"] == "records"
    assert "UO_INFRA_PATH" not in env
    assert not [v for v in service_volumes(objects) if "hostPath" in v]
    monkeypatch.setenv("UO_DESIRED_STATE", env["UO_DESIRED_STATE"])
    assert Settings(service_name="environment-service").desired_state == "records"


def test_with_a_checkout_mounted_it_reads_the_files(render_with: RenderWith) -> None:
    def mounted(values: dict[str, Any]) -> None:
        environment_stack(values)
        values["desiredState"] = {"stack": "environment", "hostPath": "/srv/checkout"}

    objects = render_with(mounted)
    env = tier_env(objects)["service"]
    assert env["UO_INFRA_PATH"] == "/srv/unifyops/infra/environments"
    assert "UO_DESIRED_STATE" not in env  # files, the default
    assert {
        "name": "desired-state",
        "hostPath": {"path": "/srv/checkout", "type": "Directory"},
    } in (service_volumes(objects))


def test_other_stacks_are_told_nothing_of_it(render_with: RenderWith) -> None:
    env = tier_env(render_with(lambda values: None))  # dev's auth stack
    assert not any({"UO_DESIRED_STATE", "UO_INFRA_PATH"} & set(e) for e in env.values())
