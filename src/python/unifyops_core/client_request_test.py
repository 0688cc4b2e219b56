"""ServiceClient builds a plain read's request itself; it must be the request httpx would build."""

from collections.abc import Callable

import httpx
from hypothesis import given
from hypothesis import strategies as st

from unifyops_core.client import _PLAIN_PATH, ServiceClient

BASES = ("http://user-service:8001", "http://user-service:8001/", "http://10.0.0.7:81/prefix/")
TIMEOUT = httpx.Timeout(3.0, connect=1.0)
TRICKY = [
    "/internal/profiles/u-1",
    "/internal/profiles/a%2Fb",
    "/x/../y",
    "/x/./y",
    "/.",
    "/%zz",
    "/a:b@c",
    "/x?y=1&z=%20",
    "/x?a?b",
    "/x?",
    "/",
    "/x;y=1",
    "/~u!$&'()*+,=",
]


def _built(build: Callable[[], httpx.Request]) -> httpx.Request | str:
    try:
        return build()
    except httpx.InvalidURL as exc:
        return f"InvalidURL: {exc}"


def _same(client: ServiceClient, path: str) -> None:
    headers = {"X-Request-ID": "r-1", "Authorization": "Bearer t"}
    ours = _built(
        lambda: client._build(
            "GET", path, TIMEOUT, json=None, data=None, params=None, headers=headers
        )
    )
    theirs = _built(
        lambda: client._http.build_request("GET", path, headers=headers, timeout=TIMEOUT)
    )
    if isinstance(theirs, str) or isinstance(ours, str):
        assert ours == theirs, path  # the same refusal
        return
    assert ours.url == theirs.url, path
    assert str(ours.url) == str(theirs.url), path
    assert ours.url.raw_path == theirs.url.raw_path, path
    assert ours.headers.multi_items() == theirs.headers.multi_items(), path
    assert ours.extensions == theirs.extensions
    assert ours.method == theirs.method


async def test_plain_paths_are_built_as_httpx_builds_them() -> None:
    for base in BASES:
        async with ServiceClient(base, service="svc") as client:
            for path in TRICKY:
                assert _PLAIN_PATH.match(path), path
                _same(client, path)


@given(st.text(alphabet="/abc%2F.?=&:@!~;+-_ \u00e9#\\[]", max_size=20))
def test_any_path_is_built_as_httpx_builds_it(tail: str) -> None:
    client = ServiceClient(BASES[2], service="svc")
    # Whatever is not plain falls back to httpx's own building: the request is the same either way.
    _same(client, "/" + tail)


async def test_bodies_params_and_odd_paths_use_httpx_own_building() -> None:
    for path in ("//evil.example/x", "/a b", "/é", "/x#frag", "x", "/x\\y"):
        assert not _PLAIN_PATH.match(path), path


@given(st.text(alphabet="/az09%.-_~!$&'()*+,;=:@?", max_size=24), st.sampled_from(BASES))
def test_any_plain_path_is_built_as_httpx_builds_it(tail: str, base: str) -> None:
    path = "/" + tail
    if path.startswith("//"):
        return
    assert _PLAIN_PATH.match(path)
    _same(ServiceClient(base, service="svc"), path)


async def test_what_httpx_would_build_differently_is_left_to_httpx() -> None:
    # An empty params mapping replaces the path's query in httpx; a base URL with two slashes,
    # a query or a fragment, and a URL object for the path are httpx's to merge.
    for base, path, params in (
        ("http://svc:8001", "/items?tag=a&tag=b", {}),
        ("http://svc:8001//", "/internal/x", None),
        ("http://svc:8001/api#v1", "/internal/x", None),
        ("http://svc:8001/api?k=v", "/internal/x", None),
    ):
        async with ServiceClient(base, service="svc") as client:
            ours = client._build(
                "GET", path, TIMEOUT, json=None, data=None, params=params, headers={}
            )
            theirs = client._http.build_request("GET", path, params=params, timeout=TIMEOUT)
            assert str(ours.url) == str(theirs.url), (base, path, params)
    async with ServiceClient("http://svc:8001", service="svc") as client:
        url = httpx.URL("/internal/x")
        ours = client._build("GET", url, TIMEOUT, json=None, data=None, params=None, headers={})  # type: ignore[arg-type]
        assert str(ours.url) == "http://svc:8001/internal/x"
