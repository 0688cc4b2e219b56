"""The Secrets an environment needs, as SealedSecrets in git (``uo seal``).

Which Secrets: every (name, key) a rendered workload of the environment reads through a
``secretKeyRef`` (or a secret volume's items): the chart is the contract, so nothing here lists
them. Ingress TLS Secrets are left out (cert-manager creates those in the cluster).

Where: ``infra/environments/<env>/sealed/<stack>.yaml``, one SealedSecret per Secret, in the file of
the first stack in rollout order (auth first) whose objects reference it; that stack's Argo CD
Application applies the file, so each Secret has exactly one owner even when several stacks read it
(the auth release's client registrations read every stack's client secret).

Values: generated for the Secrets of the contract below, or supplied by the operator. They exist
only in memory, between generation and encryption; nothing prints, logs or writes them.
"""

from __future__ import annotations

import base64
import os
import secrets
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from cryptography.hazmat.primitives.asymmetric import rsa

from unifyops_core.naming import STACKS, namespace
from uo.render import Manifest, render_target, targets
from uo.repo import ENVIRONMENTS_PATH
from uo.sealing import CertificateError, fingerprint, load_public_key, seal

API_VERSION = "bitnami.com/v1alpha1"
KIND = "SealedSecret"
CERTIFICATE_FILE = "sealed-secrets-cert.pem"
SEALED_DIR = "sealed"
# Which controller key a SealedSecret was sealed to; a certificate rotation shows up as a mismatch.
SEALED_TO = "unifyops.io/sealed-to"
# Before the database (wave 0): Argo CD waits until the controller reports the SealedSecret synced.
SYNC_WAVE = "-1"
POD_TEMPLATE_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job")

Generator = Callable[[], str]


class SealError(Exception):
    """``uo seal`` cannot produce the SealedSecrets (certificate, contract or input problem)."""


def _token() -> str:
    return secrets.token_urlsafe(32)


def _fernet_key() -> str:
    # auth-service's key_encryption_key is a Fernet key: urlsafe base64 of 32 random bytes.
    return base64.urlsafe_b64encode(os.urandom(32)).decode()


def _constant(value: str) -> Generator:
    return lambda: value


def generators() -> dict[str, dict[str, Generator]]:
    """The Secrets the chart references and how their values are made (the secrets contract)."""
    table: dict[str, dict[str, Generator]] = {"auth-key-encryption": {"key": _fernet_key}}
    for stack in STACKS:
        table[f"{stack}-db-credentials"] = {
            "username": _constant(stack),
            "password": _token,
            "database": _constant(stack),
        }
        # The stack gateway's OAuth client secret; auth's registration Job reads every one of them.
        table[f"{stack}-api-client"] = {"client-secret": _token}
    return table


@dataclass(frozen=True)
class SecretRef:
    """A Secret the rendered chart reads: its keys, and the stacks reading it (rollout order)."""

    name: str
    keys: frozenset[str]
    stacks: tuple[str, ...]

    @property
    def owner(self) -> str:
        return self.stacks[0]


def _pod_specs(obj: Manifest) -> Iterator[dict[str, Any]]:
    spec = obj.get("spec") or {}
    if obj.get("kind") == "Pod":
        yield spec
    elif obj.get("kind") == "CronJob":
        yield spec.get("jobTemplate", {}).get("spec", {}).get("template", {}).get("spec", {})
    elif obj.get("kind") in POD_TEMPLATE_KINDS:
        yield spec.get("template", {}).get("spec", {})


def secret_keys(objects: list[Manifest]) -> dict[str, set[str]]:
    """Secret name -> keys read by the workloads among ``objects`` (TLS Secrets excluded)."""
    tls = {
        entry.get("secretName")
        for obj in objects
        if obj.get("kind") == "Ingress"
        for entry in (obj.get("spec") or {}).get("tls") or []
    }
    found: dict[str, set[str]] = {}
    for obj in objects:
        for pod in _pod_specs(obj):
            for container in [*pod.get("initContainers", []), *pod.get("containers", [])]:
                for env in container.get("env") or []:
                    ref = (env.get("valueFrom") or {}).get("secretKeyRef")
                    if ref:
                        found.setdefault(ref["name"], set()).add(ref["key"])
            for volume in pod.get("volumes") or []:
                source = volume.get("secret")
                if source and source.get("items"):
                    keys = {item["key"] for item in source["items"]}
                    found.setdefault(source["secretName"], set()).update(keys)
    return {name: keys for name, keys in found.items() if name not in tls}


