"""The heap a tier starts with, kept out of the garbage collector's way while it serves.

Every import, route, model and pool a tier builds before serving (hundreds of thousands of
objects) stays alive for the whole process, yet each full collection of CPython's cyclic garbage
collector walked all of it again: a pause of ~35 ms every few thousand requests, which was the
whole of user-service's p99 at 4 connections (35 ms, p50 2 ms; issue 16). Frozen after start-up
(``gc.freeze``), those objects are skipped; objects made while serving are collected as before.
Unfrozen at shutdown, so a process that builds many apps (the tests) can still free old ones.
"""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

Lifespan = Callable[[Any], AbstractAsyncContextManager[Any]]


def frozen_while_serving(inner: Lifespan | None) -> Lifespan:
    """``inner`` (the app's lifespan, or none) with the start-up heap frozen while serving."""

    @asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[Any]:
        if inner is None:
            state = None
            _freeze()
            try:
                yield state
            finally:
                gc.unfreeze()
            return
        async with inner(app) as state:
            _freeze()
            try:
                yield state
            finally:
                gc.unfreeze()

    return lifespan


def _freeze() -> None:
    # Collect first: garbage frozen would never be freed.
    gc.collect()
    gc.freeze()


__all__ = ["Lifespan", "frozen_while_serving"]
