"""Make the engine run an environment: the cluster's order (PostgreSQL ready → migrations exit 0 →
service → api → app, each only once its dependency is ready), health-gated rolling updates, and no
change at all when nothing changed.

A tier whose new container fails stays on its old one: the new container joins the networks it
serves on only after ``/health/ready`` answers, and the old one is stopped (gracefully) only
after that. A failed migration stops the stack's rollout before its service is touched.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import docker
import httpx
from docker.models.containers import Container

from uo.local import engine, topology, vault
from uo.local.topology import AUTH_STACK, ContainerSpec, StackImages

Report = Callable[[str], None]


class RolloutError(Exception):
    """A step of the rollout failed; what runs keeps running. The message says which and why."""


class MissingImageError(RolloutError):
    """An image the environment needs is not on the engine (nothing was touched)."""


@dataclass(frozen=True)
class Plan:
    environment: str
    images: dict[str, StackImages]  # stack -> images; auth first when present
    edge_image: str
    infra_dir: str | None = None  # host path of infra/, mounted into environment-service
    ready_timeout: float = 90.0
    job_timeout: float = 180.0


@dataclass
class Outcome:
    environment: str
    changes: list[str] = field(default_factory=list)  # "auth-service updated", ...
    urls: dict[str, str] = field(default_factory=dict)  # "auth-api" -> http://127.0.0.1:8002
    login: tuple[str, str] | None = None

    @property
    def changed(self) -> bool:
        return bool(self.changes)


def ordered_stacks(stacks: list[str]) -> list[str]:
    """The auth stack first: every other stack's api needs its keys and service tokens."""
    return sorted(stacks, key=lambda stack: stack != AUTH_STACK)


def check_images(client: docker.DockerClient, plan: Plan) -> None:
    wanted = {"edge": plan.edge_image}
    for stack, images in plan.images.items():
        wanted[f"{stack}-database"] = images.database
        wanted[f"{stack}-service"] = images.service
        wanted[f"{stack}-api"] = images.api
        if images.app:
            wanted[f"{stack}-app"] = images.app
    missing = [
        f"{name} ({ref})" for name, ref in wanted.items() if engine.image_id(client, ref) is None
    ]
    if missing:
        raise MissingImageError(
            "images not on the engine, nothing was changed: " + ", ".join(missing)
        )


