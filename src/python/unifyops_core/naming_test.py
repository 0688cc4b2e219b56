from collections.abc import Callable

import pytest

from unifyops_core.naming import (
    DATABASE_PORT,
    IMAGE_TIERS,
    PYTHON_TIERS,
    STACKS,
    TIER_PORTS,
    Component,
    components,
    infra_file,
    namespace,
)


def test_names_of_a_component_follow_the_contract() -> None:
    component = Component("auth", "service")
    assert component.name == "auth-service"
    assert component.port == 8001
    assert component.image_repository == "unifyops/auth-service"
    assert component.python_package == "unifyops.identity.auth.auth_service"
    assert component.pex_target == "src/python/unifyops/identity/auth/auth_service:bin"
    assert (
        Component("environment", "api").python_package
        == "unifyops.platform.environment.environment_api"
    )


def test_every_stack_has_three_image_tiers_with_distinct_ports() -> None:
    all_components = components()
    assert len(all_components) == 3 * len(STACKS)
    assert {c.port for c in all_components} == {3000, 8001, 8002}


def test_the_registry_gives_stacks_in_order_and_every_tier_a_port() -> None:
    assert next(iter(STACKS)) == "auth"  # first: every other stack registers with it
    assert STACKS["auth"] == "identity"
    assert TIER_PORTS == {"app": 3000, "api": 8002, "service": 8001, "database": 5432}
    assert DATABASE_PORT == 5432
    assert IMAGE_TIERS == ("app", "api", "service")
    assert PYTHON_TIERS == ("api", "service")


def test_namespaces_and_infra_files() -> None:
    assert namespace("dev") == "uo-dev"
    assert infra_file("prod", "user") == "infra/environments/prod/user.yaml"


@pytest.mark.parametrize(
    "bad",
    [
        lambda: Component("billing", "api"),
        lambda: Component("auth", "worker"),
        lambda: Component("auth", "database"),  # one shared image, not a tier image per stack
        lambda: namespace("qa"),
    ],
)
def test_unknown_names_are_refused(bad: Callable[[], object]) -> None:
    with pytest.raises(ValueError, match="unknown"):
        bad()
