import pytest

from unifyops.identity.user.user_api.api.routes.profiles import _expected_version
from unifyops_core.exceptions import (
    PreconditionFailedError,
    PreconditionRequiredError,
    ValidationError,
)


@pytest.mark.parametrize(
    ("if_match", "version"), [('"v1"', 1), ('W/"v42"', 42), ('"v2147483647"', 2**31 - 1)]
)
def test_an_etag_names_the_version_read(if_match: str, version: int) -> None:
    assert _expected_version(if_match) == version


@pytest.mark.parametrize("if_match", ['"v2147483648"', '"v0"', '"v' + "9" * 5000 + '"'])
def test_a_version_no_profile_can_have_fails_the_precondition(if_match: str) -> None:
    # Never sent on: past int32 the database would fail instead of answering (was a 502).
    with pytest.raises(PreconditionFailedError):
        _expected_version(if_match)


def test_missing_and_malformed_etags_keep_their_meaning() -> None:
    with pytest.raises(PreconditionRequiredError):
        _expected_version(None)
    with pytest.raises(ValidationError):
        _expected_version("v1")
