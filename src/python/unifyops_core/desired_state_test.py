from pathlib import Path

import pytest

from unifyops_core.desired_state import DesiredStateError, fingerprint, read_all, read_stack


def write(root: Path, rel: str, text: str) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


DIGEST = "sha256:" + "f" * 64
AUTH = f"""coreVersion: "1.2.0"
tiers:
  api:
    image: {{tag: abc1234}}
  service:
    image: {{tag: abc1234, digest: "{DIGEST}"}}
"""


@pytest.fixture
def infra(tmp_path: Path) -> Path:
    write(tmp_path, "dev/env.yaml", "namespace: uo-dev\ningress: {domain: dev.example.internal}\n")
    write(tmp_path, "dev/auth.yaml", AUTH)
    write(tmp_path, "staging/env.yaml", "namespace: uo-staging\n")
    return tmp_path


def test_reads_tags_digests_and_core_version(infra: Path) -> None:
    auth = read_stack(infra, "dev", "auth")
    assert auth.core_version == "1.2.0"
    assert auth.tiers["api"].reference == "abc1234"
    assert auth.tiers["service"].reference == DIGEST
    assert auth.tiers["app"].reference == ""


def test_reads_every_environment_folder(infra: Path) -> None:
    environments = read_all(infra)
    assert set(environments) == {"dev", "staging"}
    assert environments["dev"].domain == "dev.example.internal"
    assert set(environments["dev"].stacks) == {"auth"}
    assert environments["staging"].stacks == {}


def test_broken_files_are_reported_with_their_path(infra: Path) -> None:
    write(infra, "dev/user.yaml", "- not\n- a mapping\n")
    with pytest.raises(DesiredStateError, match=r"user\.yaml"):
        read_all(infra)


def test_fingerprint_changes_with_content(infra: Path) -> None:
    before = fingerprint(infra)
    write(infra, "dev/auth.yaml", "coreVersion: 1.3.0\n")
    assert fingerprint(infra) != before
