"""The stack's built React bundle: files by path, client-side routes answered with index.html.

Vite names everything under ``assets/`` by content hash, so those are cached for good; the page
itself (and anything else) is revalidated on every load (``no-cache``) against a weak ETag, which
is cheap (size and mtime) and stays valid when the response is gzipped on the way out.
"""

from __future__ import annotations

import hashlib
import mimetypes
import os
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response

from uo_appserver.errors import error_response

IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"


class Bundle:
    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    @property
    def index(self) -> Path:
        return self.root / "index.html"

    def _file_for(self, url_path: str) -> Path | None:
        try:
            target = (self.root / url_path.lstrip("/")).resolve()
            if target.is_relative_to(self.root) and target.is_file():
                return target
        except (OSError, ValueError):  # a NUL byte, a name too long for the filesystem
            pass
        return self.index if self.index.is_file() else None

    async def serve(self, request: Request) -> Response:
        target = self._file_for(request.url.path)
        if target is None:
            return error_response(404, "Not found", "not_found")
        stat = os.stat(target)
        version = hashlib.sha256(f"{stat.st_mtime_ns}-{stat.st_size}".encode()).hexdigest()[:32]
        etag = f'W/"{version}"'
        immutable = target.relative_to(self.root).parts[0] == "assets"
        cache = {"ETag": etag, "Cache-Control": IMMUTABLE if immutable else REVALIDATE}
        if _matches(request.headers.get("if-none-match"), etag):
            return Response(status_code=304, headers=cache)
        media_type = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
        return FileResponse(target, media_type=media_type, headers=cache, stat_result=stat)

    async def live(self, request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def ready(self, request: Request) -> Response:
        if self.index.is_file():
            return JSONResponse({"status": "ok"})
        return JSONResponse({"status": "no bundle"}, status_code=503)


def _matches(if_none_match: str | None, etag: str) -> bool:
    if not if_none_match:
        return False
    if if_none_match.strip() == "*":
        return True
    # Weak comparison (RFC 9110 §13.1.2): W/ prefixes do not matter.
    wanted = etag.removeprefix("W/")
    return any(tag.strip().removeprefix("W/") == wanted for tag in if_none_match.split(","))


__all__ = ["IMMUTABLE", "REVALIDATE", "Bundle"]
