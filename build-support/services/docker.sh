#!/usr/bin/env bash
# Makes a Docker engine available (idempotently) and prints the DOCKER_HOST to use.
#   - $DOCKER_HOST, when set and answering, is used as it is;
#   - else the system socket, when it answers;
#   - else a private engine: Debian's docker.io dockerd with no iptables/bridge (what works on
#     these machines), data in ${UO_DOCKER_DIR}, storage driver overlay2 where the kernel lets us
#     mount overlayfs there, vfs otherwise (UO_DOCKER_STORAGE_DRIVER overrides). Installed if absent.
#   UO_DOCKER_PRIVATE=1 skips the first two: always the private engine of ${UO_DOCKER_DIR} (tests
#   use it for a throwaway engine with nothing on it, a clean machine's).
set -euo pipefail

root="${UO_DOCKER_DIR:-/var/lib/unifyops-docker}"
socket="unix://${root}/docker.sock"

say() { echo "[docker] $*" >&2; }
answers() { DOCKER_HOST="$1" timeout 10 docker version --format '{{.Server.Version}}' >/dev/null 2>&1; }

ensure_client() {
  command -v docker >/dev/null 2>&1 && return 0
  say "installing the docker client (Debian docker.io)"
  apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker.io >&2
}

# Without iptables, only routing keeps Docker networks apart: with IP forwarding on, a container
# on one internal network could reach another network through the host. `uo up` relies on
# per-hop networks being isolated (its e2e tests prove it), so the private engine runs with
# forwarding off.
isolate_networks() {
  [[ "$(cat /proc/sys/net/ipv4/ip_forward 2>/dev/null || echo 0)" == "0" ]] && return 0
  if sysctl -qw net.ipv4.ip_forward=0 2>/dev/null; then
    say "IP forwarding turned off (keeps the engine's internal networks apart)"
  else
    say "WARNING: could not turn off IP forwarding; networks of uo up are not isolated"
  fi
}

# `uo up` writes each container's NetworkPolicy into its network namespace with nft (Debian's
# nftables); without it the engine's networks would be symmetric.
ensure_policy_tools() {
  command -v nft >/dev/null 2>&1 && return 0
  if [[ ${EUID} -ne 0 ]]; then
    say "WARNING: nft (Debian nftables) is missing; uo up needs it to enforce NetworkPolicies"
    return 0
  fi
  say "installing Debian's nftables (uo up enforces NetworkPolicies with it)"
  apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nftables >&2
}

ensure_client
ensure_policy_tools
private_only="${UO_DOCKER_PRIVATE:-0}"
if [[ ${private_only} != 1 && -n "${DOCKER_HOST:-}" ]] && answers "${DOCKER_HOST}"; then
  say "using DOCKER_HOST=${DOCKER_HOST}"
  echo "${DOCKER_HOST}"
  exit 0
fi
if [[ ${private_only} != 1 ]] && answers "unix:///var/run/docker.sock"; then
  say "using the system engine"
  echo "unix:///var/run/docker.sock"
  exit 0
fi
if answers "${socket}"; then
  isolate_networks
  say "private engine already running (${root})"
  echo "${socket}"
  exit 0
fi

if ! command -v dockerd >/dev/null 2>&1; then
  if [[ ${EUID} -ne 0 ]]; then
    say "ERROR: no Docker engine answers and starting one needs root (apt-get install docker.io)"
    exit 1
  fi
  say "installing Debian's docker.io (once per machine)"
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker.io >&2
fi

# overlay2 shares every layer between images and containers; vfs copies an image's whole root
# file system for every build step and every container (a full test run wrote ~70 GB with it and
# filled a CI machine's disk). The probe mounts a throwaway overlay where the engine keeps its data.
overlay_mounts_here() {
  local probe
  probe="$(mktemp -d "${root}/overlay-probe.XXXXXX")" || return 1
  mkdir -p "${probe}"/{lower,upper,work,merged}
  local ok=1
  if mount -t overlay overlay \
      -o "lowerdir=${probe}/lower,upperdir=${probe}/upper,workdir=${probe}/work" \
      "${probe}/merged" 2>/dev/null; then
    ok=0
    umount "${probe}/merged"
  fi
  rm -rf "${probe}"
  return "${ok}"
}

choose_storage_driver() {
  if [[ -n "${UO_DOCKER_STORAGE_DRIVER:-}" ]]; then
    echo "${UO_DOCKER_STORAGE_DRIVER}"
  elif overlay_mounts_here; then
    echo overlay2
  else
    echo vfs
  fi
}

# An engine started earlier with the other driver left its layers behind; the new driver cannot
# see them (its images are gone either way), so they only take disk.
drop_layers_of_other_driver() {
  local driver="$1" other
  for other in vfs overlay2; do
    [[ "${other}" == "${driver}" || ! -d "${root}/data/${other}" ]] && continue
    say "removing the layers an earlier engine kept with the ${other} driver ($(du -sh "${root}/data/${other}" | cut -f1))"
    rm -rf "${root}/data/${other}" "${root}/data/image/${other}"
  done
}

mkdir -p "${root}/data" "${root}/exec"
driver="$(choose_storage_driver)"
drop_layers_of_other_driver "${driver}"
# `uo up` gives every environment a dozen networks; the engine's default pools hold only 31, so
# the private engine hands out /24s from one /16 (256 networks).
isolate_networks
say "starting a private engine (${root}, storage driver ${driver}; log: ${root}/dockerd.log)"
nohup dockerd \
  --host "${socket}" \
  --data-root "${root}/data" \
  --exec-root "${root}/exec" \
  --pidfile "${root}/dockerd.pid" \
  --storage-driver "${driver}" \
  --iptables=false --ip6tables=false --bridge=none --ip-forward=false \
  --default-address-pool base=10.213.0.0/16,size=24 \
  >"${root}/dockerd.log" 2>&1 &
for _ in $(seq 1 60); do
  if answers "${socket}"; then
    say "engine ready"
    echo "${socket}"
    exit 0
  fi
  sleep 1
done
say "ERROR: the engine did not start; the end of its log:"
tail -n 20 "${root}/dockerd.log" >&2
exit 1
