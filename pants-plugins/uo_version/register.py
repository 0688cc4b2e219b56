"""One version source for a python_distribution: its `version_file` field.

A BUILD file cannot read Python, so without this the version would be typed twice (in the
package's `__version__` and in `provides=`). With `version_file="_version.py"` the distribution's
version is read from the `__version__ = "..."` line of that file, relative to the BUILD file.
"""

from __future__ import annotations

import re
from typing import Any

from pants.backend.python.target_types import PythonDistribution
from pants.backend.python.util_rules.package_dists import SetupKwargs, SetupKwargsRequest
from pants.engine.fs import DigestContents, GlobMatchErrorBehavior, PathGlobs
from pants.engine.rules import Get, collect_rules, rule
from pants.engine.target import StringField, Target
from pants.engine.unions import UnionRule

_VERSION_LINE = re.compile(r"""^__version__\s*=\s*["']([^"']+)["']""", re.MULTILINE)


class VersionFileField(StringField):
    alias = "version_file"
    help = "A file (relative to this BUILD file) whose `__version__ = \"...\"` line is the version."


class VersionFromFileRequest(SetupKwargsRequest):
    @classmethod
    def is_applicable(cls, target: Target) -> bool:
        return bool(target.get(VersionFileField).value)


@rule
async def setup_kwargs_with_file_version(request: VersionFromFileRequest) -> SetupKwargs:
    target = request.target
    path = f"{target.address.spec_path}/{target[VersionFileField].value}".lstrip("/")
    contents = await Get(
        DigestContents,
        PathGlobs(
            [path],
            glob_match_error_behavior=GlobMatchErrorBehavior.error,
            description_of_origin=f"the `version_file` field of {target.address}",
        ),
    )
    match = _VERSION_LINE.search(contents[0].content.decode())
    if not match:
        raise ValueError(f"{path} has no `__version__ = \"...\"` line (version_file of {target.address})")
    kwargs = request.explicit_kwargs
    if "version" in kwargs:
        raise ValueError(f"{target.address}: give the version in {path} only, not also in provides=")
    return SetupKwargs({**kwargs, "version": match.group(1)}, address=target.address)


def target_types() -> list[Any]:
    return []


def rules() -> list[Any]:
    return [
        *collect_rules(),
        UnionRule(SetupKwargsRequest, VersionFromFileRequest),
        PythonDistribution.register_plugin_field(VersionFileField),
    ]
