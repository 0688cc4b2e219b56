{{/* Names, labels and shared pod settings. Naming follows the UnifyOps naming contract. */}}

{{- define "unifyops-stack.stack" -}}
{{- required "stack is required (auth, user or environment)" .Values.stack -}}
{{- end -}}

{{/* <stack>-<tier>, e.g. auth-api: the name of a tier's workload and Service. */}}
{{- define "unifyops-stack.tier.name" -}}
{{- printf "%s-%s" (include "unifyops-stack.stack" .root) .tier -}}
{{- end -}}

{{- define "unifyops-stack.labels.selector" -}}
unifyops.io/stack: {{ include "unifyops-stack.stack" .root }}
unifyops.io/tier: {{ .tier }}
{{- end -}}

{{- define "unifyops-stack.labels.common" -}}
{{ include "unifyops-stack.labels.selector" . }}
app.kubernetes.io/name: {{ include "unifyops-stack.tier.name" . }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .tier }}
app.kubernetes.io/part-of: unifyops
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
unifyops.io/environment: {{ .root.Values.environment }}
{{- with .root.Values.coreVersion }}
unifyops.io/core-version: {{ . | quote }}
{{- end }}
{{- end -}}

{{/* A tier's settings: tierDefaults overlaid with tiers.<name>. */}}
{{- define "unifyops-stack.tier.settings" -}}
{{- $defaults := deepCopy .root.Values.tierDefaults -}}
{{- $tier := index .root.Values.tiers .tier -}}
{{- toYaml (mergeOverwrite $defaults (deepCopy $tier)) -}}
{{- end -}}

{{/*
Image reference: registry/repository@digest, or :tag. Moving tags are refused, because a deploy
must name exactly what runs (rollback is a git revert of the tag). A stack none of whose tiers
names an image is one `uo new stack` wrote and the release loop has not released yet: refused
with a message saying so, rather than deployed with images that do not exist.
*/}}
{{- define "unifyops-stack.image" -}}
{{- $image := .image -}}
{{- $repository := $image.repository | default (printf "unifyops/%s" .defaultName) -}}
{{- $prefix := ternary (printf "%s/" .root.Values.image.registry) "" (ne .root.Values.image.registry "") -}}
{{- if $image.digest -}}
{{- printf "%s%s@%s" $prefix $repository $image.digest -}}
{{- else if $image.tag -}}
{{- if or (eq $image.tag "latest") (hasSuffix "-latest" $image.tag) -}}
{{- fail (printf "%s: tag %q moves; use an immutable tag (git sha) or a digest" .key $image.tag) -}}
{{- end -}}
{{- printf "%s%s:%s" $prefix $repository $image.tag -}}
{{- else -}}
{{- $released := false -}}
{{- range $name, $tier := .root.Values.tiers -}}
{{- if and $tier.enabled $tier.image (or $tier.image.tag $tier.image.digest) -}}
{{- $released = true -}}
{{- end -}}
{{- end -}}
{{- if not $released -}}
{{- fail (printf "stack %s has no released images in %s yet: run the release loop (uo publish, then uo bump --env %s), which records them in its infra file" .root.Values.stack .root.Values.environment .root.Values.environment) -}}
{{- end -}}
{{- fail (printf "%s: set image.tag or image.digest" .key) -}}
{{- end -}}
{{- end -}}

{{- define "unifyops-stack.pod.securityContext" -}}
runAsNonRoot: true
runAsUser: {{ .Values.podSecurity.runAsUser }}
runAsGroup: {{ .Values.podSecurity.runAsGroup }}
fsGroup: {{ .Values.podSecurity.runAsGroup }}
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "unifyops-stack.container.securityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
privileged: false
capabilities:
  drop: ["ALL"]
{{- end -}}

{{/* emptyDir volumes for the declared writable paths: name them by position. */}}
{{- define "unifyops-stack.writable.volumes" -}}
{{- range $index, $path := .paths }}
- name: writable-{{ $index }}
  emptyDir: {}
{{- end }}
{{- end -}}

