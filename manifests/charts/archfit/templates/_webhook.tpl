{{/*
The MutatingWebhookConfiguration of manifests/base/placement-webhook.yaml:
(dict "root" $ "caBundle" base64-PEM-or-empty). Rendered from tls.yaml,
which knows the CA.

Pod CREATE goes to archfit-placement for two kinds of pod: those of
schedulerName, and every pod of a namespace carrying the opt-in label.
matchConditions keep pods the webhook would skip anyway (bound ones,
DaemonSet pods) from costing a call. failurePolicy Ignore: an outage admits
pods unchanged, never blocks them.
*/}}
{{- define "archfit.webhook" -}}
{{- $root := .root -}}
{{- $v := $root.Values -}}
{{- $p := $v.placement -}}
{{- $ns := $root.Release.Namespace -}}
{{- $skip := concat $p.skipNamespaces (list $ns) | uniq -}}
{{- $hooks := list "by-scheduler" -}}
{{- if $p.namespaceOptIn.enabled }}{{ $hooks = append $hooks "by-namespace" }}{{ end -}}
apiVersion: admissionregistration.k8s.io/v1
kind: MutatingWebhookConfiguration
metadata:
  name: archfit-placement
  labels:
    {{- include "archfit.labels" $root | nindent 4 }}
  {{- if eq $v.tls.mode "certManager" }}
  annotations:
    # cert-manager's CA injector writes the CA into each caBundle.
    cert-manager.io/inject-ca-from: {{ $ns }}/archfit-placement
  {{- end }}
webhooks:
  {{- range $hooks }}
  - name: {{ . }}.placement.archfit.dev
    admissionReviewVersions: [v1]
    sideEffects: None
    failurePolicy: {{ $p.webhook.failurePolicy }}
    # Admission waits on no registry (--admission-budget); this bounds a
    # hung connection.
    timeoutSeconds: {{ $p.webhook.timeoutSeconds }}
    reinvocationPolicy: Never
    clientConfig:
      {{- with $.caBundle }}
      caBundle: {{ . }}
      {{- end }}
      service:
        namespace: {{ $ns }}
        name: archfit-placement
        path: /mutate-pods
        port: 443
    rules:
      - operations: [CREATE]
        apiGroups: [""]
        apiVersions: [v1]
        resources: [pods]
        scope: Namespaced
    namespaceSelector:
      matchExpressions:
        {{- if eq . "by-namespace" }}
        - key: {{ $p.namespaceOptIn.label }}
          operator: In
          values: [{{ $p.namespaceOptIn.value | quote }}]
        {{- end }}
        - key: kubernetes.io/metadata.name
          operator: NotIn
          values: {{ toJson $skip }}
    matchConditions:
      {{- if eq . "by-scheduler" }}
      - name: archfit-scheduler
        expression: {{ printf "object.spec.schedulerName == '%s'" $v.schedulerName | quote }}
      {{- else }}
      # The first webhook already handles the scheduler's pods.
      - name: not-archfit-scheduler
        expression: {{ printf "object.spec.schedulerName != '%s'" $v.schedulerName | quote }}
      {{- end }}
      - name: not-bound
        expression: "!has(object.spec.nodeName) || object.spec.nodeName == ''"
      - name: not-daemonset
        expression: "!has(object.metadata.ownerReferences) || !object.metadata.ownerReferences.exists(o, o.kind == 'DaemonSet')"
  {{- end }}
{{- end }}
