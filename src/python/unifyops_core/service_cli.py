"""The command line every service and gateway binary shares: ``serve`` and ``migrate``.

``serve`` runs uvicorn on the tier's conventional port with graceful shutdown: on SIGTERM it stops
accepting connections and lets in-flight requests finish for up to ``--graceful-seconds``.
``migrate`` upgrades the database to head and exits non-zero on failure, so it can run as a
one-shot Job that blocks a rollout.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence

import uvicorn
from fastapi import FastAPI
from loguru import logger

from unifyops_core.http_protocol import BoundedHeadHttpToolsProtocol
from unifyops_core.logs import configure_logging
from unifyops_core.redaction import redact_text

EXIT_OK, EXIT_FAILURE = 0, 1
# A request head (request line plus all headers) still incomplete past this many bytes is refused.
# 16 KiB fits any real request (a bearer token is ~1 KiB) and bounds what a client can pin. It is
# checked on what is still incomplete after a socket read, so a head that arrives whole within
# one read (uvicorn reads 64 KiB) passes: the effective bound is about 80 KiB.
MAX_REQUEST_HEAD_BYTES = 16 * 1024


def run_service_cli(
    argv: Sequence[str] | None,
    *,
    name: str,
    port: int,
    app_factory: Callable[[], FastAPI],
    migrate: Callable[[], None] | None = None,
    version: str = "unknown",
) -> int:
    # JSON logs from the first line on, migrations included; the app refines this from settings.
    configure_logging(
        service=name, version=version, environment=os.environ.get("UO_ENVIRONMENT", "development")
    )
    parser = argparse.ArgumentParser(prog=name, description=f"Run {name}.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    serve = commands.add_parser("serve", help=f"serve HTTP (default command; port {port})")
    serve.add_argument("--host", default="0.0.0.0", help="address to bind (default: all)")  # noqa: S104
    serve.add_argument("--port", type=int, default=port, help=f"port (default: {port})")
    serve.add_argument(
        "--graceful-seconds", type=int, default=20, help="time in-flight requests get after SIGTERM"
    )
    if migrate is not None:
        commands.add_parser("migrate", help="upgrade the database schema to the newest revision")
    options = parser.parse_args(argv)

    if options.command == "migrate" and migrate is not None:
        return _migrate(name, migrate)
    host = getattr(options, "host", "0.0.0.0")  # noqa: S104 - containers listen on all interfaces
    chosen_port = getattr(options, "port", port)
    graceful = getattr(options, "graceful_seconds", 20)
    try:
        app = app_factory()
    except Exception as exc:  # a configuration error: say what, not a traceback
        print(f"{name}: cannot start: {redact_text(str(exc))}", file=sys.stderr)
        return EXIT_FAILURE
    uvicorn.Server(server_config(app, host=host, port=chosen_port, graceful_seconds=graceful)).run()
    return EXIT_OK


def server_config(
    app: FastAPI, *, host: str, port: int, graceful_seconds: int = 20
) -> uvicorn.Config:
    """How every tier runs under uvicorn.

    uvloop's event loop and httptools' parser (both C) instead of asyncio's and h11 (Python):
    together about a third less CPU per request in every tier (docs/benchmarks.md, issue 16).
    Protocol errors (a garbage request line, a head over ``MAX_REQUEST_HEAD_BYTES``, a malformed
    ``Content-Length``) are answered by the protocol itself, before the app exists for that
    request: a plain-text 400 and a closed connection. uvicorn offers no supported hook to
    shape that answer, so it stays plain text; everything that reaches the app is answered in the
    uniform shape, and bodies are limited by the app (``RequestGuardMiddleware``) before reading.
    """
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        loop="uvloop",
        http=BoundedHeadHttpToolsProtocol,
        # The head limit; BoundedHeadHttpToolsProtocol reads it from here, as h11 would.
        h11_max_incomplete_event_size=MAX_REQUEST_HEAD_BYTES,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=graceful_seconds,
        timeout_keep_alive=5,
        server_header=False,
        # The client address is client_address.py's to decide (from X-Forwarded-For as the nearest
        # proxy vouches for it); uvicorn's proxy-headers middleware would only repeat that work
        # on every request, and only for a peer on 127.0.0.1.
        proxy_headers=False,
    )


def _migrate(name: str, migrate: Callable[[], None]) -> int:
    try:
        migrate()
    except Exception as exc:
        logger.opt(exception=exc).error("{} migration failed", name)
        print(
            f"{name}: migration failed: {type(exc).__name__}: {redact_text(str(exc))}",
            file=sys.stderr,
        )
        return EXIT_FAILURE
    logger.info("{} migrated to head", name)
    return EXIT_OK


__all__ = ["MAX_REQUEST_HEAD_BYTES", "run_service_cli", "server_config"]
