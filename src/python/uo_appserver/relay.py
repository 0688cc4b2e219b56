"""``/api/*`` → the stack's gateway: method, path, query, body and end-to-end headers, both ways.

Bodies are bounded: a request body over ``MAX_BODY`` is refused with 413 before it is read — on its
``Content-Length`` when it declares one, else as soon as the streamed chunks pass the limit — and
the gateway's answer is read up to ``MAX_ANSWER``. Every failure the app server answers itself is
in the uniform error shape, and so is any gateway error that is not (a proxy's plain-text 502, an
HTML page): the page parses one shape. Upstream messages never name a host.
"""

from __future__ import annotations

import time

import httpx
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from unifyops_core import tracing
from unifyops_core.client_address import client_address_of
from unifyops_core.error_shape import ERROR_ID_HEADER, is_error_body
from unifyops_core.middleware import incoming_request_id
from unifyops_core.shared_http import SharedAsyncClient
from uo_appserver import bounded_json, headers, session
from uo_appserver.errors import error_bytes, error_response, error_type_for, log

MAX_BODY = 1024 * 1024
MAX_ANSWER = 8 * 1024 * 1024
# Connecting to a Service in the same namespace is instant or broken: 5 s at most.
CONNECT_TIMEOUT = 5.0
LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=20, keepalive_expiry=30.0)


class BodyTooLargeError(Exception):
    """A body passed its limit."""


async def read_request_body(request: Request, limit: int = MAX_BODY) -> bytes:
    declared = request.headers.get("content-length")
    # h11 has already refused a Content-Length that is not digits, so int() cannot fail here.
    if declared is not None and int(declared) > limit:
        raise BodyTooLargeError
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLargeError
        chunks.append(chunk)
    return b"".join(chunks)


async def _read_answer(upstream: httpx.Response) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in upstream.aiter_bytes():
        size += len(chunk)
        if size > MAX_ANSWER:
            raise BodyTooLargeError
        chunks.append(chunk)
    return b"".join(chunks)


def _uniform(status: int, body: bytes) -> bool:
    try:
        return is_error_body(bounded_json.loads(body))
    except ValueError:
        return False


# What a gateway error that is not in the uniform shape becomes (its status, a safe message).
_NON_UNIFORM_5XX = {503: 503, 504: 504}
_MESSAGES = {
    400: "The request is not valid",
    401: "Authentication required",
    403: "Not allowed",
    404: "Not found",
    405: "Method not allowed",
    413: "The request body is too large",
    429: "Too many requests; try again later",
    502: "The service answered with an error",
    503: "The service is not available; try again shortly",
    504: "The service did not answer in time",
}


class Relay:
    """One pooled HTTP client to the gateway, shared by every request (closed on shutdown)."""

    def __init__(
        self,
        api_url: str,
        *,
        secure: bool,
        timeout: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._base = httpx.URL(api_url)
        self._secure = secure
        self._client = SharedAsyncClient(
            timeout=httpx.Timeout(
                timeout, connect=min(timeout, CONNECT_TIMEOUT), pool=CONNECT_TIMEOUT
            ),
            limits=LIMITS,
            transport=transport,
            follow_redirects=False,
            trust_env=False,  # no proxy or netrc from the environment
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def handle(self, request: Request) -> Response:
        """Relay one request; its access line names it by the id it carries on to the gateway
        (the edge's, or a new one), so `uo trace` finds this hop with the others."""
        request_id = incoming_request_id(request.headers)
        started = time.perf_counter()
        status = 500
        try:
            response = await self._relay(request, request_id)
            status = response.status_code
            return response
        finally:
            log(
                "access",
                request_id=request_id,
                method=request.method,
                path=request.url.path,
                status=status,
                duration_ms=round((time.perf_counter() - started) * 1000, 2),
            )

    async def _relay(self, request: Request, request_id: str) -> Response:
        raw_path: bytes = request.scope["raw_path"]
        upstream_path = raw_path.removeprefix(b"/api") or b"/"
        path = request.url.path.removeprefix("/api")
        session_call = session.is_session_call(request.method, path)
        try:
            body = await read_request_body(request)
        except BodyTooLargeError:
            return error_response(413, _MESSAGES[413], headers={"Connection": "close"})
        except ClientDisconnect:
            return Response(status_code=400)  # nobody is listening any more
        if session_call:
            try:
                body = session.request_body(path, body, request.cookies)
            except bounded_json.JSONTooDeepError:
                return error_response(400, "The request body nests too deeply")
        query = request.scope["query_string"]
        target = upstream_path + (b"?" + query if query else b"")
        outgoing = self._client.build_request(
            request.method,
            self._base.copy_with(raw_path=target),
            headers=headers.towards_gateway(
                request.headers.items(), client_address_of(request.scope), self._secure, request_id
            ),
            content=body,
        )
        try:
            # traced: the call carries the request's traceparent when tracing is on.
            upstream = await tracing.traced(self._client).send(outgoing, stream=True)
            try:
                answer = await _read_answer(upstream)
            finally:
                await upstream.aclose()
        except httpx.TimeoutException as exc:
            log("api_timeout", error=type(exc).__name__, path=path)
            return error_response(504, _MESSAGES[504])
        except httpx.HTTPError as exc:
            log("api_unavailable", error=type(exc).__name__, path=path)
            return error_response(503, _MESSAGES[503])
        except BodyTooLargeError:
            log("api_answer_too_large", path=path)
            return error_response(502, _MESSAGES[502])
        return self._answer(path, session_call, upstream, answer)

    def _answer(
        self, path: str, session_call: bool, upstream: httpx.Response, answer: bytes
    ) -> Response:
        status = upstream.status_code
        passed = headers.towards_browser(upstream.headers.multi_items())
        if status >= 400 and not _uniform(status, answer):
            status = _NON_UNIFORM_5XX.get(status, 502) if status >= 500 else status
            answer, error_id = error_bytes(
                status, _MESSAGES.get(status, "The request failed"), error_type_for(status)
            )
            log("api_error_not_uniform", status=upstream.status_code, path=path, error_id=error_id)
            passed = [(k, v) for k, v in passed if k.lower() not in {"content-type", "x-error-id"}]
            passed += [("Content-Type", "application/json"), (ERROR_ID_HEADER, error_id)]
        if session_call:
            try:
                answer, cookies = session.answer(path, status, answer, secure=self._secure)
            except session.UnreadableAnswerError as exc:
                log("api_session_answer_unreadable", path=path, error=str(exc))
                return error_response(502, _MESSAGES[502])
            passed = [(k, v) for k, v in passed if k.lower() != "cache-control"]
            passed += [("Set-Cookie", value) for value in cookies]
            passed.append(("Cache-Control", "no-store"))
        response = Response(answer, status_code=status)
        # Response built its own Content-Length; every other header is the gateway's, repeats kept.
        response.raw_headers += [
            (k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in passed
        ]
        return response


__all__ = ["MAX_BODY", "BodyTooLargeError", "Relay", "read_request_body"]
