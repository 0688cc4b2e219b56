"""Finds what no committed file may contain: package-index or registry hosts, download URLs in
lockfiles, paths from a build machine's home or temp folders, and private keys or tokens.

Host names are assembled from parts so that this file does not flag itself.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml


def _host(*labels: str) -> str:
    return re.escape(".".join(labels))


_FORBIDDEN_HOSTS = [
    _host("pypi", "org"),
    _host("pythonhosted", "org"),
    _host("npmjs", "org"),
    _host("npmjs", "com"),
    _host("yarnpkg", "com"),
    _host("download", "docker", "com"),
    _host("ghcr", "io"),
    _host("quay", "io"),
    _host("gcr", "io"),
    _host("registry", "k8s", "io"),
    _host("deb", "debian", "org"),
    _host("security", "debian", "org"),
    _host("archive", "ubuntu", "com"),
    _host("dl-cdn", "alpinelinux", "org"),
]

# Docker Hub's short host is also the name of Debian's Docker package, so only its registry uses
# count: an image reference (that host, then a slash), a URL to it, or one of its named hosts.
_DOCKER_HUB = (
    r"(?:index|registry-1|hub)\." + _host("docker", "io")
    + r"|" + _host("docker", "io") + r"/|//" + _host("docker", "io")
)  # fmt: skip

RULES: dict[str, re.Pattern[str]] = {
    "package index or registry host": re.compile(
        r"(?<![\w.-])(?:[\w-]+\.)*(?:" + "|".join(_FORBIDDEN_HOSTS) + r")\b"
        r"|(?<![\w.-])(?:" + _DOCKER_HUB + r")",
        re.IGNORECASE,
    ),
    "machine-specific path": re.compile(
        # Split literals, so that this file does not flag itself.
        r"(?<![\w.])(?:/"
        r"root/|/"
        r"home/[a-z_][\w-]*/|/"
        r"Users/[\w.-]+/|/tmp/"
        r"pants-sandbox|"
        r"/private/var/"
        r"folders/|\.pyenv/"
        r"versions/)"
    ),
    "private key": re.compile(r"-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----"),
    "cloud or forge token": re.compile(r"\b(?:AKIA[0-9A-Z]{16}|gh[pousr]_[A-Za-z0-9]{36})\b"),
}

LOCKFILE_RULE = "download URL in a lockfile"
PLAINTEXT_SECRET_RULE = "plaintext Secret in infra/ (seal it: uo seal)"
_DOCUMENT_START = re.compile(r"^---(?:\s|$)")
_LOCKFILE_URL = re.compile(r'"(?:url|resolved)"\s*:\s*"(?:https?|ftp)://', re.IGNORECASE)
# npm lockfiles download from "resolved"; their "url" keys are only funding links to a project.
_NPM_LOCKFILE_URL = re.compile(r'"resolved"\s*:\s*"(?:https?|ftp)://', re.IGNORECASE)
_LOCKFILE_NAMES = re.compile(r"(?:\.lock|-lock\.json|lock\.ya?ml)$")


@dataclass(frozen=True)
class Finding:
    path: str
    line: int
    rule: str
    excerpt: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.rule}: {self.excerpt}"


def _documents(text: str) -> Iterator[tuple[int, str]]:
    """The documents of a YAML stream, each with the line it starts on."""
    start, lines = 1, list[str]()
    for number, line in enumerate(text.splitlines(), start=1):
        if _DOCUMENT_START.match(line):
            yield start, "\n".join(lines)
            start, lines = number, []
        else:
            lines.append(line)
    yield start, "\n".join(lines)


def _plaintext(doc: Any) -> bool:
    """A Secret with values, or a SealedSecret whose template carries unencrypted ones."""
    if not isinstance(doc, dict):
        return False
    if doc.get("kind") == "Secret":
        return bool(doc.get("data") or doc.get("stringData"))
    if doc.get("kind") == "SealedSecret":
        template = (doc.get("spec") or {}).get("template") or {}
        return bool(template.get("data") or template.get("stringData"))
    return False


def scan_manifests(path: str, text: str) -> Iterator[Finding]:
    """Secrets in infra/ are committed sealed; a Secret with data there is a leaked value."""
    if not path.startswith("infra/") or not path.endswith((".yaml", ".yml")):
        return
    for start, document in _documents(text):
        try:
            doc = yaml.safe_load(document)
        except yaml.YAMLError as exc:
            yield Finding(path, start, "unreadable YAML in infra/", str(exc).splitlines()[0])
            continue
        if _plaintext(doc):
            name = (doc.get("metadata") or {}).get("name")
            yield Finding(path, start, PLAINTEXT_SECRET_RULE, f"{doc['kind']} {name}")


def scan_text(path: str, text: str) -> Iterator[Finding]:
    yield from scan_manifests(path, text)
    rules = dict(RULES)
    if path.endswith("package-lock.json"):
        rules[LOCKFILE_RULE] = _NPM_LOCKFILE_URL
    elif _LOCKFILE_NAMES.search(path):
        rules[LOCKFILE_RULE] = _LOCKFILE_URL
    for number, line in enumerate(text.splitlines(), start=1):
        for rule, pattern in rules.items():
            if pattern.search(line):
                yield Finding(path, number, rule, line.strip()[:120])


def committable_files(root: Path) -> list[Path]:
    """Tracked files plus untracked ones git would not ignore: what a commit could contain."""
    listing = subprocess.run(
        ["git", "-C", str(root), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        check=True,
        capture_output=True,
    ).stdout.decode()
    return sorted(root / name for name in listing.split("\0") if name)


def scan_tree(root: Path) -> list[Finding]:
    findings: list[Finding] = []
    for file in committable_files(root):
        if not file.is_file() or file.is_symlink():
            continue  # deleted in the working tree, or a link whose target is scanned itself
        data = file.read_bytes()
        if b"\0" in data:
            continue  # binary files carry no text to check
        relative = file.relative_to(root).as_posix()
        findings.extend(scan_text(relative, data.decode("utf-8", errors="replace")))
    return findings
