import pytest

from unifyops_core import __version__
from unifyops_core.compat import IncompatibleCoreError, check_core


def test_a_version_inside_the_range_passes() -> None:
    check_core(">=0.1,<0.2", service="user-api", core_version="0.1.7")
    check_core(f"=={__version__}", service="user-api")


@pytest.mark.parametrize("version", ["0.2.0", "0.0.9", "1.0.0"])
def test_a_version_outside_the_range_names_service_range_and_version(version: str) -> None:
    with pytest.raises(
        IncompatibleCoreError,
        match=rf"user-api supports unifyops_core >=0.1,<0.2, but this build has {version}",
    ):
        check_core(">=0.1,<0.2", service="user-api", core_version=version)


def test_a_malformed_range_is_reported() -> None:
    with pytest.raises(IncompatibleCoreError, match="not a version range"):
        check_core("about 0.1", service="user-api")
