#!/usr/bin/env bash
# Cuts a finished base root filesystem down to what its runtime needs, distroless-style: every
# program and shared library goes except the roots named in a keep file and the libraries they
# load (their `ldd` closure, read inside the root before anything is removed). No shell, no
# coreutils, no package tooling is left, so nothing in a running container can install or script
# anything; the image's own /etc/unifyops-packages.lock still lists what it was built from.
# Usage: runtime-only.sh ROOT KEEP_FILE   (a base-images.sh hook; ROOT is mmdebstrap's "$1")
# KEEP_FILE: one path or glob per line, relative to ROOT ('#' comments); each must match.
set -euo pipefail

root="$1"
keep_file="$2"
# Where programs and shared libraries live in a Debian root (merged /usr: /bin and /lib are links).
cut_dirs=(usr/bin usr/sbin usr/lib/x86_64-linux-gnu usr/libexec)

say() { echo "[runtime-only] $*" >&2; }

declare -A kept=()
roots=()
while IFS= read -r pattern; do
  pattern="${pattern%%#*}"
  pattern="${pattern//[[:space:]]/}"
  [[ -n "${pattern}" ]] || continue
  matched=0
  for path in "${root}"/${pattern#/}; do
    [[ -e "${path}" ]] || continue
    matched=1
    roots+=("/${path#"${root}"/}")
  done
  [[ ${matched} == 1 ]] || { say "nothing in the image matches '${pattern}'"; exit 1; }
done <"${keep_file}"

# A kept path, its link target, and every library the loader maps for it (ELF files only).
keep_path() {
  local path="$1" real
  kept["${path}"]=1
  real="$(chroot "${root}" readlink -f "${path}")"
  kept["${real}"]=1
}
for path in "${roots[@]}"; do
  keep_path "${path}"
  if head -c 4 "${root}${path}" | grep -q $'\x7fELF'; then
    while IFS= read -r library; do
      keep_path "${library}"
    done < <(chroot "${root}" ldd "${path}" | awk '/=>/ && $3 ~ /^\// {print $3} /^\t\// {print $1}')
  fi
done

# Decide first, remove after: the decisions read links with the image's own readlink.
doomed=()
for dir in "${cut_dirs[@]}"; do
  [[ -d "${root}/${dir}" ]] || continue
  while IFS= read -r -d '' path; do
    inside="/${path#"${root}"/}"
    [[ -n "${kept[${inside}]:-}" ]] && continue
    # A link is kept when what it points at is (the soname links of a kept library).
    if [[ -L "${path}" ]]; then
      target="$(chroot "${root}" readlink -f "${inside}" 2>/dev/null || true)"
      [[ -n "${target}" && -n "${kept[${target}]:-}" ]] && continue
    fi
    doomed+=("${path}")
  done < <(find "${root}/${dir}" \( -type f -o -type l \) -print0)
done
rm -f "${doomed[@]}"
for dir in "${cut_dirs[@]}"; do
  [[ -d "${root}/${dir}" ]] && find "${root}/${dir}" -mindepth 1 -type d -empty -delete
done
say "kept ${#roots[@]} roots and the libraries they load; removed ${#doomed[@]} other files"
