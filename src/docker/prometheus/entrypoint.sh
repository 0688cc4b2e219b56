#!/bin/sh
# Prometheus as the unprivileged image user. The configuration is either mounted at
# /etc/prometheus/prometheus.yml, or generated: PROMETHEUS_CONFIG (prometheus.yml) and
# PROMETHEUS_RULES (one rule file) are written into /run/prometheus (a tmpfs under a read-only
# root), where the config's relative `rule_files` find them. promtool checks both first, so a bad
# file stops the container with promtool's message instead of a server that scrapes nothing.
set -eu
config=/etc/prometheus/prometheus.yml
if [ -n "${PROMETHEUS_CONFIG:-}" ]; then
  config=/run/prometheus/prometheus.yml
  printf '%s\n' "${PROMETHEUS_CONFIG}" > "${config}"
  if [ -n "${PROMETHEUS_RULES:-}" ]; then
    printf '%s\n' "${PROMETHEUS_RULES}" > /run/prometheus/rules.yml
  fi
fi
promtool check config "${config}" >&2
exec prometheus --config.file="${config}" --storage.tsdb.path=/prometheus \
  --storage.tsdb.retention.time="${PROMETHEUS_RETENTION:-7d}" \
  --web.listen-address=0.0.0.0:9090 "$@"