class Reconciler:
    def __init__(self, client: docker.DockerClient, plan: Plan, report: Report) -> None:
        self.client = client
        self.plan = plan
        self.report = report
        self.outcome = Outcome(plan.environment)

    # -- building blocks ------------------------------------------------------------------

    def _running(self, spec: ContainerSpec) -> list[Container]:
        return engine.containers(
            self.client, self.plan.environment, stack=spec.stack, tier=spec.tier
        )

    def _say(self, spec: ContainerSpec, text: str) -> None:
        self.report(f"[{self.plan.environment}] {spec.stack}-{spec.tier}: {text}")

    def _resolved(self, spec: ContainerSpec) -> ContainerSpec:
        """The spec with its image as an id (what to run) and its content digest (what counts
        as a change: a re-tagged image does, a new revision label alone does not)."""
        image_id = engine.image_id(self.client, spec.image)
        content = engine.image_content(self.client, spec.image)
        if image_id is None or content is None:
            raise MissingImageError(
                f"{spec.stack}-{spec.tier}: image {spec.image} is not on the engine"
            )
        return ContainerSpec(**{**spec.__dict__, "image": image_id, "image_content": content})

    def _unchanged(self, spec: ContainerSpec, current: list[Container]) -> bool:
        same = [
            c
            for c in current
            if c.labels.get(f"{topology.LABEL}.fingerprint") == spec.fingerprint()
            and c.status == "running"
        ]
        if not same:
            return False
        for extra in current:
            if extra.id != same[0].id:  # left over from an interrupted run
                engine.stop_and_remove(extra, spec.stop_grace_seconds)
        return True

    def replace(self, spec: ContainerSpec) -> Container:
        """Stop, then start: for what cannot run twice (PostgreSQL on its volume, the edge's
        published ports)."""
        spec = self._resolved(spec)
        current = self._running(spec)
        if self._unchanged(spec, current):
            return next(c for c in current if c.status == "running")
        for old in current:
            engine.stop_and_remove(old, spec.stop_grace_seconds)
        self._say(spec, "starting")
        container = engine.create(self.client, spec)
        container.start()
        try:
            seconds = engine.wait_ready(container, spec, self.plan.ready_timeout)
        except engine.NotReadyError as exc:
            raise RolloutError(f"{spec.stack}-{spec.tier} did not become ready: {exc}") from exc
        self._say(spec, f"ready in {seconds:.1f}s")
        self.outcome.changes.append(
            f"{spec.stack}-{spec.tier} {'updated' if current else 'created'}"
        )
        return container

    def roll(self, spec: ContainerSpec) -> Container:
        """Start the new container, wait for ready, move traffic to it, then stop the old one."""
        spec = self._resolved(spec)
        current = self._running(spec)
        if self._unchanged(spec, current):
            return next(c for c in current if c.status == "running")
        self._say(spec, "starting new version" if current else "starting")
        container = engine.create(self.client, spec)
        container.start()
        try:
            seconds = engine.wait_ready(container, spec, self.plan.ready_timeout)
        except engine.NotReadyError as exc:
            engine.stop_and_remove(container, 2)
            keeps = " The running version keeps serving." if current else ""
            raise RolloutError(
                f"{spec.stack}-{spec.tier}: the new version never became ready.{keeps}\n{exc}"
            ) from exc
        engine.join_serving_networks(self.client, container, spec)
        self._say(spec, f"ready in {seconds:.1f}s, serving")
        for old in current:
            engine.stop_and_remove(old, spec.stop_grace_seconds)
        if current:
            self._say(spec, f"previous version stopped ({len(current)})")
        self.outcome.changes.append(
            f"{spec.stack}-{spec.tier} {'updated' if current else 'created'}"
        )
        return container

    def job(self, spec: ContainerSpec, what: str) -> None:
        """Run a one-shot job unless this exact job already succeeded (its container is kept as
        the record, like a completed Kubernetes Job)."""
        spec = self._resolved(spec)
        previous = self._running(spec)
        for done in previous:
            if (
                done.labels.get(f"{topology.LABEL}.fingerprint") == spec.fingerprint()
                and done.status == "exited"
                and done.attrs["State"]["ExitCode"] == 0
            ):
                return
        self._say(spec, f"running {what}")
        code, tail = engine.run_job(self.client, spec, self.plan.job_timeout)
        container = self.client.containers.get(spec.name)
        if code != 0:
            container.remove(force=True)
            raise RolloutError(
                f"{spec.stack}: {what} failed (exit code {code}); nothing of this stack was "
                f"updated and the running version keeps serving.\n{tail}"
            )
        for old in previous:
            if old.id != container.id:
                old.remove(force=True)
        self._say(spec, f"{what} done")
        self.outcome.changes.append(f"{spec.stack} {what}")

    def jwks(self, auth_api: Container) -> str:
        """The auth stack's published keys, normalised so the same keys give the same text."""
        url = f"http://{engine.address(auth_api)}:8002/.well-known/jwks.json"
        try:
            keys = httpx.get(url, timeout=5).json()["keys"]
        except (httpx.HTTPError, ValueError, KeyError) as exc:
            raise RolloutError(f"auth-api does not serve its keys ({type(exc).__name__})") from exc
        return json.dumps(
            {"keys": sorted(keys, key=lambda key: key.get("kid", ""))}, sort_keys=True
        )

    # -- the environment ------------------------------------------------------------------

    def run(self) -> Outcome:
        plan, env = self.plan, self.plan.environment
        check_images(self.client, plan)
        stacks = ordered_stacks(list(plan.images))
        if stacks and stacks[0] != AUTH_STACK:
            raise RolloutError("the auth stack is needed by every other stack; include it")
        secrets = vault.load_or_create(self.client, env, plan.edge_image, stacks)
        for network in topology.environment_networks(env):
            engine.ensure_network(self.client, env, network)
        for stack in stacks:
            for network in topology.stack_networks(env, stack):
                engine.ensure_network(self.client, env, network)
        trusted_jwks: str | None = None
        for stack in stacks:
            images, own = plan.images[stack], secrets.stacks[stack]
            engine.ensure_volume(self.client, env, topology.data_volume(env, stack), stack)
            self.replace(topology.database(env, stack, images.database, own))
            # Settings only the auth service has (it refuses to start, or migrate, without them).
            auth_env = {"UO_KEY_ENCRYPTION_KEY": secrets.key_encryption_key}
            service_env = auth_env if stack == AUTH_STACK else {}
            self.job(topology.migration(env, stack, images.service, own, service_env), "migrations")
            if stack == AUTH_STACK:
                for caller in stacks:
                    self.job(
                        topology.client_registration(
                            env,
                            images.service,
                            own,
                            auth_env,
                            caller,
                            secrets.stacks[caller].client_secret,
                        ),
                        f"registration of {caller}-api",
                    )
            self.roll(
                topology.service(
                    env,
                    stack,
                    images.service,
                    own,
                    trusted_jwks=None if stack == AUTH_STACK else trusted_jwks,
                    key_encryption_key=secrets.key_encryption_key if stack == AUTH_STACK else None,
                    infra_dir=plan.infra_dir if stack == "environment" else None,
                )
            )
            api = self.roll(topology.gateway(env, stack, images.api, own, stacks))
            if images.app:
                self.roll(topology.app(env, stack, images.app))
            if stack == AUTH_STACK:
                trusted_jwks = self.jwks(api)
        self.replace(
            topology.edge(env, plan.edge_image, {s: bool(plan.images[s].app) for s in stacks})
        )
        for stack in stacks:
            for tier in ("app", "api") if plan.images[stack].app else ("api",):
                port = topology.host_port(env, stack, tier)
                self.outcome.urls[f"{stack}-{tier}"] = f"http://127.0.0.1:{port}"
        self.outcome.login = self.operator_login(secrets)
        return self.outcome

    def operator_login(self, secrets: vault.EnvironmentSecrets) -> tuple[str, str]:
        """A ready-made account, registered through the edge like any user."""
        base = f"http://127.0.0.1:{topology.host_port(self.plan.environment, AUTH_STACK, 'api')}"
        body = {"email": vault.OPERATOR_EMAIL, "password": secrets.operator_password}
        deadline = time.monotonic() + 20
        while True:
            try:
                response = httpx.post(f"{base}/v1/auth/register", json=body, timeout=10)
                if response.status_code in (201, 409):
                    return vault.OPERATOR_EMAIL, secrets.operator_password
                problem = f"answered {response.status_code}: {response.text[:200]}"
            except httpx.HTTPError as exc:
                problem = type(exc).__name__
            if time.monotonic() > deadline:
                raise RolloutError(f"the operator login could not be registered ({problem})")
            time.sleep(0.5)


