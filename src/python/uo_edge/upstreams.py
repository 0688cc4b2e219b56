"""Idle upstream connections the edge keeps open for the next request on the same route.

An upstream connection is given back only after an answer whose end the edge framed itself and
whose upstream did not ask to close. It is reused for at most UPSTREAM_IDLE_SECONDS, less than the
tiers' keep-alive timeout (5 s, unifyops_core.service_cli), so the tier never closes one just as
a request is written to it; and only when nothing waits to be read on it, buffered or in the
socket (an idle connection has nothing to say: anything there means closed or out of step). A
name is still resolved afresh for every new connection, so a rolling update moves traffic as the
old connections age out.
"""

from __future__ import annotations

import asyncio
import select
import time
from dataclasses import dataclass, field

UPSTREAM_IDLE_SECONDS = 4.0
MAX_IDLE_PER_ROUTE = 64


@dataclass
class Upstream:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    idle_since: float = field(default_factory=time.monotonic)

    def close(self) -> None:
        self.writer.close()

    def quiet(self) -> bool:
        """Nothing to read, in the reader's buffer or the socket: an idle upstream has nothing to
        say, so anything there (bytes past an answer's end, a close) means it is out of step."""
        # StreamReader has no public way to ask for its buffered bytes; this is the one place the
        # edge reads a private attribute, and it fails safe (None: not reused).
        if getattr(self.reader, "_buffer", None) != b"":
            return False
        if self.reader.at_eof() or self.writer.is_closing():
            return False
        sock = self.writer.get_extra_info("socket")
        if sock is None:
            return False
        poll = select.poll()
        poll.register(sock.fileno(), select.POLLIN)
        try:
            return not poll.poll(0)
        except OSError:
            return False


class UpstreamPool:
    def __init__(self) -> None:
        self._idle: dict[object, list[Upstream]] = {}

    def take(self, route: object) -> Upstream | None:
        """The most recently used idle connection of the route still fit to carry a request."""
        stack = self._idle.get(route)
        now = time.monotonic()
        while stack:
            upstream = stack.pop()
            if now - upstream.idle_since < UPSTREAM_IDLE_SECONDS and upstream.quiet():
                return upstream
            upstream.close()
        return None

    def give_back(self, route: object, upstream: Upstream) -> None:
        stack = self._idle.setdefault(route, [])
        if len(stack) >= MAX_IDLE_PER_ROUTE:
            upstream.close()
            return
        upstream.idle_since = time.monotonic()
        stack.append(upstream)

    def close(self) -> None:
        for stack in self._idle.values():
            for upstream in stack:
                upstream.close()
            stack.clear()


__all__ = ["MAX_IDLE_PER_ROUTE", "UPSTREAM_IDLE_SECONDS", "Upstream", "UpstreamPool"]
