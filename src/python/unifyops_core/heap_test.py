"""The start-up heap is frozen while a tier serves, and given back to the collector after."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from asgi_lifespan import LifespanManager

from unifyops_core.app import create_service_app
from unifyops_core.heap import frozen_while_serving
from unifyops_core.settings import ServiceSettings


async def test_a_tier_serves_with_its_start_up_heap_frozen() -> None:
    seen_at_start: list[int] = []

    @asynccontextmanager
    async def own_lifespan(app: Any) -> AsyncIterator[dict[str, str]]:
        seen_at_start.append(gc.get_freeze_count())  # the app's own start-up comes first
        yield {"pool": "ready"}

    app = create_service_app(
        ServiceSettings(service_name="demo-service"), version="1.0.0", lifespan=own_lifespan
    )
    assert gc.get_freeze_count() == 0
    async with LifespanManager(app) as manager:
        assert seen_at_start == [0]
        assert gc.get_freeze_count() > 10_000  # imports, routes, models: all of it
        assert manager._state == {"pool": "ready"}  # the app's lifespan state passes through
    assert gc.get_freeze_count() == 0


async def test_garbage_is_collected_before_freezing() -> None:
    class Cycle:
        def __init__(self) -> None:
            self.me = self

    @asynccontextmanager
    async def makes_garbage(app: Any) -> AsyncIterator[None]:
        Cycle()  # unreachable at once, but only the cyclic collector can free it
        yield

    async with frozen_while_serving(makes_garbage)(None):
        assert not [o for o in gc.get_objects() if type(o) is Cycle]
    assert gc.get_freeze_count() == 0


async def test_without_a_lifespan_of_its_own() -> None:
    async with frozen_while_serving(None)(None) as state:
        assert state is None
        assert gc.get_freeze_count() > 0
    assert gc.get_freeze_count() == 0
