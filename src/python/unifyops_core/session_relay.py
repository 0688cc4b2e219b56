"""Signing in through any gateway: ``POST /v1/auth/{register,login,refresh,logout}`` relayed to the
auth stack's gateway, unchanged in both directions.

Each stack's app may call only its own gateway (the app tier reaches nothing else), yet every app
needs a session. Gateways already reach auth-api (for the JWKS and service tokens), so they relay
these four calls; the auth stack stays the only place that knows accounts. Responses, errors in
the uniform shape included, pass through as auth-api gave them.
"""

from __future__ import annotations

import httpx
from fastapi import APIRouter, Request, Response

from unifyops_core import tracing
from unifyops_core.client import POOL_LIMITS
from unifyops_core.context import current_request_id
from unifyops_core.exceptions import DependencyUnavailableError, ValidationError
from unifyops_core.middleware import REQUEST_ID_HEADER
from unifyops_core.shared_http import SharedAsyncClient

SESSION_ACTIONS = ("register", "login", "refresh", "logout")
MAX_BODY_BYTES = 16 * 1024  # credentials and a refresh token; anything larger is not a session call
PASSED_HEADERS = ("content-type", "x-error-id", "cache-control")


class SessionRelay:
    def __init__(self, auth_url: str, *, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._http = SharedAsyncClient(
            base_url=auth_url, timeout=15.0, transport=transport, limits=POOL_LIMITS
        )
        self.router = APIRouter(prefix="/v1/auth", tags=["session"])
        for action in SESSION_ACTIONS:
            self.router.add_api_route(
                f"/{action}",
                self._endpoint(action),
                methods=["POST"],
                summary=f"{action.capitalize()} (relayed to the auth stack)",
                response_class=Response,
            )

    def _endpoint(self, action: str):  # type: ignore[no-untyped-def]
        async def relay(request: Request) -> Response:
            body = await request.body()
            if len(body) > MAX_BODY_BYTES:
                raise ValidationError("The request body is too large for a session call")
            headers = {"Content-Type": "application/json"}
            request_id = current_request_id()
            if request_id:
                headers[REQUEST_ID_HEADER] = request_id
            try:
                upstream = await tracing.traced(self._http).post(
                    f"/v1/auth/{action}", content=body, headers=headers
                )
            except httpx.HTTPError as exc:
                raise DependencyUnavailableError(
                    "The sign-in service is not available; try again shortly",
                    details={"dependency": "auth-api", "reason": type(exc).__name__},
                ) from exc
            passed = {k: v for k, v in upstream.headers.items() if k.lower() in PASSED_HEADERS}
            return Response(upstream.content, status_code=upstream.status_code, headers=passed)

        return relay

    async def aclose(self) -> None:
        await self._http.aclose()


__all__ = ["SESSION_ACTIONS", "SessionRelay"]
