"""ShardedTransport: the limits shared out, requests taken in turn, every pool closed."""

from __future__ import annotations

import httpx
import pytest

from unifyops_core.sharded_transport import ShardedTransport


def test_the_limits_are_shared_out_between_the_pools() -> None:
    limits = httpx.Limits(max_connections=128, max_keepalive_connections=64, keepalive_expiry=4.0)
    transport = ShardedTransport(limits, shards=8)
    assert len(transport.shards) == 8
    for shard in transport.shards:
        pool = shard._pool
        assert (pool._max_connections, pool._max_keepalive_connections) == (16, 8)
        assert pool._keepalive_expiry == 4.0


def test_a_share_is_never_zero_and_no_limit_stays_no_limit() -> None:
    transport = ShardedTransport(
        httpx.Limits(max_connections=3, max_keepalive_connections=None), shards=8
    )
    pool = transport.shards[0]._pool
    assert pool._max_connections == 1
    assert pool._max_keepalive_connections == pool._max_connections  # httpcore's reading of None
    with pytest.raises(ValueError, match="at least 1"):
        ShardedTransport(httpx.Limits(), shards=0)


async def test_requests_take_the_pools_in_turn_and_aclose_closes_them_all() -> None:
    transport = ShardedTransport(httpx.Limits(max_connections=8), shards=4)
    used: list[int] = []
    closed: list[int] = []
    for index, shard in enumerate(transport.shards):

        async def answer(request: httpx.Request, index: int = index) -> httpx.Response:
            used.append(index)
            return httpx.Response(200)

        async def close(index: int = index) -> None:
            closed.append(index)

        shard.handle_async_request = answer  # type: ignore[method-assign]
        shard.aclose = close  # type: ignore[method-assign]
    async with httpx.AsyncClient(transport=transport, base_url="http://peer") as client:
        for _ in range(8):
            assert (await client.get("/")).status_code == 200
    assert used == [0, 1, 2, 3, 0, 1, 2, 3]
    assert closed == [0, 1, 2, 3]
