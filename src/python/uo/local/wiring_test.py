"""NetworkPolicies → networks: every allowed hop is a network its caller joins, and nothing else."""

from __future__ import annotations

from unifyops_core.naming import STACKS
from uo.local.rendered_testutil import topology
from uo.local.wiring import EDGE, network_name


def test_every_allowed_connection_is_a_client_attachment_and_no_other() -> None:
    topo = topology()
    expected = {(source, target, port) for source, target, port, _ in topo.allowed}
    wired = {
        (caller, net.removeprefix("uo-test-to-"), port)
        for caller, wiring in topo.wiring.items()
        for net, attachment in wiring.client.items()
        for port in attachment.ports
    }
    assert wired == expected


def test_the_chain_and_nothing_backwards() -> None:
    topo = topology()
    clients = {caller: set(w.client) for caller, w in topo.wiring.items()}
    assert network_name("test", "user-service") in clients["user-api"]
    assert network_name("test", "user-database") in clients["user-service"]
    assert network_name("test", "user-api") in clients["user-app"]
    assert network_name("test", "auth-api") in clients["user-service"]  # JWKS
    # A callee never calls its caller; no stack reaches another's database; the app reaches
    # only its gateway; PostgreSQL calls nothing.
    assert network_name("test", "user-api") not in clients["user-service"]
    assert network_name("test", "auth-database") not in clients["user-service"]
    assert clients["user-app"] == {network_name("test", "user-api")}
    assert clients["user-database"] == set()
    assert network_name("test", "auth-database") in clients["auth-register-user"]


def test_servers_carry_their_service_names_and_the_edge_publishes_the_ingresses() -> None:
    topo = topology()
    serving = topo.wiring["auth-database"].serving[network_name("test", "auth-database")]
    assert serving.aliases == ("auth-postgres",)
    assert serving.ports == (5432,)
    published = {route.published for route in topo.edge_routes}
    assert published == {f"{s}-{t}" for s in STACKS for t in ("app", "api")}
    assert not topo.wiring[EDGE].serving


def test_a_server_opens_only_the_ports_its_callers_may_use() -> None:
    topo = topology()
    # user-api declares its metrics port too; only the monitoring namespace may reach it, and
    # no pod of this machine is in it.
    serving = topo.wiring["user-api"].serving[network_name("test", "user-api")]
    assert serving.ports == (8002,)
    assert not any(port == 9464 for _, _, port, _ in topo.allowed)
