"""What `uo up` reads from the working tree and infra/ without an engine."""

from __future__ import annotations

import subprocess
from pathlib import Path

from uo.local import sources


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)


def test_a_commit_counts_only_for_a_tree_without_any_change(tmp_path: Path) -> None:
    git(tmp_path, "init", "-q", "-b", "main")
    (tmp_path / "a.py").write_text("x = 1\n")
    git(tmp_path, "add", "a.py")
    git(tmp_path, "-c", "user.email=t@example.com", "-c", "user.name=t", "commit", "-qm", "one")
    head = sources.clean_commit(tmp_path)
    assert head is not None
    assert len(head) == 40
    (tmp_path / "new.py").write_text("y = 2\n")  # untracked: a build could pick it up
    assert sources.clean_commit(tmp_path) is None
    (tmp_path / "new.py").unlink()
    (tmp_path / "a.py").write_text("x = 2\n")
    assert sources.clean_commit(tmp_path) is None


def test_app_images_are_built_for_every_stack_and_the_edge_once() -> None:
    targets = sources.image_targets(["auth", "user"])
    assert "src/web:auth_app_image" in targets
    assert "src/web:user_app_image" in targets
    assert "src/web:environment_app_image" not in targets
    assert targets.count(sources.EDGE_TARGET) == 1
