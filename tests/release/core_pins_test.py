"""The services of this repository all accept the unifyops_core they are built with."""

import pytest

from unifyops.identity.auth import auth_api, auth_service
from unifyops.identity.user import user_api, user_service
from unifyops.platform.environment import environment_api, environment_service
from unifyops_core.compat import check_core

SERVICES = [auth_api, auth_service, user_api, user_service, environment_api, environment_service]


@pytest.mark.parametrize("package", SERVICES, ids=lambda p: p.__name__.rsplit(".", 1)[1])
def test_service_accepts_the_current_core(package: object) -> None:
    requirement = getattr(package, "CORE_REQUIREMENT")  # noqa: B009 - every service must define it
    check_core(requirement, service=getattr(package, "__name__"))  # noqa: B009
