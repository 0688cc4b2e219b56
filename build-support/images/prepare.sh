#!/usr/bin/env bash
# Everything images need before Pants builds them: a Docker engine, the local registry and the
# base images. Idempotent; prints the DOCKER_HOST to export.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
DOCKER_HOST="$(build-support/services/docker.sh)"
export DOCKER_HOST
build-support/services/registry.sh >/dev/null
build-support/images/base-images.sh python build postgres prometheus
echo "${DOCKER_HOST}"
