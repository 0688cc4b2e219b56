"""The bundle: client-side routes, caching, compression, revalidation and security headers."""

from __future__ import annotations

import httpx


def test_client_side_routes_get_the_page_revalidated_every_time(app: str) -> None:
    page = httpx.get(f"{app}/profile/settings")
    assert page.status_code == 200
    assert "id=root" in page.text
    assert page.headers["Cache-Control"] == "no-cache"
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    assert page.headers["X-Frame-Options"] == "DENY"
    assert "Strict-Transport-Security" not in page.headers  # not served over TLS here


def test_hashed_assets_are_cached_for_good_and_gzipped(app: str) -> None:
    raw = httpx.get(f"{app}/assets/app-1a2b.js", headers={"Accept-Encoding": "gzip"})
    asset = httpx.get(f"{app}/assets/app-1a2b.js", headers={"Accept-Encoding": "identity"})
    assert raw.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert raw.headers["Content-Type"].startswith("text/javascript")
    assert raw.headers["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in raw.headers["Vary"]
    assert int(raw.headers["Content-Length"]) < len(asset.content) / 5
    assert raw.text == asset.text  # httpx undid the gzip
    assert "Content-Encoding" not in asset.headers
    tiny = httpx.get(f"{app}/assets/tiny-9f8e.css", headers={"Accept-Encoding": "gzip"})
    assert "Content-Encoding" not in tiny.headers  # not worth compressing
    assert tiny.headers["Cache-Control"].endswith("immutable")


def test_an_unchanged_file_is_a_304(app: str) -> None:
    first = httpx.get(f"{app}/assets/app-1a2b.js")
    etag = first.headers["ETag"]
    again = httpx.get(f"{app}/assets/app-1a2b.js", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["ETag"] == etag
    other = httpx.get(f"{app}/assets/app-1a2b.js", headers={"If-None-Match": 'W/"nope"'})
    assert other.status_code == 200


def test_paths_outside_the_bundle_are_never_served(app: str) -> None:
    for path in ("/..%2Fsecret.txt", "/../secret.txt", "/assets/..%2F..%2Fsecret.txt", "/%00"):
        response = httpx.get(f"{app}{path}")
        assert "outside the bundle" not in response.text
        assert response.status_code == 200  # the page, for a client-side route


def test_other_methods_and_health(app: str) -> None:
    refused = httpx.post(f"{app}/profile", content=b"x")
    assert refused.status_code == 405
    body = refused.json()
    assert body["error_type"] == "method_not_allowed"
    assert set(body) >= {"status_code", "message", "error_id", "error_type", "timestamp"}
    assert refused.headers["X-Error-ID"] == body["error_id"]
    assert httpx.get(f"{app}/health/live").json() == {"status": "ok"}
    assert httpx.get(f"{app}/health/ready").status_code == 200
