"""The dashboard's error-id search: one request as a tree across tiers — what `uo trace --json`
prints — from the log reader the chart names (``UO_LOGS_URL``: `uo up`'s uo_logs, which reads the
engine's log files). This tier only relays: it may reach the reader (its allow-logs-query
NetworkPolicy), the dashboard may not.
"""

from __future__ import annotations

import httpx

from unifyops.platform.environment.environment_service.schemas import TraceView
from unifyops_core.exceptions import DependencyUnavailableError, NotFoundError

TIMEOUT_SECONDS = 10.0  # a search reads every tier's log of the last hour


async def read_trace(
    client: httpx.AsyncClient, base_url: str, identifier: str, since: str
) -> TraceView:
    """The request ``identifier`` (a request, error or trace id) belongs to, from lines since
    ``since`` (a duration back from now, e.g. 1h, or an ISO time)."""
    if not base_url:
        raise DependencyUnavailableError(
            "no log reader is configured for this environment (monitoring.logs.url)"
        )
    try:
        response = await client.get(
            f"{base_url.rstrip('/')}/v1/trace/{identifier}",
            params={"since": since},
            timeout=TIMEOUT_SECONDS,
        )
    except httpx.HTTPError as exc:
        raise DependencyUnavailableError(
            f"the log reader did not answer ({type(exc).__name__})"
        ) from exc
    if response.status_code == httpx.codes.NOT_FOUND:
        raise NotFoundError(_message(response, f"no log line carries {identifier!r}"))
    if response.status_code != httpx.codes.OK:
        raise DependencyUnavailableError(
            f"the log reader answered {response.status_code}: {_message(response, '')}"
        )
    return TraceView.model_validate(response.json())


def _message(response: httpx.Response, default: str) -> str:
    try:
        return str(response.json().get("message") or default)
    except (ValueError, AttributeError):
        return default


__all__ = ["TIMEOUT_SECONDS", "read_trace"]
