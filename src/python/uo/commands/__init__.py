"""One module per `uo` command: ``register(subparsers)`` adds its parser (and sets ``run``), and
``run(options) -> int`` does the work. Heavy imports (Helm, the Docker SDK) happen inside ``run``,
so `uo --help` and every parser stay fast."""

from __future__ import annotations

from uo.commands import (
    affected,
    bump,
    chart,
    check_core,
    completion,
    diff,
    images,
    local,
    matrix,
    new,
    promote,
    prune,
    publish,
    render,
    roles,
    seal,
    status,
    trace,
    where,
)

# In the order `uo --help` lists them: the release loop first, then the desired state, then
# the local environment.
COMMANDS = (
    render,
    diff,
    affected,
    matrix,
    check_core,
    publish,
    images,
    bump,
    promote,
    chart,
    seal,
    status,
    where,
    local,
    prune,
    trace,
    roles,
    new,
    completion,
)

__all__ = ["COMMANDS"]
