# BUILD file macros (a Pants prelude: plain Python evaluated before every BUILD file).
# One definition of how a Python tier becomes a container image, so the six BUILD files that use
# it cannot drift apart. Names follow the naming contract (unifyops_core.naming; a contract test
# checks every image against it). The stacks and tier ports come from UNIFYOPS_STACKS and
# UNIFYOPS_TIERS, defined by the stack registry (src/python/unifyops_core/stack_registry.py),
# which pants.toml loads as a prelude too.


def unifyops_tier_port(tier):
    """A tier's container port, from the stack registry."""
    return [port for name, port, _ in UNIFYOPS_TIERS if name == tier][0]


def unifyops_image_labels(stack, tier, with_core):
    """The OCI and io.unifyops labels of a tier's image (the app tier carries no core)."""
    labels = {
        "org.opencontainers.image.revision": "${UO_GIT_SHA}",
        "org.opencontainers.image.version": "${UO_GIT_SHA}",
        "org.opencontainers.image.source": "https://git.unifyops.internal/platform/unifyops",
        # Fixed, so the same inputs give the same image config.
        "org.opencontainers.image.created": "1970-01-01T00:00:00Z",
        "org.opencontainers.image.title": "%s-%s" % (stack, tier),
        "io.unifyops.stack": stack,
        "io.unifyops.tier": tier,
    }
    if with_core:
        labels["io.unifyops.core-version"] = "${UO_CORE_VERSION}"
    return labels


def unifyops_label_instructions(labels):
    """An image's labels as the last step of its Dockerfile, all in one LABEL instruction.

    Not `image_labels`: the engine's classic builder turns each `--label` into a LABEL step of
    its own after the Dockerfile's last one, and on the vfs storage driver every step copies the
    image's whole root filesystem (1-5 s each). Last, because the revision changes with every
    commit: the steps before it stay cached. Values may use the build arguments of LABEL_ARGS,
    which the stage declares at its start (an ARG is a step too; declared early, it stays cached
    when the contents change, and no COPY depends on it).
    """
    pairs = " ".join('%s="%s"' % (key, labels[key]) for key in sorted(labels))
    return ["LABEL " + pairs]


LABEL_ARGS = ("ARG UO_GIT_SHA", "ARG UO_CORE_VERSION")  # a tuple: prelude values must be hashable


def unifyops_stack_images():
    """Every stack's tier images and the database image: what tests that run them depend on."""
    tiers = [
        "src/python/unifyops/%s/%s/%s_%s:image" % (domain, stack, stack, tier)
        for domain, stack in UNIFYOPS_STACKS
        for tier, _, build in UNIFYOPS_TIERS
        if build == "python"
    ]
    apps = ["src/web:%s_app_image" % stack for _, stack in UNIFYOPS_STACKS]
    return tiers + apps + ["src/docker/postgres:image"]


# In the environment of every step that compiles byte code: Python then writes hash-based .pyc
# files (no source file time recorded), so the same sources give the same bytes in every build
# (uo.reproducible clamps file times to the same epoch).
SOURCE_DATE = "SOURCE_DATE_EPOCH=1700000000"
# Debug symbols out of every native extension of a venv (asyncpg's protocol: 7.9 MB -> 0.9 MB).
STRIP_NATIVE = "find /app/venv -name '*.so' -exec strip --strip-unneeded {} +"
# Third-party modules shipped as byte code only: each __pycache__/<name>.cpython-311.pyc becomes
# <name>.pyc in place of <name>.py (Python imports such a sourceless module as it is), which
# drops the sources (~25 MB an image) and keeps the start-up time compiled files give. Our own
# packages keep their sources, so their tracebacks still show code; a third-party frame shows
# its file and line only.
OWN_PACKAGES = ("unifyops", "unifyops_core", "uo_appserver", "uo_edge")
SITE_PACKAGES = "/app/venv/lib/python3.11/site-packages"
SOURCELESS_DEPS = (
    "python3 -c 'import pathlib, sys; ["
    "(c.replace(s.with_suffix(\".pyc\")), s.unlink())"
    " for c in pathlib.Path(sys.argv[1]).rglob(\"__pycache__/*.cpython-311.pyc\")"
    " if c.relative_to(sys.argv[1]).parts[0] not in sys.argv[2:]"
    " and (s := c.parent.parent / (c.name.split(\".\")[0] + \".py\")).exists()]'"
    " %s %s && find %s -name __pycache__ -type d -empty -delete"
    % (SITE_PACKAGES, " ".join(OWN_PACKAGES), SITE_PACKAGES)
)


