"""What an environment looks like on one Docker engine: networks, containers, ports, aliases.

Pure data, derived from the naming contract and mirroring the chart's NetworkPolicies with one
internal network per hop:

    public (published ports) ─ edge ─ <stack>-edge ─ app, api
    api ─ <stack>-svc ─ service ─ <stack>-db ─ PostgreSQL (and migrate)
    <stack>-api ─ <stack>-jwks ─ auth-api

Internal networks have no route out (the private engine runs without IP forwarding), so a
container reaches exactly the containers that share one of its networks. A network joins the two
ends of one hop, so the callee can also open the caller's listening port (a service can reach its
own api's public endpoints); the cluster's NetworkPolicies close that direction as well. Each tier
*serves* on some networks (where it carries its alias, joined only once it is ready) and is a
*client* on others (joined at start, to reach its own dependencies).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Final

from unifyops_core.naming import DATABASE_PORT, HEALTH_READY_PATH, STACKS, TIER_PORTS

LABEL: Final = "io.unifyops.local"
# The environments `uo up` knows: `local` (the working tree), the ones infra/ records, and `test`
# (the e2e tests' own, so they leave a developer's `local` alone).
ENVIRONMENT_INDEX: Final = {"local": 0, "dev": 1, "staging": 2, "prod": 3, "test": 4}
CLI_ENVIRONMENTS: Final = ("local", "dev", "staging", "prod")
AUTH_STACK: Final = "auth"
ROLLED_TIERS: Final = ("service", "api", "app")


def host_port(environment: str, stack: str, tier: str) -> int:
    """Where the edge publishes a tier on 127.0.0.1: the tier's port, +100 per stack, +10000 per
    environment (local auth-api 8002, user-api 8102; dev auth-api 18002)."""
    stack_index = list(STACKS).index(stack)
    return TIER_PORTS[tier] + 100 * stack_index + 10_000 * ENVIRONMENT_INDEX[environment]


def prefix(environment: str) -> str:
    return f"uo-{environment}"


def network_name(environment: str, purpose: str) -> str:
    return f"{prefix(environment)}-{purpose}"


def alias(stack: str, tier: str) -> str:
    return f"{stack}-{tier}"


@dataclass(frozen=True)
class NetworkSpec:
    name: str
    internal: bool


@dataclass(frozen=True)
class Readiness:
    """How to tell a container is ready: an HTTP GET from the host, ``pg_isready`` inside, or a
    published port that accepts connections on 127.0.0.1."""

    kind: str  # "http" | "postgres" | "tcp" | "none"
    port: int = 0
    path: str = HEALTH_READY_PATH


@dataclass(frozen=True)
class ContainerSpec:
    environment: str
    stack: str
    tier: str  # database, migrate, register, service, api, app, edge
    image: str  # an image id (sha256:...) or a reference present on the engine
    command: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    # network -> aliases; joined at start (client) or once ready (serving)
    client_networks: dict[str, tuple[str, ...]] = field(default_factory=dict)
    serving_networks: dict[str, tuple[str, ...]] = field(default_factory=dict)
    ports: dict[int, int] = field(default_factory=dict)  # container port -> 127.0.0.1 port
    volumes: dict[str, str] = field(default_factory=dict)  # volume name -> mount point
    binds: dict[str, str] = field(default_factory=dict)  # host path -> read-only mount point
    readiness: Readiness = Readiness("none")
    stop_grace_seconds: int = 25
    # What the image holds (layers and run configuration, not its labels), when known: a commit
    # that leaves a tier's content alone then leaves its container alone, although the image's
    # revision label (and so its id) changed.
    image_content: str = ""

    def fingerprint(self) -> str:
        """Changes exactly when the container must be replaced (image content, config, wiring)."""
        identity = asdict(self)
        if self.image_content:
            identity["image"] = self.image_content
        return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:12]

    @property
    def name(self) -> str:
        return f"{prefix(self.environment)}-{self.stack}-{self.tier}-{self.fingerprint()}"

    def labels(self) -> dict[str, str]:
        return {
            f"{LABEL}.environment": self.environment,
            f"{LABEL}.stack": self.stack,
            f"{LABEL}.tier": self.tier,
            f"{LABEL}.fingerprint": self.fingerprint(),
        }


@dataclass(frozen=True)
class StackImages:
    """Image per tier of one stack (ids or references on the engine); ``app`` may be absent."""

    database: str
    service: str
    api: str
    app: str | None = None


@dataclass(frozen=True)
class StackSecrets:
    database_password: str
    client_secret: str


def stack_networks(environment: str, stack: str) -> list[NetworkSpec]:
    # One jwks hop per stack (not one shared by all gateways), so gateways cannot reach each other.
    hops = ("edge", "svc", "db") if stack == AUTH_STACK else ("edge", "svc", "db", "jwks")
    return [NetworkSpec(network_name(environment, f"{stack}-{hop}"), internal=True) for hop in hops]


def environment_networks(environment: str) -> list[NetworkSpec]:
    return [NetworkSpec(network_name(environment, "public"), internal=False)]


def database_env(stack: str, secrets: StackSecrets) -> dict[str, str]:
    return {
        "UO_DATABASE__HOST": alias(stack, "database"),
        "UO_DATABASE__PORT": str(DATABASE_PORT),
        "UO_DATABASE__USER": stack,
        "UO_DATABASE__NAME": stack,
        "UO_DATABASE__PASSWORD": secrets.database_password,
    }


def database(environment: str, stack: str, image: str, secrets: StackSecrets) -> ContainerSpec:
    return ContainerSpec(
        environment,
        stack,
        "database",
        image,
        env={
            "POSTGRES_USER": stack,
            "POSTGRES_DB": stack,
            "POSTGRES_PASSWORD": secrets.database_password,
        },
        serving_networks={network_name(environment, f"{stack}-db"): (alias(stack, "database"),)},
        volumes={data_volume(environment, stack): "/var/lib/postgresql/data"},
        readiness=Readiness("postgres", DATABASE_PORT),
        stop_grace_seconds=30,
    )


def data_volume(environment: str, stack: str) -> str:
    return f"{prefix(environment)}-{stack}-pgdata"


def common_env(environment: str) -> dict[str, str]:
    return {"UO_ENVIRONMENT": environment, "UO_LOG_LEVEL": "INFO"}


def migration(
    environment: str,
    stack: str,
    service_image: str,
    secrets: StackSecrets,
    service_env: dict[str, str] | None = None,
) -> ContainerSpec:
    """The schema upgrade, run with the new service image and the service's own settings."""
    return ContainerSpec(
        environment,
        stack,
        "migrate",
        service_image,
        command=("migrate",),
        env={**common_env(environment), **database_env(stack, secrets), **(service_env or {})},
        client_networks={network_name(environment, f"{stack}-db"): ()},
    )


