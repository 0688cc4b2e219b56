from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from integration.platform_harness import Platform, running_platform


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    infra = tmp_path_factory.mktemp("infra") / "environments"
    shutil.copytree(Path.cwd() / "infra/environments", infra)
    with running_platform(infra) as running:
        yield running
