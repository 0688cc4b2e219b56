"""Argo CD ordering: database (wave 0) before the migration Job (wave 1, a Sync hook) before the
client registrations (wave 2, Sync hooks of the auth release) before the apps (wave 3), and hook
Jobs that survive image bumps."""

from __future__ import annotations

from typing import Any

from charts.conftest import ALL_TARGETS, RenderWith, rendered
from unifyops_core.naming import STACKS
from uo.render import Manifest


def wave(obj: Manifest) -> int:
    return int(obj["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"])


def tier(obj: Manifest) -> str:
    return str(obj["spec"]["template"]["metadata"]["labels"]["unifyops.io/tier"])


def test_database_then_migrations_then_registrations_then_apps_in_every_render() -> None:
    for target in ALL_TARGETS:
        objects = rendered(target)
        waves: dict[str, list[int]] = {}
        for obj in objects:
            if obj["kind"] in ("StatefulSet", "Job", "Deployment"):
                waves.setdefault(tier(obj) if obj["kind"] == "Job" else obj["kind"], []).append(
                    wave(obj)
                )
        assert max(waves["StatefulSet"]) < min(waves["migrate"]) < min(waves["Deployment"]), target
        if target.stack == "auth":
            assert max(waves["migrate"]) < min(waves["register"]) < min(waves["Deployment"])
        else:
            assert "register" not in waves, target


def test_the_auth_release_registers_every_stacks_gateway() -> None:
    for target in ALL_TARGETS:
        if target.stack != "auth":
            continue
        jobs = [o for o in rendered(target) if o["kind"] == "Job" and tier(o) == "register"]
        commands = {
            tuple(job["spec"]["template"]["spec"]["containers"][0]["command"][1:]) for job in jobs
        }
        assert commands == {
            ("register-client", f"{stack}-api", "--audience", f"{stack}-service")
            for stack in STACKS
        }, target
        for job in jobs:
            annotations = job["metadata"]["annotations"]
            assert annotations["argocd.argoproj.io/hook"] == "Sync"
            assert annotations["argocd.argoproj.io/hook-delete-policy"] == "BeforeHookCreation"


def migration_job(objects: list[Manifest]) -> Manifest:
    (job,) = [o for o in objects if o["kind"] == "Job" and tier(o) == "migrate"]
    return job


def test_migration_job_is_a_sync_hook_replaced_before_each_run() -> None:
    annotations = migration_job(rendered(ALL_TARGETS[0]))["metadata"]["annotations"]
    assert annotations["argocd.argoproj.io/hook"] == "Sync"
    assert annotations["argocd.argoproj.io/hook-delete-policy"] == "BeforeHookCreation"


def test_migration_job_runs_the_service_image_and_its_migrate_command(
    render_with: RenderWith,
) -> None:
    objects = render_with(lambda values: None)
    job = migration_job(objects)
    (service,) = [
        o for o in objects if o["kind"] == "Deployment" and o["metadata"]["name"] == "auth-service"
    ]
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == service["spec"]["template"]["spec"]["containers"][0]["image"]
    assert container["command"] == ["/app/venv/pex", "migrate"]
    assert job["spec"]["backoffLimit"] >= 0
    assert {"UO_DATABASE__HOST", "UO_DATABASE__PASSWORD"} <= {e["name"] for e in container["env"]}


def test_a_tag_bump_makes_a_new_job_and_the_same_tag_keeps_it(render_with: RenderWith) -> None:
    def bump(tag: str) -> Any:
        def edit(values: dict[str, Any]) -> None:
            values["tiers"]["service"]["image"] = {"tag": tag}  # by tag alone: no digest wins

        return edit

    first = migration_job(render_with(bump("1111111")))["metadata"]["name"]
    again = migration_job(render_with(bump("1111111")))["metadata"]["name"]
    bumped = migration_job(render_with(bump("2222222")))["metadata"]["name"]
    assert first == again
    assert bumped != first
    assert first.startswith("auth-migrate-")
