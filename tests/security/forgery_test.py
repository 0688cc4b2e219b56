"""Forged, altered and misused tokens at every gateway: each is a 401 in the uniform shape."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from e2e.environment import Running, bearer
from security.attack import assert_uniform_error, member
from unifyops_core.naming import STACKS

PROTECTED = [("user-api", "/v1/profile"), ("environment-api", "/v1/environments")]


def b64(data: dict[str, object] | bytes) -> str:
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def claims_of(token: str) -> dict[str, object]:
    return jwt.decode(token, options={"verify_signature": False})


def header_of(token: str) -> dict[str, object]:
    return jwt.get_unverified_header(token)


@pytest.fixture(scope="module")
def genuine(running: Running) -> str:
    return member(running)[1]["access_token"]


@pytest.fixture(scope="module")
def jwks(running: Running) -> dict[str, object]:
    answer = httpx.get(running.url("auth-api", "/.well-known/jwks.json"))
    assert answer.status_code == 200
    keys: dict[str, object] = answer.json()
    assert keys["keys"], keys
    return keys


def _alg_none(token: str, _: dict[str, object]) -> str:
    header = {"alg": "none", "typ": "JWT", "kid": header_of(token)["kid"]}
    return f"{b64(header)}.{b64(claims_of(token))}."


def _hs256_with_public_key(token: str, jwks: dict[str, object]) -> str:
    # The classic algorithm confusion: the verifier's public key used as an HMAC secret.
    jwk = jwks["keys"][0]  # type: ignore[index]
    public = RSAAlgorithm.from_jwk(json.dumps(jwk)).public_bytes(  # type: ignore[union-attr]
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = {"alg": "HS256", "typ": "JWT", "kid": header_of(token)["kid"]}
    signing_input = f"{b64(header)}.{b64(claims_of(token))}"
    signature = hmac.new(public, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"


def _own_key_same_kid(token: str, _: dict[str, object]) -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return jwt.encode(
        claims_of(token), key, algorithm="RS256", headers={"kid": header_of(token)["kid"]}
    )


def _own_key_with_jku(token: str, _: dict[str, object]) -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    headers = {"kid": "attacker", "jku": "http://attacker.invalid/jwks.json"}
    return jwt.encode(claims_of(token), key, algorithm="RS256", headers=headers)


def _claims_swapped(token: str, _: dict[str, object]) -> str:
    head, _claims, signature = token.split(".")
    claims = {**claims_of(token), "scope": "admin roles:write deployments:write", "sub": "someone"}
    return f"{head}.{b64(claims)}.{signature}"


def _signature_flipped(token: str, _: dict[str, object]) -> str:
    head, claims, signature = token.split(".")
    return f"{head}.{claims}.{signature[:-4]}{'AAAA' if signature[-4:] != 'AAAA' else 'BBBB'}"


def _expired(token: str, _: dict[str, object]) -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    claims = {**claims_of(token), "exp": int(time.time()) - 3600}
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": header_of(token)["kid"]})


def _kid_injection(token: str, _: dict[str, object]) -> str:
    payload, signature = token.split(".")[1:]
    header = {**header_of(token), "kid": "../../../../etc/passwd' OR '1'='1"}
    return f"{b64(header)}.{payload}.{signature}"


FORGERIES: dict[str, Callable[[str, dict[str, object]], str]] = {
    "alg none": _alg_none,
    "HS256 signed with the public key": _hs256_with_public_key,
    "attacker's key under the real kid": _own_key_same_kid,
    "attacker's key announced by jku": _own_key_with_jku,
    "claims changed, signature kept": _claims_swapped,
    "signature altered": _signature_flipped,
    "expired": _expired,
    "kid injection": _kid_injection,
}


@pytest.mark.parametrize("forgery", sorted(FORGERIES))
@pytest.mark.parametrize(("gateway", "path"), PROTECTED)
def test_forged_tokens_are_refused(
    running: Running,
    genuine: str,
    jwks: dict[str, object],
    forgery: str,
    gateway: str,
    path: str,
) -> None:
    forged = FORGERIES[forgery](genuine, jwks)
    answer = httpx.get(running.url(gateway, path), headers=bearer(forged))
    assert_uniform_error(answer, 401)


@pytest.mark.parametrize(
    "authorization",
    [
        "",
        "Bearer",
        "Basic dXNlcjpwYXNz",
        "Bearer a.b",
        "Bearer ....",
        "bearer " + "A" * 6000,
    ],
)
def test_malformed_authorization_is_a_uniform_401(running: Running, authorization: str) -> None:
    answer = httpx.get(
        running.url("user-api", "/v1/profile"), headers={"Authorization": authorization}
    )
    assert_uniform_error(answer, 401)


def test_a_refresh_token_is_not_an_access_token(running: Running) -> None:
    _, tokens = member(running)
    answer = httpx.get(
        running.url("user-api", "/v1/profile"), headers=bearer(tokens["refresh_token"])
    )
    assert_uniform_error(answer, 401)


def test_client_credentials_cannot_be_guessed(running: Running) -> None:
    """The service-token grant with made-up credentials, and with none."""
    url = running.url("auth-api", "/oauth/token")
    form = {"grant_type": "client_credentials", "audience": "user-service"}
    guessed = httpx.post(url, data=form, auth=("user-api", "guessed-secret"))
    assert_uniform_error(guessed, 401)
    anonymous = httpx.post(url, data=form)
    assert_uniform_error(anonymous, 401, 422)


def test_a_users_token_is_not_accepted_where_a_service_token_is_expected(
    running: Running, genuine: str
) -> None:
    """Internal routes sit on services no client can reach; the gateways do not have them."""
    for gateway in (f"{stack}-api" for stack in STACKS):
        answer = httpx.get(running.url(gateway, "/internal/jwks"), headers=bearer(genuine))
        assert_uniform_error(answer, 404, 401, 403)
