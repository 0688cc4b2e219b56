"""The nft rules a container gets, and reading interfaces from `ip -o link`."""

from __future__ import annotations

from uo.local import firewall

# `ip -o link` as printed in a container's namespace (one line per interface, `\` for breaks)
IP_LINK = "\n".join(
    [
        "1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue state UNKNOWN mode DEFAULT"
        " group default qlen 1000\\    link/loopback 00:00:00:00:00:00 brd 00:00:00:00:00:00",
        "42: eth0@if43: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue state UP"
        " mode DEFAULT group default \\    link/ether 02:42:ac:16:00:03 brd ff:ff:ff:ff:ff:ff",
        "44: eth1@if45: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue state UP"
        " mode DEFAULT group default \\    link/ether 02:42:AC:17:00:02 brd ff:ff:ff:ff:ff:ff",
    ]
)


def test_interfaces_are_found_by_mac_address() -> None:
    assert firewall.interfaces_by_mac(IP_LINK) == {
        "02:42:ac:16:00:03": "eth0",
        "02:42:ac:17:00:02": "eth1",
    }


def test_rules_open_serving_ports_in_client_ports_out_and_probes_from_the_gateway_only() -> None:
    text = firewall.ruleset(
        firewall.Rules(
            serving={"eth1": (8002,)},
            client={"eth0": (8001,)},
            probes={"eth0": (8002,), "eth1": (8002,)},
            gateways={"eth0": "10.1.0.1", "eth1": "10.1.1.1"},
        )
    )
    assert "policy drop;" in text
    assert 'iifname "eth1" tcp dport { 8002 } accept' in text
    assert 'oifname "eth0" tcp dport { 8001 } accept' in text
    assert 'iifname "eth0" ip saddr 10.1.0.1 tcp dport { 8002 } accept' in text
    # Nothing new comes in on the client side, nothing new goes out on the serving side.
    assert 'iifname "eth0" tcp dport' not in text
    assert 'oifname "eth1"' not in text
    assert text.startswith(f"table inet {firewall.TABLE} {{}}\nflush table inet {firewall.TABLE}")


def test_a_terminating_container_refuses_new_connections_and_keeps_established_ones() -> None:
    rules = firewall.Rules(
        serving={"eth1": (8002,)}, client={}, probes={}, gateways={}, closing=True
    )
    text = firewall.ruleset(rules)
    assert 'iifname "eth1" tcp dport { 8002 } reject with tcp reset' in text
    assert 'iifname "eth1" tcp dport { 8002 } accept' not in text
    assert text.index("ct state established,related accept") < text.index("reject")