def client_registration(
    environment: str,
    auth_service_image: str,
    auth_secrets: StackSecrets,
    auth_env: dict[str, str],
    stack: str,
    secret: str,
) -> ContainerSpec:
    """A job on the auth stack's database network: lets ``<stack>-api`` get service tokens."""
    gateway, service = alias(stack, "api"), alias(stack, "service")
    return ContainerSpec(
        environment,
        AUTH_STACK,
        f"register-{stack}",
        auth_service_image,
        command=("register-client", gateway, "--audience", service),
        env={
            **common_env(environment),
            **database_env(AUTH_STACK, auth_secrets),
            **auth_env,
            "UO_CLIENT_SECRET": secret,
        },
        client_networks={network_name(environment, f"{AUTH_STACK}-db"): ()},
    )


def service(
    environment: str,
    stack: str,
    image: str,
    secrets: StackSecrets,
    *,
    trusted_jwks: str | None,
    key_encryption_key: str | None = None,
    infra_dir: str | None = None,
) -> ContainerSpec:
    env = {**common_env(environment), **database_env(stack, secrets)}
    binds = {}
    if trusted_jwks is not None:
        env["UO_TRUSTED_JWKS"] = trusted_jwks
    if key_encryption_key is not None:
        env["UO_KEY_ENCRYPTION_KEY"] = key_encryption_key
    if infra_dir is not None:
        binds[infra_dir] = "/srv/unifyops/infra"
        env["UO_INFRA_PATH"] = "/srv/unifyops/infra/environments"
    return ContainerSpec(
        environment,
        stack,
        "service",
        image,
        env=env,
        client_networks={network_name(environment, f"{stack}-db"): ()},
        serving_networks={network_name(environment, f"{stack}-svc"): (alias(stack, "service"),)},
        binds=binds,
        readiness=Readiness("http", TIER_PORTS["service"]),
    )


