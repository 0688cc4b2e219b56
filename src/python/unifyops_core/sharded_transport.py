"""One HTTP transport made of several smaller connection pools, taken in turn.

httpcore's pool (behind httpx) does, every time a request is sent and every time a response is
released, work that grows with the square of the connections it holds (it counts the idle ones
once per connection) plus a readability poll, a system call, per idle connection. A tier with
32 requests in flight holds ~32 connections to its service: at that load the scans were a quarter
of user-api's CPU (py-spy, issue 16). Split into ``shards`` pools of ``1/shards`` of the limits
each, the same connections cost ``shards`` times fewer polls and ``shards``² fewer idle counts.
"""

from __future__ import annotations

import itertools
import math

import httpx


def _share(limit: int | None, shards: int) -> int | None:
    return None if limit is None else max(1, math.ceil(limit / shards))


class ShardedTransport(httpx.AsyncBaseTransport):
    def __init__(self, limits: httpx.Limits, *, shards: int = 8) -> None:
        if shards < 1:
            raise ValueError("shards must be at least 1")
        each = httpx.Limits(
            max_connections=_share(limits.max_connections, shards),
            max_keepalive_connections=_share(limits.max_keepalive_connections, shards),
            keepalive_expiry=limits.keepalive_expiry,
        )
        self.shards = [httpx.AsyncHTTPTransport(limits=each) for _ in range(shards)]
        self._turn = itertools.cycle(self.shards)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await next(self._turn).handle_async_request(request)

    async def aclose(self) -> None:
        for shard in self.shards:
            await shard.aclose()


__all__ = ["ShardedTransport"]
