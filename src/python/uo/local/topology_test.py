"""The shapes' promises, checked without an engine: ports and fingerprints."""

from __future__ import annotations

from dataclasses import replace
from itertools import product

from unifyops_core.naming import STACKS
from uo.local import topology
from uo.local.topology import ENVIRONMENT_INDEX, ContainerSpec


def test_published_ports_are_unique_and_start_at_the_contract_ports() -> None:
    ports = [
        topology.host_port(env, stack, tier)
        for env, stack, tier in product(ENVIRONMENT_INDEX, STACKS, ("app", "api"))
    ]
    assert len(set(ports)) == len(ports)
    assert all(1024 < port < 65536 for port in ports)
    assert topology.host_port("local", "auth", "api") == 8002
    assert topology.host_port("local", "auth", "app") == 3000


def test_fingerprint_follows_image_content_and_configuration_not_the_replica() -> None:
    one = ContainerSpec("local", "user", "service", "sha256:aaa", env={"A": "1"})
    assert one.fingerprint() == replace(one).fingerprint()
    assert one.fingerprint() == replace(one, replica=1).fingerprint()
    assert one.name != replace(one, replica=1).name
    changed = {
        replace(one, image="sha256:bbb").fingerprint(),
        replace(one, env={"A": "2"}).fingerprint(),
        replace(one, memory_limit=1).fingerprint(),
        one.fingerprint(),
    }
    assert len(changed) == 4


def test_a_relabelled_image_with_the_same_content_is_no_change() -> None:
    one = ContainerSpec("local", "user", "api", "sha256:aaa", image_content="content:1")
    relabelled = replace(one, image="sha256:bbb")
    assert one.fingerprint() == relabelled.fingerprint()
    assert replace(one, image_content="content:2").fingerprint() != one.fingerprint()
