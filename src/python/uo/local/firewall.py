"""A container's NetworkPolicy, enforced in its own network namespace with nftables.

Docker networks are symmetric, NetworkPolicies are not: a caller on its callee's network could
otherwise be reached by the callee (or by another caller). The rules are static per container,
by interface, never by peer address, so containers can come and go without re-writing anyone
else's rules:

- in: established traffic, loopback, new connections to the container's ports on the networks
  it *serves* on, and the host's health probes (from each network's gateway, as a kubelet's);
  once the container is terminating, new connections to its ports are refused with a reset (its
  callers try another address at once) while established ones finish;
- out: established traffic, loopback (the engine's DNS), new connections to the allowed ports
  on the networks it is a *client* of.

The rules are written from the host (root, ``nsenter`` + ``nft``) into a namespace the
container cannot change: it runs without NET_ADMIN.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass

TABLE = "uo_policy"


class FirewallError(Exception):
    """The rules could not be written; the container must not serve unfiltered."""


@dataclass(frozen=True)
class Interface:
    name: str  # inside the container: eth0, eth1, ...
    gateway: str  # the host's address on that network (where probes come from)


@dataclass(frozen=True)
class Rules:
    serving: Mapping[str, tuple[int, ...]]  # interface -> ports open to new connections
    client: Mapping[str, tuple[int, ...]]  # interface -> ports it may connect to
    probes: Mapping[str, tuple[int, ...]]  # interface -> ports the host may probe (gateway)
    gateways: Mapping[str, str]  # interface -> gateway address
    # Terminating: new connections to the serving ports are refused (what removal from a
    # Service's endpoints does), established ones finish.
    closing: bool = False


def _ports(ports: tuple[int, ...]) -> str:
    return "{ " + ", ".join(str(p) for p in sorted(set(ports))) + " }"


def ruleset(rules: Rules) -> str:
    """The nft script: replaces the table atomically (declare, flush, then define)."""
    lines = [
        f"table inet {TABLE} {{}}",
        f"flush table inet {TABLE}",
        f"table inet {TABLE} {{",
        "  chain in {",
        "    type filter hook input priority 0; policy drop;",
        "    ct state established,related accept",
        '    iif "lo" accept',
    ]
    # Probes first: a closed (terminating or not yet ready) container is still probed.
    for interface, ports in sorted(rules.probes.items()):
        gateway = rules.gateways.get(interface)
        if ports and gateway:
            lines.append(
                f'    iifname "{interface}" ip saddr {gateway} tcp dport {_ports(ports)} accept'
            )
    verdict = "reject with tcp reset" if rules.closing else "accept"
    for interface, ports in sorted(rules.serving.items()):
        if ports:
            lines.append(f'    iifname "{interface}" tcp dport {_ports(ports)} {verdict}')
    lines += [
        "  }",
        "  chain out {",
        "    type filter hook output priority 0; policy drop;",
        "    ct state established,related accept",
        '    oif "lo" accept',
    ]
    for interface, ports in sorted(rules.client.items()):
        if ports:
            lines.append(f'    oifname "{interface}" tcp dport {_ports(ports)} accept')
    lines += ["  }", "}"]
    return "\n".join(lines) + "\n"


_LINK = re.compile(r"^\d+:\s+([^:@]+)(?:@\S+)?:.*link/ether\s+([0-9a-f:]{17})", re.IGNORECASE)


def interfaces_by_mac(ip_link_output: str) -> dict[str, str]:
    """``ip -o link`` output → MAC address → interface name."""
    found = {}
    for line in ip_link_output.splitlines():
        match = _LINK.search(line)
        if match:
            found[match.group(2).lower()] = match.group(1)
    return found


def available() -> bool:
    return all(shutil.which(tool) for tool in ("nsenter", "nft", "ip"))


def _in_namespace(pid: int, *command: str, stdin: str | None = None) -> str:
    try:
        result = subprocess.run(
            ["nsenter", "-t", str(pid), "-n", *command],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise FirewallError(f"{command[0]} in pid {pid}'s namespace: {exc}") from exc
    if result.returncode != 0:
        raise FirewallError(f"{command[0]} in pid {pid}'s namespace: {result.stderr.strip()}")
    return result.stdout


def links(pid: int) -> dict[str, str]:
    return interfaces_by_mac(_in_namespace(pid, "ip", "-o", "link"))


def apply(pid: int, rules: Rules) -> None:
    _in_namespace(pid, "nft", "-f", "-", stdin=ruleset(rules))


def table(pid: int) -> str:
    """The rules in force (for tests and `uo` diagnostics)."""
    return _in_namespace(pid, "nft", "list", "table", "inet", TABLE)


__all__ = [
    "FirewallError",
    "Interface",
    "Rules",
    "apply",
    "available",
    "interfaces_by_mac",
    "links",
    "ruleset",
    "table",
]
