from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from e2e.environment import Running, plan
from uo.local import engine, reconcile


@pytest.fixture(scope="session")
def running() -> Iterator[Running]:
    """Environment ``test`` up from the images Pants built for this run; removed afterwards."""
    client = engine.connect()
    reconcile.down(client, "test", volumes=True, report=print)  # leftovers of an aborted run
    the_plan = plan(Path.cwd())
    outcome = reconcile.up(client, the_plan, print)
    try:
        yield Running(client, the_plan, outcome)
    finally:
        reconcile.down(client, "test", volumes=True, report=print)
