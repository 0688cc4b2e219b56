#!/usr/bin/env bash
# Starts (idempotently) the local OCI registry, Debian's CNCF distribution registry, on
# 127.0.0.1:${UO_REGISTRY_PORT:-5000} with its state in ${UO_REGISTRY_DIR}, and prints its address.
#
# It runs like a real one (Harbor): TLS and htpasswd (bcrypt) authentication, so every push and
# pull takes the login path an environment's registry takes. Everything secret lives in the state
# dir, outside the repository, created once and kept:
#   certs/ca.{crt,key}        a self-signed CA (the engine trusts it: <certs.d>/<address>/ca.crt)
#   certs/server.{crt,key}    the registry's certificate for 127.0.0.1 and localhost
#   auth/htpasswd             the one account, bcrypt-hashed
#   auth/credentials          "user:password" of that account (0600)
# Then `docker login` stores the account in the invoking user's Docker config, which the Docker
# CLI, the Docker SDK (docker-py reads the same file) and uo (uo.registry) use.
#
#   UO_REGISTRY_PORT      port (default 5000)
#   UO_REGISTRY_DIR       state dir (default /var/lib/unifyops-registry)
#   UO_DOCKER_CERTS_DIR   where the engine looks for registry CAs (default /etc/docker/certs.d,
#                         what dockerd reads without a restart; docker.sh's engine uses it)
set -euo pipefail

port="${UO_REGISTRY_PORT:-5000}"
root="${UO_REGISTRY_DIR:-/var/lib/unifyops-registry}"
certs_d="${UO_DOCKER_CERTS_DIR:-/etc/docker/certs.d}"
address="127.0.0.1:${port}"
user="unifyops"

say() { echo "[registry] $*" >&2; }

install_debian() {
  if [[ ${EUID} -ne 0 ]]; then
    say "ERROR: $1 is not installed and installing it needs root (apt-get install $2)"
    exit 1
  fi
  say "installing Debian's $2 (once per machine)"
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$2" >&2
}

command -v docker-registry >/dev/null 2>&1 || install_debian docker-registry docker-registry
command -v htpasswd >/dev/null 2>&1 || install_debian htpasswd apache2-utils
mkdir -p "${root}/data" "${root}/certs" "${root}/auth"
chmod 0700 "${root}/certs" "${root}/auth"

# The CA and the server certificate: made once; the CA is what clients trust, so it must not
# change under them.
if [[ ! -s "${root}/certs/ca.crt" ]]; then
  say "creating the registry's CA (${root}/certs)"
  openssl req -x509 -newkey rsa:3072 -nodes -days 3650 -subj "/CN=UnifyOps local registry CA" \
    -keyout "${root}/certs/ca.key" -out "${root}/certs/ca.crt" 2>/dev/null
  rm -f "${root}/certs/server.crt"
fi
if [[ ! -s "${root}/certs/server.crt" ]]; then
  openssl req -newkey rsa:3072 -nodes -subj "/CN=${address}" \
    -keyout "${root}/certs/server.key" -out "${root}/certs/server.csr" 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' \
    >"${root}/certs/server.ext"
  openssl x509 -req -in "${root}/certs/server.csr" -days 825 -sha256 \
    -CA "${root}/certs/ca.crt" -CAkey "${root}/certs/ca.key" -CAcreateserial \
    -extfile "${root}/certs/server.ext" -out "${root}/certs/server.crt" 2>/dev/null
  rm -f "${root}/certs/server.csr" "${root}/certs/server.ext"
fi
chmod 0600 "${root}/certs/ca.key" "${root}/certs/server.key"

# The account: a random password, generated once (umask keeps it private from the first byte).
if [[ ! -s "${root}/auth/credentials" ]]; then
  say "creating the registry account (${root}/auth/credentials, 0600)"
  (umask 077 && echo "${user}:$(openssl rand -hex 24)" >"${root}/auth/credentials")
  rm -f "${root}/auth/htpasswd"
fi
chmod 0600 "${root}/auth/credentials"
password="$(cut -d: -f2- "${root}/auth/credentials")"
if [[ ! -s "${root}/auth/htpasswd" ]]; then
  (umask 077 && htpasswd -Bbn "${user}" "${password}" >"${root}/auth/htpasswd")
fi

# The engine trusts the CA for this address (dockerd reads certs.d on every connection).
mkdir -p "${certs_d}/${address}"
cp "${root}/certs/ca.crt" "${certs_d}/${address}/ca.crt"

answers() {
  curl -fsS --cacert "${root}/certs/ca.crt" -u "${user}:${password}" "https://${address}/v2/" \
    >/dev/null 2>&1
}
plain_http() { curl -fsS "http://${address}/v2/" >/dev/null 2>&1; }

login() {
  if ! DOCKER_HOST="${DOCKER_HOST:-}" timeout 10 docker version >/dev/null 2>&1; then
    say "WARNING: no Docker engine answers (DOCKER_HOST=${DOCKER_HOST:-unset}); not logged in"
    return 0
  fi
  printf '%s' "${password}" | docker login --username "${user}" --password-stdin "${address}" \
    >/dev/null 2>&1 || { say "ERROR: docker login ${address} failed"; exit 1; }
}

if answers; then
  login
  say "already serving on https://${address} (logged in as ${user})"
  echo "${address}"
  exit 0
fi
if plain_http; then
  # A registry an older version of this script started: plain HTTP, no account. It keeps serving
  # (its users still work); switching it over is one restart (docs/releasing.md).
  say "ERROR: a plain-HTTP registry without authentication serves ${address}; stop it" \
    "(kill \$(pgrep -f 'docker-registry serve ${root}/config.yml')) and run this again"
  exit 1
fi

cat >"${root}/config.yml" <<CONFIG
version: 0.1
storage:
  filesystem:
    rootdirectory: ${root}/data
  delete:
    enabled: true
http:
  addr: ${address}
  tls:
    certificate: ${root}/certs/server.crt
    key: ${root}/certs/server.key
auth:
  htpasswd:
    realm: unifyops-registry
    path: ${root}/auth/htpasswd
CONFIG
say "starting on https://${address} (state: ${root})"
nohup docker-registry serve "${root}/config.yml" >"${root}/registry.log" 2>&1 &
echo $! >"${root}/registry.pid"
for _ in $(seq 1 30); do
  if answers; then
    login
    echo "${address}"
    exit 0
  fi
  sleep 0.5
done
say "ERROR: the registry did not start; the end of its log:"
tail -n 20 "${root}/registry.log" >&2
exit 1
