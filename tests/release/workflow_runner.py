"""Runs a GitHub Actions workflow file on this machine, the way GitHub's runner would, for what
.github/workflows/release.yml uses. GitHub itself cannot run here; this is the local stand-in.

What it does as GitHub does:

- the trigger (``on:``, branch filters of ``push``), then jobs in ``needs`` order; a job's ``if:``
  (implicitly ``success() && ...``) over ``github`` and ``needs``; a job whose needs did not all
  succeed is skipped unless its ``if:`` asks for ``always()``/``failure()``;
- ``strategy.matrix`` (an object, or ``${{ fromJSON(...) }}``): axes, ``include``, ``exclude``; no
  combination skips the job; ``fail-fast`` (default true) cancels the combinations not yet run
  once one fails (they run one after another here);
- ``${{ }}`` in ``run:``, ``env:``, ``with:``, ``name:``, ``working-directory:`` and the job's
  ``outputs:`` (workflow_expressions.py: an unknown context, key or function is an error);
- each ``run:`` step as ``bash --noprofile --norc -eo pipefail <script>`` in the job's workspace
  (``working-directory``, ``defaults.run``), with workflow < job < ``$GITHUB_ENV`` < step ``env``,
  ``GITHUB_OUTPUT``/``GITHUB_ENV`` (``name=value`` and ``name<<DELIM``), ``GITHUB_PATH``,
  ``GITHUB_STEP_SUMMARY``, ``GITHUB_SHA``/``_REF``/``_EVENT_NAME``/``_EVENT_PATH``/``_WORKSPACE``,
  ``CI=true``; a failing step fails the job and skips the later steps (unless their ``if:`` says
  ``always()``/``failure()``), secrets are masked in the log.

``services:`` start as on GitHub (workflow_services.py), with local stand-ins for the images GitHub
would pull. ``uses:`` steps map to explicit local stand-ins (workflow_actions.ACTIONS); any other
action is an error naming it. Each job (and matrix combination) gets a fresh workspace, as a fresh
runner would. With a :class:`RunnerAccount`, the steps (and the checkout) run as that unprivileged
account with its login environment, as GitHub's hosted runner runs them as ``runner`` (passwordless
sudo for root steps: build-support/services/runner-user.sh makes such an account); without one, as
this process's user with its environment. The account's home and the tool cache persist between
runs, as a self-hosted runner's do (a hosted runner would restore them with actions/cache).
"""

from __future__ import annotations

import fnmatch
import itertools
import json
import os
import pwd
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from release.workflow_actions import ACTIONS, ActionError
from release.workflow_expressions import Lenient, Status, condition, substitute, to_text
from release.workflow_services import JobServices, ServiceError

JOB_KEYS = {
    "name", "needs", "if", "runs-on", "permissions", "outputs", "strategy", "steps", "env",
    "defaults", "concurrency", "timeout-minutes", "services",
}  # fmt: skip
STEP_KEYS = {
    "name", "id", "if", "run", "uses", "with", "env", "working-directory", "shell",
    "continue-on-error", "timeout-minutes",
}  # fmt: skip


class WorkflowError(RuntimeError):
    """The workflow asks for something this runner does not do (or does not do like GitHub)."""


@dataclass(frozen=True)
class Event:
    """What triggered the run: ``push`` of ``before..sha`` to ``ref``, or a ``pull_request``."""

    name: str
    sha: str
    ref: str
    before: str = ""
    base_ref: str = ""
    head_ref: str = ""

    def payload(self) -> dict[str, Any]:
        if self.name == "push":
            return {"before": self.before, "after": self.sha, "ref": self.ref}
        return {"pull_request": {"base": {"ref": self.base_ref}, "head": {"ref": self.head_ref}}}


