"""Token validation, including hostile tokens: every one must be a 401-class rejection."""

import base64
import json
import time
from collections.abc import Callable
from typing import Any

import jwt
import pytest

from unifyops_core.exceptions import AuthenticationError
from unifyops_core.keys import StaticKeys
from unifyops_core.testing import SigningKey
from unifyops_core.tokens import TokenValidator

TRUSTED = SigningKey("RSA", kid="trusted-rsa")
TRUSTED_ED = SigningKey("OKP", kid="trusted-ed")
ATTACKER = SigningKey("RSA", kid="trusted-rsa")  # same kid, different key


def validator(**kwargs: Any) -> TokenValidator:
    return TokenValidator(
        StaticKeys([TRUSTED.public_jwk(), TRUSTED_ED.public_jwk()]),
        issuer="unifyops-auth",
        audience="unifyops",
        **kwargs,
    )


def b64(data: dict[str, Any] | bytes) -> str:
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def unsigned(header: dict[str, Any], claims: dict[str, Any], signature: bytes = b"") -> str:
    return f"{b64(header)}.{b64(claims)}.{b64(signature) if signature else ''}"


def good_claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {
        "iss": "unifyops-auth",
        "aud": "unifyops",
        "sub": "user-1",
        "iat": now,
        "exp": now + 300,
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def public_pem() -> bytes:
    from cryptography.hazmat.primitives import serialization

    pem: bytes = TRUSTED.private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return pem


def hs256_with_public_key() -> str:
    # The classic confusion attack: an HMAC token keyed with the RSA public key's PEM bytes.
    import hashlib
    import hmac

    header, claims = {"alg": "HS256", "typ": "JWT", "kid": "trusted-rsa"}, good_claims()
    signing_input = f"{b64(header)}.{b64(claims)}".encode()
    mac = hmac.new(public_pem(), signing_input, hashlib.sha256).digest()
    return f"{signing_input.decode()}.{b64(mac)}"


def tampered_payload() -> str:
    header, _, signature = TRUSTED.mint().split(".")
    return f"{header}.{b64(good_claims(sub='admin', scope='admin'))}.{signature}"


def embedded_jwk_token() -> str:
    # Signed by the attacker, offering the attacker's own key in the header.
    return ATTACKER.mint(headers={"jwk": ATTACKER.public_jwk()})


HOSTILE_TOKENS: dict[str, Callable[[], str]] = {
    "alg none": lambda: unsigned(
        {"alg": "none", "typ": "JWT", "kid": "trusted-rsa"}, good_claims()
    ),
    "alg None mixed case": lambda: unsigned({"alg": "None", "kid": "trusted-rsa"}, good_claims()),
    "alg none with signature": lambda: unsigned(
        {"alg": "none", "kid": "trusted-rsa"}, good_claims(), b"x"
    ),
    "HS256 signed with the RSA public key": hs256_with_public_key,
    "HS512 header": lambda: unsigned({"alg": "HS512", "kid": "trusted-rsa"}, good_claims(), b"sig"),
    "RS256 header on an Ed25519 key": lambda: (
        b64({"alg": "RS256", "kid": "trusted-ed"}) + "." + TRUSTED_ED.mint().split(".", 1)[1]
    ),
    "signed by an unknown key with a trusted kid": lambda: ATTACKER.mint(),
    "embedded jwk header": embedded_jwk_token,
    "jku header pointing elsewhere": lambda: ATTACKER.mint(
        headers={"jku": "http://127.0.0.1:1/jwks"}
    ),
    "x5u header": lambda: ATTACKER.mint(headers={"x5u": "http://127.0.0.1:1/cert"}),
    "unknown kid": lambda: SigningKey("RSA", kid="who-knows").mint(),
    "missing kid": lambda: jwt.encode(good_claims(), TRUSTED.private_key, algorithm="RS256"),
    "expired": lambda: TRUSTED.mint(exp=int(time.time()) - 3600, iat=int(time.time()) - 7200),
    "not yet valid (nbf)": lambda: TRUSTED.mint(nbf=int(time.time()) + 3600),
    "issued in the future": lambda: TRUSTED.mint(iat=int(time.time()) + 3600),
    "wrong audience": lambda: TRUSTED.mint(aud="someone-else"),
    "missing audience": lambda: TRUSTED.mint(aud=None),
    "wrong issuer": lambda: TRUSTED.mint(iss="evil-issuer"),
    "missing issuer": lambda: TRUSTED.mint(iss=None),
    "missing subject": lambda: TRUSTED.mint(sub=None),
    "missing exp": lambda: TRUSTED.mint(exp=None),
    "missing iat": lambda: TRUSTED.mint(iat=None),
    "tampered payload": tampered_payload,
    "truncated signature": lambda: TRUSTED.mint()[:-10],
    "signature stripped": lambda: TRUSTED.mint().rsplit(".", 1)[0] + ".",
    "garbage": lambda: "not-a-token",
    "empty string": lambda: "",
    "two segments": lambda: "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxIn0",
    "header not json": lambda: f"{b64(b'not json')}.{b64(good_claims())}.c2ln",
    "kid is a number": lambda: unsigned({"alg": "RS256", "kid": 7}, good_claims(), b"sig"),
}


def test_there_are_at_least_twenty_hostile_cases() -> None:
    assert len(HOSTILE_TOKENS) >= 20


@pytest.mark.parametrize("name", sorted(HOSTILE_TOKENS))
async def test_hostile_tokens_are_rejected_as_authentication_errors(name: str) -> None:
    token = HOSTILE_TOKENS[name]()
    with pytest.raises(AuthenticationError) as caught:
        await validator().validate(token)
    assert caught.value.status_code == 401


async def test_a_good_rsa_token_gives_subject_and_scopes() -> None:
    principal = await validator().validate(TRUSTED.mint(scope="profile:read profile:write"))
    assert principal.subject == "user-1"
    assert principal.scopes == {"profile:read", "profile:write"}
    assert principal.has_scopes("profile:read")
    assert not principal.has_scopes("admin")


async def test_a_good_eddsa_token_and_list_scopes() -> None:
    principal = await validator().validate(TRUSTED_ED.mint(scp=["a", "b"]))
    assert principal.scopes == {"a", "b"}


async def test_leeway_accepts_small_clock_skew_only() -> None:
    just_expired = TRUSTED.mint(exp=int(time.time()) - 5)
    assert (await validator(leeway_seconds=30).validate(just_expired)).subject == "user-1"
    with pytest.raises(AuthenticationError, match="expired"):
        await validator(leeway_seconds=0).validate(just_expired)


async def test_audience_may_be_one_of_several() -> None:
    token = TRUSTED.mint(aud=["other", "unifyops"])
    assert (await validator().validate(token)).subject == "user-1"


async def test_messages_say_what_was_wrong() -> None:
    with pytest.raises(AuthenticationError, match="audience"):
        await validator().validate(TRUSTED.mint(aud="x"))
    with pytest.raises(AuthenticationError, match="'sub'"):
        await validator().validate(TRUSTED.mint(sub=None))


def test_hmac_and_none_cannot_be_allowed() -> None:
    with pytest.raises(ValueError, match="HMAC"):
        TokenValidator(StaticKeys([]), issuer="i", audience="a", algorithms=["HS256", "none"])


class CountingValidator(TokenValidator):
    """Counts full validations (parse + signature check), to see which calls the cache answers."""

    decoded = 0

    def _decode(self, token: str, key: Any, algorithm: str) -> dict[str, Any]:
        self.decoded += 1
        return super()._decode(token, key, algorithm)


def counting(keys: Any = None, **kwargs: Any) -> CountingValidator:
    keys = keys or StaticKeys([TRUSTED.public_jwk()])
    return CountingValidator(keys, issuer="unifyops-auth", audience="unifyops", **kwargs)


class SwappableKeys(StaticKeys):
    def __init__(self) -> None:
        super().__init__([TRUSTED.public_jwk()])

    def rotate(self, keys: list[dict[str, Any]]) -> None:
        self._keys = StaticKeys(keys)._keys


async def test_a_token_seen_before_is_not_parsed_and_verified_again() -> None:
    check = counting()
    token = TRUSTED.mint(scope="a b")
    first, second = await check.validate(token), await check.validate(token)
    assert check.decoded == 1
    assert second == first
    assert second.scopes == {"a", "b"}
    second.claims["sub"] = "changed by a route"
    assert (await check.validate(token)).claims["sub"] == "user-1"
    await check.validate(TRUSTED.mint(scope="c"))  # another token is validated in full
    assert check.decoded == 2


async def test_a_remembered_token_still_expires() -> None:
    now = [time.time()]
    check = counting(leeway_seconds=30, clock=lambda: now[0])
    token = TRUSTED.mint(exp=int(now[0]) + 60)
    await check.validate(token)
    now[0] += 60 + 29
    await check.validate(token)  # within the leeway
    now[0] += 2
    with pytest.raises(AuthenticationError, match="expired"):
        await check.validate(token)
    assert check.decoded == 1


async def test_a_remembered_token_is_validated_again_once_its_key_changes() -> None:
    keys = SwappableKeys()
    check = counting(keys)
    token = TRUSTED.mint()
    await check.validate(token)
    keys.rotate([TRUSTED.public_jwk()])  # refreshed: same key material, a new key object
    await check.validate(token)
    assert check.decoded == 2
    keys.rotate([TRUSTED_ED.public_jwk()])  # the token's key is no longer trusted
    with pytest.raises(AuthenticationError, match="unknown key"):
        await check.validate(token)
    keys.rotate([ATTACKER.public_jwk()])  # same kid, another key: the signature no longer holds
    with pytest.raises(AuthenticationError):
        await check.validate(token)


async def test_the_cache_is_bounded() -> None:
    check = counting(cache_size=2)
    tokens = [TRUSTED.mint(jti=str(n)) for n in range(3)]
    for token in tokens:
        await check.validate(token)
    assert len(check._verified) == 2
    await check.validate(tokens[0])  # the oldest was dropped
    assert check.decoded == 4
