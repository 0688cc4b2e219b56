#!/usr/bin/env bash
# Makes the unprivileged account the workflow test runs GitHub Actions jobs as
# (tests/release/workflow_run_test.py), set up as GitHub's hosted runner sets up its `runner`
# user: a home of its own, a member of the Docker engine's group, passwordless sudo (the
# workflow's root steps say `sudo`); and patchelf, with which the runner's tool cache makes the
# interpreters it copies relocatable (tests/release/workflow_actions.py). Idempotent; needs root.
# Prints the account's name.
#   UO_RUNNER_USER   the account (default uo-runner)
set -euo pipefail

user="${UO_RUNNER_USER:-uo-runner}"
say() { echo "[runner-user] $*" >&2; }

if [[ ${EUID} -ne 0 ]]; then
  say "ERROR: creating the runner account needs root"
  exit 1
fi
missing=()
command -v sudo >/dev/null 2>&1 || missing+=(sudo)
command -v patchelf >/dev/null 2>&1 || missing+=(patchelf)
if ((${#missing[@]})); then
  say "installing Debian's ${missing[*]} (sudo: the workflow's root steps use it, as on GitHub's runner)"
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi
# The engine hands its socket to this group when it starts (dockerd --group defaults to docker).
getent group docker >/dev/null || groupadd --system docker
if ! id "${user}" >/dev/null 2>&1; then
  say "creating ${user} (home /home/${user}, groups docker)"
  useradd --create-home --shell /bin/bash --groups docker "${user}"
fi
id -nG "${user}" | tr ' ' '\n' | grep -qx docker || usermod -aG docker "${user}"
sudoers="/etc/sudoers.d/${user}"
rule="${user} ALL=(ALL) NOPASSWD:ALL"
if [[ "$(cat "${sudoers}" 2>/dev/null)" != "${rule}" ]]; then
  echo "${rule}" >"${sudoers}.tmp"
  chmod 0440 "${sudoers}.tmp"
  mv "${sudoers}.tmp" "${sudoers}"
fi
echo "${user}"
