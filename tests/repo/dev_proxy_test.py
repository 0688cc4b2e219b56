"""`npm run dev` finds an app's loopback ports the way `uo up` publishes them: src/web/dev/proxy.mjs
reads the stack registry and applies the rule of uo.local.topology.host_port, which this test
holds equal for every stack and tier (the proxy itself is tested by src/web/dev/proxy.test.ts)."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from unifyops_core.naming import STACKS, TIER_PORTS
from uo.local.topology import host_port
from uo.repo import find_repo_root

SCRIPT = """
import { localPort, readRegistry } from "./src/web/dev/proxy.mjs";
const registry = readRegistry();
const ports = {};
for (const stack of registry.stacks) {
  for (const tier of Object.keys(registry.ports)) {
    ports[`${stack}/${tier}`] = localPort(stack, tier);
  }
}
console.log(JSON.stringify({ stacks: registry.stacks, ports }));
"""


def test_dev_server_ports_are_uo_ups() -> None:
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not on PATH (the web tests need it too)")
    done = subprocess.run(
        [node, "--input-type=module", "-e", SCRIPT],
        cwd=find_repo_root(), capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    read = json.loads(done.stdout)
    assert read["stacks"] == list(STACKS)
    assert read["ports"] == {
        f"{stack}/{tier}": host_port("local", stack, tier)
        for stack in STACKS
        for tier in TIER_PORTS
    }
