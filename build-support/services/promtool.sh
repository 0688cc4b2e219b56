#!/usr/bin/env bash
# Makes promtool available for the alert-rule tests (tests/charts/monitoring_test.py), idempotent.
# Debian's prometheus package provides it; no Prometheus server is started by it here (no init).
set -euo pipefail
say() { echo "[promtool] $*" >&2; }
if command -v promtool >/dev/null 2>&1; then
  say "present ($(promtool --version 2>&1 | head -n1))"
  exit 0
fi
if [[ ${EUID} -ne 0 ]]; then
  say "ERROR: promtool is missing and installing it needs root (apt-get install prometheus)"
  exit 1
fi
say "installing Debian's prometheus package for promtool (once per machine)"
apt-get update -qq >&2
# policy-rc.d 101: the package's maintainer scripts must not start a server on this machine.
policy=/usr/sbin/policy-rc.d
created_policy=false
if [[ ! -e ${policy} ]]; then
  printf '#!/bin/sh\nexit 101\n' > "${policy}" && chmod +x "${policy}" && created_policy=true
fi
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >&2
if ${created_policy}; then rm -f "${policy}"; fi
say "installed ($(promtool --version 2>&1 | head -n1))"
