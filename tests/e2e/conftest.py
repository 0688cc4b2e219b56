from __future__ import annotations

import pytest

from e2e.environment import Running, shared


@pytest.fixture(scope="session")
def running(request: pytest.FixtureRequest) -> Running:
    """Environment ``test`` up from the images Pants built for this run (shared with
    tests/security when Pants batches them); removed when the session ends."""
    return shared(request.config)