def unifyops_python_image(stack, tier, entry_point):
    """pex binaries for a tier (full, deps-only, sources-only) and its docker_image.

    The image installs the deps pex and the sources pex as separate layers, so a source-only
    change rebuilds only a small top layer.
    """
    common = dict(entry_point=entry_point, layout="packed", execution_mode="venv")
    pex_binary(name="bin", **common)
    pex_binary(name="deps", include_sources=False, include_tools=True, **common)
    pex_binary(name="srcs", include_requirements=False, include_tools=True, **common)
    context = build_file_dir().as_posix().replace("/", ".")
    port = unifyops_tier_port(tier)
    docker_image(
        name="image",
        repository="unifyops/%s-%s" % (stack, tier),
        image_tags=["{build_args.UO_GIT_SHA}"],
        dependencies=[":deps", ":srcs"],
        extra_build_args=[
            "UO_BASE_PYTHON_IMAGE", "UO_BASE_BUILD_IMAGE", "UO_GIT_SHA", "UO_CORE_VERSION"
        ],
        instructions=[
            "ARG UO_BASE_PYTHON_IMAGE",
            "ARG UO_BASE_BUILD_IMAGE",
            # The dependencies are installed in the build base (same Python, plus binutils) and
            # their native extensions stripped of debug symbols: half their size, never run.
            "FROM ${UO_BASE_BUILD_IMAGE} AS deps",
            "COPY %s/deps.pex /build/deps.pex" % context,
            "RUN " + SOURCE_DATE + " PEX_TOOLS=1 PEX_ROOT=/tmp/pex"
            " python3 /build/deps.pex venv --scope=deps --compile /app/venv"
            " && " + STRIP_NATIVE + " && " + SOURCELESS_DEPS,
            # The sources are installed in the runtime base itself (the smallest root filesystem
            # to copy for a build step on the vfs driver); it has no shell, so the step runs in
            # exec form with its environment set for this stage only.
            "FROM ${UO_BASE_PYTHON_IMAGE} AS srcs",
            "ENV PEX_TOOLS=1 PEX_ROOT=/tmp/pex " + SOURCE_DATE,
            "COPY %s/srcs.pex /build/srcs.pex" % context,
            'RUN ["python3", "/build/srcs.pex", "venv", "--scope=srcs", "--compile", "/app/venv"]',
            "FROM ${UO_BASE_PYTHON_IMAGE}",
        ]
        + list(LABEL_ARGS)
        + [
            # The image's settings come first: every step after a changed one runs again, and on
            # the vfs driver each step copies the whole root filesystem, so after a source
            # change only the sources' COPY steps (and the labels) run.
            "ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 UO_PORT=%d" % port,
            "USER 10001:10001",
            "WORKDIR /app",
            "EXPOSE %d" % port,
            'ENTRYPOINT ["/app/venv/pex"]',
            'CMD ["serve"]',
            # Two layers: the dependencies (rebuilt when the lockfile changes) and the sources
            # alone (the only layer a source change rebuilds). The entry point script
            # (/app/venv/pex) is written by the sources install.
            "COPY --from=deps /app/venv /app/venv",
            "COPY --from=srcs /app/venv/lib/python3.11/site-packages/ /app/venv/lib/python3.11/site-packages/",
            "COPY --from=srcs /app/venv/pex /app/venv/__main__.py /app/venv/PEX-INFO /app/venv/",
        ]
        + unifyops_label_instructions(unifyops_image_labels(stack, tier, with_core=True)),
    )


def unifyops_app_images():
    """The app tier of every stack in the registry (src/web/BUILD)."""
    for _, stack in UNIFYOPS_STACKS:
        unifyops_app_image(stack)


def unifyops_app_image(stack):
    """The app tier of a stack: its React bundle (built by npm inside a Pants sandbox) and the app
    server (src/python/uo_appserver) in one image on :3000.

    The bundle's inputs are the workspace files, the shared package and this app's own sources
    (not the tests), so only those select the image in `uo affected`.
    """
    app = "%s_app" % stack
    files(
        name="%s_sources" % app,
        sources=[
            "%s/package.json" % app,
            "%s/index.html" % app,
            "%s/vite.config.ts" % app,
            "%s/src/**/*" % app,
            "!%s/src/**/*.test.*" % app,
        ],
    )
    shell_command(
        name="%s_bundle" % app,
        # Offline, from the npm cache ./pants prefetches (src/web/bundle.sh).
        command="bash bundle.sh %s" % app,
        tools=["npm", "node", "bash", "sh", "env", "uname", "dirname"],
        execution_dependencies=[
            ":workspace", ":bundle_script", ":shared_sources", ":%s_sources" % app
        ],
        output_directories=["%s/dist" % app],
        extra_env_vars=["HOME", "UO_NPM_CACHE"],
        timeout=900,
    )
    docker_image(
        name="%s_image" % app,
        repository="unifyops/%s-app" % stack,
        image_tags=["{build_args.UO_GIT_SHA}"],
        dependencies=[":%s_bundle" % app, "src/python/uo_appserver:bin"],
        extra_build_args=[
            "UO_BASE_PYTHON_IMAGE", "UO_BASE_BUILD_IMAGE", "UO_GIT_SHA", "UO_CORE_VERSION"
        ],
        instructions=[
            "ARG UO_BASE_PYTHON_IMAGE",
            "ARG UO_BASE_BUILD_IMAGE",
            "FROM ${UO_BASE_BUILD_IMAGE} AS server",
            "COPY src.python.uo_appserver/bin.pex /build/server.pex",
            # A venv at build time: at run time /tmp is a noexec tmpfs (native extensions).
            "RUN " + SOURCE_DATE + " PEX_TOOLS=1 PEX_ROOT=/tmp/pex"
            " python3 /build/server.pex venv --compile /app/venv"
            " && " + STRIP_NATIVE + " && " + SOURCELESS_DEPS,
            "FROM ${UO_BASE_PYTHON_IMAGE}",
        ]
        + list(LABEL_ARGS)
        + [
            # Settings first, the server, then the bundle (what changes most) last: see the
            # tier images above.
            # The gateway by its naming-contract name, as the other tiers default to theirs.
            "ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 UO_PORT=%d "
            "UO_BUNDLE_DIR=/app/bundle UO_API_URL=http://%s-api:%d"
            % (unifyops_tier_port("app"), stack, unifyops_tier_port("api")),
            "USER 10001:10001",
            "WORKDIR /app",
            "EXPOSE %d" % unifyops_tier_port("app"),
            'ENTRYPOINT ["/app/venv/pex"]',
            "COPY --from=server /app/venv /app/venv",
            "COPY src/web/%s/dist /app/bundle" % app,
        ]
        + unifyops_label_instructions(unifyops_image_labels(stack, "app", with_core=False)),
    )
