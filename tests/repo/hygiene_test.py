import os
from pathlib import Path

import pytest

from repo.hygiene import LOCKFILE_RULE, PLAINTEXT_SECRET_RULE, scan_text, scan_tree


def _rules(path: str, text: str) -> set[str]:
    return {finding.rule for finding in scan_text(path, text)}


@pytest.mark.parametrize(
    "line",
    [
        "index-url = https://" + "pypi" + ".org/simple",
        "FROM " + "docker" + ".io/library/python:3.11",
        "url: https://files." + "pythonhosted" + ".org/packages/x.whl",
        "image: " + "ghcr" + ".io/org/thing:1",
        "pull from https://registry-1." + "docker" + ".io/v2/",
        "deb http://" + "deb." + "debian" + ".org/debian bookworm main",
    ],
)
def test_flags_package_hosts(line: str) -> None:
    assert "package index or registry host" in _rules("any.txt", line)


@pytest.mark.parametrize(
    "line",
    [
        "cache = /" + "root/.cache/pants",
        "python = /" + "home/alice/.venv/bin/python",
        "sandbox: /tmp/" + "pants-sandbox-abc/src",
    ],
)
def test_flags_machine_paths(line: str) -> None:
    assert "machine-specific path" in _rules("config.toml", line)


def test_flags_download_urls_only_in_lockfiles() -> None:
    line = '"url": "' + "https" + '://example.invalid/x.whl",'
    assert LOCKFILE_RULE in _rules("3rdparty/python/default.lock", line)
    assert LOCKFILE_RULE in _rules("src/web/package-lock.json", line.replace("url", "resolved"))
    assert LOCKFILE_RULE not in _rules("docs/notes.json", line)
    assert not _rules("default.lock", '"url": "file://${WHEELHOUSE}/fastapi-1-py3-none-any.whl"')
    # An npm lockfile's "url" keys are funding links of a package, not where it downloads from.
    assert LOCKFILE_RULE not in _rules("src/web/package-lock.json", line)


def test_flags_private_keys() -> None:
    assert "private key" in _rules("k.pem", "-----BEGIN " + "RSA PRIVATE KEY-----")


SEALED = """\
# comment
---
apiVersion: bitnami.com/v1alpha1
kind: SealedSecret
metadata: {name: auth-db-credentials, namespace: uo-dev}
spec:
  encryptedData:
    password: AgBy3i4OJSWK+PiTySYZZA1rbDJsbTBkMHpPdGFkY2NXRWdtWjcyL0JBWHNrQ3M1RjQ3
  template:
    metadata: {name: auth-db-credentials, namespace: uo-dev}
    type: Opaque
"""
CERTIFICATE = (
    "-----BEGIN CERTIFICATE-----\nMIIFQTCCAymgAwIBAgIUZMCAYIEL4wSg\n-----END CERTIFICATE-----\n"
)


def test_sealed_secrets_and_certificates_pass() -> None:
    assert not _rules("infra/environments/dev/sealed/auth.yaml", SEALED)
    assert not _rules("infra/environments/dev/sealed-secrets-cert.pem", CERTIFICATE)


@pytest.mark.parametrize(
    "document",
    [
        "apiVersion: v1\nkind: Secret\nmetadata: {name: x}\ndata: {password: cGFzcw==}\n",
        "apiVersion: v1\nkind: Secret\nmetadata: {name: x}\nstringData:\n  password: pass\n",
        SEALED.split("---\n", 1)[1].replace("type: Opaque", "type: Opaque\n    data: {t: cA==}"),
    ],
)
def test_flags_plaintext_secrets_in_infra(document: str) -> None:
    stream = SEALED + "---\n" + document
    findings = list(scan_text("infra/environments/dev/x.yaml", stream))
    assert [f.rule for f in findings] == [PLAINTEXT_SECRET_RULE]
    assert findings[0].line == len(SEALED.splitlines()) + 1  # where the offending document starts
    assert "pass" not in str(findings[0])  # a finding never repeats the value
    # Outside infra/ (chart templates, docs) the rule does not apply.
    assert PLAINTEXT_SECRET_RULE not in _rules("docs/clusters.md", document)


def test_a_secret_without_values_passes() -> None:
    assert not _rules("infra/x.yaml", "apiVersion: v1\nkind: Secret\nmetadata: {name: x}\n")


@pytest.mark.parametrize(
    "line",
    [
        "registry: localhost:5000/unifyops/auth-service",
        "see https://example.com/docs",
        "path = src/python/unifyops_core",
        "import jwt  # PyJWT validates tokens",
        "apt-get install -y --no-install-recommends docker" + ".io",  # Debian's package name
    ],
)
def test_ordinary_lines_pass(line: str) -> None:
    assert not _rules("file.py", line)


def test_repository_is_clean() -> None:
    # Reads the working tree itself (what git would commit), not the sandbox: ./pants exports
    # UO_REPO_ROOT, and build-support/run-tests passes a hash of the tree as UO_REPO_STATE so the
    # cached result is reused only for the same tree.
    root = Path(os.environ["UO_REPO_ROOT"])
    assert (root / "pants.toml").is_file(), f"{root} is not the repository root"
    findings = scan_tree(root)
    assert not findings, "\n".join(str(finding) for finding in findings)
