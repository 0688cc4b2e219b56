#!/usr/bin/env bash
# Slow path of ./pants: makes the cached Pants venv, the pex CLI and the wheelhouse match this
# checkout. Each step is skipped when its result is already in the cache, so re-running is cheap.
# Usage: pants-bootstrap.sh <buildroot> <cache-dir>   (UO_WANTS_NEW_LOCK=1 before generate-lockfiles)
set -euo pipefail

buildroot="$1"
cache_dir="$2"
# shellcheck source=build-support/bootstrap/versions.sh
source "${buildroot}/build-support/bootstrap/versions.sh"

log_dir="${cache_dir}/logs"
mkdir -p "${log_dir}"

say() { echo "[bootstrap] $*"; }

die() {
  echo "[bootstrap] ERROR: $1" >&2
  [[ $# -gt 1 ]] && echo "[bootstrap] $2" >&2
  exit 1
}

run_logged() {
  # Runs a command with its output in a log file; on failure shows the end of the log.
  local log="$1"; shift
  if ! "$@" >"${log}" 2>&1; then
    grep -v "is ignored: it is neither a file nor a directory" "${log}" | tail -n 15 >&2
    return 1
  fi
}

find_python39() {
  local candidate
  local -a candidates=()
  [[ -n "${UO_PANTS_PYTHON:-}" ]] && candidates+=("${UO_PANTS_PYTHON}")
  command -v python3.9 >/dev/null 2>&1 && candidates+=("$(command -v python3.9)")
  if command -v pyenv >/dev/null 2>&1; then
    for candidate in "$(pyenv root)"/versions/3.9.*/bin/python3.9; do candidates+=("${candidate}"); done
  fi
  candidates+=(/usr/bin/python3.9 /usr/local/bin/python3.9)
  for candidate in "${candidates[@]}"; do
    if [[ -x "${candidate}" ]] \
      && "${candidate}" -c 'import sys, venv; sys.exit(sys.version_info[:2] != (3, 9))' 2>/dev/null; then
      echo "${candidate}"
      return 0
    fi
  done
  return 1
}

ensure_pants_venv() {
  local venv="${cache_dir}/pants-${UO_PANTS_VERSION}/venv"
  # The marker is written last, so an interrupted install is redone rather than trusted.
  [[ -f "${venv}/.installed" ]] && return 0
  local python
  python="$(find_python39)" || die \
    "Pants ${UO_PANTS_VERSION} needs CPython 3.9 and none was found (looked at \$UO_PANTS_PYTHON, python3.9 on PATH, pyenv versions 3.9.*)." \
    "Install one (e.g. 'pyenv install 3.9') or point UO_PANTS_PYTHON at a python3.9 binary, then run ./pants again."
  say "creating the Pants ${UO_PANTS_VERSION} venv with ${python} (once per machine)"
  rm -rf "${venv}"
  "${python}" -m venv "${venv}"
  run_logged "${log_dir}/pants-install.log" \
    "${venv}/bin/pip" install --disable-pip-version-check "pantsbuild.pants==${UO_PANTS_VERSION}" \
    || die "could not install pantsbuild.pants==${UO_PANTS_VERSION} from the package index (log: ${log_dir}/pants-install.log)." \
           "Check that the package index is reachable with this machine's pip configuration, then run ./pants again."
  touch "${venv}/.installed"
}

ensure_pex_cli() {
  local dir="${cache_dir}/pex-cli"
  local pex_file="${dir}/pex-${UO_PEX_VERSION}.pex"
  local env_file="${dir}/pex-${UO_PEX_VERSION}.env"
  [[ -f "${env_file}" && -f "${pex_file}" ]] && return 0
  mkdir -p "${dir}"
  say "building the pex CLI ${UO_PEX_VERSION} from the package index (once per machine)"
  run_logged "${log_dir}/pex-cli.log" \
    "${cache_dir}/pants-${UO_PANTS_VERSION}/venv/bin/pex" "pex==${UO_PEX_VERSION}" -c pex -o "${pex_file}.partial" \
    || die "could not build pex ${UO_PEX_VERSION} (log: ${log_dir}/pex-cli.log)." \
           "Check that the package index is reachable, then run ./pants again."
  mv "${pex_file}.partial" "${pex_file}"
  local sha size
  sha="$(sha256sum "${pex_file}" | cut -d' ' -f1)"
  size="$(stat -c %s "${pex_file}")"
  # Handed to Pants as environment variables so pants.toml stays standard for machines that can
  # reach the release page.
  cat >"${env_file}" <<ENV
export PANTS_PEX_CLI_VERSION="v${UO_PEX_VERSION}"
export PANTS_PEX_CLI_KNOWN_VERSIONS="['v${UO_PEX_VERSION}|linux_x86_64|${sha}|${size}']"
export PANTS_PEX_CLI_URL_TEMPLATE="file://${pex_file}"
ENV
}

ensure_wheelhouse() {
  local wheelhouse="${cache_dir}/wheelhouse"
  local lockfile="${buildroot}/3rdparty/python/default.lock"
  local -a args=(--dest "${wheelhouse}" --python-version "${UO_CODE_PYTHON_VERSION}")
  args+=(--requirements "${buildroot}/3rdparty/python/requirements.txt")
  [[ -f "${lockfile}" ]] && args+=(--lockfile "${lockfile}")
  [[ "${UO_WANTS_NEW_LOCK:-0}" == "1" || ! -f "${lockfile}" ]] && args+=(--resolve-requirements)
  for wheel in "${UO_PEX_PIP_WHEELS[@]}"; do args+=(--extra "${wheel}"); done
  "${cache_dir}/pants-${UO_PANTS_VERSION}/venv/bin/python" \
    "${buildroot}/build-support/bootstrap/wheelhouse.py" "${args[@]}" \
    || die "the wheelhouse could not be filled (see above)." \
           "Check that the package index is reachable, then run ./pants again."
  if [[ -f "${lockfile}" ]]; then
    sha256sum "${lockfile}" | cut -d' ' -f1 >"${wheelhouse}/.complete-for"
  else
    echo "no-lockfile" >"${wheelhouse}/.complete-for"
  fi
}

ensure_pants_venv
ensure_pex_cli
ensure_wheelhouse
