"""The chart renders every (environment, stack) in infra/ into valid Kubernetes objects, lints
clean, and refuses bad values with a message that names the key."""

from __future__ import annotations

from typing import Any

import helm_python
import kubernetes_validate
import pytest

from charts.conftest import ALL_TARGETS, REPO, RenderWith, base_values, rendered
from unifyops_core.naming import ENVIRONMENTS, STACKS
from uo.render import RenderError, Target

KUBERNETES_VERSION = "1.33.0"


def test_every_environment_and_stack_is_rendered() -> None:
    assert {(t.environment, t.stack) for t in ALL_TARGETS} == {
        (env, stack) for env in ENVIRONMENTS for stack in STACKS
    }


@pytest.mark.parametrize("target", ALL_TARGETS, ids=lambda t: f"{t.environment}-{t.stack}")
def test_objects_validate_against_the_kubernetes_schema(target: Target) -> None:
    objects = rendered(target)
    assert objects
    for obj in objects:
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
        assert obj["metadata"].get("namespace") in (None, target.namespace)


@pytest.mark.parametrize("environment", ["dev", "staging", "prod"])
def test_helm_lint_is_clean(environment: str, tmp_path: Any) -> None:
    values = base_values(environment)
    report = helm_python.lint(
        REPO / "src/charts/unifyops-stack", values, strict=True, namespace=f"uo-{environment}"
    )
    problems = [m for m in report["messages"] if m["severity"] >= 2] + report["errors"]
    assert not problems, problems


def test_digest_wins_over_tag(render_with: RenderWith) -> None:
    digest = "sha256:" + "a" * 64

    def edit(values: dict[str, Any]) -> None:
        values["tiers"]["api"]["image"]["digest"] = digest

    (api,) = [
        o
        for o in render_with(edit)
        if o["kind"] == "Deployment" and o["metadata"]["name"] == "auth-api"
    ]
    image = api["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image == f"harbor.unifyops.internal/unifyops/auth-api@{digest}"


def _without_images(*tiers: str) -> Any:
    def edit(values: dict[str, Any]) -> None:
        for tier in tiers:
            values["tiers"][tier]["image"] = {"tag": ""}

    return edit


def test_a_stack_with_no_released_images_is_refused_saying_so(render_with: RenderWith) -> None:
    with pytest.raises(RenderError, match=r"stack auth has no released images in dev yet: run "
                       r"the release loop \(uo publish, then uo bump --env dev\)"):  # fmt: skip
        render_with(_without_images("app", "api", "service"))


def test_one_tier_without_an_image_names_its_key(render_with: RenderWith) -> None:
    with pytest.raises(RenderError, match=r"tiers\.api\.image: set image\.tag or image\.digest"):
        render_with(_without_images("api"))


def test_no_secret_values_are_ever_rendered() -> None:
    for target in ALL_TARGETS:
        assert not [o for o in rendered(target) if o["kind"] == "Secret"]


def _set(path: str, value: Any) -> Any:
    def edit(values: dict[str, Any]) -> None:
        node = values
        *parents, last = path.split(".")
        for key in parents:
            node = node.setdefault(key, {})
        node[last] = value

    return edit


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("tiers.api.replicaz", 3, "replicaz"),  # misspelled key
        ("tierDefaults.replicas", "three", "replicas"),  # wrong type
        ("tiers.worker", {"enabled": True}, "worker"),  # unknown tier
        ("podSecurity.runAsUser", 0, "runAsUser"),  # root
        ("database.mode", "sqlite", "mode"),
        ("tiers.api.image.digest", "md5:abc", "digest"),
        (
            "tiers.api.secretEnv",
            {"UO_TOKEN": {"value": "inline"}},
            "secretEnv",
        ),  # secrets by reference only
        ("stack", "Billing-Stack", "stack"),  # any name of the naming contract, no other
    ],
)
def test_schema_rejects_bad_values_naming_the_key(
    render_with: RenderWith, path: str, value: Any, message: str
) -> None:
    with pytest.raises(RenderError, match=message):
        render_with(_set(path, value))


@pytest.mark.parametrize("tag", ["latest", "dev-latest"])
def test_moving_tags_are_refused(render_with: RenderWith, tag: str) -> None:
    # A pin by tag alone (a digest, when recorded, is what the chart runs).
    with pytest.raises(RenderError, match=r"tiers\.service\.image: tag .* moves"):
        render_with(_set("tiers.service.image", {"tag": tag}))


def test_missing_image_reference_names_the_tier(render_with: RenderWith) -> None:
    with pytest.raises(RenderError, match=r"tiers\.app\.image: set image\.tag or image\.digest"):
        render_with(_set("tiers.app.image", {"tag": ""}))


def test_namespace_must_match_the_environment(render_with: RenderWith) -> None:
    with pytest.raises(RenderError, match="does not match environment"):
        render_with(_set("namespace", "uo-prod"))


def test_external_database_needs_a_cidr_and_renders_no_statefulset(render_with: RenderWith) -> None:
    with pytest.raises(RenderError, match=r"database\.external\.cidr"):
        render_with(_set("database.mode", "external"))

    def external(values: dict[str, Any]) -> None:
        values["database"].update(
            {
                "mode": "external",
                "external": {"host": "pg.internal", "port": 5432, "cidr": "10.20.0.0/24"},
            }
        )

    objects = render_with(external)
    assert not [o for o in objects if o["kind"] == "StatefulSet"]
    (service,) = [
        o for o in objects if o["kind"] == "Deployment" and o["metadata"]["name"] == "auth-service"
    ]
    env = {
        e["name"]: e.get("value")
        for e in service["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert env["UO_DATABASE__HOST"] == "pg.internal"


def test_a_tier_can_be_turned_off(render_with: RenderWith) -> None:
    objects = render_with(_set("tiers.app.enabled", False))
    names = {o["metadata"]["name"] for o in objects if o["kind"] == "Deployment"}
    assert "auth-app" not in names
    assert "auth-api" in names


def test_ingress_routes_the_environment_host_to_the_app_with_tls() -> None:
    (ingress,) = [o for o in rendered(Target("prod", "user")) if o["kind"] == "Ingress"]
    assert ingress["spec"]["rules"][0]["host"] == "user.unifyops.internal"
    assert ingress["spec"]["tls"][0]["secretName"] == "uo-prod-wildcard-tls"
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend == {"name": "user-app", "port": {"name": "http"}}


def test_the_app_tier_forwards_to_its_own_gateway_with_a_secure_cookie() -> None:
    (app,) = [
        o
        for o in rendered(Target("prod", "user"))
        if o["kind"] == "Deployment" and o["metadata"]["name"] == "user-app"
    ]
    (container,) = app["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["UO_API_URL"] == "http://user-api:8002"
    assert env["UO_SECURE_COOKIE"] == "true"
