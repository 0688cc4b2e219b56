"""Last: every container's logs, after everything the e2e and security tests did, hold none of the
secrets used or issued, and no traceback that carries SQL or its parameters."""

from __future__ import annotations

import re

from e2e.environment import Running
from security.attack import SEEN_SECRETS
from uo.local import engine

SQL_IN_LOGS = re.compile(r"\[SQL: |\[parameters: |asyncpg\.exceptions\.\w+: .*\$\d")


def all_logs(running: Running) -> dict[str, str]:
    return {
        container.name: container.logs().decode(errors="replace")
        for container in engine.containers(running.client, running.plan.environment)
    }


def secrets(running: Running) -> set[str]:
    found = {s for s in SEEN_SECRETS if len(s) >= 8}
    vault = running.secrets()
    found.add(vault.operator_password)
    found.update(value for value in vault.lookup().values() if len(value) >= 12)
    return found


def test_no_secret_reaches_any_log(running: Running) -> None:
    logs = all_logs(running)
    assert len(logs) >= 13
    leaks = [
        (name, secret[:6] + "…")
        for name, text in logs.items()
        for secret in secrets(running)
        if secret in text
    ]
    assert leaks == []


def test_no_traceback_carries_sql_or_its_parameters(running: Running) -> None:
    offenders = {
        name: match.group(0)
        for name, text in all_logs(running).items()
        if (match := SQL_IN_LOGS.search(text))
    }
    assert offenders == {}
