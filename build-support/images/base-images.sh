#!/usr/bin/env bash
# Builds the base images from their Debian package lists (src/docker/base/<name>/packages.txt)
# with mmdebstrap, imports them into the Docker engine as unifyops/base-<name>:<content hash>, and
# skips any whose tag already exists. No image is pulled from a public registry.
# Usage: base-images.sh [name ...]   (default: python build postgres); needs DOCKER_HOST and root.
set -euo pipefail

buildroot="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)"
# shellcheck source=build-support/images/base-tags.sh
source "${buildroot}/build-support/images/base-tags.sh"
# Reproducible file times inside the root filesystem.
export SOURCE_DATE_EPOCH="${SOURCE_DATE_EPOCH:-1700000000}"
app_uid=10001

say() { echo "[base-images] $*" >&2; }

ensure_mmdebstrap() {
  command -v mmdebstrap >/dev/null 2>&1 && return 0
  say "installing mmdebstrap (once per machine)"
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends mmdebstrap >&2
}

build_one() {
  local name="$1"
  local image="unifyops/base-${name}:$(uo_base_tag "${name}" "${buildroot}")"
  if docker image inspect "${image}" >/dev/null 2>&1; then
    say "${image} is up to date"
    return 0
  fi
  ensure_mmdebstrap
  local packages
  packages="$(grep -v '^\s*#' "${buildroot}/src/docker/base/${name}/packages.txt" | grep -v '^\s*$' | paste -sd, -)"
  local strip_hook="true"
  local strip_file="${buildroot}/src/docker/base/${name}/strip.txt"
  if [[ -f "${strip_file}" ]]; then
    strip_hook="cd \"\$1\" && rm -rf $(grep -v '^\s*#' "${strip_file}" | grep -v '^\s*$' | sed 's#^/#./#' | tr '\n' ' ')"
  fi
  # An image with a keep list is cut down to its runtime (runtime-only.sh), then checks itself.
  local runtime_hook="true" selftest_hook="true"
  local keep_file="${buildroot}/src/docker/base/${name}/keep.txt"
  local selftest="${buildroot}/src/docker/base/${name}/selftest.py"
  if [[ -f "${keep_file}" ]]; then
    runtime_hook="\"${buildroot}/build-support/images/runtime-only.sh\" \"\$1\" \"${keep_file}\""
  fi
  if [[ -f "${selftest}" ]]; then
    selftest_hook="chroot \"\$1\" /usr/bin/python3 -I - < \"${selftest}\""
  fi
  local work
  work="$(mktemp -d)"
  trap 'rm -rf "${work}"' RETURN
  say "building ${image} from Debian packages: ${packages} (about a minute)"
  # The service user (UID/GID ${app_uid}) is written straight into the passwd files: the image has
  # no useradd, and the apt variant keeps the image small.
  mmdebstrap --variant=apt --include="${packages}" \
    --dpkgopt='path-exclude=/usr/share/doc/*' \
    --dpkgopt='path-exclude=/usr/share/man/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' \
    --dpkgopt='path-exclude=/usr/share/info/*' \
    --customize-hook="echo 'app:x:${app_uid}:${app_uid}:UnifyOps service:/nonexistent:/usr/sbin/nologin' >> \"\$1/etc/passwd\"" \
    --customize-hook="echo 'app:x:${app_uid}:' >> \"\$1/etc/group\"" \
    --customize-hook='chroot "$1" dpkg-query -W -f "\${Package}=\${Version}\n" > "$1/etc/unifyops-packages.lock"' \
    --customize-hook='rm -rf "$1/var/cache/apt" "$1/var/lib/apt/lists"' \
    --customize-hook="${strip_hook}" \
    --customize-hook="${runtime_hook}" \
    --customize-hook="${selftest_hook}" \
    bookworm "${work}/rootfs.tar" >"${work}/mmdebstrap.log" 2>&1 \
    || { tail -n 20 "${work}/mmdebstrap.log" >&2; return 1; }
  docker import \
    --change "LABEL io.unifyops.base=${name}" \
    --change 'ENV LANG=C.UTF-8' \
    "${work}/rootfs.tar" "${image}" >/dev/null
  say "built ${image} ($(docker image inspect -f '{{.Size}}' "${image}" | awk '{printf "%.0f MB", $1/1e6}'))"
}

names=("$@")
[[ ${#names[@]} -gt 0 ]] || names=(python build postgres)
for name in "${names[@]}"; do build_one "${name}"; done
