"""How long the relay of an answer's body may pass nothing on, as its first byte is bounded: an
upstream stalled mid-body, or a client that stopped reading, is cut off instead of holding both
connections forever; an answer that keeps coming, to a client that keeps taking it, never is.

One timer per answer, looked at only when it is due: the relay's progress callback just notes
the time instead of rescheduling a timer for every piece. When it is due and nothing was passed
on for the whole bound, bytes the client took meanwhile count too: a client reading slowly takes
what is queued for it without ever letting a write complete, and is slow, not gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from collections.abc import AsyncIterator

from uo_edge.framing import Progress

# struct tcp_info (linux/tcp.h) is only ever extended at its end; tcpi_bytes_acked (Linux 4.1+) is
# the u64 at byte 120: every byte of the stream the peer has acknowledged so far.
_TCP_INFO_BYTES_ACKED = struct.Struct("=Q")
_BYTES_ACKED_AT = 120


def taken_by_peer(transport: asyncio.WriteTransport) -> int:
    """Bytes the peer of ``transport`` has taken so far (acknowledged; once its receive buffer
    is full, only what it reads is), or 0 where that cannot be known (not TCP, closed)."""
    sock = transport.get_extra_info("socket")
    if sock is None:
        return 0
    try:
        info = sock.getsockopt(
            socket.IPPROTO_TCP, socket.TCP_INFO, _BYTES_ACKED_AT + _TCP_INFO_BYTES_ACKED.size
        )
    except (OSError, ValueError):
        return 0
    if len(info) < _BYTES_ACKED_AT + _TCP_INFO_BYTES_ACKED.size:
        return 0  # a kernel older than the field
    return int(_TCP_INFO_BYTES_ACKED.unpack_from(info, _BYTES_ACKED_AT)[0])


class _Watch:
    __slots__ = ("handle", "last", "loop", "seconds", "taken", "timeout", "transport")

    def __init__(
        self, seconds: float, transport: asyncio.WriteTransport, timeout: asyncio.Timeout
    ) -> None:
        self.loop = asyncio.get_running_loop()
        self.seconds, self.transport, self.timeout = seconds, transport, timeout
        self.last = self.loop.time()
        self.taken = taken_by_peer(transport)
        self.handle = self.loop.call_at(self.last + seconds, self.due)

    def progress(self) -> None:
        self.last = self.loop.time()

    def due(self) -> None:
        now = self.loop.time()
        taken = taken_by_peer(self.transport)
        if taken > self.taken:
            self.last = now  # the client took bytes since the last look: slow, not stopped
        self.taken = taken
        if self.last > now - self.seconds:
            self.handle = self.loop.call_at(self.last + self.seconds, self.due)
        else:
            self.timeout.reschedule(now)  # expires now: the relay's task gets TimeoutError


@contextlib.asynccontextmanager
async def silence_bounded(client: asyncio.StreamWriter, seconds: float) -> AsyncIterator[Progress]:
    """Raises TimeoutError out of the block once nothing moved for ``seconds`` (see the module);
    yields the callback the relay calls after each piece it passes on."""
    async with asyncio.timeout(None) as timeout:
        watch = _Watch(seconds, client.transport, timeout)
        try:
            yield watch.progress
        finally:
            watch.handle.cancel()


__all__ = ["silence_bounded", "taken_by_peer"]