def gateway(
    environment: str, stack: str, image: str, secrets: StackSecrets, stacks: list[str]
) -> ContainerSpec:
    """A stack's api; ``stacks`` (all running stacks) matters to auth-api, which serves the keys
    and tokens on every other stack's jwks hop."""
    service_url = f"http://{alias(stack, 'service')}:{TIER_PORTS['service']}"
    auth_api = f"http://{alias(AUTH_STACK, 'api')}:{TIER_PORTS['api']}"
    client_networks: dict[str, tuple[str, ...]] = {network_name(environment, f"{stack}-svc"): ()}
    serving_networks: dict[str, tuple[str, ...]] = {
        network_name(environment, f"{stack}-edge"): (alias(stack, "api"),)
    }
    env = {
        **common_env(environment),
        "UO_SERVICE_URL": service_url,
        "UO_CLIENT_SECRET": secrets.client_secret,
        "UO_JWKS_URL": f"{auth_api}/.well-known/jwks.json",
        "UO_TOKEN_URL": f"{auth_api}/oauth/token",
    }
    if stack == AUTH_STACK:
        # auth-api serves the keys and tokens every other gateway needs, and takes its own
        # service tokens straight from its service.
        for caller in stacks:
            if caller != AUTH_STACK:
                serving_networks[network_name(environment, f"{caller}-jwks")] = (
                    alias(AUTH_STACK, "api"),
                )
        env["UO_TOKEN_URL"] = f"{service_url}/oauth/token"
    else:
        client_networks[network_name(environment, f"{stack}-jwks")] = ()
    return ContainerSpec(
        environment,
        stack,
        "api",
        image,
        env=env,
        client_networks=client_networks,
        serving_networks=serving_networks,
        readiness=Readiness("http", TIER_PORTS["api"]),
    )


def app(environment: str, stack: str, image: str) -> ContainerSpec:
    """The app tier serves its bundle and forwards /api/* to its own gateway, nothing else."""
    return ContainerSpec(
        environment,
        stack,
        "app",
        image,
        env={
            **common_env(environment),
            "UO_API_URL": f"http://{alias(stack, 'api')}:{TIER_PORTS['api']}",
        },
        serving_networks={network_name(environment, f"{stack}-edge"): (alias(stack, "app"),)},
        readiness=Readiness("http", TIER_PORTS["app"]),
    )


def edge(environment: str, image: str, stacks: dict[str, bool]) -> ContainerSpec:
    """The front door: publishes every gateway (and app, where the stack has one) on loopback.

    ``stacks`` maps each running stack to whether it has an app tier.
    """
    routes, ports = [], {}
    for stack, has_app in stacks.items():
        for tier in ("api", "app") if has_app else ("api",):
            port = host_port(environment, stack, tier)
            routes.append(f"{port}={alias(stack, tier)}:{TIER_PORTS[tier]}")
            ports[port] = port
    return ContainerSpec(
        environment,
        "platform",
        "edge",
        image,
        env={"UO_EDGE_ROUTES": ",".join(routes)},
        client_networks={
            network_name(environment, "public"): (),
            **{network_name(environment, f"{stack}-edge"): () for stack in stacks},
        },
        ports=ports,
        readiness=Readiness("tcp", next(iter(ports))) if ports else Readiness("none"),
        stop_grace_seconds=12,
    )


__all__ = [
    "AUTH_STACK",
    "CLI_ENVIRONMENTS",
    "ENVIRONMENT_INDEX",
    "LABEL",
    "ROLLED_TIERS",
    "ContainerSpec",
    "NetworkSpec",
    "Readiness",
    "StackImages",
    "StackSecrets",
    "alias",
    "app",
    "client_registration",
    "data_volume",
    "database",
    "edge",
    "environment_networks",
    "gateway",
    "host_port",
    "migration",
    "network_name",
    "service",
    "stack_networks",
]
