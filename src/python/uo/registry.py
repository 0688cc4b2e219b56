"""The registry uo publishes to and reads digests from, over the OCI distribution API.

Which registry: configuration, never code. ``infra/environments/<env>/env.yaml`` names an
environment's (``image.registry``, ``host[:port][/namespace]``, what the chart pulls from);
``$UO_REGISTRY`` overrides it (a CI runner's or a laptop's stand-in); without either, the local
registry build-support/services/registry.sh runs (127.0.0.1:5000).

How it is reached, as the Docker engine reaches it, so one login serves the engine and uo:
- TLS, trusting ``<certs.d>/<host:port>/ca.crt`` when present (registry.sh puts its CA there for
  the engine) and the system's CAs otherwise; a loopback registry that does not speak TLS is
  reached over plain HTTP (the engine treats 127.0.0.0/8 as insecure the same way).
- Credentials from ``$UO_REGISTRY_USERNAME``/``$UO_REGISTRY_PASSWORD`` (CI secrets), else from the
  Docker config ``docker login`` wrote. A ``401`` challenge is answered with Basic auth, or with a
  bearer token from the challenge's realm (Harbor's and Docker Hub's token flow).
"""

from __future__ import annotations

import base64
import ipaddress
import json
import os
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml

from uo.errors import RegistryError

LOCAL_REGISTRY = "127.0.0.1:5000"
MANIFEST_TYPES = ", ".join(
    [
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
    ]
)


def local_registry() -> str:
    """The registry of this machine (or the one $UO_REGISTRY names)."""
    return os.environ.get("UO_REGISTRY") or LOCAL_REGISTRY


def environment_registry(repo: Path, environment: str) -> str:
    """The registry an environment pulls from: $UO_REGISTRY, else its env.yaml's
    ``image.registry``, else the local one."""
    if os.environ.get("UO_REGISTRY"):
        return os.environ["UO_REGISTRY"]
    path = repo / "infra/environments" / environment / "env.yaml"
    try:
        settings = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise RegistryError(f"{path}: cannot read the environment's registry ({exc})") from exc
    return str((settings.get("image") or {}).get("registry") or LOCAL_REGISTRY)


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str

    def auth_config(self) -> dict[str, str]:
        """As the Docker SDK takes them (``images.push(..., auth_config=...)``)."""
        return {"username": self.username, "password": self.password}


def credentials(host: str) -> Credentials | None:
    """The account for a registry host: the environment's, else `docker login`'s."""
    username, password = (
        os.environ.get("UO_REGISTRY_USERNAME"),
        os.environ.get("UO_REGISTRY_PASSWORD"),
    )
    if username and password:
        return Credentials(username, password)
    config_dir = Path(os.environ.get("DOCKER_CONFIG") or Path.home() / ".docker")
    try:
        auths = json.loads((config_dir / "config.json").read_text()).get("auths", {})
    except (OSError, ValueError):
        return None
    entry = auths.get(host) or auths.get(f"https://{host}") or {}
    if not entry.get("auth"):
        return None  # none, or kept by a credential helper uo does not call
    username, _, password = base64.b64decode(entry["auth"]).decode().partition(":")
    return Credentials(username, password)


def _is_loopback(host: str) -> bool:
    name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class Manifest:
    digest: str
    media_type: str
    body: bytes

    @property
    def config_digest(self) -> str | None:
        """The image's config digest, i.e. the image ID the engine shows for it."""
        try:
            return str(json.loads(self.body)["config"]["digest"])
        except (ValueError, KeyError, TypeError):
            return None  # an index (several platforms): no single image