def references(rendered: Mapping[str, list[Manifest]]) -> list[SecretRef]:
    """Merge the per-stack references of one environment (``rendered``: stack -> objects)."""
    keys: dict[str, set[str]] = {}
    readers: dict[str, list[str]] = {}
    order = [stack for stack in STACKS if stack in rendered]
    for stack in order:
        for name, found in secret_keys(rendered[stack]).items():
            keys.setdefault(name, set()).update(found)
            readers.setdefault(name, []).append(stack)
    return [SecretRef(name, frozenset(keys[name]), tuple(readers[name])) for name in sorted(keys)]


def rendered_environment(repo: Path, environment: str) -> dict[str, list[Manifest]]:
    return {t.stack: render_target(repo, t) for t in targets(repo, [environment])}


def environment_dir(repo: Path, environment: str) -> Path:
    namespace(environment)  # validates the name
    return repo / ENVIRONMENTS_PATH / environment


def load_certificate(repo: Path, environment: str) -> rsa.RSAPublicKey:
    path = environment_dir(repo, environment) / CERTIFICATE_FILE
    if not path.is_file():
        raise SealError(
            f"no controller certificate at {path.relative_to(repo)}; "
            "save `kubeseal --fetch-cert` of the environment's cluster there"
        )
    try:
        return load_public_key(path.read_bytes())
    except CertificateError as exc:
        raise SealError(f"{path.relative_to(repo)}: {exc}") from exc


def read_sealed(repo: Path, environment: str) -> dict[str, Manifest]:
    """The SealedSecrets committed for an environment, by name."""
    found: dict[str, Manifest] = {}
    for file in sorted((environment_dir(repo, environment) / SEALED_DIR).glob("*.yaml")):
        for doc in yaml.safe_load_all(file.read_text()):
            if doc and doc.get("kind") == KIND:
                found[doc["metadata"]["name"]] = doc
    return found


def sealed_secret(
    name: str,
    environment: str,
    stack: str,
    encrypted: Mapping[str, str],
    sealed_to: str,
) -> Manifest:
    ns = namespace(environment)
    labels = {
        "app.kubernetes.io/part-of": "unifyops",
        "unifyops.io/environment": environment,
        "unifyops.io/stack": stack,
    }
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": {
            "name": name,
            "namespace": ns,
            "labels": labels,
            "annotations": {"argocd.argoproj.io/sync-wave": SYNC_WAVE, SEALED_TO: sealed_to},
        },
        "spec": {
            "encryptedData": dict(sorted(encrypted.items())),
            "template": {
                "metadata": {"name": name, "namespace": ns, "labels": dict(labels)},
                "type": "Opaque",
            },
        },
    }


@dataclass
class Request:
    """What the operator asked for: all Secrets or one, rotation, and values they supply."""

    environment: str
    secret: str | None = None
    rotate: bool = False
    literals: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.literals and not self.secret:
            raise SealError("--from-literal needs --secret NAME (the Secret the values belong to)")


@dataclass(frozen=True)
class Change:
    name: str
    action: str  # created, kept, rotated, updated, removed
    keys: tuple[str, ...] = ()
    warning: str | None = None

    def __str__(self) -> str:
        keys = f" ({', '.join(self.keys)})" if self.keys else ""
        return f"{self.action} {self.name}{keys}"


