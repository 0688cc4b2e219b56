"""The ApplicationSet, evaluated the way Argo CD's generators do, yields exactly one Application
per (cluster, stack of the environment the cluster hosts) with the right destination, chart,
value files, release, SealedSecrets source and per-environment sync policy.

Argo CD itself cannot run here (no binary, no Kubernetes API server): this test implements the
documented semantics the ApplicationSet relies on and runs them against fake cluster Secrets
(dev, staging, prod, the prod-dr example from docs/clusters.md, and an unlabelled cluster):

- git files generator: `files[].path` globs where `*` stays within one path segment,
  `exclude: true` entries removing matches; parameters are the file's YAML plus `path.path`,
  `path.filename`, `path.basename`, `path.segments` (under `<pathParamPrefix>.path` when the
  generator sets one, as two git generators in one matrix must);
- cluster generator: one parameter set per cluster Secret (label
  `argocd.argoproj.io/secret-type: cluster`) matching `selector` (matchLabels, matchExpressions):
  `name`, `nameNormalized`, `server`, `metadata.labels`, `metadata.annotations`;
- matrix generator: exactly two children (one of them may itself be a matrix), the second
  evaluated with each parameter set of the first (so its selector or file paths may use them),
  the sets merged (a key both define differently is an
  error here, which is stricter than Argo CD's override);
- goTemplate with missingkey=error: `{{.a.b}}` substitution, and for `templatePatch` the subset
  it uses (`if`/`else if`/`else`/`end` over `eq`/`ne`, `{{-`/`-}}` trimming), applied as a merge
  patch (maps merge, lists and scalars replace). Anything else in a template fails this test
  rather than being guessed at.
"""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml

from unifyops_core.naming import ENVIRONMENTS, STACKS, namespace

ROOT = Path.cwd()
CHART = yaml.safe_load((ROOT / "src/charts/unifyops-stack/Chart.yaml").read_text())
PLACEHOLDER = re.compile(r"\{\{\s*\.([A-Za-z0-9_.]+)\s*\}\}")
ACTION = re.compile(r"\{\{(-?)\s*(.*?)\s*(-?)\}\}", re.DOTALL)
CLUSTER_SECRET_TYPE = "argocd.argoproj.io/secret-type"


def fake_cluster(name: str, server: str, environment: str | None) -> dict[str, Any]:
    labels = {CLUSTER_SECRET_TYPE: "cluster"}
    if environment:
        labels["unifyops.io/environment"] = environment
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": f"cluster-{name}", "namespace": "argocd", "labels": labels},
        "stringData": {"name": name, "server": server, "config": "{}"},
    }


def documented_dr_cluster() -> dict[str, Any]:
    """The DR cluster Secret docs/clusters.md tells operators to add."""
    text = (ROOT / "docs/clusters.md").read_text()
    for block in re.findall(r"```yaml\n(.*?)```", text, re.DOTALL):
        doc = yaml.safe_load(block)
        if doc.get("kind") == "Secret":
            return dict(doc)
    raise AssertionError("docs/clusters.md shows no cluster Secret")


CLUSTERS = [
    fake_cluster("dev", "https://dev.k8s.unifyops.internal:6443", "dev"),
    fake_cluster("staging", "https://staging.k8s.unifyops.internal:6443", "staging"),
    fake_cluster("prod", "https://prod.k8s.unifyops.internal:6443", "prod"),
    documented_dr_cluster(),
    fake_cluster("sandbox", "https://sandbox.k8s.unifyops.internal:6443", None),
    # A cluster labelled for an environment with no folder in infra/ gets nothing.
    fake_cluster("qa", "https://qa.k8s.unifyops.internal:6443", "qa"),
]


# --- git files generator --------------------------------------------------------------------


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


def file_params(file: str, prefix: str | None = None) -> dict[str, Any]:
    path = PurePosixPath(file)
    params: dict[str, Any] = yaml.safe_load((ROOT / file).read_text())
    path_params = {
        "path": str(path.parent),
        "basename": path.parent.name,
        "filename": path.name,
        "segments": list(path.parent.parts),
    }
    if prefix:  # pathParamPrefix: {{.<prefix>.path.path}} instead of {{.path.path}}
        params[prefix] = {"path": path_params}
    else:
        params["path"] = path_params
    return params


def git_files(generator: dict[str, Any], params: dict[str, Any]) -> list[dict[str, Any]]:
    files = render_template(generator["files"], params)
    prefix = generator.get("pathParamPrefix")
    return [file_params(file, prefix) for file in matched_files(files)]


