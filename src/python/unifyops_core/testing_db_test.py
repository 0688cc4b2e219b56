"""How the tests' admin DSN becomes the settings of a per-test database."""

from __future__ import annotations

from unifyops_core.testing_db import settings_for


def test_the_account_and_its_password_reach_the_per_test_database() -> None:
    # Percent-encoded as in any URL: a password may hold '@', ':' or '/'.
    settings = settings_for("postgresql://ci:p%40ss%3Aw%2F1@127.0.0.1:6543/postgres", "uo_test_a")
    assert (settings.host, settings.port, settings.user, settings.name) == (
        "127.0.0.1",
        6543,
        "ci",
        "uo_test_a",
    )
    assert settings.password.get_secret_value() == "p@ss:w/1"


def test_a_dsn_without_a_password_gives_none() -> None:
    settings = settings_for("postgresql://postgres@127.0.0.1:55432/postgres", "uo_test_b")
    assert settings.password.get_secret_value() == ""
    assert settings.user == "postgres"
