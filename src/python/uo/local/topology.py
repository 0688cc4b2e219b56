"""What runs on one Docker engine for an environment: container specs, networks, ports.

Pure data. The specs are not written here by hand: uo.local.specs derives them from the rendered
chart (pod templates, Services, NetworkPolicies), so a cluster and `uo up` run the same contract.
This module holds the shapes and the few facts that are `uo up`'s own: labels, names and the
loopback ports the edge publishes.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any, Final

from unifyops_core.naming import HEALTH_READY_PATH, STACKS, TIER_PORTS
from uo.local.wiring import Attachment

LABEL: Final = "io.unifyops.local"
IMAGE_ENV: Final = "UO_IMAGE"  # the chart's: the reference a tier was started from
# The environments `uo up` knows: `local` (the working tree), the ones infra/ records, `test`
# (the e2e tests' own, so they leave a developer's `local` alone) and `scratch` (a test that runs
# a generated stack beside `test`, from a clone's code).
ENVIRONMENT_INDEX: Final = {"local": 0, "dev": 1, "staging": 2, "prod": 3, "test": 4, "scratch": 5}
# Host ports step 4000 per environment so that every environment's ports stay below 32768, where
# Linux starts handing out ephemeral ports (macOS: 49152): a port in that range can be held by any
# outgoing connection of the moment, and the edge's publish then fails with "address in use".
ENVIRONMENT_PORT_STEP: Final = 4000
EPHEMERAL_PORTS_START: Final = 32768
AUTH_STACK: Final = "auth"
ROLLED_TIERS: Final = ("service", "api", "app")


def environment_port_offset(environment: str) -> int:
    return ENVIRONMENT_PORT_STEP * ENVIRONMENT_INDEX[environment]


def host_port(environment: str, stack: str, tier: str) -> int:
    """Where the edge publishes a tier on 127.0.0.1: the tier's port, +100 per stack, +4000 per
    environment (local auth-app 3000, user-api 8102; dev auth-app 7000, auth-api 12002)."""
    stack_index = list(STACKS).index(stack)
    return TIER_PORTS[tier] + 100 * stack_index + environment_port_offset(environment)


def prefix(environment: str) -> str:
    return f"uo-{environment}"


def public_network(environment: str) -> str:
    return f"{prefix(environment)}-public"


@dataclass(frozen=True)
class NetworkSpec:
    name: str
    internal: bool


@dataclass(frozen=True)
class Readiness:
    """How to tell a container is ready: an HTTP GET from the host (the kubelet's view), a
    command inside it, or a TCP port of the container that accepts connections."""

    kind: str  # "http" | "exec" | "tcp" | "none"
    port: int = 0
    path: str = HEALTH_READY_PATH
    command: tuple[str, ...] = ()
    # While it runs (uo.local.supervisor): probed every ``period`` seconds, out of its Services
    # after ``failures`` misses in a row, back after ``successes`` passes (the kubelet's defaults).
    period: float = 10.0
    failures: int = 3
    successes: int = 1
    timeout: float = 1.0


@dataclass(frozen=True)
class Liveness:
    """The rendered liveness probe, as the supervisor runs it (uo.local.supervisor): probed
    every ``period`` seconds, the container is killed after ``failures`` misses in a row, and
    the engine's restart policy starts it again (the kubelet's restart, on one machine)."""

    kind: str  # "http" | "exec" | "none"
    port: int = 0
    path: str = ""
    command: tuple[str, ...] = ()
    period: float = 10.0
    failures: int = 3
    timeout: float = 1.0


@dataclass(frozen=True)
class Security:
    """The pod's and container's securityContext, as the engine applies it."""

    user: str = ""  # "uid:gid"
    group_add: tuple[str, ...] = ()
    read_only: bool = False
    cap_drop: tuple[str, ...] = ()
    no_new_privileges: bool = False


@dataclass(frozen=True)
class ContainerSpec:
    environment: str
    stack: str
    tier: str  # database, migrate, register-<stack>, service, api, app, edge
    image: str  # a reference on the engine, or an image id once resolved
    entrypoint: tuple[str, ...] = ()  # the pod's `command` (replaces the image's entry point)
    command: tuple[str, ...] = ()  # the pod's `args`
    env: dict[str, str] = field(default_factory=dict)
    # network -> attachment; client networks are joined at start, serving ones once ready
    client_networks: dict[str, Attachment] = field(default_factory=dict)
    serving_networks: dict[str, Attachment] = field(default_factory=dict)
    ports: dict[int, int] = field(default_factory=dict)  # container port -> 127.0.0.1 port
    volumes: dict[str, str] = field(default_factory=dict)  # volume name -> mount point
    binds: dict[str, str] = field(default_factory=dict)  # host path -> read-only mount point
    tmpfs: tuple[str, ...] = ()  # emptyDir mount points
    security: Security = Security()
    memory_limit: int = 0  # bytes; 0: none
    cpu_limit: int = 0  # billionths of a CPU; 0: none
    readiness: Readiness = Readiness("none")
    liveness: Liveness = Liveness("none")
    # A pod's restartPolicy Always (Deployments, StatefulSets, the edge): the engine restarts a
    # process that exits; Jobs run once.
    restart: bool = False
    pre_stop_seconds: int = 0
    stop_grace_seconds: int = 25
    replica: int = 0
    # What the image holds (layers and run configuration, not its labels), when known: a commit
    # that leaves a tier's content alone then leaves its container alone, although the image's
    # revision label (and so its id) changed.
    image_content: str = ""

    def fingerprint(self) -> str:
        """Changes exactly when the container must be replaced (image content, config, wiring);
        the same for every replica of one version."""
        identity = asdict(self)
        identity.pop("replica")
        if self.image_content:
            identity["image"] = self.image_content
            # The chart names the image in the tier's env (UO_IMAGE, for build info); a new
            # reference to the same content is no change either (the old name still holds it).
            identity["env"] = {k: v for k, v in self.env.items() if k != IMAGE_ENV}
        return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:12]

    def to_label(self) -> str:
        """What the supervisor needs to re-apply the container's policy and probe it after a
        restart, kept on the container (everything but its env, which holds secrets)."""
        data = asdict(self)
        data.pop("env")
        return json.dumps(data, sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_label(cls, text: str) -> ContainerSpec:
        data = json.loads(text)

        def attachments(raw: dict[str, dict[str, list[Any]]]) -> dict[str, Attachment]:
            return {
                name: Attachment(tuple(a["aliases"]), tuple(a["ports"])) for name, a in raw.items()
            }

        readiness, liveness = data.pop("readiness"), data.pop("liveness")
        security = data.pop("security")
        return cls(
            **{
                **data,
                "entrypoint": tuple(data["entrypoint"]),
                "command": tuple(data["command"]),
                "tmpfs": tuple(data["tmpfs"]),
                "ports": {int(k): v for k, v in data["ports"].items()},
                "client_networks": attachments(data["client_networks"]),
                "serving_networks": attachments(data["serving_networks"]),
                "readiness": Readiness(**{**readiness, "command": tuple(readiness["command"])}),
                "liveness": Liveness(**{**liveness, "command": tuple(liveness["command"])}),
                "security": Security(
                    **{
                        **security,
                        "group_add": tuple(security["group_add"]),
                        "cap_drop": tuple(security["cap_drop"]),
                    }
                ),
            }
        )

    @property
    def name(self) -> str:
        base = f"{prefix(self.environment)}-{self.stack}-{self.tier}"
        return f"{base}-{self.fingerprint()}-{self.replica}"

    def labels(self) -> dict[str, str]:
        return {
            f"{LABEL}.environment": self.environment,
            f"{LABEL}.stack": self.stack,
            f"{LABEL}.tier": self.tier,
            f"{LABEL}.fingerprint": self.fingerprint(),
            f"{LABEL}.spec": self.to_label(),
        }


@dataclass(frozen=True)
class StackImages:
    """Image per tier of one stack (ids or references on the engine); ``app`` may be absent."""

    database: str
    service: str
    api: str
    app: str | None = None


__all__ = [
    "AUTH_STACK",
    "ENVIRONMENT_INDEX",
    "ENVIRONMENT_PORT_STEP",
    "EPHEMERAL_PORTS_START",
    "LABEL",
    "ROLLED_TIERS",
    "ContainerSpec",
    "Liveness",
    "NetworkSpec",
    "Readiness",
    "Security",
    "StackImages",
    "environment_port_offset",
    "host_port",
    "prefix",
    "public_network",
]
