"""The services of this repository all accept the unifyops_core they are built with."""

import pytest

from unifyops.identity.auth import auth_api, auth_service
from unifyops.identity.user import user_api, user_service
from unifyops.platform.environment import environment_api, environment_service
from unifyops_core.compat import check_core
from unifyops_core.naming import PYTHON_TIERS, STACKS, Component

# Imports, so that Pants infers the dependencies; the test below keeps them equal to the registry.
SERVICES = [auth_api, auth_service, user_api, user_service, environment_api, environment_service]


def test_every_python_tier_of_the_registry_is_checked() -> None:
    expected = {Component(stack, tier).python_package for stack in STACKS for tier in PYTHON_TIERS}
    assert {package.__name__ for package in SERVICES} == expected, (
        "tests/release/core_pins_test.py: import every Python tier of the stack registry "
        "(src/python/unifyops_core/stack_registry.py) and list it in SERVICES"
    )


@pytest.mark.parametrize("package", SERVICES, ids=lambda p: p.__name__.rsplit(".", 1)[1])
def test_service_accepts_the_current_core(package: object) -> None:
    requirement = getattr(package, "CORE_REQUIREMENT")  # noqa: B009 - every service must define it
    check_core(requirement, service=getattr(package, "__name__"))  # noqa: B009
