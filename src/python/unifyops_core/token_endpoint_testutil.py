"""A real client-credentials token endpoint (an ASGI app) for tests of the provider and client."""

from __future__ import annotations

import asyncio
import base64
from typing import Annotated

import httpx
from fastapi import FastAPI, Form, Header, HTTPException

from unifyops_core.testing import SigningKey


class TokenEndpoint:
    def __init__(
        self, client_id: str = "user-api", client_secret: str = "s3cret-for-tests"
    ) -> None:
        self.key = SigningKey(kid="service-key")
        self.requests = 0
        self.expires_in = 300
        self.delay = 0.0
        # The auth stack is unavailable: answers 503 (an outage, not a rejection).
        self.down = False
        app = FastAPI()

        @app.post("/oauth/token")
        async def token(
            grant_type: Annotated[str, Form()],
            audience: Annotated[str, Form()],
            authorization: Annotated[str, Header()] = "",
        ) -> dict[str, object]:
            self.requests += 1
            await asyncio.sleep(self.delay)
            if self.down:
                raise HTTPException(503, "auth unavailable")
            expected = base64.b64encode(f"{client_id}:{client_secret}".encode()).decode()
            if grant_type != "client_credentials" or authorization != f"Basic {expected}":
                raise HTTPException(401, "bad client")
            minted = self.key.mint(
                sub=client_id, aud=audience, token_use="service", jti=str(self.requests)
            )
            return {"access_token": minted, "token_type": "Bearer", "expires_in": self.expires_in}

        self.app = app
        self.http = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://auth"
        )
