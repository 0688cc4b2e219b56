"""Helpers for tests of services built on unifyops_core: signing keys that mint tokens, and a
capture of the JSON log lines a piece of code writes. Not for production code.
"""

from __future__ import annotations

import io
import json
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

import jwt
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from jwt.algorithms import OKPAlgorithm, RSAAlgorithm

from unifyops_core.logs import configure_logging


@dataclass
class SigningKey:
    """A private key with a ``kid`` that mints tokens, and publishes its public half as a JWK."""

    kind: Literal["RSA", "OKP"] = "RSA"
    kid: str = field(default_factory=lambda: uuid.uuid4().hex[:12])

    def __post_init__(self) -> None:
        if self.kind == "RSA":
            self.private_key: Any = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            self.algorithm = "RS256"
        else:
            self.private_key = ed25519.Ed25519PrivateKey.generate()
            self.algorithm = "EdDSA"

    def public_jwk(self) -> dict[str, Any]:
        exporter = RSAAlgorithm if self.kind == "RSA" else OKPAlgorithm
        jwk: dict[str, Any] = json.loads(exporter.to_jwk(self.private_key.public_key()))
        return {**jwk, "kid": self.kid, "use": "sig", "alg": self.algorithm}

    def mint(
        self,
        claims: Mapping[str, Any] | None = None,
        *,
        headers: Mapping[str, Any] | None = None,
        **overrides: Any,
    ) -> str:
        now = int(time.time())
        payload = {
            "iss": "unifyops-auth",
            "aud": "unifyops",
            "sub": "user-1",
            "iat": now,
            "exp": now + 300,
            **(claims or {}),
            **overrides,
        }
        payload = {key: value for key, value in payload.items() if value is not None}
        return jwt.encode(
            payload,
            self.private_key,
            algorithm=self.algorithm,
            headers={"kid": self.kid, **(headers or {})},
        )


def jwks(*keys: SigningKey) -> dict[str, Any]:
    return {"keys": [key.public_jwk() for key in keys]}


@dataclass
class CapturedLogs:
    stream: io.StringIO

    @property
    def lines(self) -> list[str]:
        return self.stream.getvalue().splitlines()

    @property
    def records(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.lines]

    def find(self, **fields: Any) -> list[dict[str, Any]]:
        """Records whose top-level or ``extra`` fields equal ``fields``."""

        def value(record: dict[str, Any], name: str) -> Any:
            return record.get(name, record.get("extra", {}).get(name))

        return [r for r in self.records if all(value(r, k) == v for k, v in fields.items())]


@contextmanager
def capture_logs(service: str = "test-service", level: str = "DEBUG") -> Iterator[CapturedLogs]:
    """Configure logging into memory for the duration of the block."""
    stream = io.StringIO()
    configure_logging(
        service=service, version="0.0.0-test", environment="test", level=level, stream=stream
    )
    try:
        yield CapturedLogs(stream)
    finally:
        configure_logging(service=service, version="0.0.0-test", environment="test", level=level)


__all__ = ["CapturedLogs", "SigningKey", "capture_logs", "jwks"]
