import zipfile
from email.parser import Parser
from pathlib import Path

import unifyops_core


def test_wheel_metadata_version_is_the_package_version() -> None:
    (wheel,) = Path.cwd().rglob("unifyops_core-*.whl")  # built by Pants for this test
    with zipfile.ZipFile(wheel) as archive:
        (metadata_name,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        metadata = Parser().parsestr(archive.read(metadata_name).decode())
        names = archive.namelist()
    assert metadata["Name"] == "unifyops-core"
    assert metadata["Version"] == unifyops_core.__version__
    assert wheel.name == f"unifyops_core-{unifyops_core.__version__}-py3-none-any.whl"
    assert "unifyops_core/__init__.py" in names
    assert not [n for n in names if n.endswith("_test.py") or n.endswith("_testutil.py")]
