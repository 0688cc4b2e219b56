"""The shapes' promises, checked without an engine: ports and fingerprints."""

from __future__ import annotations

from dataclasses import replace
from itertools import product
from unittest.mock import patch

from unifyops_core.naming import STACKS
from uo.local import monitoring, topology
from uo.local.topology import ENVIRONMENT_INDEX, ContainerSpec

# What else this machine publishes on loopback: the local registry and the tests' PostgreSQL.
OTHER_LOOPBACK_PORTS = {5000, 55432}


def test_published_ports_are_unique_and_start_at_the_contract_ports() -> None:
    # Ten stacks per environment: room for generated stacks beside the three of today.
    stacks = [*STACKS, *(f"extra{i}" for i in range(10 - len(STACKS)))]
    with patch.object(topology, "STACKS", stacks):
        ports = [
            topology.host_port(env, stack, tier)
            for env, stack, tier in product(ENVIRONMENT_INDEX, stacks, ("app", "api"))
        ]
    ports += [monitoring.host_port(env) for env in ENVIRONMENT_INDEX]
    assert len(set(ports)) == len(ports)
    assert not set(ports) & OTHER_LOOPBACK_PORTS
    assert topology.host_port("local", "auth", "api") == 8002
    assert topology.host_port("local", "auth", "app") == 3000
    assert topology.host_port("dev", "auth", "app") == 7000


def test_no_published_port_lies_where_the_kernel_picks_outgoing_ports() -> None:
    """A CI run once failed to start the edge: an outgoing connection of the e2e load held
    127.0.0.1:58002 at that moment. Every environment's ports now lie below the range."""
    highest = max(
        max(topology.host_port(env, stack, tier) for stack in STACKS for tier in ("app", "api"))
        for env in ENVIRONMENT_INDEX
    )
    assert highest + 100 * 7 < topology.EPHEMERAL_PORTS_START  # still with ten stacks
    assert max(map(monitoring.host_port, ENVIRONMENT_INDEX)) < topology.EPHEMERAL_PORTS_START
    with open("/proc/sys/net/ipv4/ip_local_port_range") as kernel:
        assert int(kernel.read().split()[0]) >= topology.EPHEMERAL_PORTS_START


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


def test_a_new_name_for_the_same_content_in_uo_image_is_no_change() -> None:
    """Each commit re-labels every image (its revision), so the chart's UO_IMAGE names a new
    reference even where the content did not change: that alone must not replace a tier."""
    one = ContainerSpec(
        "local",
        "user",
        "api",
        "sha256:aaa",
        env={"UO_IMAGE": "unifyops/user-api:id-aaa"},
        image_content="content:1",
    )
    renamed = replace(one, image="sha256:bbb", env={"UO_IMAGE": "unifyops/user-api:id-bbb"})
    assert renamed.fingerprint() == one.fingerprint()
    assert replace(renamed, image_content="content:2").fingerprint() != one.fingerprint()
    other_env = replace(one, env={**one.env, "UO_LOG_LEVEL": "debug"})
    assert other_env.fingerprint() != one.fingerprint()
