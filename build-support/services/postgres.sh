#!/usr/bin/env bash
# Starts (idempotently) the private PostgreSQL the tests use: Debian's PostgreSQL, a throw-away
# cluster on 127.0.0.1:${UO_TEST_PG_PORT:-55432}, trust auth on loopback only (test data only).
# Installs the Debian package when no server is present. Prints the admin DSN on stdout.
set -euo pipefail

port="${UO_TEST_PG_PORT:-55432}"
root="${UO_TEST_PG_DIR:-/var/tmp/unifyops-postgres}"
data="${root}/data"

say() { echo "[postgres] $*" >&2; }

find_bin() {
  local dir
  for dir in /usr/lib/postgresql/*/bin; do
    [[ -x "${dir}/postgres" ]] && { echo "${dir}"; return 0; }
  done
  return 1
}

if ! bin="$(find_bin)"; then
  say "installing Debian's postgresql package (once per machine)"
  if [[ ${EUID} -ne 0 ]]; then
    say "ERROR: PostgreSQL is not installed and installing it needs root: apt-get install postgresql"
    exit 1
  fi
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql >&2
  bin="$(find_bin)"
fi

# initdb refuses to run as root: the cluster belongs to the postgres user when we are root.
as_owner() {
  if [[ ${EUID} -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

mkdir -p "${root}"
[[ ${EUID} -eq 0 ]] && chown postgres:postgres "${root}"

if as_owner "${bin}/pg_ctl" -D "${data}" status >/dev/null 2>&1; then
  say "already running on 127.0.0.1:${port}"
else
  if [[ ! -f "${data}/PG_VERSION" ]]; then
    say "creating a test cluster in ${data}"
    as_owner "${bin}/initdb" -D "${data}" -U postgres --auth=trust --encoding=UTF8 --locale=C.UTF-8 >/dev/null
  fi
  say "starting on 127.0.0.1:${port}"
  # fsync off: the cluster holds only test data, and tests should not wait for the disk.
  as_owner "${bin}/pg_ctl" -D "${data}" -l "${root}/server.log" -w -t 60 start \
    -o "-p ${port} -k ${root} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300" >/dev/null \
    || { tail -n 20 "${root}/server.log" >&2; exit 1; }
fi
echo "postgresql://postgres@127.0.0.1:${port}/postgres"
