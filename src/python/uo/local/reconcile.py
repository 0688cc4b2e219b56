"""Make the engine run an environment: the rendered chart of every stack (uo.local.values),
executed in Argo CD's order — phase, then sync wave (database → migration hook → client
registration hooks → apps), each wave only once the one before is ready — with health-gated
rolling updates (maxSurge 1, maxUnavailable 0) and no change at all when nothing changed.

A tier whose new container fails stays on its old one: the new container joins the networks it
serves on only after its readiness probe passes, and the old one is stopped (preStop pause, then
SIGTERM and its grace period) only after that. A failed hook stops the stack's sync before
anything of it is rolled.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import docker
import httpx
from docker.models.containers import Container

from uo.local import (
    accounts,
    engine,
    firewall,
    manifests,
    monitoring,
    specs,
    supervisor,
    topology,
    values,
    vault,
    wiring,
)
from uo.local.manifests import ManifestError, Workload
from uo.local.topology import AUTH_STACK, ContainerSpec, StackImages
from uo.render import Manifest, RenderError

Report = Callable[[str], None]


class RolloutError(Exception):
    """A step of the rollout failed; what runs keeps running. The message says which and why."""


class MissingImageError(RolloutError):
    """An image the environment needs is not on the engine (nothing was touched)."""


@dataclass(frozen=True)
class Plan:
    environment: str
    # stack -> images (ids or references on the engine), auth first when present; None: run
    # what infra/environments/<env> records (dev, staging, prod)
    images: dict[str, StackImages] | None
    edge_image: str
    repo: str  # the checkout: chart, infra/ (values, the overlay; mounted for environment)
    stacks: tuple[str, ...] = ()  # with images=None: which stacks
    registry: str = "127.0.0.1:5000"
    ready_timeout: float = 90.0
    job_timeout: float = 180.0
    # The Prometheus image (src/docker/prometheus); None: no Prometheus, and the metrics ports
    # stay shut as the policies say when no monitoring pod runs.
    prometheus_image: str | None = None
    # The log reader (src/python/uo_logs), a sidecar of Prometheus where the values set
    # monitoring.logs.url; None: none runs, and the dashboard's error-id search says so.
    logs_image: str | None = None

    def stack_names(self) -> list[str]:
        return ordered_stacks(list(self.images) if self.images is not None else list(self.stacks))


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


def engine_tag(client: docker.DockerClient, reference: str, repository: str) -> str:
    """Tag an image on the engine under the repository the chart expects, by its id, so the
    rendered reference names exactly this image (the chart refuses moving tags)."""
    image_id = engine.image_id(client, reference)
    if image_id is None:
        raise MissingImageError(f"image {reference} is not on the engine, nothing was changed")
    tag = "id-" + image_id.split(":")[-1][:16]
    client.images.get(image_id).tag(repository, tag)
    return tag


def runs_logs(plan: Plan, first_values: dict[str, Any]) -> bool:
    """Whether the log reader runs beside Prometheus: the plan has its image and the values
    give the environment service its URL."""
    return bool(
        plan.prometheus_image
        and plan.logs_image
        and monitoring.enabled(first_values)
        and monitoring.logs_url(first_values)
    )


def wired_topology(
    plan: Plan, objects: list[Manifest], first_values: dict[str, Any]
) -> wiring.Topology:
    """The networks the rendered NetworkPolicies give this plan's containers (the edge as the
    ingress controller, and Prometheus as the monitoring pod when the plan runs one)."""
    scraper = None
    aliases: tuple[str, ...] = ()
    if plan.prometheus_image and monitoring.enabled(first_values):
        with_logs = runs_logs(plan, first_values)
        scraper = monitoring.prometheus_pod(first_values, with_logs=with_logs)
        aliases = monitoring.query_aliases(first_values, with_logs=with_logs)
    return wiring.topology(
        plan.environment,
        values.namespace(plan.environment),
        manifests.workloads(objects),
        manifests.services(objects),
        [o for o in objects if o["kind"] == "NetworkPolicy"],
        manifests.routes(objects),
        values.ingress_controller(first_values),
        scraper,
        aliases,
    )


def rendered_objects(
    client: docker.DockerClient, plan: Plan
) -> tuple[list[Manifest], dict[str, Any]]:
    """Every stack's rendered objects, and the values of the first (for environment-wide ones)."""
    repo = Path(plan.repo)
    objects: list[Manifest] = []
    first: dict[str, Any] = {}
    for stack in plan.stack_names():
        tags = None
        if plan.images is not None:
            images = plan.images[stack]
            tags = {
                "database": engine_tag(client, images.database, "unifyops/postgres"),
                "service": engine_tag(client, images.service, f"unifyops/{stack}-service"),
                "api": engine_tag(client, images.api, f"unifyops/{stack}-api"),
            }
            if images.app:
                tags["app"] = engine_tag(client, images.app, f"unifyops/{stack}-app")
        stack_values = values.stack_values(
            repo, plan.environment, stack, image_tags=tags, registry=plan.registry
        )
        try:
            objects.extend(values.render_stack(repo, plan.environment, stack, stack_values))
        except RenderError as exc:
            raise RolloutError(f"{stack}: the chart refused the values: {exc}") from exc
        first = first or stack_values
    return objects, first


