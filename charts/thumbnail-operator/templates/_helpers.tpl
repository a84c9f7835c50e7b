{{/* Chart name. */}}
{{- define "thumbnail-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name prefix of every resource. */}}
{{- define "thumbnail-operator.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "thumbnail-operator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels of every resource; include with a dict: (dict "ctx" $ "component" "operator"). */}}
{{- define "thumbnail-operator.labels" -}}
helm.sh/chart: {{ include "thumbnail-operator.chart" .ctx }}
{{ include "thumbnail-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
app.kubernetes.io/part-of: thumbnail-operator
{{- with .ctx.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "thumbnail-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "thumbnail-operator.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* Resource names per component. */}}
{{- define "thumbnail-operator.operatorName" -}}
{{- include "thumbnail-operator.fullname" . }}
{{- end }}
{{- define "thumbnail-operator.shimName" -}}
{{- printf "%s-api-shim" (include "thumbnail-operator.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{/* Secret of the shim's bearer tokens (key `tokens`): the administrator's
shim.tokensSecret, else the generated one with shim.requireToken, else none (open API). */}}
{{- define "thumbnail-operator.shimTokensSecret" -}}
{{- if .Values.shim.tokensSecret }}{{ .Values.shim.tokensSecret }}
{{- else if .Values.shim.requireToken }}{{ printf "%s-api-shim-tokens" (include "thumbnail-operator.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- define "thumbnail-operator.seaweedfsName" -}}
{{- printf "%s-seaweedfs" (include "thumbnail-operator.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The bundled SeaweedFS's S3 port inside its Pod (loopback; the Pod's 8333 forwards to
it): not 8333, which the forwarder holds on every address. */}}
{{- define "thumbnail-operator.seaweedfsS3LoopbackPort" -}}8334{{- end }}

{{/* Image reference: (dict "image" .Values.x.image "ctx" $). */}}
{{- define "thumbnail-operator.image" -}}
{{- printf "%s:%s" .image.repository (default .ctx.Chart.AppVersion .image.tag) }}
{{- end }}

{{/* Namespace the operator watches ("" = all). */}}
{{- define "thumbnail-operator.watchNamespace" -}}
{{- if .Values.operator.clusterWide }}{{- else }}{{ default .Release.Namespace .Values.operator.watchNamespace }}{{- end }}
{{- end }}

{{/* Namespace the shim creates Thumbnails in: the watched one (the release's when cluster-wide). */}}
{{- define "thumbnail-operator.shimNamespace" -}}
{{- default .Release.Namespace (include "thumbnail-operator.watchNamespace" .) }}
{{- end }}

{{/*
Name of the Secret (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY) of one object-store identity:
(dict "ctx" $ "component" "operator"|"shim"|"resizer"|"admin"). Each component gets its own.
*/}}
{{- define "thumbnail-operator.s3SecretName" -}}
{{- $fullname := include "thumbnail-operator.fullname" .ctx }}
{{- if eq .component "admin" }}
{{- printf "%s-s3-admin" $fullname | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $values := index .ctx.Values.s3.credentials .component }}
{{- $suffix := ternary "api-shim" .component (eq .component "shim") }}
{{- default (printf "%s-s3-%s" $fullname $suffix | trunc 63 | trimSuffix "-") $values.existingSecret }}
{{- end }}
{{- end }}

{{/* The S3 endpoint every component uses. */}}
{{- define "thumbnail-operator.s3Endpoint" -}}
{{- if .Values.s3.endpoint }}
{{- .Values.s3.endpoint }}
{{- else if .Values.seaweedfs.enabled }}
{{- printf "http://%s.%s.svc:8333" (include "thumbnail-operator.seaweedfsName" .) .Release.Namespace }}
{{- end }}
{{- end }}

{{/*
Environment of the object store settings (names from api::store_config) with one
component's own credentials: (dict "ctx" $ "component" "operator"|"shim").
*/}}
{{- define "thumbnail-operator.s3Env" -}}
{{- $secret := include "thumbnail-operator.s3SecretName" . }}
{{- with .ctx }}
- name: S3_ENDPOINT
  value: {{ include "thumbnail-operator.s3Endpoint" . | quote }}
- name: S3_REGION
  value: {{ .Values.s3.region | quote }}
- name: S3_PATH_STYLE
  value: {{ .Values.s3.pathStyle | quote }}
- name: S3_CHECKSUMS
  value: {{ .Values.s3.checksums | quote }}
{{- end }}
- name: AWS_ACCESS_KEY_ID
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: AWS_ACCESS_KEY_ID
- name: AWS_SECRET_ACCESS_KEY
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: AWS_SECRET_ACCESS_KEY
{{- end }}

{{- define "thumbnail-operator.podSecurityContext" -}}
{{ toYaml .Values.podSecurityContext }}
{{- end }}

{{- define "thumbnail-operator.securityContext" -}}
{{ toYaml .Values.securityContext }}
{{- end }}

{{/*
Static-analysis findings (checkov, hack/chart-check.sh) that are deliberate, each with its
reason; on every Deployment's metadata. Include with
(dict "ctx" $ "apiToken" true|false "secretEnv" true|false).
*/}}
{{- define "thumbnail-operator.checkovSkips" -}}
checkov.io/skip1: "CKV_K8S_11=No CPU limit by design: CFS quotas throttle even on idle nodes; the CPU request reserves the share, the memory limit bounds the pod (set resources.limits.cpu to add one)"
checkov.io/skip2: "CKV_K8S_43=Images are pinned by immutable version tags; set image.tag to <version>@sha256:<digest> to pin a digest"
checkov.io/skip3: "CKV_K8S_15=Version tags are immutable, and kind-loaded images need IfNotPresent; image.pullPolicy can be set to Always"
{{- if .secretEnv }}
checkov.io/skip4: "CKV_K8S_35=S3 credentials are read from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (the AWS SDK convention shared with the resizer Jobs); they come from a Secret via secretKeyRef, never from values in the manifest"
{{- end }}
{{- if .apiToken }}
checkov.io/skip5: "CKV_K8S_38=This component calls the Kubernetes API and needs its ServiceAccount token; its RBAC is least privilege (api/src/rbac.rs)"
{{- end }}
{{- if not .ctx.Values.networkPolicy.enabled }}
checkov.io/skip6: "CKV2_K8S_6=NetworkPolicies are off for kind (values: networkPolicy.enabled; on in values-production.yaml)"
{{- end }}
{{- end }}

{{/*
What the bundled store's resizer identity may read besides the shim's originals: the
bucket/prefix of every operator.sourcePolicy.allow rule (one list, so the store and the
operator's policy cannot disagree), cut before "{namespace}". The identity is shared by
every namespace's runs, so it gets the union; the operator refuses, per namespace, what
a rule does not allow before any run starts.
*/}}
{{- define "thumbnail-operator.resizerSources" -}}
{{- $out := list -}}
{{- range .Values.operator.sourcePolicy.allow -}}
{{- $src := regexReplaceAll "^[^=]*=" . "" -}}
{{- $out = append $out (first (splitList "{namespace}" $src)) -}}
{{- end -}}
{{- join "," (uniq $out) -}}
{{- end -}}
