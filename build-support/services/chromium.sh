#!/usr/bin/env bash
# Makes Debian's headless-capable Chromium available for the browser tests (idempotent). Browser
# downloads by test tools do not work on these machines; the distribution's package does.
set -euo pipefail
say() { echo "[chromium] $*" >&2; }
if [[ -x /usr/bin/chromium ]]; then
  say "present ($(/usr/bin/chromium --version 2>/dev/null | head -n1))"
  exit 0
fi
if [[ ${EUID} -ne 0 ]]; then
  say "ERROR: /usr/bin/chromium is missing and installing it needs root (apt-get install chromium)"
  exit 1
fi
say "installing Debian's chromium (once per machine, about a minute)"
apt-get update -qq >&2
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >&2
say "installed ($(/usr/bin/chromium --version 2>/dev/null | head -n1))"