@dataclass(frozen=True)
class RunnerAccount:
    """The unprivileged account steps run as (GitHub's hosted runner: ``runner``)."""

    name: str
    uid: int
    gid: int
    groups: tuple[int, ...]
    home: Path
    shell: str

    @classmethod
    def named(cls, name: str) -> RunnerAccount:
        entry = pwd.getpwnam(name)
        groups = tuple(os.getgrouplist(name, entry.pw_gid))
        return cls(name, entry.pw_uid, entry.pw_gid, groups, Path(entry.pw_dir), entry.pw_shell)

    def login_environ(self) -> dict[str, str]:
        """What a login of the account starts with (no variable of the invoking user leaks)."""
        return {
            "HOME": str(self.home),
            "USER": self.name,
            "LOGNAME": self.name,
            "SHELL": self.shell,
            "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "LANG": "C.UTF-8",
        }

    def process_options(self) -> dict[str, Any]:
        """subprocess keyword arguments that run a child as the account."""
        return {"user": self.uid, "group": self.gid, "extra_groups": list(self.groups)}

    def own(self, path: Path) -> None:
        """Hand ``path`` (recursively) to the account."""
        subprocess.run(["chown", "-R", f"{self.uid}:{self.gid}", str(path)], check=True)


@dataclass
class StepRun:
    name: str
    outcome: str  # success | failure | skipped
    output: str = ""
    outputs: dict[str, str] = field(default_factory=dict)


@dataclass
class JobRun:
    """One job, or one matrix combination of it."""

    job: str
    result: str  # success | failure | skipped | cancelled
    matrix: dict[str, Any] | None = None
    steps: list[StepRun] = field(default_factory=list)
    outputs: dict[str, str] = field(default_factory=dict)
    summary: str = ""
    workspace: Path | None = None


@dataclass
class RunResult:
    runs: list[JobRun]
    log: list[str]

    def result(self, job: str) -> str:
        results = [run.result for run in self.runs if run.job == job]
        if not results:
            raise KeyError(job)
        if "failure" in results or "cancelled" in results:
            return "failure"
        return "skipped" if set(results) == {"skipped"} else "success"

    def of(self, job: str) -> list[JobRun]:
        return [run for run in self.runs if run.job == job]


def parse_commands_file(text: str, kind: str) -> dict[str, str]:
    """``$GITHUB_OUTPUT``/``$GITHUB_ENV``: ``name=value`` lines and ``name<<DELIM`` blocks."""
    values: dict[str, str] = {}
    lines = iter(text.splitlines())
    for line in lines:
        if not line.strip():
            continue
        heredoc = "<<" in line and ("=" not in line or line.index("<<") < line.index("="))
        if heredoc:
            name, delimiter = line.split("<<", 1)
            body: list[str] = []
            for candidate in lines:
                if candidate == delimiter:
                    break
                body.append(candidate)
            else:
                raise WorkflowError(f"{kind}: no closing {delimiter!r} for {name!r}")
            values[name] = "\n".join(body)
        elif "=" in line:
            name, value = line.split("=", 1)
            values[name] = value
        else:
            raise WorkflowError(f"{kind}: cannot read the line {line!r}")
    return values


def expand_matrix(matrix: Any) -> list[dict[str, Any]]:
    """The combinations of a ``strategy.matrix`` value, in GitHub's order."""
    if not isinstance(matrix, dict):
        raise WorkflowError(f"strategy.matrix is not an object: {matrix!r}")
    axes = {k: v for k, v in matrix.items() if k not in ("include", "exclude")}
    for name, values in axes.items():
        if not isinstance(values, list):
            raise WorkflowError(f"matrix axis {name!r} is not a list: {values!r}")
    combos: list[dict[str, Any]] = []
    if axes:  # an axis without values gives no combination
        product = itertools.product(*axes.values())
        combos = [dict(zip(axes, values, strict=True)) for values in product]
    for rule in matrix.get("exclude") or []:
        combos = [c for c in combos if any(c.get(k) != v for k, v in rule.items())]
    originals = len(combos)
    for extra in matrix.get("include") or []:
        matched = False
        for combo in combos[:originals]:
            if all(combo.get(k, v) == v for k, v in extra.items() if k in axes):
                # Added keys never overwrite an original axis value.
                combo.update({k: v for k, v in extra.items() if k not in axes})
                matched = True
        if not matched:
            combos.append(dict(extra))
    return combos


