"""NetworkPolicies → Docker networks: who may reach whom, computed with the same model as the
chart tests (uo.netpolicy), becomes one internal network per workload that has callers.

The callee *serves* on its network under the names of the Services that select it (joined once
it is ready); each allowed caller joins it as a *client* (at start). A network is symmetric, so
the firewall (uo.local.firewall) closes the other direction: nothing new comes in on a client
interface and nothing new goes out of a serving one. What the policies allow is then exactly
what connects — the e2e tests probe every pair to prove it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from uo.local.manifests import ManifestError, Route, Service, Workload
from uo.netpolicy import Network, Pod

EDGE = "edge"


@dataclass(frozen=True)
class Attachment:
    """A container on one network: as a server (aliases, its listening ports) or a client
    (the ports it may open there)."""

    aliases: tuple[str, ...] = ()
    ports: tuple[int, ...] = ()


@dataclass
class Wiring:
    client: dict[str, Attachment] = field(default_factory=dict)
    serving: dict[str, Attachment] = field(default_factory=dict)


@dataclass(frozen=True)
class EdgeRoute:
    published: str  # "<stack>-<tier>", e.g. user-app
    service: str
    port: int


@dataclass
class Topology:
    networks: list[str]
    wiring: dict[str, Wiring]  # workload id (or "edge") -> its networks
    edge_routes: list[EdgeRoute]
    allowed: set[tuple[str, str, int, str]]  # the model's verdict, for the tests to compare


def network_name(environment: str, workload_id: str) -> str:
    return f"uo-{environment}-to-{workload_id}"


def edge_pod(ingress_controller: Mapping[str, Any]) -> Pod:
    labels = ingress_controller.get("podLabels") or {}
    return Pod(
        EDGE,
        str(ingress_controller.get("namespace", "")),
        tuple(sorted(labels.items())),
        external=True,
    )


def _resolve_port(service: Service, port: str | int, server: Workload) -> int:
    for name, number, target in service.ports:
        if port in (name, number):
            named = server.ports()
            return named[target] if target in named else int(target)
    raise ManifestError(f"Service {service.name} has no port {port!r}")


def topology(
    environment: str,
    namespace: str,
    workloads: Iterable[Workload],
    services: Iterable[Service],
    policies: Iterable[Mapping[str, Any]],
    routes: Iterable[Route],
    ingress_controller: Mapping[str, Any],
    scraper: Pod | None = None,
    scraper_aliases: tuple[str, ...] = (),
) -> Topology:
    """``scraper``: the Prometheus pod (uo.local.monitoring), a caller like the edge: it gets
    a client attachment for exactly the metrics ports the policies open to it. It serves too,
    under ``scraper_aliases`` (its query URL's host), to what the policies let reach its ports
    (the environment service, for the dashboard's running side)."""
    items = {w.workload_id: w for w in workloads}
    services = list(services)
    edge = edge_pod(ingress_controller)
    pods = {wid: w.as_pod(namespace) for wid, w in items.items()}
    outside = [edge, *([scraper] if scraper else [])]
    model = Network([*pods.values(), *outside], policies, namespace)
    wiring: dict[str, Wiring] = {wid: Wiring() for wid in [*items, *(p.name for p in outside)]}
    networks = []
    allowed = model.reachable()
    servers = {
        server_id: tuple(sorted(s.name for s in services if s.selects(server)))
        for server_id, server in items.items()
        if not server.is_job
    }
    if scraper is not None:
        servers[scraper.name] = scraper_aliases
    for server_id, aliases in servers.items():
        callers: dict[str, set[int]] = {}
        for source, target, port, _ in allowed:
            if target == server_id:
                callers.setdefault(source, set()).add(port)
        if not callers:
            continue
        # Open only what some caller may use: a declared port no policy lets anyone here reach
        # (metrics, when no Prometheus runs in the monitoring namespace) stays shut.
        ports = tuple(sorted(set().union(*callers.values())))
        net = network_name(environment, server_id)
        networks.append(net)
        wiring[server_id].serving[net] = Attachment(aliases, ports)
        for caller, caller_ports in callers.items():
            wiring[caller].client[net] = Attachment(ports=tuple(sorted(caller_ports)))
    edge_routes = []
    for route in routes:
        selected = [
            wid
            for wid, w in items.items()
            if any(s.name == route.service and s.selects(w) for s in services)
        ]
        service = next((s for s in services if s.name == route.service), None)
        if service is None or len(selected) != 1:
            raise ManifestError(
                f"Ingress {route.ingress}: backend {route.service} selects no workload"
            )
        server = items[selected[0]]
        port = _resolve_port(service, route.port, server)
        if not model.allows(edge, pods[server.workload_id], port):
            raise ManifestError(
                f"Ingress {route.ingress}: the NetworkPolicies do not let the ingress controller "
                f"reach {server.workload_id}:{port}"
            )
        edge_routes.append(EdgeRoute(server.workload_id, route.service, port))
    return Topology(networks, wiring, edge_routes, allowed)


__all__ = [
    "EDGE",
    "Attachment",
    "EdgeRoute",
    "Topology",
    "Wiring",
    "edge_pod",
    "network_name",
    "topology",
]
