"""The environment's generated secrets (database passwords, gateway client secrets, the auth
service's key-encryption key, the operator login), kept with the engine.

They live in a volume (``uo-<env>-secrets``) behind a container that is created but never
started: the engine's archive API reads and writes the file without running anything, and the
secrets survive `uo down` unless the volumes are removed too.
"""

from __future__ import annotations

import base64
import io
import json
import secrets
import tarfile
from dataclasses import asdict, dataclass

import docker
import docker.errors
from docker.models.containers import Container

from uo.local.topology import LABEL, StackSecrets, prefix

SECRETS_DIR = "/secrets"
SECRETS_FILE = "secrets.json"
OPERATOR_EMAIL = "operator@example.com"


@dataclass(frozen=True)
class EnvironmentSecrets:
    key_encryption_key: str
    operator_password: str
    stacks: dict[str, StackSecrets]

    @classmethod
    def generate(cls, stacks: list[str]) -> EnvironmentSecrets:
        return cls(
            key_encryption_key=base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
            operator_password=secrets.token_urlsafe(12),
            stacks={stack: _new_stack_secrets() for stack in stacks},
        )

    def with_stacks(self, stacks: list[str]) -> EnvironmentSecrets:
        """These secrets plus fresh ones for stacks that have none yet."""
        missing = {stack: _new_stack_secrets() for stack in stacks if stack not in self.stacks}
        if not missing:
            return self
        return EnvironmentSecrets(
            self.key_encryption_key, self.operator_password, {**self.stacks, **missing}
        )

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> EnvironmentSecrets:
        data = json.loads(text)
        return cls(
            data["key_encryption_key"],
            data["operator_password"],
            {name: StackSecrets(**values) for name, values in data["stacks"].items()},
        )


def _new_stack_secrets() -> StackSecrets:
    return StackSecrets(secrets.token_urlsafe(24), secrets.token_urlsafe(32))


def volume_name(environment: str) -> str:
    return f"{prefix(environment)}-secrets"


def _holder(client: docker.DockerClient, environment: str, image: str) -> Container:
    name = volume_name(environment)
    try:
        holder: Container = client.containers.get(name)
        return holder
    except docker.errors.NotFound:
        pass
    labels = {f"{LABEL}.environment": environment, f"{LABEL}.tier": "secrets"}
    try:
        client.volumes.get(name)
    except docker.errors.NotFound:
        client.volumes.create(name, labels=labels)
    created: Container = client.containers.create(
        image,
        name=name,
        command=["true"],
        labels={**labels, f"{LABEL}.stack": "platform"},
        volumes={name: {"bind": SECRETS_DIR, "mode": "rw"}},
        network_disabled=True,
    )
    return created


def load_or_create(
    client: docker.DockerClient, environment: str, image: str, stacks: list[str]
) -> EnvironmentSecrets:
    holder = _holder(client, environment, image)
    try:
        chunks, _ = holder.get_archive(f"{SECRETS_DIR}/{SECRETS_FILE}")
        with tarfile.open(fileobj=io.BytesIO(b"".join(chunks))) as archive:
            member = archive.extractfile(SECRETS_FILE)
            assert member is not None
            current = EnvironmentSecrets.from_json(member.read().decode())
    except docker.errors.NotFound:
        current = EnvironmentSecrets.generate(stacks)
        _store(holder, current)
        return current
    wanted = current.with_stacks(stacks)
    if wanted is not current:
        _store(holder, wanted)
    return wanted


def _store(holder: Container, values: EnvironmentSecrets) -> None:
    data = values.to_json().encode()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        info = tarfile.TarInfo(SECRETS_FILE)
        info.size = len(data)
        info.mode = 0o600
        archive.addfile(info, io.BytesIO(data))
    if not holder.put_archive(SECRETS_DIR, buffer.getvalue()):
        raise OSError(f"could not write the secrets of {holder.name}")


__all__ = ["OPERATOR_EMAIL", "EnvironmentSecrets", "load_or_create", "volume_name"]