def substitute_within(value: Any, contexts: dict[str, Any]) -> Any:
    """``value`` with the expressions in every string of it (at any depth) substituted."""
    if isinstance(value, dict):
        return {key: substitute_within(item, contexts) for key, item in value.items()}
    if isinstance(value, list):
        return [substitute_within(item, contexts) for item in value]
    return substitute(value, contexts)


def _needs(job: dict[str, Any]) -> list[str]:
    needs = job.get("needs") or []
    return [needs] if isinstance(needs, str) else list(needs)


def job_order(jobs: dict[str, Any]) -> list[str]:
    """Jobs in ``needs`` order (file order among jobs ready at the same time)."""
    order: list[str] = []
    while len(order) < len(jobs):
        ready = [
            name
            for name, job in jobs.items()
            if name not in order and all(n in order for n in _needs(job))
        ]
        if not ready:
            raise WorkflowError(f"needs form a cycle or name a missing job: {sorted(jobs)}")
        order.append(ready[0])
    return order


class JobContext:
    """One job (or matrix combination) on a fresh runner."""

    def __init__(self, runner: WorkflowRunner, job: str, index: int) -> None:
        self.runner, self.job = runner, job
        root = runner.work_dir / (job if index == 0 else f"{job}-{index}")
        if root.exists():
            raise WorkflowError(f"{root} exists: every job needs a fresh runner directory")
        self.workspace = root / "workspace"
        self.temp = root / "temp"
        self.workspace.mkdir(parents=True)
        self.temp.mkdir()
        runner.own(root)
        self.path_entries: list[str] = []
        self.exported_env: dict[str, str] = {}


