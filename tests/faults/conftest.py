from __future__ import annotations

import pytest

from e2e.environment import Running, shared


@pytest.fixture(scope="session")
def running(request: pytest.FixtureRequest) -> Running:
    """The e2e tests' environment ``test`` (one per pytest process; see e2e/environment.py)."""
    return shared(request.config)
