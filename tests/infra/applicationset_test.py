"""The ApplicationSets, evaluated the way Argo CD's git files generator does, yield exactly one
Application per (environment, stack) with the right namespace, chart path and value files.

Argo CD itself cannot run here; this test implements the documented semantics it relies on:
`files[].path` globs where `*` stays within one path segment, `exclude: true` entries removing
matches, parameters from the file's YAML plus `path.path`, `path.filename`, `path.basename`, and
goTemplate `{{.a.b}}` substitution with missingkey=error.
"""

from __future__ import annotations

import posixpath
import re
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml

from unifyops_core.naming import ENVIRONMENTS, STACKS, namespace

ROOT = Path.cwd()
PLACEHOLDER = re.compile(r"\{\{\s*\.([A-Za-z0-9_.]+)\s*\}\}")


def glob_to_regex(pattern: str) -> re.Pattern[str]:
    parts = []
    for char in pattern:
        parts.append({"*": "[^/]*", "?": "[^/]"}.get(char, re.escape(char)))
    return re.compile("^" + "".join(parts) + "$")


def matched_files(files: list[dict[str, Any]]) -> list[str]:
    every = sorted(
        p.relative_to(ROOT).as_posix() for p in (ROOT / "infra").rglob("*") if p.is_file()
    )
    include = [glob_to_regex(f["path"]) for f in files if not f.get("exclude")]
    exclude = [glob_to_regex(f["path"]) for f in files if f.get("exclude")]
    return [
        f
        for f in every
        if any(r.match(f) for r in include) and not any(r.match(f) for r in exclude)
    ]


def params_for(file: str) -> dict[str, Any]:
    path = PurePosixPath(file)
    params: dict[str, Any] = yaml.safe_load((ROOT / file).read_text())
    params["path"] = {
        "path": str(path.parent),
        "basename": path.parent.name,
        "filename": path.name,
        "segments": list(path.parent.parts),
    }
    return params


def lookup(params: dict[str, Any], dotted: str) -> Any:
    node: Any = params
    for key in dotted.split("."):
        if not isinstance(node, dict) or key not in node:
            raise KeyError(f"missingkey=error: {dotted}")
        node = node[key]
    return node


def render_template(template: Any, params: dict[str, Any]) -> Any:
    if isinstance(template, str):
        return PLACEHOLDER.sub(lambda m: str(lookup(params, m.group(1))), template)
    if isinstance(template, list):
        return [render_template(item, params) for item in template]
    if isinstance(template, dict):
        return {key: render_template(value, params) for key, value in template.items()}
    return template


def application_sets() -> list[dict[str, Any]]:
    docs = yaml.safe_load_all((ROOT / "infra/argocd/applicationsets.yaml").read_text())
    return [doc for doc in docs if doc and doc["kind"] == "ApplicationSet"]


def generate_applications() -> list[dict[str, Any]]:
    applications = []
    for appset in application_sets():
        spec = appset["spec"]
        assert spec["goTemplate"] is True
        for generator in spec["generators"]:
            for file in matched_files(generator["git"]["files"]):
                applications.append(render_template(spec["template"], params_for(file)))
    return applications


APPLICATIONS = generate_applications()


def test_one_application_per_environment_and_stack() -> None:
    names = sorted(app["metadata"]["name"] for app in APPLICATIONS)
    assert names == sorted(f"{env}-{stack}" for env in ENVIRONMENTS for stack in STACKS)


@pytest.mark.parametrize("app", APPLICATIONS, ids=lambda app: app["metadata"]["name"])
def test_application_targets_its_namespace_chart_and_value_files(app: dict[str, Any]) -> None:
    env = app["metadata"]["labels"]["unifyops.io/environment"]
    stack = app["metadata"]["labels"]["unifyops.io/stack"]
    spec = app["spec"]
    assert spec["project"] == "unifyops"
    assert spec["destination"]["namespace"] == namespace(env)
    source = spec["source"]
    assert source["path"] == "src/charts/unifyops-stack"
    assert source["helm"]["releaseName"] == stack
    # Argo CD resolves value files relative to the chart's path in the repository.
    normalised = [posixpath.normpath(f"{source['path']}/{f}") for f in source["helm"]["valueFiles"]]
    assert normalised == [
        f"infra/environments/{env}/env.yaml",
        f"infra/environments/{env}/{stack}.yaml",
    ]
    assert all((ROOT / path).is_file() for path in normalised)


def test_dev_self_heals_and_prod_syncs_only_by_hand() -> None:
    policy = {app["metadata"]["name"]: app["spec"]["syncPolicy"] for app in APPLICATIONS}
    assert policy["dev-auth"]["automated"] == {"prune": True, "selfHeal": True}
    assert "automated" not in policy["prod-auth"]
    assert all("CreateNamespace=true" in p["syncOptions"] for p in policy.values())


def test_project_allows_exactly_what_the_applications_use() -> None:
    (project,) = yaml.safe_load_all((ROOT / "infra/argocd/project.yaml").read_text())
    destinations = {d["namespace"] for d in project["spec"]["destinations"]}
    assert destinations == {namespace(env) for env in ENVIRONMENTS}
    assert {app["spec"]["source"]["repoURL"] for app in APPLICATIONS} <= set(
        project["spec"]["sourceRepos"]
    )


def test_a_missing_parameter_fails_like_missingkey_error() -> None:
    with pytest.raises(KeyError, match="missingkey"):
        render_template("{{.nope}}", {"path": {}})
