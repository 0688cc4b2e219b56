import re

import pytest

from unifyops_core import exceptions
from unifyops_core.exceptions import (
    AuthenticationError,
    ConflictError,
    DependencyUnavailableError,
    DownstreamError,
    NotFoundError,
    RateLimitedError,
    RecordNotFoundError,
    UnifyOpsError,
    error_class_for,
)

ALL_CLASSES = [
    getattr(exceptions, name)
    for name in exceptions.__all__
    if isinstance(getattr(exceptions, name), type)
]


@pytest.mark.parametrize("cls", ALL_CLASSES, ids=lambda cls: cls.__name__)
def test_every_class_has_http_semantics_and_a_stable_snake_case_type(
    cls: type[UnifyOpsError],
) -> None:
    assert issubclass(cls, UnifyOpsError)
    assert 400 <= cls.status_code <= 599
    assert re.fullmatch(r"[a-z]+(_[a-z]+)*", cls.error_type)
    assert cls.__doc__, "each class documents when it is raised"


def test_every_class_is_drawn_in_the_module_docstring() -> None:
    assert exceptions.__doc__
    for cls in ALL_CLASSES:
        assert re.search(
            rf"{cls.__name__}\s+{cls.status_code} {cls.error_type}", exceptions.__doc__
        )


def test_message_details_and_default_message() -> None:
    error = NotFoundError("User not found", details={"user_id": "42"})
    assert (error.status_code, error.error_type, error.message) == (
        404,
        "not_found",
        "User not found",
    )
    assert error.details == {"user_id": "42"}
    assert str(error) == "User not found"
    assert RecordNotFoundError().message == "Record not found"


def test_authentication_error_names_the_scheme() -> None:
    assert AuthenticationError().headers == {"WWW-Authenticate": "Bearer"}


def test_rate_limited_sends_retry_after() -> None:
    error = RateLimitedError(retry_after=30)
    assert error.headers == {"Retry-After": "30"}
    assert error.retry_after == 30


def test_downstream_error_keeps_the_downstream_identity() -> None:
    error = DownstreamError(
        downstream_status=500,
        downstream_error_type="internal_error",
        downstream_error_id="abc",
        service="user-service",
    )
    assert error.status_code == 502
    assert error.error_id == "abc"
    assert (error.downstream_status, error.service) == (500, "user-service")


@pytest.mark.parametrize(
    ("error_type", "status", "expected"),
    [
        ("db_record_not_found", 404, RecordNotFoundError),
        ("not_found", 404, NotFoundError),
        ("user_email_taken", 409, ConflictError),
        ("dependency_unavailable", 503, DependencyUnavailableError),
        ("internal_error", 500, DownstreamError),
        ("anything", 504, DownstreamError),
        ("teapot", 418, exceptions.ClientError),
    ],
)
def test_error_class_for_downstream_failures(error_type: str, status: int, expected: type) -> None:
    assert error_class_for(error_type, status) is expected
