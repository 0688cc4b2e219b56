"""The Docker engine, as `uo up` uses it: labelled networks, volumes and containers, readiness
checks, one-shot jobs. Everything `uo up` knows about a running environment is read back from
these labels, never from files of its own."""

from __future__ import annotations

import contextlib
import hashlib
import json
import socket
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import docker
import docker.errors
import httpx
from docker.models.containers import Container

from uo.local import firewall
from uo.local.topology import LABEL, ContainerSpec, NetworkSpec


class EngineError(Exception):
    """The engine is unreachable, or refused or failed an operation `uo up` needed."""


class NotReadyError(Exception):
    """A new container never became ready; carries the reason and the end of its log."""


def connect(timeout: int = 120) -> docker.DockerClient:
    try:
        client = docker.from_env(timeout=timeout)
        client.ping()
    except docker.errors.DockerException as exc:
        raise EngineError(
            "no Docker engine answers at $DOCKER_HOST; `./uo up` starts the project's own "
            f"(build-support/services/docker.sh) ({type(exc).__name__})"
        ) from exc
    return client


def env_filter(environment: str, **labels: str) -> dict[str, list[str]]:
    return {
        "label": [f"{LABEL}.environment={environment}"]
        + [f"{LABEL}.{key}={value}" for key, value in labels.items()]
    }


def ensure_network(client: docker.DockerClient, environment: str, spec: NetworkSpec) -> bool:
    """Create the network unless it exists; True when created."""
    if client.networks.list(names=[spec.name]):
        return False
    client.networks.create(
        spec.name,
        driver="bridge",
        internal=spec.internal,
        labels={f"{LABEL}.environment": environment},
    )
    return True


def ensure_volume(client: docker.DockerClient, environment: str, name: str, stack: str) -> None:
    try:
        client.volumes.get(name)
    except docker.errors.NotFound:
        client.volumes.create(
            name, labels={f"{LABEL}.environment": environment, f"{LABEL}.stack": stack}
        )


def containers(client: docker.DockerClient, environment: str, **labels: str) -> list[Container]:
    found: list[Container] = client.containers.list(
        all=True, filters=env_filter(environment, **labels)
    )
    return found


def create(
    client: docker.DockerClient, spec: ContainerSpec, *, serving_now: bool = False
) -> Container:
    """Create (not start) the container on its client networks; on its serving networks too
    when ``serving_now`` or when it calls nothing (PostgreSQL, the edge's public side)."""
    try:
        stale = client.containers.get(spec.name)
        stale.remove(force=True)  # a leftover of an interrupted run with the same spec
    except docker.errors.NotFound:
        pass
    networks: dict[str, tuple[str, ...]] = dict.fromkeys(spec.client_networks, ())
    if serving_now or not spec.client_networks:
        networks.update({name: a.aliases for name, a in spec.serving_networks.items()})
    (first, first_aliases), *rest = networks.items()
    mounts = {name: {"bind": path, "mode": "rw"} for name, path in spec.volumes.items()}
    mounts.update({host: {"bind": path, "mode": "ro"} for host, path in spec.binds.items()})
    security = spec.security
    container: Container = client.containers.create(
        spec.image,
        entrypoint=list(spec.entrypoint) or None,
        command=list(spec.command) or None,
        name=spec.name,
        environment=spec.env,
        labels=spec.labels(),
        network=first,
        ports={f"{inner}/tcp": ("127.0.0.1", outer) for inner, outer in spec.ports.items()},
        volumes=mounts,
        tmpfs=dict.fromkeys(spec.tmpfs, "rw,nosuid,nodev,mode=1777"),
        user=security.user or None,
        group_add=list(security.group_add) or None,
        read_only=security.read_only,
        cap_drop=list(security.cap_drop) or None,
        security_opt=["no-new-privileges"] if security.no_new_privileges else None,
        mem_limit=spec.memory_limit or None,
        nano_cpus=spec.cpu_limit or None,
        stop_signal="SIGTERM",
        init=True,  # reaps children and forwards SIGTERM to the program
        # The pod's restartPolicy: the engine starts a process that exited again (with its own
        # back-off) unless uo stopped it; uo.local.supervisor re-applies the NetworkPolicy in
        # the new network namespace and gates traffic on readiness.
        restart_policy={"Name": "always"} if spec.restart else None,
    )
    if first_aliases:
        # The first network is joined at create time without aliases; re-join it with them.
        client.networks.get(first).disconnect(container)
        client.networks.get(first).connect(container, aliases=list(first_aliases))
    for name, aliases in rest:
        client.networks.get(name).connect(container, aliases=list(aliases) or None)
    return container