{{- define "unifyops-stack.writable.mounts" -}}
{{- range $index, $path := .paths }}
- name: writable-{{ $index }}
  mountPath: {{ $path }}
{{- end }}
{{- end -}}

{{- define "unifyops-stack.secretEnv" -}}
{{- range $name, $ref := . }}
- name: {{ $name }}
  valueFrom:
    secretKeyRef:
      name: {{ $ref.secretName }}
      key: {{ $ref.key }}
{{- end }}
{{- end -}}

{{/* Database connection settings of the service tier (and the migration Job). */}}
{{- define "unifyops-stack.database.secret" -}}
{{- .Values.database.credentialsSecret | default (printf "%s-db-credentials" (include "unifyops-stack.stack" .)) -}}
{{- end -}}

{{- define "unifyops-stack.database.env" -}}
{{- $secret := include "unifyops-stack.database.secret" . -}}
- name: UO_DATABASE__HOST
  value: {{ ternary (printf "%s-postgres" (include "unifyops-stack.stack" .)) .Values.database.external.host (eq .Values.database.mode "internal") | quote }}
- name: UO_DATABASE__PORT
  value: {{ ternary "5432" (toString .Values.database.external.port) (eq .Values.database.mode "internal") | quote }}
{{- range $var, $key := dict "UO_DATABASE__USER" "username" "UO_DATABASE__PASSWORD" "password" "UO_DATABASE__NAME" "database" }}
- name: {{ $var }}
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ $key }}
{{- end }}
{{- end -}}

{{/* The namespace is part of the contract: uo-<environment>, the one this release is in. */}}
{{- define "unifyops-stack.checkNamespace" -}}
{{- $expected := printf "uo-%s" (required "environment is required (dev, staging or prod)" .Values.environment) -}}
{{- if ne .Values.namespace $expected -}}
{{- fail (printf "namespace: %q does not match environment %q (expected %q)" .Values.namespace .Values.environment $expected) -}}
{{- end -}}
{{- if ne .Release.Namespace $expected -}}
{{- fail (printf "release namespace %q is not %q (environment %q)" .Release.Namespace $expected .Values.environment) -}}
{{- end -}}
{{- end -}}

{{/* Egress rule to this stack's database: its pods, or the external database's CIDR. */}}
{{- define "unifyops-stack.networkPolicy.toDatabase" -}}
{{- if eq .Values.database.mode "internal" -}}
- to:
    - podSelector:
        matchLabels: {unifyops.io/stack: {{ include "unifyops-stack.stack" . }}, unifyops.io/tier: database}
  ports:
    - {protocol: TCP, port: 5432}
{{- else -}}
- to:
    - ipBlock:
        cidr: {{ required "database.external.cidr is required for an external database" .Values.database.external.cidr }}
  ports:
    - {protocol: TCP, port: {{ .Values.database.external.port }}}
{{- end -}}
{{- end -}}

{{/* True (non-empty) when this release is the identity provider's stack. */}}
{{- define "unifyops-stack.isAuth" -}}
{{- if eq (include "unifyops-stack.stack" .) .Values.auth.stack }}true{{ end -}}
{{- end -}}

{{- define "unifyops-stack.auth.url" -}}
{{- printf "http://%s-api:%v" .Values.auth.stack .Values.auth.port -}}
{{- end -}}

{{/*
How a tier reaches the tiers it calls, by Service name (the chain and the auth stack), and the
secrets it needs. The one place the wiring of a stack is written: a cluster and `uo up` run it.
*/}}
{{- define "unifyops-stack.tier.wiring" -}}
{{- $root := .root -}}
{{- $stack := include "unifyops-stack.stack" $root -}}
{{- $isAuth := include "unifyops-stack.isAuth" $root -}}
{{- $authUrl := include "unifyops-stack.auth.url" $root -}}
{{- if eq .tier "app" }}
# The app server forwards /api/* to this stack's gateway (the only hop it may reach)
# and marks the session cookie Secure behind TLS.
- name: UO_API_URL
  value: {{ printf "http://%s:%v" (include "unifyops-stack.tier.name" (dict "root" $root "tier" "api")) (include "unifyops-stack.tier.settings" (dict "root" $root "tier" "api") | fromYaml).port | quote }}
