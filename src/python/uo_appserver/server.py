"""The app tier's server: one per stack, on :3000, run by uvicorn.

It serves the stack's built React bundle and forwards ``/api/*`` to the stack's own gateway, so the
browser talks to a single origin and the app tier reaches nothing but its api. Sessions live in
httpOnly cookies (``uo_appserver.session``); bodies are bounded and JSON is never parsed
recursively (``uo_appserver.relay``, ``uo_appserver.bounded_json``); every failure is in the
uniform error shape, malformed HTTP included (``uo_appserver.protocol``).

Configuration (set by the image and the chart): ``UO_BUNDLE_DIR``, ``UO_API_URL``, ``UO_PORT``,
``UO_SECURE_COOKIE``. On SIGTERM uvicorn stops accepting connections and lets in-flight requests
finish for up to ``GRACEFUL_SECONDS``.
"""

from __future__ import annotations

import sys

import uvicorn

from uo_appserver.app import MAX_HEADER_BYTES, create_app
from uo_appserver.errors import log
from uo_appserver.protocol import UniformH11Protocol
from uo_appserver.settings import Settings


def build_server(settings: Settings, host: str = "0.0.0.0") -> uvicorn.Server:  # noqa: S104 - a container's port
    config = uvicorn.Config(
        create_app(settings),
        host=host,
        port=settings.port,
        http=UniformH11Protocol,
        ws="none",
        lifespan="on",
        # The client address is computed per request from the edge's X-Forwarded-For (C1);
        # uvicorn must not rewrite the peer address itself.
        proxy_headers=False,
        server_header=False,
        access_log=False,
        log_config=None,
        timeout_keep_alive=5,
        timeout_graceful_shutdown=settings.graceful_seconds,
        h11_max_incomplete_event_size=MAX_HEADER_BYTES,
    )
    return uvicorn.Server(config)


def main() -> int:
    try:
        settings = Settings.from_env()
    except ValueError as exc:
        print(f"app: cannot start: {exc}", file=sys.stderr)
        return 1
    log("listening", port=settings.port, api=settings.api_url, bundle=str(settings.bundle))
    server = build_server(settings)
    server.run()
    # uvicorn sets started only after binding; a bind failure leaves it unset.
    return 0 if server.started else 1


def entrypoint() -> None:
    sys.exit(main())


__all__ = ["build_server", "entrypoint", "main"]
