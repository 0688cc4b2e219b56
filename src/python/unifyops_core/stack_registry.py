"""The stack registry: the one place that lists the stacks and their tiers.

Adding or removing a stack edits this file, plus the stack's own folder and infra files. Python
reads it through ``unifyops_core.naming``; Pants reads the same file as a BUILD prelude
(``build_file_prelude_globs`` in pants.toml), so the BUILD macros derive their targets from it too.

Being a Pants prelude limits what this file may hold: no imports, no annotations, literals only,
and every value hashable (tuples, not lists or dicts). The names carry a ``UNIFYOPS_`` prefix
because a prelude's names are visible in every BUILD file. Lists that cannot read this file
(package.json workspaces, a pydantic ``Literal``, infra files) are checked against it by tests
(tests/release/stack_registry_test.py), which also fail on any hand-written copy of the list.
"""

# (domain, stack), in order. The order is part of the contract: auth comes first (every other
# stack registers with it), and `uo up` derives each stack's loopback ports from its position.
UNIFYOPS_STACKS = (
    ("identity", "auth"),
    ("identity", "user"),
    ("platform", "environment"),
)

# (tier, container port, how it is built), the same for every stack. "python": a pex image per
# stack from unifyops/<domain>/<stack>/<stack>_<tier>; "web": an image per stack from
# src/web/<stack>_app; "shared": one image for every stack (src/docker/postgres).
UNIFYOPS_TIERS = (
    ("app", 3000, "web"),
    ("api", 8002, "python"),
    ("service", 8001, "python"),
    ("database", 5432, "shared"),
)
