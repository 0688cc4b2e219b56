"""infra/ is the desired state: every environment has its env-wide file and one file per stack,
and each file agrees with its path and the naming contract."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from unifyops_core.naming import ENVIRONMENTS, IMAGE_TIERS, STACKS, infra_file, namespace

ROOT = Path.cwd()
IMMUTABLE_TAG = re.compile(r"^[0-9a-f]{7,40}$")


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_env_file_sets_namespace_and_domain(environment: str) -> None:
    env = yaml.safe_load((ROOT / f"infra/environments/{environment}/env.yaml").read_text())
    assert env["environment"] == environment
    assert env["namespace"] == namespace(environment)
    assert env["ingress"]["domain"]


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_the_auth_stack_registers_every_stack_of_the_registry(environment: str) -> None:
    path = infra_file(environment, "auth")
    clients = yaml.safe_load((ROOT / path).read_text())["auth"]["clients"]
    assert clients == list(STACKS), (
        f"{path}: auth.clients must list the stacks of src/python/unifyops_core/stack_registry.py"
    )


@pytest.mark.parametrize(("environment", "stack"), [(e, s) for e in ENVIRONMENTS for s in STACKS])
def test_stack_file_agrees_with_its_path(environment: str, stack: str) -> None:
    data = yaml.safe_load((ROOT / infra_file(environment, stack)).read_text())
    assert (data["stack"], data["environment"], data["namespace"]) == (
        stack,
        environment,
        namespace(environment),
    )
    assert re.match(r"^\d+\.\d+\.\d+", data["coreVersion"])
    tiers = data.get("tiers") or {}
    images = {tier: (tiers.get(tier) or {}).get("image") or {} for tier in IMAGE_TIERS}
    if not any(image.get("tag") or image.get("digest") for image in images.values()):
        return  # not released yet (uo new stack): the chart refuses the file until `uo bump`
    for tier, image in images.items():
        assert image.get("digest") or IMMUTABLE_TAG.match(image.get("tag") or ""), (
            f"{tier}: pin a git sha or digest"
        )


def test_no_stray_files() -> None:
    # Per environment: env-wide values, one values file per stack, the chart pin, the
    # sealed-secrets controller certificate, and sealed/<stack>.yaml for the stacks that own
    # SealedSecrets (uo seal).
    allowed = re.compile(
        r"infra/environments/(?P<env>[a-z]+)/"
        r"(?:(?P<values>[a-z]+)\.yaml|sealed-secrets-cert\.pem|sealed/(?P<sealed>[a-z]+)\.yaml)"
    )
    present = {
        p.relative_to(ROOT).as_posix()
        for p in (ROOT / "infra/environments").rglob("*")
        if p.is_file() and p.name != "README.md"
    }
    for path in present:
        match = allowed.fullmatch(path)
        assert match, f"{path}: not a file infra/environments holds"
        assert match["env"] in ENVIRONMENTS, path
        assert (match["values"] or match["sealed"]) in (None, "env", "chart", *STACKS), path
        assert match["sealed"] not in ("env", "chart"), path
    expected = {
        f"infra/environments/{e}/{name}"
        for e in ENVIRONMENTS
        for name in (
            *(f"{s}.yaml" for s in STACKS),
            "env.yaml",
            "chart.yaml",
            "sealed-secrets-cert.pem",
        )
    }
    assert expected <= present