def enforce_policy(container: Container, spec: ContainerSpec, *, closing: bool = False) -> None:
    """Write the container's NetworkPolicy into its network namespace (uo.local.firewall), for
    the networks it has joined so far; ``closing`` refuses new connections (termination)."""
    container.reload()
    pid = int(container.attrs["State"].get("Pid") or 0)
    if not pid:
        return  # it exited already; wait_ready reports how
    joined: dict[str, Any] = container.attrs["NetworkSettings"]["Networks"]
    by_mac = firewall.links(pid)
    serving: dict[str, tuple[int, ...]] = {}
    client_ports: dict[str, tuple[int, ...]] = {}
    probes: dict[str, tuple[int, ...]] = {}
    gateways: dict[str, str] = {}
    own_ports = {p for a in spec.serving_networks.values() for p in a.ports}
    if spec.readiness.kind == "http":
        own_ports.add(spec.readiness.port)
    if spec.liveness.kind == "http":
        own_ports.add(spec.liveness.port)
    for network, settings in joined.items():
        interface = by_mac.get(str(settings.get("MacAddress", "")).lower())
        if interface is None:
            raise firewall.FirewallError(f"{container.name}: no interface for network {network}")
        gateways[interface] = str(settings.get("Gateway") or "")
        probes[interface] = tuple(sorted(own_ports))
        if network in spec.serving_networks:
            serving[interface] = spec.serving_networks[network].ports
        if network in spec.client_networks:
            client_ports[interface] = spec.client_networks[network].ports
    firewall.apply(pid, firewall.Rules(serving, client_ports, probes, gateways, closing))


def join_serving_networks(
    client: docker.DockerClient, container: Container, spec: ContainerSpec
) -> None:
    """Join the networks it serves on, under its Services' names, and open its ports there."""
    container.reload()
    joined = container.attrs["NetworkSettings"]["Networks"]
    for name, attachment in spec.serving_networks.items():
        if name not in joined:
            client.networks.get(name).connect(container, aliases=list(attachment.aliases))
    enforce_policy(container, spec)


def address(container: Container) -> str:
    container.reload()
    networks: dict[str, Any] = container.attrs["NetworkSettings"]["Networks"]
    for settings in networks.values():
        if settings.get("IPAddress"):
            return str(settings["IPAddress"])
    raise EngineError(f"{container.name} has no IP address")


def log_tail(container: Container, lines: int = 12) -> str:
    """The end of a container's log for a person: its plain lines (the one-line reasons the
    programs print), or the messages of its JSON log lines when it printed nothing else."""
    try:
        raw: bytes = container.logs(tail=lines)
    except docker.errors.APIError:
        return ""
    text = raw.decode(errors="replace").strip().splitlines()
    plain = [line for line in text if not line.startswith("{")]
    if plain:
        return "\n".join(plain)
    messages = []
    for line in text:
        try:
            messages.append(str(json.loads(line).get("message", line)))
        except ValueError:
            messages.append(line)
    return "\n".join(messages)


def wait_ready(
    container: Container,
    spec: ContainerSpec,
    timeout: float,
    on_wait: Callable[[], None] | None = None,
    *,
    after_restart: bool = False,
) -> float:
    """Seconds until ready; NotReadyError when the container exits or the time runs out.
    ``after_restart``: it was restarted by the engine, so only a new exit counts."""
    started = time.monotonic()
    kind = spec.readiness.kind
    last = "not checked yet"
    while time.monotonic() - started < timeout:
        container.reload()
        state = container.attrs["State"]
        if container.status in ("exited", "dead") or state.get("Restarting"):
            code = state["ExitCode"]
            raise NotReadyError(f"exited with code {code}\n{log_tail(container)}")
        if not after_restart and exited_before(container):
            # A new version that crashes is not waited for through the engine's restarts.
            count = container.attrs.get("RestartCount")
            raise NotReadyError(f"exited (restarted {count}x)\n{log_tail(container)}")
        if container.status == "running":
            if kind == "none":
                return time.monotonic() - started
            try:
                host = address(container) if kind in ("tcp", "http") else ""
            except EngineError:  # it exited since the reload above: the next round says how
                time.sleep(0.25)
                continue
            if kind == "tcp":
                # The container's own address: a published port on 127.0.0.1 is accepted by the
                # engine's proxy even while nothing listens inside.
                target = (host, spec.readiness.port)
                try:
                    socket.create_connection(target, timeout=1).close()
                    return time.monotonic() - started
                except OSError as exc:
                    last = f"{target[0]}:{target[1]}: {type(exc).__name__}"
            elif kind == "exec":
                try:
                    result = container.exec_run(list(spec.readiness.command))
                except docker.errors.APIError:
                    continue  # it stopped meanwhile; the next round reports how it exited
                if result.exit_code == 0:
                    return time.monotonic() - started
                last = f"{' '.join(spec.readiness.command)} exited {result.exit_code}"
            else:
                url = f"http://{host}:{spec.readiness.port}{spec.readiness.path}"
                try:
                    response = httpx.get(url, timeout=2)
                    if response.status_code == 200:
                        return time.monotonic() - started
                    answer = f"{response.status_code}: {response.text[:200]}"
                    last = f"{spec.readiness.path} answered {answer}"
                except httpx.HTTPError as exc:
                    last = f"{spec.readiness.path}: {type(exc).__name__}"
        if on_wait:
            on_wait()
        time.sleep(0.25)
    raise NotReadyError(f"not ready after {timeout:.0f}s ({last})\n{log_tail(container)}")