- name: UO_SECURE_COOKIE
  value: {{ $root.Values.ingress.tls.enabled | toString | quote }}
{{- else if eq .tier "api" }}
{{- $service := include "unifyops-stack.tier.settings" (dict "root" $root "tier" "service") | fromYaml }}
- name: UO_SERVICE_URL
  value: {{ printf "http://%s-service:%v" $stack $service.port | quote }}
- name: UO_JWKS_URL
  value: {{ printf "%s/.well-known/jwks.json" $authUrl | quote }}
- name: UO_AUTH_URL
  value: {{ $authUrl | quote }}
# Service tokens come from the auth stack; its own gateway asks its service directly.
- name: UO_TOKEN_URL
  value: {{ ternary (printf "http://%s-service:%v/oauth/token" $stack $service.port) (printf "%s/oauth/token" $authUrl) (eq $isAuth "true") | quote }}
- name: UO_CLIENT_SECRET
  valueFrom:
    secretKeyRef:
      name: {{ $root.Values.clientSecret | default (printf "%s-api-client" $stack) }}
      key: client-secret
{{- else if eq .tier "service" }}
{{- include "unifyops-stack.database.env" $root }}
{{- if $isAuth }}
- name: UO_KEY_ENCRYPTION_KEY
  valueFrom:
    secretKeyRef:
      name: {{ $root.Values.auth.keyEncryptionSecret }}
      key: key
{{- else }}
# Fetched and cached: a key rotation at the auth stack needs no redeploy here.
- name: UO_JWKS_URL
  value: {{ printf "%s/.well-known/jwks.json" $authUrl | quote }}
{{- end }}
{{- if eq $stack $root.Values.desiredState.stack }}
{{- if $root.Values.desiredState.hostPath }}
- name: UO_INFRA_PATH
  value: /srv/unifyops/infra/environments
{{- else }}
# No checkout mounted (a cluster): the desired state is what the release loop recorded.
- name: UO_DESIRED_STATE
  value: records
{{- end }}
{{- end }}
{{- if and $root.Values.monitoring.query.url (eq $stack $root.Values.desiredState.stack) }}
# The running side of the dashboard: the tiers' series, as the monitoring Prometheus has them.
- name: UO_PROMETHEUS_URL
  value: {{ $root.Values.monitoring.query.url | quote }}
{{- end }}
{{- if and $root.Values.monitoring.logs.url (eq $stack $root.Values.desiredState.stack) }}
# The dashboard's error-id search: one request's lines from every tier, as a tree.
- name: UO_LOGS_URL
  value: {{ $root.Values.monitoring.logs.url | quote }}
{{- end }}
{{- end }}
{{- end -}}

{{- define "unifyops-stack.desiredState.mounted" -}}
{{- if and .Values.desiredState.hostPath (eq (include "unifyops-stack.stack" .) .Values.desiredState.stack) }}true{{ end -}}
{{- end -}}

{{/* The enabled tiers that serve metrics (metricsPort > 0), as a YAML list. */}}
{{- define "unifyops-stack.metrics.tiers" -}}
{{- $tiers := list -}}
{{- range $tierName := keys .Values.tiers | sortAlpha -}}
{{- $tier := include "unifyops-stack.tier.settings" (dict "root" $ "tier" $tierName) | fromYaml -}}
{{- if and $tier.enabled $tier.metricsPort -}}
{{- $tiers = append $tiers $tierName -}}
{{- end -}}
{{- end -}}
{{- toYaml $tiers -}}
{{- end -}}
