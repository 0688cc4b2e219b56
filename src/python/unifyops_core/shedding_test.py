"""Load shedding on a real server: above the in-flight limit, an immediate 503, never a queue."""

import asyncio
import threading

import httpx

from unifyops_core.app import create_service_app
from unifyops_core.settings import ServiceSettings
from unifyops_core.testing_db import serve_on_loopback


async def test_requests_above_the_limit_get_503_with_retry_after_and_health_still_answers() -> None:
    app = create_service_app(ServiceSettings(service_name="demo-api", max_in_flight=2), version="1")
    release = threading.Event()

    @app.get("/held")
    async def held() -> dict[str, bool]:
        # The server runs in its own thread and loop: wait for the test without blocking it.
        await asyncio.to_thread(release.wait, 10)
        return {"ok": True}

    with serve_on_loopback(app) as url:
        async with httpx.AsyncClient(base_url=url, timeout=10) as http:
            busy = [asyncio.create_task(http.get("/held")) for _ in range(2)]
            await asyncio.sleep(0.3)  # both are in flight now
            shed = await http.get("/held")
            live = await http.get("/health/live")
            ready = await http.get("/health/ready")
            release.set()
            served = await asyncio.gather(*busy)
            after = await http.get("/held")

    assert shed.status_code == 503
    body = shed.json()
    assert (body["error_type"], body["error_id"]) == ("overloaded", shed.headers["X-Error-ID"])
    assert shed.headers["Retry-After"] == "1"
    assert shed.elapsed.total_seconds() < 0.5  # refused at once, not queued behind the others
    assert (live.status_code, ready.status_code) == (200, 200)
    assert [response.status_code for response in served] == [200, 200]
    assert after.status_code == 200  # the slots are given back
