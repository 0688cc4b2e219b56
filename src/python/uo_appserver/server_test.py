"""The entry point as the image runs it: configured by environment, stopped by SIGTERM."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ENTRY = "from uo_appserver.server import entrypoint; entrypoint()"


def _env(**values: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), **values}


def test_serves_on_the_configured_port_and_stops_cleanly_on_sigterm(bundle: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = _env(UO_PORT=str(port), UO_BUNDLE_DIR=str(bundle), UO_API_URL="http://127.0.0.1:9")
    command = [sys.executable, "-c", ENTRY]  # our interpreter, our entry point
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE)  # noqa: S603
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                ready = httpx.get(f"http://127.0.0.1:{port}/health/ready")
                break
            except httpx.TransportError:
                assert process.poll() is None
                assert time.monotonic() < deadline
                time.sleep(0.1)
        assert ready.status_code == 200
        process.send_signal(signal.SIGTERM)
        # uvicorn finishes its graceful shutdown, then re-raises the signal it caught.
        assert process.wait(timeout=10) in (0, -signal.SIGTERM)
        stdout = process.stdout.read() if process.stdout else b""
        assert b'"event": "listening"' in stdout
    finally:
        process.kill()
        process.wait()


def test_refuses_to_start_without_a_gateway_url(bundle: Path) -> None:
    result = subprocess.run(  # noqa: S603 - our interpreter, our entry point
        [sys.executable, "-c", ENTRY],
        env=_env(UO_API_URL="ftp://x", UO_BUNDLE_DIR=str(bundle)),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 1
    assert "UO_API_URL must be http://host:port" in result.stderr
