"""The dashboard's search end to end below the gateway: environment-service (in process, real
PostgreSQL) relays ``GET /internal/traces/<id>`` to the real log reader (uo_logs.server, over a
containers directory in the engine's format) and answers its tree; an id no line carries is the
uniform 404, a reader that does not answer or is not configured the uniform 503 (5xx answers
carry no detail; the service's error line does)."""

from __future__ import annotations

from pathlib import Path

from unifyops.platform.environment.environment_service.conftest import serving
from uo_logs.server_test import reader_files
from uo_logs.server_test import serving as reader


async def test_the_service_relays_the_readers_tree(tmp_path: Path) -> None:
    index = reader_files(tmp_path / "engine")
    with reader(tmp_path / "engine", index) as url:
        async with serving(tmp_path / "service", logs_url=url) as service:
            found = await service.http.get("/internal/traces/err-abc", headers=service.headers)
            assert found.status_code == 200, found.text
            tree = found.json()
            assert tree["failing"] == {
                "tier": "service",
                "container": "user-service",
                "status": 503,
            }
            assert [hop["tier"] for hop in tree["spans"]] == ["api"]
            missing = await service.http.get("/internal/traces/nothing", headers=service.headers)
            assert missing.status_code == 404
            assert missing.json()["error_type"] == "not_found"
            assert "carries 'nothing'" in missing.json()["message"]
            bad = await service.http.get(
                "/internal/traces/err-abc", params={"since": "; drop"}, headers=service.headers
            )
            assert bad.status_code == 422


async def test_no_reader_is_a_uniform_503(tmp_path: Path) -> None:
    async with serving(tmp_path / "a", logs_url="http://127.0.0.1:9") as service:
        down = await service.http.get("/internal/traces/err-abc", headers=service.headers)
        assert down.status_code == 503  # why is in the service's log line, not the answer
        assert down.json()["error_type"] == "dependency_unavailable"
    async with serving(tmp_path / "b") as service:
        unset = await service.http.get("/internal/traces/err-abc", headers=service.headers)
        assert unset.status_code == 503
        assert unset.json()["error_type"] == "dependency_unavailable"
