#!/bin/sh
# PostgreSQL for one stack, as the unprivileged image user: initialise the data directory on first
# start (user, password and database from POSTGRES_USER, POSTGRES_PASSWORD, POSTGRES_DB), then run
# the server in the foreground so it receives SIGTERM directly (a "smart" shutdown).
set -eu
bin=/usr/lib/postgresql/15/bin
: "${PGDATA:=/var/lib/postgresql/data/pgdata}"
: "${POSTGRES_USER:=postgres}"
: "${POSTGRES_DB:=${POSTGRES_USER}}"
if [ -z "${POSTGRES_PASSWORD:-}" ]; then
  echo "postgres: POSTGRES_PASSWORD must be set (from a secret)" >&2
  exit 1
fi
if [ ! -s "${PGDATA}/PG_VERSION" ]; then
  mkdir -p "${PGDATA}"
  chmod 700 "${PGDATA}"
  pwfile="$(mktemp)"
  printf '%s\n' "${POSTGRES_PASSWORD}" > "${pwfile}"
  "${bin}/initdb" -D "${PGDATA}" -U "${POSTGRES_USER}" --pwfile="${pwfile}" \
    --auth-local=trust --auth-host=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 >/dev/null
  rm -f "${pwfile}"
  echo "host all all 0.0.0.0/0 scram-sha-256" >> "${PGDATA}/pg_hba.conf"
  "${bin}/pg_ctl" -D "${PGDATA}" -o "-c listen_addresses='' -k /tmp" -w start >/dev/null
  if [ "${POSTGRES_DB}" != "postgres" ]; then
    "${bin}/createdb" -h /tmp -U "${POSTGRES_USER}" "${POSTGRES_DB}"
  fi
  "${bin}/pg_ctl" -D "${PGDATA}" -m fast -w stop >/dev/null
fi
exec "${bin}/postgres" -D "${PGDATA}" -c listen_addresses='*' -c jit=off \
  -c unix_socket_directories=/var/run/postgresql "$@"
