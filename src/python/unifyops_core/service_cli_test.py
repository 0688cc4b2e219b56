import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import uvicorn
from fastapi import FastAPI, Request

from unifyops_core.app import create_service_app
from unifyops_core.service_cli import run_service_cli, server_config
from unifyops_core.settings import ServiceSettings
from unifyops_core.testing_db import free_port


def never_called() -> FastAPI:
    raise AssertionError("the app must not be built for this command")


def test_migrate_success_exits_zero() -> None:
    calls: list[str] = []
    code = run_service_cli(
        ["migrate"],
        name="demo-service",
        port=8001,
        app_factory=never_called,
        migrate=lambda: calls.append("migrated"),
    )
    assert (code, calls) == (0, ["migrated"])


def test_migrate_failure_exits_non_zero_with_a_redacted_message(
    capsys: pytest.CaptureFixture[str],
) -> None:
    def broken() -> None:
        raise ConnectionError("could not connect to postgresql://app:hunter2@db:5432/x")

    code = run_service_cli(
        ["migrate"], name="demo-service", port=8001, app_factory=never_called, migrate=broken
    )
    err = capsys.readouterr().err
    assert code == 1
    assert "demo-service: migration failed: ConnectionError" in err
    assert "hunter2" not in err


def test_a_configuration_error_is_a_message_not_a_traceback(
    capsys: pytest.CaptureFixture[str],
) -> None:
    def misconfigured() -> FastAPI:
        raise ValueError("secrets signing_key are empty or placeholders")

    assert run_service_cli(["serve"], name="demo-api", port=8002, app_factory=misconfigured) == 1
    assert capsys.readouterr().err.startswith("demo-api: cannot start: secrets signing_key")


@pytest.mark.parametrize("argv", [["--help"], ["serve", "--help"], ["migrate", "--help"]])
def test_help_on_every_command(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        run_service_cli(
            argv, name="demo-service", port=8001, app_factory=never_called, migrate=lambda: None
        )
    assert exited.value.code == 0
    assert "usage: demo-service" in capsys.readouterr().out


def test_gateways_have_no_migrate_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        run_service_cli(["migrate"], name="demo-api", port=8002, app_factory=never_called)
    assert exited.value.code == 2


@contextmanager
def serving(app: FastAPI) -> Iterator[int]:
    """The app under the exact uvicorn configuration `serve` uses, on a loopback port."""
    port = free_port()
    server = uvicorn.Server(server_config(app, host="127.0.0.1", port=port, graceful_seconds=1))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "server did not start"
        assert thread.is_alive(), "server stopped"
        time.sleep(0.01)
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def exchange(port: int, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as connection:
        connection.sendall(request)
        received = b""
        while chunk := connection.recv(65536):
            received += chunk
        return received


def test_protocol_errors_are_refused_by_the_server_before_the_app() -> None:
    app = create_service_app(ServiceSettings(service_name="demo-api"), version="1")
    with serving(app) as port:
        # A head still incomplete past the limit: refused without waiting for the rest of it.
        huge_head = b"GET /health/live HTTP/1.1\r\nHost: t\r\nX-Big: " + b"a" * 20_000
        assert exchange(port, huge_head).startswith(b"HTTP/1.1 400 ")
        assert exchange(port, b"\x16\x03\x01garbage\r\n\r\n").startswith(b"HTTP/1.1 400 ")
        # A body over the limit is answered 413 in the uniform shape without being sent at all.
        declared = (
            b"POST /anything HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
            b"Content-Length: 20000000\r\n\r\n"
        )
        answer = exchange(port, declared)
        assert answer.startswith(b"HTTP/1.1 413 ")
        assert b'"error_type":"payload_too_large"' in answer
        # A head within the limit is served.
        normal = b"GET /health/live HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
        assert exchange(port, normal).startswith(b"HTTP/1.1 200 ")


def test_the_server_runs_on_uvloop_with_the_bounded_httptools_protocol() -> None:
    app = create_service_app(ServiceSettings(service_name="demo-api"), version="1")

    @app.get("/loop")
    async def loop_kind() -> dict[str, str]:
        import asyncio

        return {"loop": type(asyncio.get_running_loop()).__module__}

    with serving(app) as port:
        answer = exchange(port, b"GET /loop HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 200 ")
    assert b'"loop":"uvloop"' in answer


def test_a_head_trickled_past_the_limit_is_refused_before_it_ends() -> None:
    app = create_service_app(ServiceSettings(service_name="demo-api"), version="1")
    with serving(app) as port, socket.create_connection(("127.0.0.1", port), timeout=5) as client:
        client.sendall(b"GET /health/live HTTP/1.1\r\nHost: t\r\n")
        refused = b""
        # 1 KiB header lines, one read each: the protocol counts across reads.
        for number in range(64):
            try:
                client.sendall(f"X-Pad-{number}: {'a' * 1000}\r\n".encode())
            except (BrokenPipeError, ConnectionResetError):
                break
            time.sleep(0.005)
        with contextlib.suppress(ConnectionResetError):
            while chunk := client.recv(65536):
                refused += chunk
    assert refused.startswith(b"HTTP/1.1 400 ")
    assert b"Request head too large." in refused


def test_bodies_and_pipelined_requests_are_not_counted_as_head() -> None:
    app = create_service_app(ServiceSettings(service_name="demo-api"), version="1")

    @app.post("/echo-size")
    async def echo_size(request: Request) -> dict[str, int]:
        return {"bytes": len(await request.body())}

    body = b"x" * 300_000  # far over the head limit, within the body limit
    post = (
        b"POST /echo-size HTTP/1.1\r\nHost: t\r\nContent-Type: application/octet-stream\r\n"
        + f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    live = b"GET /health/live HTTP/1.1\r\nHost: t\r\n\r\n"
    last = b"GET /health/live HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
    near_limit = b"GET /health/live HTTP/1.1\r\nHost: t\r\nX-Big: " + b"a" * 12_000 + b"\r\n\r\n"
    with serving(app) as port:
        answers = exchange(port, post + live + near_limit + post + last)
    assert answers.count(b"HTTP/1.1 200 ") == 5, answers[:400]
    assert answers.count(b'{"bytes":300000}') == 2
