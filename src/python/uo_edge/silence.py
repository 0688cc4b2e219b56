"""How long the relay of an answer's body may stand still, as its first byte is bounded: an
upstream stalled mid-body, or a client that stopped reading, is cut off instead of holding both
connections forever; an answer that keeps coming, to a client that keeps taking it, never is.

Standing still for the bound means: the relay passed nothing on (its progress callback, called
after each piece, just notes the time), and, if it is waiting for the client to take what it
wrote, the client took less than MIN_TAKEN_BYTES in that time (the bytes its TCP stack
acknowledged). So a client reading slowly — without ever letting a write complete — is slow, not
gone, while one taking a trickle to hold the connections (a slow-read attack) is cut. The bound
is looked at a few times per bound while an answer lasts, never for a quick one: a cut comes at
most a quarter of the bound late.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from collections import deque
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


# A client the relay waits for must take this much within a bound (30 s: ~550 bytes/s) to count
# as reading; the write buffer's low-water mark, what a completed drain meant before.
MIN_TAKEN_BYTES = 16 * 1024
LOOKS_PER_BOUND = 4


class _Watch:
    __slots__ = ("handle", "last", "loop", "seconds", "taken", "timeout", "transport")

    def __init__(
        self, seconds: float, transport: asyncio.WriteTransport, timeout: asyncio.Timeout
    ) -> None:
        self.loop = asyncio.get_running_loop()
        self.seconds, self.transport, self.timeout = seconds, transport, timeout
        self.last = self.loop.time()
        # (when, bytes taken by then), one per look, back to the one before the bound's start
        self.taken: deque[tuple[float, int]] = deque([(self.last, taken_by_peer(transport))])
        self.handle = self.loop.call_at(self.last + self.step, self.due)

    @property
    def step(self) -> float:
        return self.seconds / LOOKS_PER_BOUND

    def progress(self) -> None:
        self.last = self.loop.time()

    def due(self) -> None:
        now = self.loop.time()
        self.taken.append((now, taken_by_peer(self.transport)))
        while len(self.taken) > 1 and self.taken[1][0] <= now - self.seconds:
            self.taken.popleft()
        if now < self.last + self.seconds:  # the relay passed something on within the bound
            self.handle = self.loop.call_at(
                min(self.last + self.seconds, now + self.step), self.due
            )
        elif self._client_reading(now):
            self.handle = self.loop.call_at(now + self.step, self.due)
        else:
            self.timeout.reschedule(now)  # expires now: the relay's task gets TimeoutError

    def _client_reading(self, now: float) -> bool:
        """The relay waits for the client, which took MIN_TAKEN_BYTES within the last bound."""
        if self.transport.get_write_buffer_size() == 0:
            return False  # nothing waits for the client: the silence is the upstream's
        (since, before), (_, latest) = self.taken[0], self.taken[-1]
        return since <= now - self.seconds and latest - before >= MIN_TAKEN_BYTES


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


__all__ = ["MIN_TAKEN_BYTES", "silence_bounded", "taken_by_peer"]
