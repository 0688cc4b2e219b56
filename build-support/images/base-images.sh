#!/usr/bin/env bash
# Builds the base images from their Debian package lists (src/docker/base/<name>/packages.txt)
# with mmdebstrap, imports them into the Docker engine as unifyops/base-<name>:<content hash>, and
# skips any whose tag already exists. No image is pulled from a public registry.
#
# Every package of an image, dependencies included, is pinned to the version in its lock file
# (src/docker/base/<name>/packages.lock, one name=version a line): apt is told to take exactly
# those versions, and a build whose installed set differs from the lock (the mirror moved on, or
# packages.txt changed) fails and names the differences. The lock is part of the image's tag, so
# the tag changes exactly when a locked version does.
#
# Usage: base-images.sh [--update-lock] [name ...]   (default: python build postgres)
#   --update-lock  build from the newest versions the mirror offers and rewrite the lock files
# Needs DOCKER_HOST and root.
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

# apt preferences pinning every package of a lock file to its locked version (priority above
# 1000: taken even where the mirror offers something newer).
pins_of() {
  grep -v '^\s*#' "$1" | grep -v '^\s*$' | while IFS='=' read -r package version; do
    printf 'Package: %s\nPin: version %s\nPin-Priority: 1001\n\n' "${package}" "${version}"
  done
}

# Compares what a build installed with the lock; on a difference, names it and how to move on.
check_against_lock() {
  local name="$1" installed="$2" lock="$3"
  local differences
  differences="$(diff <(grep -v '^\s*#' "${lock}" | grep -v '^\s*$' | sort) <(sort "${installed}") \
    | sed -n 's/^< /  locked, not installed: /p; s/^> /  installed, not locked: /p')" || true
  [[ -z "${differences}" ]] && return 0
  say "ERROR: base-${name} does not match src/docker/base/${name}/packages.lock:"
  echo "${differences}" >&2
  say "the mirror no longer offers a locked version, or packages.txt changed; to take the mirror's"
  say "current versions: build-support/images/base-images.sh --update-lock ${name} (then commit the lock)"
  return 1
}

write_lock() {
  local name="$1" installed="$2" lock="$3"
  {
    echo "# Every Debian package of base-${name}, at the version its image is built from (written by"
    echo "# build-support/images/base-images.sh --update-lock ${name}; the image tag hashes this file)."
    sort "${installed}"
  } >"${lock}"
  say "wrote ${lock#"${buildroot}/"} ($(grep -cv '^#' "${lock}") packages)"
}

build_one() {
  local name="$1"
  local lock="${buildroot}/src/docker/base/${name}/packages.lock"
  local image="unifyops/base-${name}:$(uo_base_tag "${name}" "${buildroot}")"
  if [[ ${update_lock} == 0 ]] && docker image inspect "${image}" >/dev/null 2>&1; then
    say "${image} is up to date"
    return 0
  fi
  if [[ ${update_lock} == 0 && ! -f "${lock}" ]]; then
    say "ERROR: src/docker/base/${name} has no packages.lock; write one with: build-support/images/base-images.sh --update-lock ${name}"
    return 1
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
  local pin_hook="true"
  if [[ ${update_lock} == 0 ]]; then
    pins_of "${lock}" >"${work}/pins"
    pin_hook="mkdir -p \"\$1/etc/apt/preferences.d\" && cp \"${work}/pins\" \"\$1/etc/apt/preferences.d/unifyops-lock\""
    say "building ${image} from Debian packages: ${packages}, at their locked versions (about a minute)"
  else
    say "building base-${name} from the newest versions of: ${packages} (about a minute)"
  fi
  # The service user (UID/GID ${app_uid}) is written straight into the passwd files: the image has
  # no useradd, and the apt variant keeps the image small.
  mmdebstrap --variant=apt --include="${packages}" \
    --setup-hook="${pin_hook}" \
    --dpkgopt='path-exclude=/usr/share/doc/*' \
    --dpkgopt='path-exclude=/usr/share/man/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' \
    --dpkgopt='path-exclude=/usr/share/info/*' \
    --customize-hook="echo 'app:x:${app_uid}:${app_uid}:UnifyOps service:/nonexistent:/usr/sbin/nologin' >> \"\$1/etc/passwd\"" \
    --customize-hook="echo 'app:x:${app_uid}:' >> \"\$1/etc/group\"" \
    --customize-hook='chroot "$1" dpkg-query -W -f "\${Package}=\${Version}\n" > "$1/etc/unifyops-packages.lock"' \
    --customize-hook='rm -rf "$1/var/cache/apt" "$1/var/lib/apt/lists" "$1/etc/apt/preferences.d/unifyops-lock"' \
    --customize-hook="${strip_hook}" \
    --customize-hook="${runtime_hook}" \
    --customize-hook="${selftest_hook}" \
    bookworm "${work}/rootfs.tar" >"${work}/mmdebstrap.log" 2>&1 \
    || { tail -n 20 "${work}/mmdebstrap.log" >&2; return 1; }
  tar -xOf "${work}/rootfs.tar" ./etc/unifyops-packages.lock >"${work}/installed"
  if [[ ${update_lock} == 1 ]]; then
    write_lock "${name}" "${work}/installed" "${lock}"
    image="unifyops/base-${name}:$(uo_base_tag "${name}" "${buildroot}")"
  else
    check_against_lock "${name}" "${work}/installed" "${lock}" || return 1
  fi
  docker import \
    --change "LABEL io.unifyops.base=${name}" \
    --change 'ENV LANG=C.UTF-8' \
    "${work}/rootfs.tar" "${image}" >/dev/null
  say "built ${image} ($(docker image inspect -f '{{.Size}}' "${image}" | awk '{printf "%.0f MB", $1/1e6}'))"
}

update_lock=0
if [[ "${1:-}" == "--update-lock" ]]; then
  update_lock=1
  shift
fi
names=("$@")
[[ ${#names[@]} -gt 0 ]] || names=(python build postgres)
for name in "${names[@]}"; do build_one "${name}"; done