def up(client: docker.DockerClient, plan: Plan, report: Report) -> Outcome:
    return Reconciler(client, plan, report).run()


TEARDOWN_ORDER = ("edge", "app", "api", "service")


def down(client: docker.DockerClient, environment: str, *, volumes: bool, report: Report) -> int:
    """Stop and remove an environment (front door first, databases last); data volumes and the
    secrets stay unless ``volumes``. Returns how many containers were removed."""
    found = engine.containers(client, environment)

    def rank(container: Container) -> int:
        tier = container.labels.get(f"{topology.LABEL}.tier", "")
        return TEARDOWN_ORDER.index(tier) if tier in TEARDOWN_ORDER else len(TEARDOWN_ORDER)

    removed = 0
    for container in sorted(found, key=rank):
        if container.labels.get(f"{topology.LABEL}.tier") == "secrets" and not volumes:
            continue
        report(f"[{environment}] removing {container.name}")
        engine.stop_and_remove(container, 25)
        removed += 1
    for network in client.networks.list(filters=engine.env_filter(environment)):
        network.remove()
    if volumes:
        for volume in client.volumes.list(filters=engine.env_filter(environment)):
            report(f"[{environment}] removing volume {volume.name}")
            volume.remove(force=True)
    return removed


__all__ = ["MissingImageError", "Outcome", "Plan", "RolloutError", "down", "ordered_stacks", "up"]
