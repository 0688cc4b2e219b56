import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from unifyops_core.redaction import _PATTERNS, REDACTED, is_sensitive_key, redact, redact_text

SECRET = "s3cr3t-VALUE-9f8e7d"

SENSITIVE_KEYS = [
    "password", "Password", "PASSWORD", "db_password", "passwd", "secret", "client_secret",
    "token", "access_token", "refresh-token", "Authorization", "authorization", "cookie",
    "Set-Cookie", "api_key", "apiKey", "X-API-Key", "private_key", "privateKey", "dsn",
    "DATABASE_DSN", "credentials", "session_id",
]  # fmt: skip
SAFE_KEYS = ["name", "email", "path", "status", "count", "user_id", "region", "message"]


@pytest.mark.parametrize("key", SENSITIVE_KEYS)
def test_sensitive_keys_are_recognised_in_any_case(key: str) -> None:
    assert is_sensitive_key(key)
    assert redact({key: SECRET}) == {key: REDACTED}


@pytest.mark.parametrize("key", SAFE_KEYS)
def test_ordinary_keys_are_kept(key: str) -> None:
    assert redact({key: "plain value"}) == {key: "plain value"}


@pytest.mark.parametrize(
    "text",
    [
        f"Authorization: Bearer {SECRET}",
        f"header was Basic {SECRET}=",
        f"postgresql+asyncpg://app:{SECRET}@db:5432/users",
        f"https://user:{SECRET}@example.invalid/path",
        f"GET /callback?code=abc&access_token={SECRET}&x=1",
        f"GET /reset?token={SECRET}",
        f"login failed for password={SECRET} user=bob",
        f'{{"client_secret": "{SECRET}"}}',
        f"api_key: {SECRET}",
    ],
)
def test_credentials_inside_strings_are_replaced(text: str) -> None:
    assert SECRET not in redact_text(text)


def test_jwts_inside_strings_are_replaced() -> None:
    jwt_like = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJlLWJ5dGVz"
    assert redact_text(f"token was {jwt_like} ok") == f"token was {REDACTED} ok"


def test_text_around_a_secret_survives() -> None:
    assert redact_text("connect postgresql://app:pw@db/users now") == (
        f"connect postgresql://app:{REDACTED}@db/users now"
    )


def test_nested_structures_and_tuples() -> None:
    value = {"a": [{"b": ({"password": SECRET},)}], "c": {"headers": {"Cookie": SECRET}}}
    assert SECRET not in json.dumps(redact(value))


# --- property-based: secrets never survive, innocent data always does --------------------------

safe_text = st.text(alphabet=st.characters(whitelist_categories=("L", "N", "Zs")), max_size=20)
safe_key = st.sampled_from(SAFE_KEYS)


def _case_variants(key: str) -> st.SearchStrategy[str]:
    return st.sampled_from([key, key.upper(), key.title(), key.replace("_", "-")])


secret_key = st.sampled_from(SENSITIVE_KEYS).flatmap(_case_variants)
secret_value = st.one_of(
    st.just(SECRET),
    st.just({"nested": SECRET}),
    st.just([SECRET, 1]),
    st.integers(),
)
secret_in_text = st.sampled_from(
    [
        f"Bearer {SECRET}",
        f"postgres://u:{SECRET}@h/db",
        f"/cb?access_token={SECRET}",
        f"password={SECRET}",
    ]
)


def payloads(leaf: st.SearchStrategy[Any], keys: st.SearchStrategy[str]) -> st.SearchStrategy[Any]:
    return st.recursive(
        leaf,
        lambda children: st.one_of(
            st.lists(children, max_size=4),
            st.dictionaries(keys, children, max_size=4),
        ),
        max_leaves=20,
    )


@st.composite
def payload_with_planted_secret(draw: st.DrawFn) -> Any:
    """An innocent nested payload with one secret planted at a random depth."""
    base = draw(payloads(st.one_of(safe_text, st.integers(), st.booleans()), safe_key))
    planted: Any = (
        {draw(secret_key): draw(secret_value)}
        if draw(st.booleans())
        else {draw(safe_key): draw(safe_text) + " " + draw(secret_in_text)}
    )
    for _ in range(draw(st.integers(min_value=0, max_value=4))):
        planted = draw(st.sampled_from([[planted], {draw(safe_key): planted}]))
    return [base, planted]


@given(payload_with_planted_secret())
def test_planted_secrets_never_survive(payload: Any) -> None:
    assert SECRET not in json.dumps(redact(payload))


@given(payloads(st.one_of(safe_text, st.integers(), st.booleans(), st.none()), safe_key))
def test_innocent_payloads_are_unchanged(payload: Any) -> None:
    assert redact(payload) == payload


# --- the fast path: text with no candidate substring is returned without running the patterns ---

_FRAGMENTS = [
    "Bearer ", "basic ", "Token ", "TOKEN", "eyJ", "abc", ".", "-", "_", "://", "user", ":", "@",
    "?", "&", ";", "=", "password", "Passwd", "secret", "api-key", "API_KEY", "privatekey",
    " ", "x", "12345678", '"', "'", "/", "postgres",
]  # fmt: skip


def _all_patterns(text: str) -> str:
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


@given(st.lists(st.sampled_from(_FRAGMENTS), max_size=12).map("".join))
def test_the_candidate_prefilter_never_skips_a_credential(text: str) -> None:
    assert redact_text(text) == _all_patterns(text)


def test_text_without_candidates_is_returned_as_is() -> None:
    text = "GET /v1/profile 200 in 3.2 ms"
    assert redact_text(text) is text