def plan(
    refs: list[SecretRef],
    existing: Mapping[str, Manifest],
    request: Request,
    key: rsa.RSAPublicKey,
) -> tuple[dict[str, list[Manifest]], list[Change]]:
    """The SealedSecrets per owning stack, and what changed. Encrypts in memory only."""
    by_name = {ref.name: ref for ref in refs}
    if request.secret and request.secret not in by_name:
        known = ", ".join(sorted(by_name)) or "none"
        raise SealError(
            f"the chart of {request.environment} references no Secret {request.secret!r} "
            f"(it references: {known})"
        )
    for literal in request.literals:
        if request.secret and literal not in by_name[request.secret].keys:
            raise SealError(
                f"{request.secret} has no key {literal!r} in the chart "
                f"(keys: {', '.join(sorted(by_name[request.secret].keys))})"
            )
    current = fingerprint(key)
    table = generators()
    files: dict[str, list[Manifest]] = {}
    changes: list[Change] = []
    for ref in refs:
        old = existing.get(ref.name)
        if request.secret not in (None, ref.name):
            if old is not None:  # a run for one Secret leaves every other one as it is
                files.setdefault(ref.owner, []).append(old)
            continue
        rotate = request.rotate
        literals = request.literals if request.secret == ref.name else {}
        old_data: dict[str, str] = dict((old or {}).get("spec", {}).get("encryptedData") or {})
        old_to = ((old or {}).get("metadata", {}).get("annotations") or {}).get(SEALED_TO)
        keep = {k: v for k, v in old_data.items() if k in ref.keys and not rotate}
        new_keys = sorted(k for k in ref.keys if k not in keep or k in literals)
        if old is not None and new_keys and old_to != current and keep:
            raise SealError(
                f"{ref.name} was sealed to another controller key ({old_to}); re-seal all of it: "
                f"uo seal --env {request.environment} --secret {ref.name} --rotate"
            )
        encrypted = dict(keep)
        for name in new_keys:
            value = literals.get(name)
            if value is None:
                make = table.get(ref.name, {}).get(name)
                if make is None:
                    raise SealError(
                        f"no generated value for {ref.name} key {name!r}; supply it: "
                        f"uo seal --env {request.environment} --secret {ref.name} "
                        f"--from-literal {name}=..."
                    )
                value = make()
            ns = namespace(request.environment)
            encrypted[name] = seal(key, value.encode(), namespace=ns, name=ref.name)
        sealed_to = current if new_keys else (old_to or current)
        files.setdefault(ref.owner, []).append(
            sealed_secret(ref.name, request.environment, ref.owner, encrypted, sealed_to)
        )
        warning = None
        if not new_keys and old_to != current:
            warning = (
                f"{ref.name} is sealed to another controller key ({old_to}); "
                "it decrypts only while that cluster keeps the old key; re-seal with --rotate"
            )
        changes.append(_change(ref, old, new_keys, rotate, warning))
    for name in sorted(set(existing) - set(by_name)):
        if request.secret is None:
            changes.append(Change(name, "removed"))
        else:
            doc = existing[name]
            labels = doc.get("metadata", {}).get("labels") or {}
            files.setdefault(labels.get("unifyops.io/stack", next(iter(STACKS))), []).append(doc)
    return files, changes


def _change(
    ref: SecretRef, old: Manifest | None, new_keys: list[str], rotate: bool, warning: str | None
) -> Change:
    if old is None:
        return Change(ref.name, "created", tuple(sorted(ref.keys)))
    if rotate:
        return Change(ref.name, "rotated", tuple(new_keys))
    if new_keys:
        return Change(ref.name, "updated", tuple(new_keys), warning)
    return Change(ref.name, "kept", warning=warning)


HEADER = (
    "# SealedSecrets owned by the {stack} stack in {environment}: `uo seal --env {environment}`.\n"
    "# Only the environment's sealed-secrets controller decrypts them; see docs/secrets.md.\n"
)


def render_file(environment: str, stack: str, docs: list[Manifest]) -> str:
    ordered = sorted(docs, key=lambda doc: str(doc["metadata"]["name"]))
    body = yaml.safe_dump_all(ordered, sort_keys=False, explicit_start=True, width=1 << 20)
    return HEADER.format(stack=stack, environment=environment) + body


def write_files(repo: Path, environment: str, files: Mapping[str, list[Manifest]]) -> list[Path]:
    """Write ``sealed/<stack>.yaml`` atomically; remove files of stacks that own nothing now."""
    folder = environment_dir(repo, environment) / SEALED_DIR
    folder.mkdir(exist_ok=True)
    written = []
    for stack, docs in sorted(files.items()):
        path = folder / f"{stack}.yaml"
        text = render_file(environment, stack, docs)
        if path.is_file() and path.read_text() == text:
            continue
        handle, temporary = tempfile.mkstemp(dir=folder, prefix=f".{stack}.", suffix=".tmp")
        with os.fdopen(handle, "w") as out:
            out.write(text)
        os.replace(temporary, path)
        written.append(path)
    for stale in sorted(folder.glob("*.yaml")):
        if stale.stem not in files:
            stale.unlink()
            written.append(stale)
    return written


def seal_environment(
    repo: Path,
    request: Request,
    rendered: Mapping[str, list[Manifest]] | None = None,
) -> tuple[list[Change], list[Path]]:
    """Bring ``infra/environments/<env>/sealed/`` in line with what the chart references."""
    key = load_certificate(repo, request.environment)
    objects = rendered if rendered is not None else rendered_environment(repo, request.environment)
    refs = references(objects)
    files, changes = plan(refs, read_sealed(repo, request.environment), request, key)
    return changes, write_files(repo, request.environment, files)


__all__ = [
    "API_VERSION",
    "CERTIFICATE_FILE",
    "KIND",
    "SEALED_DIR",
    "SEALED_TO",
    "Change",
    "Request",
    "SealError",
    "SecretRef",
    "generators",
    "load_certificate",
    "plan",
    "read_sealed",
    "references",
    "render_file",
    "rendered_environment",
    "seal_environment",
    "sealed_secret",
    "secret_keys",
    "write_files",
]