class WorkflowRunner:
    """Runs one workflow for one event. ``repository`` is the git repository actions/checkout
    clones (the stand-in for the GitHub repository, pushes go back to it); ``skip_steps`` maps
    ``"job/step name"`` to the reason a step is not run (logged, reported as skipped)."""

    def __init__(
        self,
        workflow: Path,
        *,
        repository: Path,
        event: Event,
        work_dir: Path,
        secrets: Mapping[str, str] | None = None,
        environ: Mapping[str, str] | None = None,
        skip_steps: Mapping[str, str] | None = None,
        echo: Callable[[str], None] | None = None,
        account: RunnerAccount | None = None,
        tool_cache: Path | None = None,
        service_images: Mapping[str, str] | None = None,
    ) -> None:
        self.workflow = yaml.safe_load(workflow.read_text())
        self.repository, self.event, self.work_dir = repository.resolve(), event, work_dir
        self.secrets = Lenient(secrets or {})
        self.account, self.tool_cache = account, tool_cache
        self.service_images = dict(service_images or {})
        default_environ = os.environ if account is None else account.login_environ()
        self.environ = dict(default_environ if environ is None else environ)
        self.skip_steps = dict(skip_steps or {})
        self.echo = echo
        self.artifacts = work_dir / "artifacts"
        self.log: list[str] = []

    # -- the account steps run as --------------------------------------------------------
    def own(self, path: Path) -> None:
        if self.account is not None:
            self.account.own(path)

    def process_options(self) -> dict[str, Any]:
        return {} if self.account is None else self.account.process_options()

    # -- logging ---------------------------------------------------------------------------
    def say(self, text: str) -> None:
        for secret in self.secrets.values():
            if secret:
                text = text.replace(secret, "***")
        self.log.append(text)
        if self.echo is not None:
            self.echo(text)

    # -- contexts --------------------------------------------------------------------------
    def github(self) -> dict[str, Any]:
        branch = self.event.ref.removeprefix("refs/heads/")
        return {
            "event_name": self.event.name,
            "event": Lenient(self.event.payload()),
            "sha": self.event.sha,
            "ref": self.event.ref,
            "ref_name": branch,
            "base_ref": self.event.base_ref,
            "head_ref": self.event.head_ref,
            "repository": "unifyops/unifyops",
            "workspace": "",
            "run_id": "1",
            "run_number": "1",
            "actor": "workflow-runner",
            "server_url": "file://",
        }

    # -- the run ---------------------------------------------------------------------------
    def run(self) -> RunResult:
        self._check_trigger()
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self.own(self.work_dir)
        jobs: dict[str, Any] = self.workflow.get("jobs") or {}
        runs: list[JobRun] = []
        needs_context: dict[str, dict[str, Any]] = {}
        for name in job_order(jobs):
            job_runs = self._run_job(name, jobs[name], needs_context)
            runs.extend(job_runs)
            result = RunResult(job_runs, []).result(name)
            outputs: dict[str, str] = {}
            for job_run in job_runs:
                outputs.update({k: v for k, v in job_run.outputs.items() if v or k not in outputs})
            declared = jobs[name].get("outputs") or {}
            needs_context[name] = {
                "result": result,
                "outputs": {key: outputs.get(key, "") for key in declared},
            }
            self.say(f"== job {name}: {result}")
        return RunResult(runs, self.log)

    def _check_trigger(self) -> None:
        triggers = self.workflow.get(True, self.workflow.get("on"))
        if isinstance(triggers, str):
            triggers = {triggers: None}
        if isinstance(triggers, list):
            triggers = dict.fromkeys(triggers)
        if self.event.name not in (triggers or {}):
            raise WorkflowError(f"the workflow does not run on {self.event.name!r}")
        spec = triggers[self.event.name] or {}
        branches = spec.get("branches")
        if self.event.name == "push" and branches:
            branch = self.event.ref.removeprefix("refs/heads/")
            if not any(fnmatch.fnmatchcase(branch, b) for b in branches):
                raise WorkflowError(f"the workflow does not run on a push to {branch!r}")

    def _run_job(self, name: str, job: dict[str, Any], needs: dict[str, Any]) -> list[JobRun]:
        unknown = set(job) - JOB_KEYS
        if unknown:
            raise WorkflowError(f"job {name}: this runner does not do {sorted(unknown)}")
        direct = {n: needs[n] for n in _needs(job)}
        status = Status(
            success=all(n["result"] == "success" for n in direct.values()),
            failure=any(n["result"] == "failure" for n in direct.values()),
        )
        contexts: dict[str, Any] = {"github": self.github(), "needs": direct}
        if not condition(job.get("if"), contexts, status):
            self.say(f"== job {name}: skipped (if: {job.get('if', 'success()')})")
            return [JobRun(name, "skipped")]
        self.say(f"== job {name}: runs-on {job.get('runs-on')} -> this machine")
        strategy = job.get("strategy") or {}
        if "matrix" not in strategy:
            return [self._run_instance(name, job, direct, None, 0)]
        matrix_value = substitute(strategy["matrix"], {**contexts, "secrets": self.secrets})
        combos = expand_matrix(matrix_value)
        if not combos:
            self.say(f"== job {name}: skipped (the matrix has no combination)")
            return [JobRun(name, "skipped")]
        fail_fast = strategy.get("fail-fast", True) not in (False, "false")
        runs: list[JobRun] = []
        for index, combo in enumerate(combos):
            if fail_fast and any(run.result == "failure" for run in runs):
                self.say(f"== job {name} {combo}: cancelled (fail-fast)")
                runs.append(JobRun(name, "cancelled", matrix=combo))
                continue
            runs.append(self._run_instance(name, job, direct, combo, index))
        return runs

    def _run_instance(
        self,
        name: str,
        job: dict[str, Any],
        needs: dict[str, Any],
        matrix: dict[str, Any] | None,
        index: int,
    ) -> JobRun:
        context = JobContext(self, name, index)
        run = JobRun(name, "success", matrix=matrix, workspace=context.workspace)
        self.say(f"== job {name}" + (f" matrix {json.dumps(matrix)}" if matrix else ""))
        base: dict[str, Any] = {
            "github": {**self.github(), "workspace": str(context.workspace)},
            "needs": needs,
            "secrets": self.secrets,
            "matrix": matrix if matrix is not None else {},
            "strategy": {"job-index": index},
            "runner": {"os": "Linux", "temp": str(context.temp)},
            "job": {"status": "success"},
        }
        services = JobServices({**os.environ, **self._docker_host()})
        try:
            # GitHub's "Initialize containers": no step runs if a service does not come up.
            spec = substitute_within(job.get("services") or {}, {**base, "env": {}})
            for line in services.start(spec, self.service_images):
                self.say(f"-- {line}")
        except ServiceError as exc:
            services.stop()
            self.say(f"-- initialize containers: failure\n{exc}")
            run.result = "failure"
            return run
        base["job"]["services"] = services.context
        try:
            self._run_steps(context, run, job, base)
        finally:
            services.stop()
        return run

    def _docker_host(self) -> dict[str, str]:
        host = self.environ.get("DOCKER_HOST")
        return {"DOCKER_HOST": host} if host else {}

    def _run_steps(
        self, context: JobContext, run: JobRun, job: dict[str, Any], base: dict[str, Any]
    ) -> None:
        name = context.job
        workflow_env = self._env_block(self.workflow.get("env"), {**base, "env": {}})
        job_env = self._env_block(job.get("env"), {**base, "env": workflow_env})
        defaults = {
            **((self.workflow.get("defaults") or {}).get("run") or {}),
            **((job.get("defaults") or {}).get("run") or {}),
        }
        steps: dict[str, Any] = {}
        failed = False
        for number, step in enumerate(job.get("steps") or [], start=1):
            unknown = set(step) - STEP_KEYS
            if unknown:
                raise WorkflowError(f"job {name} step {number}: not done here: {sorted(unknown)}")
            env_now = {**workflow_env, **job_env, **context.exported_env}
            contexts = {**base, "env": env_now, "steps": steps}
            status = Status(success=not failed, failure=failed)
            title = substitute(step.get("name") or step.get("run") or step.get("uses"), contexts)
            title = to_text(title).splitlines()[0] if to_text(title) else f"step {number}"
            if not condition(step.get("if"), contexts, status):
                self.say(f"-- {title}: skipped (if)")
                run.steps.append(StepRun(title, "skipped"))
                self._record(steps, step, "skipped", {})
                continue
            skip = self.skip_steps.get(f"{name}/{step.get('name')}")
            if skip is not None:
                self.say(f"-- {title}: skipped by this runner: {skip}")
                run.steps.append(StepRun(title, "skipped"))
                self._record(steps, step, "skipped", {})
                continue
            step_env = self._env_block(step.get("env"), contexts)
            contexts = {**contexts, "env": {**env_now, **step_env}}
            self.say(f"-- {title}")
            outcome, output, outputs = self._step(context, step, contexts, defaults, step_env)
            self.say(output.rstrip("\n")) if output.strip() else None
            continue_on_error = to_text(substitute(step.get("continue-on-error", False), contexts))
            if outcome == "failure" and continue_on_error != "true":
                failed = True
            self.say(f"-- {title}: {outcome}")
            run.steps.append(StepRun(title, outcome, self._mask(output), outputs))
            self._record(steps, step, outcome, outputs)
        outputs_contexts = {**base, "env": {**workflow_env, **job_env}, "steps": steps}
        run.outputs = {
            key: to_text(substitute(value, outputs_contexts))
            for key, value in (job.get("outputs") or {}).items()
        }
        run.result = "failure" if failed else "success"
        summary = context.temp / "summary.md"
        run.summary = summary.read_text() if summary.exists() else ""

    def _mask(self, text: str) -> str:
        for secret in self.secrets.values():
            if secret:
                text = text.replace(secret, "***")
        return text

    @staticmethod
    def _record(steps: dict[str, Any], step: dict[str, Any], outcome: str, out: Any) -> None:
        if "id" in step:
            steps[step["id"]] = {"outputs": Lenient(out), "outcome": outcome, "conclusion": outcome}

    @staticmethod
    def _env_block(block: Any, contexts: dict[str, Any]) -> dict[str, str]:
        env: dict[str, str] = {}
        for key, value in (block or {}).items():
            env[key] = to_text(substitute(value, {**contexts, "env": {**contexts["env"], **env}}))
        return env

    def _step(
        self,
        context: JobContext,
        step: dict[str, Any],
        contexts: dict[str, Any],
        defaults: dict[str, Any],
        step_env: dict[str, str],
    ) -> tuple[str, str, dict[str, str]]:
        if "uses" in step:
            action = to_text(step["uses"])
            stand_in = ACTIONS.get(action.split("@", 1)[0])
            if stand_in is None:
                known = ", ".join(sorted(ACTIONS))
                raise WorkflowError(f"no local stand-in for the action {action} (known: {known})")
            inputs = {
                k: to_text(substitute(v, contexts)) for k, v in (step.get("with") or {}).items()
            }
            try:
                return "success", stand_in(context, inputs), {}
            except (ActionError, subprocess.CalledProcessError, OSError) as exc:
                detail = getattr(exc, "stderr", "") or ""
                return "failure", f"{action}: {exc} {detail}", {}
        if "run" not in step:
            raise WorkflowError(f"a step with neither run nor uses: {step}")
        shell = step.get("shell", defaults.get("shell", "bash"))
        if shell != "bash":
            raise WorkflowError(f"shell {shell!r}: this runner runs bash only")
        script = to_text(substitute(step["run"], contexts))
        directory = step.get("working-directory", defaults.get("working-directory"))
        cwd = context.workspace / to_text(substitute(directory, contexts)) if directory else None
        return self._run_script(context, script, cwd or context.workspace, contexts, step)

    def _run_script(
        self,
        context: JobContext,
        script: str,
        cwd: Path,
        contexts: dict[str, Any],
        step: dict[str, Any],
    ) -> tuple[str, str, dict[str, str]]:
        files = {
            name: context.temp / f"{name.lower()}_{len(self.log)}"
            for name in ("GITHUB_OUTPUT", "GITHUB_ENV", "GITHUB_PATH")
        }
        for path in files.values():
            path.write_text("")
        script_file = context.temp / f"step_{len(self.log)}.sh"
        script_file.write_text(script)
        event_file = context.temp / "event.json"
        event_file.write_text(json.dumps(self.event.payload()))
        for path in (*files.values(), script_file, event_file):
            self.own(path)
        env = {**self.environ, **contexts["env"]}
        if context.path_entries:
            env["PATH"] = os.pathsep.join([*reversed(context.path_entries), env.get("PATH", "")])
        env.update(
            {
                "CI": "true",
                "GITHUB_ACTIONS": "true",
                "GITHUB_SHA": self.event.sha,
                "GITHUB_REF": self.event.ref,
                "GITHUB_REF_NAME": self.event.ref.removeprefix("refs/heads/"),
                "GITHUB_EVENT_NAME": self.event.name,
                "GITHUB_EVENT_PATH": str(event_file),
                "GITHUB_BASE_REF": self.event.base_ref,
                "GITHUB_HEAD_REF": self.event.head_ref,
                "GITHUB_WORKSPACE": str(context.workspace),
                "GITHUB_JOB": context.job,
                "GITHUB_STEP_SUMMARY": str(context.temp / "summary.md"),
                "RUNNER_TEMP": str(context.temp),
                "RUNNER_OS": "Linux",
                **({"RUNNER_TOOL_CACHE": str(self.tool_cache)} if self.tool_cache else {}),
                **{name: str(path) for name, path in files.items()},
            }
        )
        minutes = step.get("timeout-minutes")
        try:
            done = subprocess.run(
                ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script_file)],
                cwd=cwd,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                timeout=float(minutes) * 60 if minutes else None,
                **self.process_options(),
            )
        except subprocess.TimeoutExpired as exc:
            return "failure", f"{exc.output or ''}\ntimed out after {minutes} min", {}
        outputs = parse_commands_file(files["GITHUB_OUTPUT"].read_text(), "GITHUB_OUTPUT")
        context.exported_env.update(
            parse_commands_file(files["GITHUB_ENV"].read_text(), "GITHUB_ENV")
        )
        context.path_entries += [p for p in files["GITHUB_PATH"].read_text().splitlines() if p]
        outcome = "success" if done.returncode == 0 else "failure"
        code = done.returncode
        tail = "" if code == 0 else f"\nProcess completed with exit code {code}."
        return outcome, done.stdout + tail, outputs


__all__ = [
    "Event",
    "JobContext",
    "JobRun",
    "RunResult",
    "RunnerAccount",
    "StepRun",
    "WorkflowError",
    "WorkflowRunner",
    "expand_matrix",
    "job_order",
    "parse_commands_file",
    "substitute_within",
]