class Reconciler:
    def __init__(self, client: docker.DockerClient, plan: Plan, report: Report) -> None:
        self.client = client
        self.plan = plan
        self.report = report
        self.outcome = Outcome(plan.environment)
        # A rendered image reference -> the image that stands in for it (a rebuild from its
        # recorded commit when neither the engine nor the registry holds it).
        self.substitutes: dict[str, str] = {}

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
        image = self.substitutes.get(spec.image, spec.image)  # a rebuild stands in (rebuild.py)
        image_id = engine.image_id(self.client, image)
        content = engine.image_content(self.client, image)
        if image_id is None or content is None:
            raise MissingImageError(
                f"{spec.stack}-{spec.tier}: image {spec.image} is not on the engine"
            )
        return replace(spec, image=image_id, image_content=content)

    def _unchanged(self, specs_: list[ContainerSpec], current: list[Container]) -> bool:
        """Every replica of this version runs, and nothing else: leave them alone."""
        fingerprint = specs_[0].fingerprint()
        # Running and serving: a container an interrupted run left before it joined its
        # Services' networks is not this version yet.
        serving = set(specs_[0].serving_networks)
        same = [
            c
            for c in current
            if c.labels.get(f"{topology.LABEL}.fingerprint") == fingerprint
            and c.status == "running"
            and serving <= set(c.attrs["NetworkSettings"]["Networks"])
        ]
        if len(same) < len(specs_):
            return False
        for extra in current:
            if extra not in same[: len(specs_)]:  # left over from an interrupted run
                self._stop(extra, specs_[0])
        return True

    def _stop(self, container: Container, spec: ContainerSpec) -> None:
        """A pod's termination: out of its Services' endpoints (new connections refused, so
        callers pick another replica; established ones finish), the preStop pause, then SIGTERM
        with the grace period, then SIGKILL. Without the first step, connections that arrive
        while the server shuts down are accepted and then closed unanswered."""
        if container.status == "running" and spec.serving_networks:
            # If that fails it is going away anyway: SIGTERM still drains what it serves.
            with contextlib.suppress(firewall.FirewallError):
                engine.enforce_policy(container, spec, closing=True)
        if spec.pre_stop_seconds and container.status == "running":
            time.sleep(spec.pre_stop_seconds)
        engine.stop_and_remove(container, spec.stop_grace_seconds)

    def _start(self, spec: ContainerSpec, *, serving_now: bool) -> Container:
        container = engine.create(self.client, spec, serving_now=serving_now)
        try:
            container.start()
        except docker.errors.APIError as exc:
            if "address already in use" not in str(exc):
                raise
            engine.stop_and_remove(container, 0)
            ports = ", ".join(f"127.0.0.1:{port}" for port in sorted(spec.ports.values()))
            raise RolloutError(
                f"{spec.stack}-{spec.tier} cannot publish {ports}: another process listens on "
                "one of them (find it with `ss -ltnp`), stop it and run again"
            ) from exc
        try:
            engine.enforce_policy(container, spec)
        except firewall.FirewallError as exc:
            engine.stop_and_remove(container, 2)
            raise RolloutError(
                f"{spec.stack}-{spec.tier}: its NetworkPolicy could not be enforced: {exc}"
            ) from exc
        return container

    def replace(self, spec: ContainerSpec) -> Container:
        """Stop, then start: for what cannot run twice (PostgreSQL on its volume, the edge's
        published ports)."""
        spec = self._resolved(spec)
        current = self._running(spec)
        if self._unchanged([spec], current):
            return next(c for c in current if c.status == "running")
        for old in current:
            self._stop(old, spec)
        self._say(spec, "starting")
        container = self._start(spec, serving_now=True)
        try:
            seconds = engine.wait_ready(container, spec, self.plan.ready_timeout)
        except engine.NotReadyError as exc:
            raise RolloutError(f"{spec.stack}-{spec.tier} did not become ready: {exc}") from exc
        self._say(spec, f"ready in {seconds:.1f}s")
        self.outcome.changes.append(
            f"{spec.stack}-{spec.tier} {'updated' if current else 'created'}"
        )
        return container

    def roll(self, replicas: list[ContainerSpec]) -> None:
        """maxSurge 1, maxUnavailable 0: one new replica at a time starts, must pass its
        readiness probe, joins its Services' networks, and only then is one old one stopped."""
        replicas = [self._resolved(spec) for spec in replicas]
        first = replicas[0]
        current = self._running(first)
        if self._unchanged(replicas, current):
            return
        old = [
            c
            for c in current
            if c.labels.get(f"{topology.LABEL}.fingerprint") != first.fingerprint()
        ]
        # Replicas of this version that still serve are kept: healing one that was stopped (by
        # hand, or an interrupted run) must not replace its siblings, which share its name scheme.
        serving = set(first.serving_networks)
        keep = {
            c.name
            for c in current
            if c not in old
            and c.status == "running"
            and serving <= set(c.attrs["NetworkSettings"]["Networks"])
        }
        previous = list(old)  # `old` shrinks as new replicas take over
        if old:
            starting = "starting new version"
        else:
            starting = "starting" if not current else "starting again (a replica was not serving)"
        for spec in replicas:
            if spec.name in keep:
                continue
            self._say(spec, starting)
            container = self._start(spec, serving_now=False)
            try:
                seconds = engine.wait_ready(container, spec, self.plan.ready_timeout)
            except engine.NotReadyError as exc:
                engine.stop_and_remove(container, 2)
                keeps = " The running version keeps serving." if old else ""
                raise RolloutError(
                    f"{spec.stack}-{spec.tier}: the new version never became ready.{keeps}\n{exc}"
                ) from exc
            engine.join_serving_networks(self.client, container, spec)
            self._say(spec, f"ready in {seconds:.1f}s, serving")
            if old:
                self._stop(old.pop(0), spec)
        wanted = {spec.name for spec in replicas}
        for leftover in old + [c for c in current if c not in previous and c.name not in wanted]:
            self._stop(leftover, first)
        if previous:
            self._say(first, f"previous version stopped ({len(previous)})")
        done = "updated" if previous else "restored" if current else "created"
        self.outcome.changes.append(f"{first.stack}-{first.tier} {done}")

    def job(self, spec: ContainerSpec, what: str) -> None:
        """Run a hook unless this exact one already succeeded (its container is kept as the
        record, like a completed Job). BeforeHookCreation: the previous run is removed first."""
        spec = self._resolved(spec)
        previous = self._running(spec)
        for done in previous:
            if (
                done.labels.get(f"{topology.LABEL}.fingerprint") == spec.fingerprint()
                and done.status == "exited"
                and done.attrs["State"]["ExitCode"] == 0
            ):
                return
        for old in previous:
            old.remove(force=True)
        self._say(spec, f"running {what}")
        try:
            code, tail = engine.run_job(self.client, spec, self.plan.job_timeout)
        except firewall.FirewallError as exc:
            raise RolloutError(
                f"{spec.stack}: {what}: its NetworkPolicy could not be enforced: {exc}"
            ) from exc
        if code != 0:
            self.client.containers.get(spec.name).remove(force=True)
            raise RolloutError(
                f"{spec.stack}: {what} failed (exit code {code}); nothing of this stack was "
                f"updated and the running version keeps serving.\n{tail}"
            )
        self._say(spec, f"{what} done")
        self.outcome.changes.append(f"{spec.stack} {what}")

    # -- the environment ------------------------------------------------------------------

    def run(self) -> Outcome:
        plan = self.plan
        if not firewall.available():
            raise RolloutError(
                "nsenter, ip and nft are needed to enforce the NetworkPolicies "
                "(apt-get install nftables iproute2 util-linux)"
            )
        stacks = plan.stack_names()
        if AUTH_STACK not in stacks:
            raise RolloutError("the auth stack is needed by every other stack; include it")
        if engine.image_id(self.client, plan.edge_image) is None:
            raise MissingImageError(f"the edge image {plan.edge_image} is not on the engine")
        if plan.prometheus_image and engine.image_id(self.client, plan.prometheus_image) is None:
            raise MissingImageError(
                f"the Prometheus image {plan.prometheus_image} is not on the engine"
            )
        if plan.logs_image and engine.image_id(self.client, plan.logs_image) is None:
            raise MissingImageError(f"the log reader image {plan.logs_image} is not on the engine")
        objects, first_values = rendered_objects(self.client, plan)
        try:
            self._run_objects(objects, first_values, stacks)
        except ManifestError as exc:
            raise RolloutError(f"the rendered chart cannot run here: {exc}") from exc
        return self.outcome

    def _run_objects(
        self, objects: list[Manifest], first_values: dict[str, Any], stacks: list[str]
    ) -> None:
        plan, env = self.plan, self.plan.environment
        items = manifests.workloads(objects)
        images = {w.workload_id: w.container["image"] for w in items}
        if plan.images is None:
            self._pull_missing(sorted(set(images.values())))
        else:
            self._check_images(sorted(set(images.values())))
        secrets = vault.load_or_create(
            self.client, env, plan.edge_image, manifests.secret_refs(objects)
        )
        wired = wired_topology(plan, objects, first_values)
        engine.ensure_network(
            self.client, env, topology.NetworkSpec(topology.public_network(env), internal=False)
        )
        for name in wired.networks:
            engine.ensure_network(self.client, env, topology.NetworkSpec(name, internal=True))
        config_maps = manifests.config_maps(objects)
        lookup = secrets.lookup()
        for stack in stacks:
            for item in [w for w in items if w.stack == stack]:
                self._run_workload(item, wired.wiring[item.workload_id], lookup, config_maps)
        published = {
            r.published: topology.host_port(env, *r.published.split("-", 1))
            for r in wired.edge_routes
        }
        self.replace(
            specs.edge_spec(
                env, plan.edge_image, wired.wiring[wiring.EDGE], wired.edge_routes, published
            )
        )
        for name in sorted(published, key=lambda n: (stacks.index(n.split("-", 1)[0]), n)):
            self.outcome.urls[name] = f"http://127.0.0.1:{published[name]}"
        if monitoring.PROMETHEUS in wired.wiring:
            pod = self._run_prometheus(objects, items, wired.wiring[monitoring.PROMETHEUS])
            if runs_logs(self.plan, first_values):
                self._run_logs(pod)
        self.outcome.login = self.operator_login(secrets)
        self.make_operator_admin()

    def _run_prometheus(
        self, objects: list[Manifest], items: list[Workload], wired: wiring.Wiring
    ) -> Container:
        """Prometheus in the monitoring namespace: scraping what the PodMonitors select,
        evaluating the PrometheusRules (replaced only when what the chart renders changes)."""
        env, image = self.plan.environment, self.plan.prometheus_image
        assert image is not None  # only wired when the plan runs one
        jobs = monitoring.scrape_jobs(
            objects, items, manifests.services(objects), values.namespace(env)
        )
        groups = monitoring.rule_groups(objects)
        spec = monitoring.prometheus_spec(
            env,
            image,
            wired,
            monitoring.config(jobs, with_rules=bool(groups)),
            monitoring.rules(groups),
            published=monitoring.host_port(env),
        )
        for volume in spec.volumes:
            engine.ensure_volume(self.client, env, volume, monitoring.STACK)
        pod = self.replace(spec)
        self.outcome.urls["prometheus"] = f"http://127.0.0.1:{monitoring.host_port(env)}"
        return pod

    def _run_logs(self, pod: Container) -> None:
        """The log reader in the Prometheus container's network namespace (uo.local.monitoring
        .logs_spec), replaced when its image or that container changes."""
        assert self.plan.logs_image is not None  # runs_logs
        env = self.plan.environment
        for attempt in (1, 2):
            # The log files of what runs now: a container removed meanwhile takes its file with
            # it, and the engine refuses the mount; listed again, it is gone.
            logs = monitoring.log_files(engine.containers(self.client, env))
            spec = self._resolved(monitoring.logs_spec(env, self.plan.logs_image, logs, pod.id))
            current = self._running(spec)
            if self._unchanged([spec], current):
                return
            for old in current:
                engine.stop_and_remove(old, spec.stop_grace_seconds)
            self._say(spec, f"starting (beside prometheus, reading {len(logs)} logs)")
            try:
                container = engine.create_in_namespace_of(self.client, spec, pod)
                container.start()
                break
            except docker.errors.APIError:
                if attempt == 2:
                    raise
        try:
            seconds = engine.wait_ready(container, spec, self.plan.ready_timeout)
        except engine.NotReadyError as exc:
            raise RolloutError(f"{spec.stack}-{spec.tier} did not become ready: {exc}") from exc
        self._say(spec, f"ready in {seconds:.1f}s")
        self.outcome.changes.append(
            f"{spec.stack}-{spec.tier} {'updated' if current else 'created'}"
        )

    def _run_workload(
        self,
        item: Workload,
        wired: wiring.Wiring,
        lookup: dict[tuple[str, str], str],
        config_maps: dict[str, dict[str, str]],
    ) -> None:
        env = specs.resolve_env(item, lookup, config_maps)
        replicas = specs.container_specs(
            self.plan.environment, item, wired, env, item.container["image"]
        )
        if item.is_job:
            what = (
                "migrations"
                if item.tier == "migrate"
                else f"registration of {item.tier.split('-', 1)[-1]}-api"
            )
            self.job(replicas[0], what)
        elif item.kind == "StatefulSet":
            for volume in replicas[0].volumes:
                engine.ensure_volume(self.client, self.plan.environment, volume, item.stack)
            self.replace(replicas[0])
        else:
            self.roll(replicas)

    def _check_images(self, references: list[str]) -> None:
        missing = [ref for ref in references if engine.image_id(self.client, ref) is None]
        if missing:
            raise MissingImageError(
                "images not on the engine, nothing was changed: " + ", ".join(missing)
            )

    def _pull_missing(self, references: list[str]) -> None:
        from uo.local.sources import pull_missing  # sources builds with Pants; import it late

        rebuild_from = (Path(self.plan.repo), self.plan.environment)
        self.substitutes.update(
            pull_missing(self.client, references, self.report, rebuild_from=rebuild_from)
        )

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

    def make_operator_admin(self) -> None:
        """The bootstrap operator is the environment's admin (every other account starts as a
        member); granted on every run, so an environment from before roles existed gets it too."""
        granted = accounts.grant_admin(self.client, self.plan.environment, vault.OPERATOR_EMAIL)
        if granted.exit_code != 0:
            raise RolloutError(f"the operator could not be made admin ({granted.message()})")


