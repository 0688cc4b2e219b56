from __future__ import annotations

import pytest

from e2e.environment import Running, shared

# These leave the environment changed for later tests (a throttled address, registrations used
# up), or read what every other test left behind, so they run after everything else, in this order.
LAST = ("throttling_test.py", "logs_test.py")


@pytest.fixture(scope="session")
def running(request: pytest.FixtureRequest) -> Running:
    """The e2e tests' environment ``test`` (one per pytest process; see e2e/environment.py)."""
    return shared(request.config)


def _rank(item: pytest.Item) -> int:
    if "faults" in item.path.parts:
        return 1  # after the e2e flows; before the security files, so logs_test reads theirs too
    if "security" not in item.path.parts:
        return 0  # the e2e files keep their own order, first
    return 2 + (LAST.index(item.path.name) + 1 if item.path.name in LAST else 0)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=_rank)  # stable: file order is kept within a rank