def exited_before(container: Container) -> bool:
    """The container's process ended at least once (the engine may have restarted it since)."""
    state = container.attrs["State"]
    return bool(state.get("Restarting")) or int(container.attrs.get("RestartCount") or 0) > 0


# What the network holder of a Job runs: nothing, until it is removed (see run_job).
HOLDER_PROGRAM = ("python3", "-c", "import signal; signal.pause()")
HOLDER_SUFFIX = "-netns"


def run_job(client: docker.DockerClient, spec: ContainerSpec, timeout: float) -> tuple[int, str]:
    """Run a one-shot container to completion: (exit code, end of its log).

    Like a pod's sandbox: a holder container joins the Job's networks first and gets its
    NetworkPolicy written into its network namespace; the Job then runs inside that namespace
    (``network_mode=container:``), so not one packet of it passes before its rules hold.
    """
    holder_spec = replace(
        spec, tier=spec.tier + HOLDER_SUFFIX, entrypoint=HOLDER_PROGRAM, command=(), env={}
    )
    for leftover in containers(
        client, spec.environment, stack=spec.stack, tier=holder_spec.tier
    ):  # of an interrupted run
        leftover.remove(force=True)
    holder = create(client, holder_spec)
    try:
        holder.start()
        enforce_policy(holder, spec)
        container = create_in_namespace_of(client, spec, holder)
        container.start()
        try:
            result = container.wait(timeout=timeout)
        except Exception as exc:  # the SDK raises the transport's own timeout types
            container.remove(force=True)
            raise EngineError(
                f"{spec.tier} of {spec.stack} did not finish in {timeout:.0f}s"
            ) from exc
        return int(result.get("StatusCode", 1)), log_tail(container, 20)
    finally:
        holder.remove(force=True)


def create_in_namespace_of(
    client: docker.DockerClient, spec: ContainerSpec, holder: Container
) -> Container:
    """Create ``spec``'s container in ``holder``'s network namespace (its networks, addresses
    and NetworkPolicy), otherwise as ``create`` does."""
    with contextlib.suppress(docker.errors.NotFound):  # a leftover of an interrupted run
        client.containers.get(spec.name).remove(force=True)
    security = spec.security
    container: Container = client.containers.create(
        spec.image,
        entrypoint=list(spec.entrypoint) or None,
        command=list(spec.command) or None,
        name=spec.name,
        environment=spec.env,
        labels=spec.labels(),
        network_mode=f"container:{holder.id}",
        restart_policy={"Name": "always"} if spec.restart else None,  # a sidecar; Jobs do not
        volumes={name: {"bind": path, "mode": "rw"} for name, path in spec.volumes.items()},
        # Mounts, not -v binds: a host path that is gone is refused, not created as a directory
        # (the log reader's files are removed with their containers).
        mounts=[
            docker.types.Mount(path, host, type="bind", read_only=True)
            for host, path in spec.binds.items()
        ]
        or None,
        tmpfs=dict.fromkeys(spec.tmpfs, "rw,nosuid,nodev,mode=1777"),
        user=security.user or None,
        group_add=list(security.group_add) or None,
        read_only=security.read_only,
        cap_drop=list(security.cap_drop) or None,
        security_opt=["no-new-privileges"] if security.no_new_privileges else None,
        mem_limit=spec.memory_limit or None,
        nano_cpus=spec.cpu_limit or None,
        stop_signal="SIGTERM",
        init=True,
    )
    return container


def stop_and_remove(container: Container, grace_seconds: int) -> None:
    try:
        if container.status == "running":
            container.stop(timeout=grace_seconds)
        container.remove(force=True)
    except docker.errors.NotFound:
        pass


def image_content(client: docker.DockerClient, reference: str) -> str | None:
    """A digest of what an image runs: its layers and run configuration, without its labels."""
    try:
        attrs: dict[str, Any] = client.images.get(reference).attrs
    except docker.errors.ImageNotFound:
        return None
    config = attrs.get("Config") or {}
    content = {
        "layers": (attrs.get("RootFS") or {}).get("Layers"),
        **{key: config.get(key) for key in ("Env", "Entrypoint", "Cmd", "User", "WorkingDir")},
    }
    return "content:" + hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()


def image_id(client: docker.DockerClient, reference: str) -> str | None:
    try:
        return str(client.images.get(reference).id)
    except docker.errors.ImageNotFound:
        return None


__all__ = [
    "EngineError",
    "NotReadyError",
    "address",
    "connect",
    "containers",
    "create",
    "enforce_policy",
    "ensure_network",
    "ensure_volume",
    "env_filter",
    "exited_before",
    "image_content",
    "image_id",
    "join_serving_networks",
    "log_tail",
    "run_job",
    "stop_and_remove",
    "wait_ready",
]
