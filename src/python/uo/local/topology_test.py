"""The topology's promises, checked without an engine: ports, fingerprints, who joins what."""

from __future__ import annotations

from itertools import product

from unifyops_core.naming import STACKS
from uo.local import topology
from uo.local.topology import ENVIRONMENT_INDEX, StackSecrets

SECRETS = StackSecrets("db-password-0123456789", "client-secret-0123456789abcdef")


def test_published_ports_are_unique_and_start_at_the_contract_ports() -> None:
    ports = [
        topology.host_port(env, stack, tier)
        for env, stack, tier in product(ENVIRONMENT_INDEX, STACKS, ("app", "api"))
    ]
    assert len(set(ports)) == len(ports)
    assert all(1024 < port < 65536 for port in ports)
    assert topology.host_port("local", "auth", "api") == 8002
    assert topology.host_port("local", "auth", "app") == 3000


def test_fingerprint_follows_image_and_configuration_only() -> None:
    one = topology.service("local", "user", "sha256:aaa", SECRETS, trusted_jwks='{"keys": []}')
    same = topology.service("local", "user", "sha256:aaa", SECRETS, trusted_jwks='{"keys": []}')
    assert one.fingerprint() == same.fingerprint()
    assert one.name == same.name
    new_image = topology.service(
        "local", "user", "sha256:bbb", SECRETS, trusted_jwks='{"keys": []}'
    )
    new_keys = topology.service(
        "local", "user", "sha256:aaa", SECRETS, trusted_jwks='{"keys": [1]}'
    )
    assert len({one.fingerprint(), new_image.fingerprint(), new_keys.fingerprint()}) == 3


def test_each_tier_serves_only_on_the_hop_above_it() -> None:
    service = topology.service("local", "user", "i", SECRETS, trusted_jwks="{}")
    assert set(service.client_networks) == {"uo-local-user-db"}
    assert service.serving_networks == {"uo-local-user-svc": ("user-service",)}
    api = topology.gateway("local", "user", "i", SECRETS, list(STACKS))
    assert set(api.client_networks) == {"uo-local-user-svc", "uo-local-user-jwks"}
    assert api.serving_networks == {"uo-local-user-edge": ("user-api",)}
    database = topology.database("local", "user", "i", SECRETS)
    assert database.client_networks == {}
    assert database.serving_networks == {"uo-local-user-db": ("user-database",)}


def test_auth_api_serves_keys_on_every_other_stacks_jwks_hop() -> None:
    auth_api = topology.gateway("local", "auth", "i", SECRETS, list(STACKS))
    assert set(auth_api.serving_networks) == {
        "uo-local-auth-edge",
        "uo-local-user-jwks",
        "uo-local-environment-jwks",
    }
    assert auth_api.env["UO_TOKEN_URL"] == "http://auth-service:8001/oauth/token"


def test_only_the_edge_publishes_ports_and_only_its_network_is_external() -> None:
    edge = topology.edge("dev", "i", {"auth": True, "user": False})
    assert edge.ports == {13000: 13000, 18002: 18002, 18102: 18102}
    assert edge.env["UO_EDGE_ROUTES"] == (
        "18002=auth-api:8002,13000=auth-app:3000,18102=user-api:8002"
    )
    external = [n.name for n in topology.environment_networks("dev") if not n.internal]
    assert external == ["uo-dev-public"]
    assert all(n.internal for s in STACKS for n in topology.stack_networks("dev", s))
    for spec in (
        topology.service("dev", "user", "i", SECRETS, trusted_jwks="{}"),
        topology.gateway("dev", "user", "i", SECRETS, list(STACKS)),
        topology.database("dev", "user", "i", SECRETS),
    ):
        assert spec.ports == {}


def test_a_new_image_id_with_the_same_content_is_no_change() -> None:
    """Every commit stamps its revision into the image labels; content decides, not the id."""
    one = topology.service("local", "user", "sha256:aaa", SECRETS, trusted_jwks="{}")
    relabelled = topology.service("local", "user", "sha256:bbb", SECRETS, trusted_jwks="{}")
    same_content = {"image_content": "content:123"}
    assert (
        topology.ContainerSpec(**{**one.__dict__, **same_content}).fingerprint()
        == topology.ContainerSpec(**{**relabelled.__dict__, **same_content}).fingerprint()
    )
    other_content = topology.ContainerSpec(**{**one.__dict__, "image_content": "content:456"})
    assert (
        other_content.fingerprint()
        != topology.ContainerSpec(**{**one.__dict__, **same_content}).fingerprint()
    )
