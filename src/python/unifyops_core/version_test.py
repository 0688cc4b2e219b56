import re

import unifyops_core

SEMVER = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z.-]+)?$")


def test_version_is_semver() -> None:
    assert SEMVER.match(unifyops_core.__version__)
