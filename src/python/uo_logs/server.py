"""The log reader's HTTP API (stdlib only): ``GET /v1/trace/<id>?since=1h`` answers what
``uo trace <id> --json`` prints — the request as a tree across tiers, found by its request id,
error id or trace id — read from the log files of one environment's containers, mounted into it
one by one (uo_logs.files).

Only the environment service reaches it (its ``allow-logs-query`` NetworkPolicy); it runs in
the monitoring pod beside Prometheus, sharing its network namespace (a sidecar).
"""

from __future__ import annotations

import json
import os
import re
import sys
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from uo.loglines import SinceError, parse_since
from uo.tracing import as_json, build_trace
from uo_logs import files

PORT = 3100  # Loki's, the log store a cluster's dashboard would read instead
DEFAULT_SINCE = timedelta(hours=1)
# Request ids are the edge's or the caller's X-Request-ID (bounded by core); error and trace ids
# are hex or UUIDs.
IDENTIFIER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")


class Settings:
    def __init__(self, environ: dict[str, str]) -> None:
        self.root = Path(environ.get("UO_LOGS_ROOT", "/logs"))
        self.index = environ.get("UO_LOGS_INDEX", "[]")  # uo_logs.files: which file is whose
        self.label = environ.get("UO_LOGS_LABEL", "io.unifyops.local")
        self.environment = environ.get("UO_ENVIRONMENT", "local")
        self.port = int(environ.get("UO_PORT", str(PORT)))


def log(event: str, **fields: Any) -> None:
    """One JSON line, like the edge's and the app server's (uo.loglines reads them)."""
    record = {"timestamp": datetime.now(UTC).isoformat(), "service": "logs", "event": event}
    print(json.dumps({**record, **fields}), flush=True)


def trace(settings: Settings, identifier: str, since: datetime) -> dict[str, Any] | None:
    """The trace of ``identifier`` in the environment's lines since ``since``; None if no line
    carries it."""
    found = files.sources(files.containers(settings.root, settings.index), settings.label)
    result = build_trace(identifier, files.read_lines(found, since))
    return as_json(result) if result.request_ids else None


class Handler(BaseHTTPRequestHandler):
    settings: Settings  # set on the class the server is made with (serve)
    server_version = "uo-logs"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:
        return  # one JSON line per request instead (reply)

    def reply(self, status: HTTPStatus, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        log("request", method=self.command, path=urlsplit(self.path).path, status=int(status))

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.path in ("/health/live", "/health/ready"):
            readable = os.access(self.settings.root, os.R_OK | os.X_OK)
            status = HTTPStatus.OK if readable else HTTPStatus.SERVICE_UNAVAILABLE
            self.reply(status, {"status": "ok" if readable else "the engine's logs are unreadable"})
            return
        if not url.path.startswith("/v1/trace/"):
            self.reply(HTTPStatus.NOT_FOUND, {"message": f"no such path: {url.path}"})
            return
        identifier = unquote(url.path.removeprefix("/v1/trace/"))
        if not IDENTIFIER.match(identifier):
            self.reply(HTTPStatus.BAD_REQUEST, {"message": "not a request, error or trace id"})
            return
        query = parse_qs(url.query)
        try:
            since = parse_since(query["since"][0]) if "since" in query else None
        except SinceError as exc:
            self.reply(HTTPStatus.BAD_REQUEST, {"message": str(exc)})
            return
        since = since or datetime.now(UTC) - DEFAULT_SINCE
        found = trace(self.settings, identifier, since)
        if found is None:
            message = (
                f"no line of {self.settings.environment} since "
                f"{since.isoformat(timespec='seconds')} carries {identifier!r}"
            )
            self.reply(HTTPStatus.NOT_FOUND, {"message": message})
            return
        self.reply(HTTPStatus.OK, found)


def serve(settings: Settings, host: str = "0.0.0.0") -> ThreadingHTTPServer:  # noqa: S104
    """A server bound to ``settings.port`` (not yet serving: call serve_forever)."""
    handler = type("BoundHandler", (Handler,), {"settings": settings})
    server = ThreadingHTTPServer((host, settings.port), handler)
    server.daemon_threads = True
    return server


def entrypoint() -> None:
    settings = Settings(dict(os.environ))
    server = serve(settings)
    log("listening", port=settings.port, environment=settings.environment)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    sys.exit(0)


__all__ = ["PORT", "Settings", "entrypoint", "serve", "trace"]