def up(client: docker.DockerClient, plan: Plan, report: Report) -> Outcome:
    """Reconcile, then leave the environment's supervisor (restarts, liveness) running — also
    after a failed rollout, since the previous version keeps serving."""
    try:
        outcome = Reconciler(client, plan, report).run()
    except BaseException:
        supervise(plan.environment, report)  # what keeps serving is supervised all the same
        raise
    if not supervise(plan.environment, report):
        raise RolloutError(
            "the environment runs, but its supervisor (restarts, liveness) did not start; "
            "see the line above"
        )
    return outcome


def supervise(environment: str, report: Report) -> bool:
    try:
        log = supervisor.ensure(environment)
    except supervisor.SupervisorError as exc:
        report(f"[{environment}] the supervisor did not start: {exc}")
        return False
    report(f"[{environment}] supervisor running (restarts, liveness): {log}")
    return True


TEARDOWN_ORDER = ("edge", monitoring.LOGS, monitoring.PROMETHEUS, "app", "api", "service")


def down(client: docker.DockerClient, environment: str, *, volumes: bool, report: Report) -> int:
    """Stop and remove an environment (front door first, databases last); data volumes and the
    secrets stay unless ``volumes``. Returns how many containers were removed."""
    supervisor.stop(environment)  # first, so nothing it does races the removal
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


__all__ = [
    "MissingImageError",
    "Outcome",
    "Plan",
    "RolloutError",
    "down",
    "ordered_stacks",
    "supervise",
    "up",
    "wired_topology",
]