class Registry:
    """One registry, ``host[:port][/namespace]``; repositories are named without the namespace."""

    def __init__(self, address: str, *, certs_dir: Path | None = None, timeout: float = 10) -> None:
        self.address = address.rstrip("/")
        self.host, _, self.namespace = self.address.partition("/")
        certs = certs_dir or Path(os.environ.get("UO_DOCKER_CERTS_DIR", "/etc/docker/certs.d"))
        ca = certs / self.host / "ca.crt"
        self._credentials = credentials(self.host)
        trust = ssl.create_default_context(cafile=str(ca)) if ca.is_file() else True
        self._http = httpx.Client(timeout=timeout, verify=trust)
        self._base: str | None = None  # https:// or http://, found on first use
        self._token: str | None = None

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Registry:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    @property
    def credentials(self) -> Credentials | None:
        return self._credentials

    def reference(self, repository: str) -> str:
        """Where ``repository`` lives, as the engine names it (``host/namespace/repository``)."""
        return f"{self.address}/{repository}"

    def _path(self, repository: str) -> str:
        return "/".join(filter(None, [self.namespace, repository]))

    def _url(self, path: str) -> str:
        if path.startswith(("https://", "http://")):
            return path
        if self._base is None:
            self._base = f"https://{self.host}"
            try:
                self._http.get(f"{self._base}/v2/")
            except httpx.ConnectError:  # TLS refused or failed: plain HTTP, on loopback only
                if not _is_loopback(self.host):
                    raise
                self._base = f"http://{self.host}"
        return f"{self._base}{path}"

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            url = self._url(path)
            headers = dict(kwargs.pop("headers", {}))
            response = self._http.request(method, url, headers=headers | self._bearer(), **kwargs)
            if response.status_code == 401 and self._authenticate(response):
                response = self._http.request(
                    method, url, headers=headers | self._bearer(), **kwargs
                )
        except httpx.HTTPError as exc:
            raise RegistryError(
                f"registry {self.address} does not answer ({type(exc).__name__}: {exc})"
            ) from exc
        if response.status_code == 401:
            raise RegistryError(
                f"registry {self.address} refused the credentials "
                f"({'none found' if self._credentials is None else self._credentials.username}; "
                "run build-support/services/registry.sh or docker login)"
            )
        return response

    def _bearer(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._token}"} if self._token else {}

    def _authenticate(self, challenge: httpx.Response) -> bool:
        """Answer a 401: a token from the realm for Bearer, the account itself for Basic."""
        scheme, _, params = challenge.headers.get("WWW-Authenticate", "").partition(" ")
        account = self._credentials
        user = (account.username, account.password) if account else None
        if scheme.lower() == "basic" and user:
            self._token = None
            self._http.auth = httpx.BasicAuth(*user)
            return True
        if scheme.lower() != "bearer":
            return False
        fields = dict(part.strip().split("=", 1) for part in params.split(",") if "=" in part)
        fields = {key: value.strip('"') for key, value in fields.items()}
        realm = fields.pop("realm", "")
        answer = self._http.get(realm, params=fields, auth=httpx.BasicAuth(*user) if user else None)
        if answer.status_code != 200:
            return False
        body = answer.json()
        self._token = body.get("token") or body.get("access_token")
        return bool(self._token)

    def manifest(self, repository: str, reference: str) -> Manifest | None:
        """The manifest of a tag or digest; None when the registry has none."""
        response = self._request(
            "GET",
            f"/v2/{self._path(repository)}/manifests/{reference}",
            headers={"Accept": MANIFEST_TYPES},
        )
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise RegistryError(
                f"registry {self.address} answered {response.status_code} for "
                f"{repository}:{reference}"
            )
        return Manifest(
            digest=response.headers["Docker-Content-Digest"],
            media_type=response.headers.get("Content-Type", "").split(";")[0],
            body=response.content,
        )

    def config(self, repository: str, manifest: Manifest) -> dict[str, Any]:
        """An image's config (labels under ``config.Labels``)."""
        if manifest.config_digest is None:
            return {}
        response = self._request(
            "GET", f"/v2/{self._path(repository)}/blobs/{manifest.config_digest}"
        )
        if response.status_code != 200:
            raise RegistryError(
                f"registry {self.address} answered {response.status_code} for the config of "
                f"{repository}@{manifest.digest}"
            )
        config: dict[str, Any] = response.json()
        return config

    def has_blob(self, repository: str, digest: str) -> bool:
        response = self._request("HEAD", f"/v2/{self._path(repository)}/blobs/{digest}")
        return response.status_code == 200

    def upload_blob(self, repository: str, digest: str, data: bytes) -> None:
        """A monolithic upload (POST a session, PUT the bytes with their digest); a no-op when
        the registry already holds the blob."""
        if self.has_blob(repository, digest):
            return
        started = self._request("POST", f"/v2/{self._path(repository)}/blobs/uploads/")
        location = started.headers.get("Location")
        if started.status_code != 202 or not location:
            raise RegistryError(
                f"registry {self.address} refused an upload to {repository} ({started.status_code})"
            )
        # The location (a path, or a URL: uploads may go to another host) carries the upload's
        # state in its query; the digest is added to it, not put in its place.
        separator = "&" if "?" in location else "?"
        done = self._request(
            "PUT",
            f"{location}{separator}digest={digest}",
            content=data,
            headers={"Content-Type": "application/octet-stream"},
        )
        if done.status_code != 201:
            raise RegistryError(
                f"registry {self.address} refused blob {digest} of {repository} "
                f"({done.status_code})"
            )

    def put_manifest(self, repository: str, reference: str, body: bytes, media_type: str) -> str:
        """Store a manifest under a tag; returns the digest the registry gives it."""
        response = self._request(
            "PUT",
            f"/v2/{self._path(repository)}/manifests/{reference}",
            content=body,
            headers={"Content-Type": media_type},
        )
        if response.status_code not in (200, 201):
            raise RegistryError(
                f"registry {self.address} refused the manifest {repository}:{reference} "
                f"({response.status_code}: {response.text[:200]})"
            )
        return str(response.headers.get("Docker-Content-Digest", ""))

    def tag(self, repository: str, digest: str, tag: str) -> bool:
        """Point ``tag`` at the manifest ``digest`` (the API's way to tag without a pull);
        False when it already pointed there."""
        current = self.manifest(repository, tag)
        if current is not None and current.digest == digest:
            return False
        manifest = self.manifest(repository, digest)
        if manifest is None:
            raise RegistryError(f"{self.reference(repository)}@{digest} is not in the registry")
        response = self._request(
            "PUT",
            f"/v2/{self._path(repository)}/manifests/{tag}",
            content=manifest.body,
            headers={"Content-Type": manifest.media_type},
        )
        if response.status_code not in (200, 201):
            raise RegistryError(
                f"registry {self.address} refused to tag {repository}:{tag} "
                f"({response.status_code})"
            )
        return True


__all__ = [
    "LOCAL_REGISTRY",
    "Credentials",
    "Manifest",
    "Registry",
    "credentials",
    "environment_registry",
    "local_registry",
]
