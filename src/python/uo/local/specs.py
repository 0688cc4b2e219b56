"""Rendered workloads → container specs: image, command and args, env (values, Secret and
ConfigMap references), securityContext, emptyDir → tmpfs, volume claims → named volumes,
hostPath → read-only binds, resource limits, the readiness and liveness probes, the restart
policy, preStop and grace period, and
the networks the NetworkPolicies give it (uo.local.wiring)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from uo.local.manifests import ManifestError, Workload, cpu_nanos, memory_bytes
from uo.local.topology import ContainerSpec, Liveness, Readiness, Security, public_network
from uo.local.wiring import Attachment, EdgeRoute, Wiring

Secrets = Mapping[tuple[str, str], str]  # (Secret name, key) -> value


def resolve_env(
    workload: Workload, secrets: Secrets, config_maps: Mapping[str, Mapping[str, str]]
) -> dict[str, str]:
    resolved = {}
    for item in workload.container.get("env", []):
        name = item["name"]
        if "value" in item:
            resolved[name] = str(item["value"])
            continue
        source = item.get("valueFrom") or {}
        if "secretKeyRef" in source:
            ref = source["secretKeyRef"]
            if (ref["name"], ref["key"]) not in secrets:
                raise ManifestError(
                    f"{workload.workload_id}: Secret {ref['name']} has no {ref['key']}"
                )
            resolved[name] = secrets[(ref["name"], ref["key"])]
        elif "configMapKeyRef" in source:
            ref = source["configMapKeyRef"]
            try:
                resolved[name] = config_maps[ref["name"]][ref["key"]]
            except KeyError as exc:
                raise ManifestError(
                    f"{workload.workload_id}: ConfigMap {ref['name']} has no {ref['key']}"
                ) from exc
        else:
            raise ManifestError(f"{workload.workload_id}: env {name} has an unsupported source")
    return resolved


def security(workload: Workload) -> Security:
    pod = workload.pod.get("securityContext") or {}
    container = workload.container.get("securityContext") or {}
    user = container.get("runAsUser", pod.get("runAsUser"))
    group = container.get("runAsGroup", pod.get("runAsGroup"))
    if (pod.get("runAsNonRoot") or container.get("runAsNonRoot")) and not user:
        raise ManifestError(f"{workload.workload_id}: runAsNonRoot needs a non-zero runAsUser")
    return Security(
        user=f"{user}:{group}" if user is not None and group is not None else str(user or ""),
        group_add=(str(pod["fsGroup"]),) if "fsGroup" in pod else (),
        read_only=bool(container.get("readOnlyRootFilesystem")),
        cap_drop=tuple((container.get("capabilities") or {}).get("drop") or ()),
        no_new_privileges=container.get("allowPrivilegeEscalation") is False,
    )


def readiness(workload: Workload) -> Readiness:
    """The readiness probe with the kubelet's defaults (period 10 s, 3 failures, 1 success,
    1 s timeout)."""
    probe = workload.container.get("readinessProbe")
    if not probe:
        return Readiness("none")
    timing = Readiness(
        "none",
        period=float(probe.get("periodSeconds", 10)),
        failures=int(probe.get("failureThreshold", 3)),
        successes=int(probe.get("successThreshold", 1)),
        timeout=float(probe.get("timeoutSeconds", 1)),
    )
    if "httpGet" in probe:
        port = probe["httpGet"]["port"]
        number = workload.ports().get(port) if isinstance(port, str) else int(port)
        if number is None:
            raise ManifestError(f"{workload.workload_id}: probe port {port!r} is not declared")
        return replace(timing, kind="http", port=number, path=probe["httpGet"].get("path", "/"))
    if "exec" in probe:
        return replace(timing, kind="exec", command=tuple(probe["exec"]["command"]))
    raise ManifestError(f"{workload.workload_id}: only httpGet and exec probes are run")


def liveness(workload: Workload) -> Liveness:
    """The liveness probe with the kubelet's defaults (period 10 s, 3 failures, 1 s timeout)."""
    probe = workload.container.get("livenessProbe")
    if not probe:
        return Liveness("none")
    period = float(probe.get("periodSeconds", 10))
    failures = int(probe.get("failureThreshold", 3))
    timeout = float(probe.get("timeoutSeconds", 1))
    if "httpGet" in probe:
        port = probe["httpGet"]["port"]
        number = workload.ports().get(port) if isinstance(port, str) else int(port)
        if number is None:
            raise ManifestError(f"{workload.workload_id}: probe port {port!r} is not declared")
        path = probe["httpGet"].get("path", "/")
        return Liveness("http", number, path, (), period, failures, timeout)
    if "exec" in probe:
        command = tuple(probe["exec"]["command"])
        return Liveness("exec", 0, "", command, period, failures, timeout)
    raise ManifestError(f"{workload.workload_id}: only httpGet and exec probes are run")


