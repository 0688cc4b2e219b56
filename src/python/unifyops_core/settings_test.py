import pytest
from pydantic import SecretStr
from pydantic import ValidationError as PydanticValidationError

from unifyops_core.settings import ServiceSettings


class DemoSettings(ServiceSettings):
    database_password: SecretStr = SecretStr("")
    signing_secret: SecretStr = SecretStr("changeme")


def test_reads_uo_prefixed_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UO_SERVICE_NAME", "user-service")
    monkeypatch.setenv("UO_LOG_LEVEL", "DEBUG")
    settings = DemoSettings()
    assert (settings.service_name, settings.log_level, settings.environment) == (
        "user-service",
        "DEBUG",
        "development",
    )


def test_development_accepts_placeholder_secrets() -> None:
    assert (
        DemoSettings(service_name="s", environment="development").signing_secret.get_secret_value()
        == "changeme"
    )


@pytest.mark.parametrize("environment", ["dev", "staging", "prod", "local", "test"])
def test_other_environments_refuse_empty_and_placeholder_secrets(environment: str) -> None:
    with pytest.raises(PydanticValidationError) as caught:
        DemoSettings(service_name="s", environment=environment)
    assert "database_password, signing_secret" in str(caught.value)


def test_real_secrets_are_accepted_and_hidden_in_repr() -> None:
    settings = DemoSettings(
        service_name="s",
        environment="prod",
        database_password=SecretStr("x7-long-random"),
        signing_secret=SecretStr("y8-long-random"),
    )
    assert "x7-long-random" not in repr(settings)


def test_unknown_environment_is_rejected() -> None:
    with pytest.raises(PydanticValidationError):
        DemoSettings(service_name="s", environment="production")
