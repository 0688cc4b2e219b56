import io
import json
import logging
import os
import re
import subprocess
import sys

import pytest
import uvicorn
from fastapi import FastAPI
from loguru import logger
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from uvicorn.middleware.message_logger import MessageLoggerMiddleware

from unifyops_core._version import __version__
from unifyops_core.context import set_request_id
from unifyops_core.db import Database
from unifyops_core.logs import ACCESS_LOGGER, access_line, configure_logging, stdlib_level
from unifyops_core.testing import capture_logs
from unifyops_core.testing_db import fresh_database


def test_one_json_object_per_line_with_the_service_identity() -> None:
    with capture_logs(service="user-service") as logs:
        logger.bind(user_id="u-1").info("profile updated")
    (record,) = logs.records
    assert record["message"] == "profile updated"
    assert record["level"] == "INFO"
    assert record["service"] == "user-service"
    assert record["version"] == "0.0.0-test"
    assert record["environment"] == "test"
    assert record["core_version"] == __version__
    assert record["host"]
    assert record["logger"] == __name__
    assert record["extra"] == {"user_id": "u-1"}
    assert re.match(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$", record["timestamp"])
    assert set(record) >= {"request_id", "error_id"}


def test_standard_library_logging_is_routed_into_the_same_sink() -> None:
    with capture_logs() as logs:
        logging.getLogger("uvicorn.error").warning("worker %s started", 3)
        logging.getLogger("sqlalchemy.pool").warning("pool limit reached")
        logging.getLogger("httpx").warning("connection pool exhausted")
    by_logger = {record["logger"]: record for record in logs.records}
    assert by_logger["uvicorn.error"]["message"] == "worker 3 started"
    assert by_logger["uvicorn.error"]["level"] == "WARNING"
    assert by_logger["sqlalchemy.pool"]["message"] == "pool limit reached"
    assert by_logger["httpx"]["level"] == "WARNING"


def test_httpx_request_lines_are_not_logged_even_at_debug() -> None:
    # ServiceClient logs each call itself; httpx's own line per request is a duplicate.
    with capture_logs(level="DEBUG") as logs:
        logging.getLogger("httpx").info("HTTP Request: GET http://svc/x")
        logging.getLogger("httpcore.connection").debug("connect_tcp.started")
    assert logs.records == []


async def test_sqlalchemy_statements_are_not_logged_but_its_warnings_are() -> None:
    # SQLAlchemy decides per connection whether to log each statement, from its logger's level;
    # a real engine on the test PostgreSQL.
    async with fresh_database() as settings:
        with capture_logs(level="DEBUG") as logs:
            database = Database(settings)
            async for session in database.session():
                await session.execute(text("SELECT 1"))
                await session.commit()
            await database.dispose()
            logging.getLogger("sqlalchemy.pool").warning("pool limit reached")
    assert [record["message"] for record in logs.records] == ["pool limit reached"]


def test_the_root_logger_filters_at_the_configured_level() -> None:
    with capture_logs(level="WARNING") as logs:
        assert logging.getLogger().level == logging.WARNING
        logging.getLogger("uvicorn.error").info("not written")
        logging.getLogger("uvicorn.error").error("written")
    assert [record["message"] for record in logs.records] == ["written"]


@pytest.mark.parametrize(("level", "traced"), [("INFO", False), ("DEBUG", False), ("TRACE", True)])
def test_uvicorn_wraps_the_app_in_its_message_logger_only_at_trace(
    level: str, traced: bool
) -> None:
    with capture_logs(level=level):
        config = uvicorn.Config(FastAPI(), log_config=None)
        config.load()
    wrappers, app = [], config.loaded_app
    while not isinstance(app, FastAPI):  # uvicorn's own middleware, outermost first
        wrappers.append(type(app))
        app = app.app
    assert (MessageLoggerMiddleware in wrappers) is traced


def test_an_unknown_level_is_refused() -> None:
    assert stdlib_level("info") == logging.INFO
    assert stdlib_level("SUCCESS") == 25
    with pytest.raises(ValueError, match="unknown log level"):
        stdlib_level("LOUD")


def test_secrets_are_redacted_in_message_and_fields() -> None:
    with capture_logs() as logs:
        logger.bind(password="hunter2", headers={"Authorization": "Bearer abc.def"}).info(
            "connecting to postgresql://app:hunter2@db/users"
        )
    text = logs.stream.getvalue()
    assert "hunter2" not in text
    assert "abc.def" not in text
    (record,) = logs.records
    assert record["extra"]["password"] == "[REDACTED]"


def test_newlines_cannot_forge_log_lines() -> None:
    forged = 'innocent\n{"level": "ERROR", "message": "forged"}'
    with capture_logs() as logs:
        logger.bind(user_agent=forged).info(forged)
    assert len(logs.lines) == 1
    assert logs.records[0]["message"] == forged


def test_exceptions_are_logged_without_local_variables() -> None:
    def fail() -> None:
        password = "hunter2-local"  # would show up if diagnose were on
        raise ValueError("bad input " + str(len(password)))

    with capture_logs() as logs:
        try:
            fail()
        except ValueError:
            logger.exception("failed")
    (record,) = logs.records
    assert record["exception"]["type"] == "ValueError"
    assert (
        "fail()" in record["exception"]["traceback"]
        or "in fail" in record["exception"]["traceback"]
    )
    assert "hunter2-local" not in json.dumps(record)


def test_level_filtering() -> None:
    with capture_logs(level="WARNING") as logs:
        logger.info("quiet")
        logger.warning("loud")
    assert [record["message"] for record in logs.records] == ["loud"]


def test_a_database_error_is_logged_with_frames_but_not_its_message() -> None:
    # The driver quotes bound values in its messages ("invalid input for query argument $1: ...").
    secret = "-".join(("hunter2", "marker"))  # built, so the source lines in frames lack it

    def query() -> None:
        try:
            raise ValueError(f"invalid input for query argument $1: {secret!r}")
        except ValueError as driver_error:
            raise DBAPIError("SELECT $1", (secret,), driver_error) from driver_error

    with capture_logs() as logs:
        try:
            query()
        except DBAPIError as exc:
            logger.opt(exception=exc).error("request failed")
    (record,) = logs.records
    assert record["exception"]["type"] == "DBAPIError"
    assert "in query" in record["exception"]["traceback"]  # where it failed is kept
    assert secret not in logs.stream.getvalue()


def test_writes_debug_follows_the_configured_level() -> None:
    from unifyops_core.logs import writes_debug
    from unifyops_core.testing import capture_logs

    with capture_logs(level="INFO"):
        assert not writes_debug()
    with capture_logs(level="DEBUG"):
        assert writes_debug()


def test_the_access_line_is_the_line_loguru_would_write() -> None:
    fields = {"method": "GET", "path": "/v1/profile", "status": 200, "duration_ms": 1.25}
    set_request_id("req-access")
    try:
        with capture_logs(service="user-api") as logs:
            logger.bind(**fields).info("GET /v1/profile 200")
            access_line("GET", "/v1/profile", 200, 1.25)
    finally:
        set_request_id(None)
    through_loguru, direct = logs.records
    assert direct["logger"] == ACCESS_LOGGER
    assert direct["request_id"] == "req-access"
    for record in (through_loguru, direct):
        del record["timestamp"], record["logger"]
    assert direct == through_loguru
    assert direct["extra"] == fields


def test_the_access_line_is_redacted_and_follows_the_level() -> None:
    with capture_logs() as logs:
        access_line("GET", "/reset?token=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl", 200, 1)
    (record,) = logs.records
    assert "eyJzdWIiOiJ4In0" not in json.dumps(record)
    with capture_logs(level="WARNING") as logs:
        access_line("GET", "/v1/profile", 200, 1.0)
    assert logs.lines == []


def test_an_access_line_that_cannot_be_written_does_not_fail_the_request(
    capsys: pytest.CaptureFixture[str],
) -> None:
    class Broken(io.StringIO):
        def write(self, text: str) -> int:
            raise OSError("disk full")

    configure_logging(service="s", version="0", environment="test", stream=Broken())
    try:
        access_line("GET", "/", 200, 1.0)
    finally:
        configure_logging(service="s", version="0", environment="test")
    assert "access line not written" in capsys.readouterr().err


_LOGS_WHILE_WRITING = """
import io, json, sys
from loguru import logger
from unifyops_core.logs import access_line, configure_logging

class LogsWhileWriting(io.StringIO):
    armed = True

    def write(self, text):
        if self.armed:
            self.armed = False
            logger.error("logged from inside the sink's write")
        return super().write(text)

stream = LogsWhileWriting()
configure_logging(service="s", version="0", environment="test", stream=stream)
access_line("GET", "/", 200, 1.0)
stream.armed = True
logger.info("plain")
print(json.dumps([json.loads(line)["message"] for line in stream.getvalue().splitlines()]))
"""


def test_a_line_logged_while_the_access_line_is_written_cannot_deadlock() -> None:
    # A finalizer run by a collection during the write, or a signal handler, may log on the very
    # thread that holds the sink: that line is dropped (as loguru drops a re-entrant one) and the
    # thread goes on. In a child process, so that a deadlock fails the test instead of hanging it.
    child = subprocess.run(  # noqa: S603 - this interpreter, the script above
        [sys.executable, "-c", _LOGS_WHILE_WRITING],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    assert child.returncode == 0, child.stderr
    assert json.loads(child.stdout) == ["GET / 200", "plain"]