def volume_name(environment: str, workload: Workload, claim: str) -> str:
    return f"uo-{environment}-{workload.name}-{claim}"


def mounts(
    environment: str, workload: Workload
) -> tuple[dict[str, str], dict[str, str], tuple[str, ...]]:
    """(named volumes, read-only binds, tmpfs paths) of the container's volumeMounts."""
    volumes = {v["name"]: v for v in workload.pod.get("volumes") or []}
    claims = {name for name, _ in workload.claims}
    named, binds, tmpfs = {}, {}, []
    for mount in workload.container.get("volumeMounts") or []:
        name, path = mount["name"], mount["mountPath"]
        if name in claims:
            named[volume_name(environment, workload, name)] = path
            continue
        volume = volumes.get(name)
        if volume is None:
            raise ManifestError(f"{workload.workload_id}: volume {name} is not declared")
        if "emptyDir" in volume:
            tmpfs.append(path)
        elif "hostPath" in volume:
            if not mount.get("readOnly"):
                raise ManifestError(f"{workload.workload_id}: hostPath {name} must be readOnly")
            binds[volume["hostPath"]["path"]] = path
        elif "persistentVolumeClaim" in volume:
            named[f"uo-{environment}-{volume['persistentVolumeClaim']['claimName']}"] = path
        else:
            raise ManifestError(f"{workload.workload_id}: volume {name} has an unsupported type")
    return named, binds, tuple(tmpfs)


def container_specs(
    environment: str,
    workload: Workload,
    wiring: Wiring,
    env: dict[str, str],
    image: str,
) -> list[ContainerSpec]:
    """One spec per replica (the same fingerprint: they differ in their replica number only)."""
    container = workload.container
    limits = (container.get("resources") or {}).get("limits") or {}
    named, binds, tmpfs = mounts(environment, workload)
    pre_stop = int(
        (((container.get("lifecycle") or {}).get("preStop") or {}).get("sleep") or {}).get(
            "seconds", 0
        )
    )
    grace = int(workload.pod.get("terminationGracePeriodSeconds", 30))
    base = ContainerSpec(
        environment,
        workload.stack,
        workload.tier,
        image,
        entrypoint=tuple(container.get("command") or ()),
        command=tuple(container.get("args") or ()),
        env=env,
        client_networks=dict(wiring.client),
        serving_networks=dict(wiring.serving),
        volumes=named,
        binds=binds,
        tmpfs=tmpfs,
        security=security(workload),
        memory_limit=memory_bytes(limits["memory"]) if "memory" in limits else 0,
        cpu_limit=cpu_nanos(limits["cpu"]) if "cpu" in limits else 0,
        readiness=readiness(workload),
        liveness=liveness(workload),
        # Deployments and StatefulSets only allow restartPolicy Always; a Job's pod runs once.
        restart=not workload.is_job,
        pre_stop_seconds=pre_stop,
        stop_grace_seconds=max(grace - pre_stop, 1),
    )
    if not base.client_networks and not base.serving_networks:
        raise ManifestError(f"{workload.workload_id}: the NetworkPolicies let nothing reach it")
    return [
        ContainerSpec(**{**base.__dict__, "replica": index}) for index in range(workload.replicas)
    ]


def edge_spec(
    environment: str,
    image: str,
    wiring: Wiring,
    routes: list[EdgeRoute],
    published: Mapping[str, int],
) -> ContainerSpec:
    """The ingress controller of one machine: each Ingress backend on its loopback port."""
    table = [f"{published[r.published]}={r.service}:{r.port}" for r in routes]
    ports = {published[r.published]: published[r.published] for r in routes}
    serving = {public_network(environment): Attachment(ports=tuple(sorted(ports)))}
    return ContainerSpec(
        environment,
        "platform",
        "edge",
        image,
        env={"UO_EDGE_ROUTES": ",".join(table)},
        client_networks=dict(wiring.client),
        serving_networks=serving,
        ports=ports,
        readiness=Readiness("tcp", next(iter(ports))) if ports else Readiness("none"),
        security=Security(read_only=True, cap_drop=("ALL",), no_new_privileges=True),
        tmpfs=("/tmp",),  # noqa: S108 - a private tmpfs, like an emptyDir
        restart=True,
        stop_grace_seconds=12,
    )


__all__ = [
    "container_specs",
    "edge_spec",
    "liveness",
    "mounts",
    "readiness",
    "resolve_env",
    "security",
]
