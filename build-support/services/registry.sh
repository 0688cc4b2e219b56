#!/usr/bin/env bash
# Starts (idempotently) the local OCI registry, Debian's CNCF distribution registry, on
# 127.0.0.1:${UO_REGISTRY_PORT:-5000} with its data in ${UO_REGISTRY_DIR}. Prints its address.
set -euo pipefail

port="${UO_REGISTRY_PORT:-5000}"
root="${UO_REGISTRY_DIR:-/var/lib/unifyops-registry}"
address="127.0.0.1:${port}"

say() { echo "[registry] $*" >&2; }
answers() { curl -fsS "http://${address}/v2/" >/dev/null 2>&1; }

if answers; then
  say "already serving on ${address}"
  echo "${address}"
  exit 0
fi
if ! command -v docker-registry >/dev/null 2>&1; then
  if [[ ${EUID} -ne 0 ]]; then
    say "ERROR: docker-registry is not installed and installing it needs root"
    exit 1
  fi
  say "installing Debian's docker-registry (once per machine)"
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker-registry >&2
fi
mkdir -p "${root}/data"
cat >"${root}/config.yml" <<CONFIG
version: 0.1
storage:
  filesystem:
    rootdirectory: ${root}/data
  delete:
    enabled: true
http:
  addr: ${address}
CONFIG
say "starting on ${address} (data: ${root}/data)"
nohup docker-registry serve "${root}/config.yml" >"${root}/registry.log" 2>&1 &
for _ in $(seq 1 30); do
  answers && { echo "${address}"; exit 0; }
  sleep 0.5
done
say "ERROR: the registry did not start; the end of its log:"
tail -n 20 "${root}/registry.log" >&2
exit 1
