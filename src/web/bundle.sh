#!/usr/bin/env bash
# Builds one app's bundle (<app>/dist) in the npm workspace this script sits in, offline: every
# package comes from the prefetched cache $UO_NPM_CACHE (build-support/bootstrap/npm-cache.sh,
# run by ./pants), never from a package index. Used by the apps' bundle targets
# (unifyops_app_image in build-support/pants/macros.py).
# Usage: bundle.sh <app>   e.g. bundle.sh user_app
set -euo pipefail
app="$1"
if [[ -z "${UO_NPM_CACHE:-}" || ! -d "${UO_NPM_CACHE}" ]]; then
  echo "bundle.sh: UO_NPM_CACHE names no npm cache; run the build through ./pants, which fills it" >&2
  exit 1
fi
cd "$(dirname "${BASH_SOURCE[0]}")"
# --ignore-scripts: nothing the build needs runs at install time (esbuild ships its binary as a
# package).
npm ci --offline --cache "${UO_NPM_CACHE}" --no-audit --no-fund --loglevel=error --ignore-scripts
npm run build --workspace "${app}"
