{{/*
Labels on every object: the kustomize base's app.kubernetes.io/part-of,
Helm's usual ones and commonLabels. Selectors and pod templates carry only
app.kubernetes.io/name, as in manifests/base.
*/}}
{{- define "archfit.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: archfit
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Labels of a component's objects: (dict "root" $ "name" "archfit-x"). */}}
{{- define "archfit.componentLabels" -}}
app.kubernetes.io/name: {{ .name }}
{{ include "archfit.labels" .root }}
{{- end }}

{{/*
archfit-scheduler's Kubernetes minor: scheduler.kubernetesMinor if set (35,
36 or 37), else the cluster's. kube-scheduler must not be newer than the
kube-apiserver it talks to and may be one minor older (Kubernetes' version
skew policy), so a 1.38 cluster runs the 1.37 build. Later clusters get the
1.37 build too, which is then more than one minor behind: NOTES.txt warns.
Older than 1.35 has no build.
*/}}
{{- define "archfit.scheduler.minor" -}}
{{- $supported := "1.35, 1.36 and 1.37" -}}
{{- with .Values.scheduler.kubernetesMinor -}}
{{- $m := toString . | trimPrefix "1." | atoi -}}
{{- if or (lt $m 35) (gt $m 37) -}}
{{- fail (printf "scheduler.kubernetesMinor: %v is not a minor archfit-scheduler is built for (%s)" . $supported) -}}
{{- end -}}
{{- $m -}}
{{- else -}}
{{- $kv := .Capabilities.KubeVersion -}}
{{- $major := $kv.Major | trimSuffix "+" | atoi -}}
{{- $m := $kv.Minor | trimSuffix "+" | atoi -}}
{{- if gt $major 1 -}}
{{- $m = 37 -}}
{{- end -}}
{{- if lt $m 35 -}}
{{- fail (printf "archfit-scheduler is built for Kubernetes %s only, and kube-scheduler must never be newer than its API server; this cluster is %s. Upgrade the control plane to 1.35 or later." $supported $kv.Version) -}}
{{- end -}}
{{- if gt $m 37 -}}
{{- $m = 37 -}}
{{- end -}}
{{- $m -}}
{{- end -}}
{{- end }}

{{/* archfit's tag: image.tag, else the chart's appVersion. */}}
{{- define "archfit.tag" -}}
{{- .Values.image.tag | default .Chart.AppVersion -}}
{{- end }}

{{/* Image of a component: (dict "root" $ "component" "expander"). */}}
{{- define "archfit.image" -}}
{{- $c := index .root.Values .component -}}
{{- $repo := $c.image.repository | default .root.Values.image.repository -}}
{{- $tag := $c.image.tag -}}
{{- if not $tag -}}
{{- if eq .component "scheduler" -}}
{{- $tag = printf "%s-k8s1.%s" (include "archfit.tag" .root) (include "archfit.scheduler.minor" .root) -}}
{{- else -}}
{{- $tag = include "archfit.tag" .root -}}
{{- end -}}
{{- end -}}
{{- printf "%s:%s" $repo $tag -}}
{{- end }}

{{/* Pod-level settings every Deployment shares: (dict "root" $ "component" "x" "name" "archfit-x"). */}}
{{- define "archfit.podCommon" -}}
{{- $c := index .root.Values .component -}}
serviceAccountName: {{ .name }}
{{- with $c.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- with .root.Values.imagePullSecrets }}
imagePullSecrets:
{{- range . }}
  - name: {{ . }}
{{- end }}
{{- end }}
{{- with $c.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
affinity:
{{- if $c.affinity }}
  {{- toYaml $c.affinity | nindent 2 }}
{{- else }}
  podAntiAffinity:
    preferredDuringSchedulingIgnoredDuringExecution:
      - weight: 100
        podAffinityTerm:
          topologyKey: kubernetes.io/hostname
          labelSelector:
            matchLabels:
              app.kubernetes.io/name: {{ .name }}
{{- end }}
{{- with $c.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  runAsNonRoot: true
  runAsUser: 65532
  runAsGroup: 65532
  seccompProfile:
    type: RuntimeDefault
{{- end }}

{{/* The container settings every Deployment shares (after args): (dict "root" $ "component" "x"). */}}
{{- define "archfit.containerCommon" -}}
{{- $c := index .root.Values .component -}}
{{- with .root.Values.image.pullPolicy }}
imagePullPolicy: {{ . }}
{{- end }}
{{- with $c.resources }}
resources:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  allowPrivilegeEscalation: false
  readOnlyRootFilesystem: true
  capabilities:
    drop: [ALL]
{{- end }}

{{/* A component's PodDisruptionBudget: (dict "root" $ "component" "x" "name" "archfit-x"). */}}
{{- define "archfit.pdb" -}}
{{- $c := index .root.Values .component -}}
{{- if $c.pdb.enabled }}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ .name }}
  namespace: {{ .root.Release.Namespace }}
  labels:
    {{- include "archfit.labels" .root | nindent 4 }}
spec:
  minAvailable: {{ $c.pdb.minAvailable }}
  selector:
    matchLabels:
      app.kubernetes.io/name: {{ .name }}
{{- end }}
{{- end }}

{{/* The rollback records' ConfigMap as namespace/name. */}}
{{- define "archfit.rollbackRecords" -}}
{{- $r := .Values.resolver.rollbackRecords | default (printf "%s/archfit-rollbacks" .Release.Namespace) -}}
{{- if not (regexMatch "^[a-z0-9]([-a-z0-9]*[a-z0-9])?/[a-z0-9]([-.a-z0-9]*[a-z0-9])?$" $r) -}}
{{- fail (printf "resolver.rollbackRecords: %q is not namespace/name" $r) -}}
{{- end -}}
{{- $r -}}
{{- end }}

{{/*
The resolver flags of archfit-expander and archfit-placement:
(dict "root" $ "explicit" list-of-settings-always-written). A setting is
written when it differs from the binaries' default, or when it is in
explicit (placement names its unknown-image policy and rollback records, as
manifests/base does).
*/}}
{{- define "archfit.resolverFlags" -}}
{{- $r := .root.Values.resolver -}}
{{- $explicit := .explicit -}}
{{- $archs := join "," $r.fallbackArchitectures -}}
{{- if or (has "unknownImagePolicy" $explicit) (ne $r.unknownImagePolicy "Fallback") }}
- --unknown-image-policy={{ $r.unknownImagePolicy }}
{{- end }}
{{- if or (has "unknownImagePolicy" $explicit) (ne $archs "amd64") }}
- --fallback-architectures={{ $archs }}
{{- end }}
{{- range $r.insecureRegistries }}
- --insecure-registry={{ . }}
{{- end }}
{{- range $r.allowedPrivateRegistries }}
- --allowed-private-registry={{ . }}
{{- end }}
{{- with $r.dockerHubMirror }}
- --docker-hub-mirror={{ . }}
{{- end }}
{{- with $r.requestTimeout }}
- --request-timeout={{ . }}
{{- end }}
{{- with $r.tagTTL }}
- --tag-ttl={{ . }}
{{- end }}
{{- with $r.negativeTTL }}
- --negative-ttl={{ . }}
{{- end }}
{{- if not (kindIs "invalid" $r.maxConcurrentRequestsPerRegistry) }}
- --max-concurrent-requests-per-registry={{ $r.maxConcurrentRequestsPerRegistry }}
{{- end }}
{{- if not (kindIs "invalid" $r.cacheSize) }}
- --cache-size={{ $r.cacheSize }}
{{- end }}
{{- $records := include "archfit.rollbackRecords" .root }}
{{- if or (has "rollbackRecords" $explicit) (ne $records "archfit/archfit-rollbacks") }}
- --rollback-records={{ $records }}
{{- end }}
{{- end }}

{{/*
ArchFitArgs for one of the scheduler configs:
(dict "root" $ "variant" "main" | "pullSecrets" | "filterOnly").
*/}}
{{- define "archfit.archFitArgs" -}}
{{- $v := .root.Values -}}
{{- $r := $v.resolver -}}
{{- $a := $v.scheduler.archFitArgs -}}
{{- $args := dict "apiVersion" "kubescheduler.config.k8s.io/v1" "kind" "ArchFitArgs" -}}
{{- $_ := set $args "unknownImagePolicy" $r.unknownImagePolicy -}}
{{- $_ := set $args "fallbackArchitectures" $r.fallbackArchitectures -}}
{{- if ne .variant "filterOnly" -}}
{{- $_ := set $args "architectureWeights" (include "archfit.weights" .root | fromYaml) -}}
{{- $_ := set $args "lookupBudget" $a.lookupBudget -}}
{{- $_ := set $args "tagTTL" ($r.tagTTL | default "1h") -}}
{{- $_ := set $args "negativeTTL" ($r.negativeTTL | default "30s") -}}
{{- $_ := set $args "requestTimeout" ($r.requestTimeout | default "10s") -}}
{{- $_ := set $args "placementEvents" $a.placementEvents -}}
{{- else -}}
{{- with $r.tagTTL }}{{ $_ := set $args "tagTTL" . }}{{ end -}}
{{- with $r.negativeTTL }}{{ $_ := set $args "negativeTTL" . }}{{ end -}}
{{- with $r.requestTimeout }}{{ $_ := set $args "requestTimeout" . }}{{ end -}}
{{- end -}}
{{- with $a.skipNamespaces }}{{ $_ := set $args "skipNamespaces" . }}{{ end -}}
{{- with $r.insecureRegistries }}{{ $_ := set $args "insecureRegistries" . }}{{ end -}}
{{- with $r.allowedPrivateRegistries }}{{ $_ := set $args "allowedPrivateRegistries" . }}{{ end -}}
{{- with $r.dockerHubMirror }}{{ $_ := set $args "dockerHubMirror" . }}{{ end -}}
{{- if not (kindIs "invalid" $r.maxConcurrentRequestsPerRegistry) }}{{ $_ := set $args "maxConcurrentRequestsPerRegistry" $r.maxConcurrentRequestsPerRegistry }}{{ end -}}
{{- if not (kindIs "invalid" $r.cacheSize) }}{{ $_ := set $args "cacheSize" $r.cacheSize }}{{ end -}}
{{- $records := include "archfit.rollbackRecords" .root -}}
{{- if ne $records "archfit/archfit-rollbacks" }}{{ $_ := set $args "rollbackRecords" $records }}{{ end -}}
{{- if eq .variant "pullSecrets" }}{{ $_ := set $args "usePullSecrets" true }}{{ end -}}
{{- range $k, $val := $a.extra }}{{ $_ := set $args $k $val }}{{ end -}}
{{- toYaml $args -}}
{{- end }}

{{/* The --config file archfit-scheduler runs. */}}
{{- define "archfit.scheduler.configFile" -}}
{{- if .Values.scheduler.configFile -}}
{{- $f := .Values.scheduler.configFile -}}
{{- if not (has $f (list "archfit-scheduler.yaml" "archfit-scheduler-pull-secrets.yaml" "archfit-filter-only.yaml")) -}}
{{- fail (printf "scheduler.configFile: %q is not archfit-scheduler.yaml, archfit-scheduler-pull-secrets.yaml or archfit-filter-only.yaml" $f) -}}
{{- end -}}
{{- $f -}}
{{- else if .Values.resolver.usePullSecrets -}}
archfit-scheduler-pull-secrets.yaml
{{- else -}}
archfit-scheduler.yaml
{{- end -}}
{{- end }}

{{/*
architectureWeights as numbers, YAML: --set architectureWeights.arm64=0.7
gives a string, which the scheduler's strict decoding would refuse.
*/}}
{{- define "archfit.weights" -}}
{{- $w := dict -}}
{{- range $arch, $weight := .Values.architectureWeights -}}
{{- $_ := set $w $arch (float64 $weight) -}}
{{- end -}}
{{- toYaml $w -}}
{{- end }}