# --- cluster generator ----------------------------------------------------------------------


def selector_matches(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions") or []:
        key, operator = expression["key"], expression["operator"]
        values = expression.get("values") or []
        ok = {
            "In": key in labels and labels[key] in values,
            "NotIn": key not in labels or labels[key] not in values,
            "Exists": key in labels,
            "DoesNotExist": key not in labels,
        }[operator]
        if not ok:
            return False
    return True


def normalize(name: str) -> str:
    """Argo CD's nameNormalized: lower case, anything outside [a-z0-9-.] becomes '-'."""
    return re.sub(r"[^a-z0-9.-]", "-", name.lower())


def clusters(generator: dict[str, Any], params: dict[str, Any]) -> list[dict[str, Any]]:
    selector = render_template(generator.get("selector") or {}, params)
    found = []
    for secret in CLUSTERS:
        labels = secret["metadata"]["labels"]
        if labels.get(CLUSTER_SECRET_TYPE) != "cluster" or not selector_matches(selector, labels):
            continue
        data = secret["stringData"]
        found.append(
            {
                "name": data["name"],
                "nameNormalized": normalize(data["name"]),
                "server": data["server"],
                "metadata": {
                    "labels": dict(labels),
                    "annotations": dict(secret["metadata"].get("annotations") or {}),
                },
            }
        )
    return found


# --- matrix generator -----------------------------------------------------------------------


def merge_params(first: dict[str, Any], second: dict[str, Any]) -> dict[str, Any]:
    clashes = {k for k in first.keys() & second.keys() if first[k] != second[k]}
    assert not clashes, f"matrix children both define {sorted(clashes)}"
    return {**first, **second}


def evaluate(generator: dict[str, Any], params: dict[str, Any]) -> list[dict[str, Any]]:
    (kind,) = generator.keys() - {"selector"}
    if kind == "git":
        return git_files(generator["git"], params)
    if kind == "clusters":
        return clusters(generator["clusters"], params)
    if kind == "matrix":
        children = generator["matrix"]["generators"]
        assert len(children) == 2, "a matrix generator combines exactly two generators"
        return [
            merge_params(first, second)
            for first in evaluate(children[0], params)
            for second in evaluate(children[1], first)
        ]
    raise AssertionError(f"generator {kind!r} is not evaluated by this test")


# --- goTemplate -----------------------------------------------------------------------------


def lookup(params: dict[str, Any], dotted: str) -> Any:
    node: Any = params
    for key in dotted.split("."):
        if not isinstance(node, dict) or key not in node:
            raise KeyError(f"missingkey=error: {dotted}")
        node = node[key]
    return node


def render_template(template: Any, params: dict[str, Any]) -> Any:
    if isinstance(template, str):
        rendered = PLACEHOLDER.sub(lambda m: str(lookup(params, m.group(1))), template)
        assert "{{" not in rendered, f"unsupported template action in {template!r}"
        return rendered
    if isinstance(template, list):
        return [render_template(item, params) for item in template]
    if isinstance(template, dict):
        return {key: render_template(value, params) for key, value in template.items()}
    return template


def condition(expression: str, params: dict[str, Any]) -> bool:
    match = re.fullmatch(r'(eq|ne) \.([\w.]+) "([^"]*)"', expression)
    if not match:
        raise AssertionError(f"unsupported condition {expression!r}")
    operator, dotted, literal = match.groups()
    return (str(lookup(params, dotted)) == literal) == (operator == "eq")


def render_text(text: str, params: dict[str, Any]) -> str:
    """Go text/template for the subset templatePatch uses (see the module docstring)."""
    tokens: list[tuple[str, str]] = []
    position = 0
    for match in ACTION.finditer(text):
        literal = text[position : match.start()]
        if match.group(1):
            literal = literal.rstrip()
        if tokens and tokens[-1][0] == "trim-next":
            tokens.pop()
            literal = literal.lstrip()
        tokens.append(("text", literal))
        tokens.append(("action", match.group(2)))
        if match.group(3):
            tokens.append(("trim-next", ""))
        position = match.end()
    tail = text[position:]
    if tokens and tokens[-1][0] == "trim-next":
        tokens.pop()
        tail = tail.lstrip()
    tokens.append(("text", tail))

    out: list[str] = []
    # Each open `if`: (this branch is emitting, some earlier branch was taken, parent emitting).
    stack: list[tuple[bool, bool, bool]] = []
    emitting = True
    for kind, value in tokens:
        if kind == "text":
            if emitting:
                out.append(value)
        elif value.startswith("if "):
            taken = emitting and condition(value[3:], params)
            stack.append((taken, taken, emitting))
            emitting = taken
        elif value.startswith("else if "):
            _, done, parent = stack.pop()
            taken = parent and not done and condition(value[8:], params)
            stack.append((taken, done or taken, parent))
            emitting = taken
        elif value == "else":
            _, done, parent = stack.pop()
            stack.append((parent and not done, True, parent))
            emitting = parent and not done
        elif value == "end":
            emitting = stack.pop()[2]
        elif emitting:
            if not value.startswith("."):
                raise AssertionError(f"unsupported template action {value!r}")
            out.append(str(lookup(params, value[1:])))
    assert not stack, "unclosed if"
    return "".join(out)


def merge_patch(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict) or not isinstance(target, dict):
        return patch
    merged = dict(target)
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = merge_patch(merged.get(key), value)
    return merged


# --- the ApplicationSet ---------------------------------------------------------------------


def application_sets() -> list[dict[str, Any]]:
    docs = yaml.safe_load_all((ROOT / "infra/argocd/applicationsets.yaml").read_text())
    return [doc for doc in docs if doc and doc["kind"] == "ApplicationSet"]


def generate_applications() -> list[dict[str, Any]]:
    applications = []
    for appset in application_sets():
        spec = appset["spec"]
        assert spec["goTemplate"] is True
        assert "missingkey=error" in spec["goTemplateOptions"]
        for generator in spec["generators"]:
            for params in evaluate(generator, {}):
                application = render_template(spec["template"], params)
                if "templatePatch" in spec:
                    patch = yaml.safe_load(render_text(spec["templatePatch"], params))
                    assert patch, "an empty templatePatch would clear the template's fields"
                    application = merge_patch(application, patch)
                applications.append(application)
    return applications


APPLICATIONS = generate_applications()
HOSTED = {  # cluster name -> environment, for the clusters that host one with a folder in infra/
    s["stringData"]["name"]: s["metadata"]["labels"]["unifyops.io/environment"]
    for s in CLUSTERS
    if s["metadata"]["labels"].get("unifyops.io/environment") in ENVIRONMENTS
}
SERVERS = {s["stringData"]["name"]: s["stringData"]["server"] for s in CLUSTERS}


def by_name() -> dict[str, dict[str, Any]]:
    return {app["metadata"]["name"]: app for app in APPLICATIONS}


def test_one_application_per_cluster_and_stack_of_its_environment() -> None:
    expected = {
        (cluster, stack): f"{env}-{stack}-{normalize(cluster)}"
        for cluster, env in HOSTED.items()
        for stack in STACKS
    }
    assert len(APPLICATIONS) == len(expected)
    assert set(by_name()) == set(expected.values())
    assert {app["metadata"]["labels"]["unifyops.io/cluster"] for app in APPLICATIONS} == {
        normalize(c) for c in HOSTED
    }


def test_the_documented_dr_cluster_receives_prod() -> None:
    dr = documented_dr_cluster()["stringData"]
    apps = by_name()
    for stack in STACKS:
        primary, twin = apps[f"prod-{stack}-prod"], apps[f"prod-{stack}-{normalize(dr['name'])}"]
        assert twin["spec"]["destination"] == {"server": dr["server"], "namespace": "uo-prod"}
        # Everything but where it goes is the same as on the primary prod cluster.
        assert twin["spec"]["sources"] == primary["spec"]["sources"]
        assert twin["spec"]["syncPolicy"] == primary["spec"]["syncPolicy"]


def test_unlabelled_clusters_and_unknown_environments_get_nothing() -> None:
    servers = {app["spec"]["destination"]["server"] for app in APPLICATIONS}
    assert SERVERS["sandbox"] not in servers
    assert SERVERS["qa"] not in servers


@pytest.mark.parametrize("app", APPLICATIONS, ids=lambda app: app["metadata"]["name"])
def test_application_targets_its_cluster_namespace_chart_and_value_files(
    app: dict[str, Any],
) -> None:
    env = app["metadata"]["labels"]["unifyops.io/environment"]
    stack = app["metadata"]["labels"]["unifyops.io/stack"]
    cluster = next(
        c for c in HOSTED if normalize(c) == app["metadata"]["labels"]["unifyops.io/cluster"]
    )
    spec = app["spec"]
    assert HOSTED[cluster] == env
    assert spec["project"] == "unifyops"
    assert spec["destination"] == {"server": SERVERS[cluster], "namespace": namespace(env)}
    assert "source" not in spec, "multi-source: sources only"
    chart, values, sealed = spec["sources"]
    # The chart comes from the registry at the version infra pins for the environment.
    pin = yaml.safe_load((ROOT / f"infra/environments/{env}/chart.yaml").read_text())["chart"]
    assert chart["repoURL"] == pin["repository"]
    assert not chart["repoURL"].startswith("oci://"), "Argo CD takes Helm OCI without oci://"
    assert chart["chart"] == pin["name"] == CHART["name"]
    assert chart["targetRevision"] == pin["version"]
    assert "path" not in chart
    assert chart["helm"]["releaseName"] == stack
    # The values come from git, through the `values` ref source.
    assert values == {"repoURL": sealed["repoURL"], "targetRevision": "main", "ref": "values"}
    files = chart["helm"]["valueFiles"]
    assert all(f.startswith("$values/") for f in files)
    paths = [f.removeprefix("$values/") for f in files]
    assert paths == [
        f"infra/environments/{env}/env.yaml",
        f"infra/environments/{env}/{stack}.yaml",
    ]
    assert all((ROOT / path).is_file() for path in paths)
    assert sealed["targetRevision"] == values["targetRevision"]


@pytest.mark.parametrize("app", APPLICATIONS, ids=lambda app: app["metadata"]["name"])
def test_application_applies_the_sealed_secrets_its_stack_owns(app: dict[str, Any]) -> None:
    env = app["metadata"]["labels"]["unifyops.io/environment"]
    stack = app["metadata"]["labels"]["unifyops.io/stack"]
    sealed = app["spec"]["sources"][2]
    assert sealed["path"] == f"infra/environments/{env}/sealed"
    assert sealed["directory"] == {"include": f"{stack}.yaml"}
    file = ROOT / sealed["path"] / sealed["directory"]["include"]
    docs = [doc for doc in yaml.safe_load_all(file.read_text()) if doc] if file.is_file() else []
    assert docs, f"{file.relative_to(ROOT)}: every stack owns at least its database credentials"
    for doc in docs:
        assert doc["kind"] == "SealedSecret"
        assert doc["metadata"]["namespace"] == namespace(env)
        assert doc["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"] == "-1"


def test_sync_policy_follows_the_environment() -> None:
    for app in APPLICATIONS:
        env = app["metadata"]["labels"]["unifyops.io/environment"]
        policy = app["spec"]["syncPolicy"]
        expected = {
            "dev": {"prune": True, "selfHeal": True},
            "staging": {"prune": True, "selfHeal": False},
        }.get(env)
        assert policy.get("automated") == expected, app["metadata"]["name"]
        assert {"CreateNamespace=true", "ServerSideApply=true"} <= set(policy["syncOptions"])
        assert policy["retry"]["limit"] == 3


def test_an_environment_without_a_rule_syncs_by_hand() -> None:
    (appset,) = application_sets()
    patch = yaml.safe_load(render_text(appset["spec"]["templatePatch"], {"environment": "qa"}))
    assert "automated" not in patch["spec"]["syncPolicy"]
    assert patch["spec"]["syncPolicy"]["syncOptions"]


def test_project_allows_exactly_what_the_applications_use() -> None:
    (project,) = yaml.safe_load_all((ROOT / "infra/argocd/project.yaml").read_text())
    destinations = {(d["server"], d["namespace"]) for d in project["spec"]["destinations"]}
    assert destinations == {("*", namespace(env)) for env in ENVIRONMENTS}
    repos = {s["repoURL"] for app in APPLICATIONS for s in app["spec"]["sources"]}
    assert repos <= set(project["spec"]["sourceRepos"])
    kinds = {(k["group"], k["kind"]) for k in project["spec"]["namespaceResourceWhitelist"]}
    assert ("bitnami.com", "SealedSecret") in kinds


def test_template_evaluation_fails_like_argo_cd_on_missing_keys_and_unknown_actions() -> None:
    with pytest.raises(KeyError, match="missingkey"):
        render_template("{{.nope}}", {"path": {}})
    with pytest.raises(AssertionError, match="unsupported"):
        render_text('{{ if hasPrefix "a" .x }}y{{ end }}', {"x": "a"})


def test_template_trimming_and_branches() -> None:
    text = (
        'a\n  {{- if eq .e "x" }}\n  X\n  {{- else if ne .e "y" }}\n  Z\n'
        "  {{- else }}\n  Y\n  {{- end }}\nb"
    )
    assert render_text(text, {"e": "x"}) == "a\n  X\nb"
    assert render_text(text, {"e": "y"}) == "a\n  Y\nb"
    assert render_text(text, {"e": "q"}) == "a\n  Z\nb"
