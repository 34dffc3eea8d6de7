import t from 'tap'
import { ChartFail, TemplateError, mergeValues, renderChart, renderString, toYaml } from '../fixtures/helm-template.js'
import { CHART, chartValues, renderSet } from '../fixtures/manifests.js'

// The chart renderer against what text/template and Helm do, case by case,
// then the chart's own refusals.

t.test('renderer: text/template and Helm semantics the chart relies on', async (t) => {
  const data = { Values: { a: { b: 'x', n: 8080, on: true, off: false, list: [1, 2], map: { z: 1, a: 'y' }, empty: {} }, s: 'gatehouse' }, Chart: { Name: 'gatehouse' } }
  const cases: Array<[string, string, Record<string, string>?]> = [
    ['{{ .Values.a.b }}', 'x'],
    ['{{ .Values.a.n }}', '8080'],
    ['{{ .Values.a.missing }}|', '|'],
    ['a  \n  {{- .Values.a.b -}}  \n  b', 'axb'],
    ['{{/* a comment */}}x', 'x'],
    ['{{- /* trimmed comment */ -}}\n  x', 'x'],
    ['{{ if .Values.a.on }}yes{{ else }}no{{ end }}', 'yes'],
    ['{{ if .Values.a.off }}1{{ else if .Values.a.empty }}2{{ else if .Values.a.list }}3{{ else }}4{{ end }}', '3'],
    ['{{ if .Values.a.missing }}1{{ end }}|', '|'],
    ['{{ with .Values.a.map }}{{ .a }}{{ $.Values.s }}{{ end }}', 'ygatehouse'],
    ['{{ with .Values.a.empty }}1{{ else }}none{{ end }}', 'none'],
    ['{{ include "x" .Values.a }}', '[x]', { x: '[{{ .b }}]' }],
    ['{{ include "x" . | nindent 2 }}', '\n  l1\n  l2', { x: 'l1\nl2' }],
    ['{{ toYaml .Values.a.map | indent 4 }}', '    a: "y"\n    z: 1'],
    ['{{ toYaml .Values.a.empty }}', '{}'],
    ['{{ .Values.a.b | quote }} {{ .Values.a.n | quote }}', '"x" "8080"'],
    ['{{ .Values.a.missing | default "d" }} {{ .Values.a.b | default "d" }}', 'd x'],
    ['{{ printf "%s-%s" .Chart.Name "x" | trunc 9 | trimSuffix "-" }}', 'gatehouse'],
    ['{{ if contains .Chart.Name "my-gatehouse" }}1{{ end }}', '1'],
    ['{{ if and .Values.a.on (not .Values.a.off) }}1{{ end }}{{ if or .Values.a.off .Values.a.missing }}2{{ end }}', '1'],
    ['{{ if and .Values.a.off .Values.a.missing.deeper }}1{{ else }}short{{ end }}', 'short'],
    ['{{ if eq .Values.a.b "y" "x" }}1{{ end }}{{ if ne .Values.a.b "x" }}2{{ end }}', '1'],
    ['{{ add 5 10 .Values.a.n }}', '8095'],
    ['{{ join "," .Values.a.list }}', '1,2'],
    ['{{ "abc" | sha256sum }}', 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad'],
    ['{{ toString .Values.a.n }}', '8080'],
  ]
  for (const [src, want, defines] of cases) t.equal(renderString(src, data, defines), want, src)
  const errors: Array<[string, RegExp, new (message: string) => Error]> = [
    ['{{ .Values.nothing.deeper }}', /nil pointer evaluating \.Values\.nothing\.deeper/, TemplateError],
    ['{{ .Values.a.map }}', /printing a map/, TemplateError],
    ['{{ range .Values.a.list }}{{ end }}', /range.*not supported/, TemplateError],
    ['{{ lookup "v1" "Secret" "" "" }}', /unsupported function lookup/, TemplateError],
    ['{{ $x := 1 }}', /variables other than \$/, TemplateError],
    ['{{ if .Values.a.on }}open', /missing \{\{ end \}\}/, TemplateError],
    ['{{ include "none" . }}', /no template "none"/, TemplateError],
    ['{{ fail "refused" }}', /^refused$/, ChartFail],
    ['{{ required "need b" .Values.a.missing }}', /^need b$/, ChartFail],
  ]
  for (const [src, re, type] of errors) t.throws(() => renderString(src, data), { message: re, constructor: type }, src)
})

t.test('values merge like helm -f: maps deeply, lists replaced, null deletes', async (t) => {
  t.same(mergeValues({ a: { b: 1, c: [1, 2], d: 'x' }, e: 1 }, { a: { b: 2, c: [3], d: null } }), { a: { b: 2, c: [3] }, e: 1 })
  t.equal(toYaml({ b: 'yes', a: 1 }), 'a: 1\nb: "yes"', 'keys sorted; YAML 1.1 booleans quoted, as sigs.k8s.io/yaml does')
})

t.test('the chart refuses values it cannot deploy', async (t) => {
  t.throws(() => renderChart(CHART), { message: /secrets\.sessionSecrets: give at least one session secret/ }, 'no session secret')
  const refuse = (values: Record<string, unknown>, re: RegExp, what: string): void => {
    t.throws(() => renderSet(what, [chartValues('gateway'), values]), { message: re, constructor: ChartFail }, what)
  }
  refuse({ mode: 'daemon' }, /mode: expected gateway or sidecar, got daemon/, 'an unknown mode')
  refuse({ redis: { enabled: false } }, /session\.store redis needs redis\.enabled/, 'Redis sessions without Redis')
  refuse({ redis: { url: '' } }, /redis\.url \(or redis\.existingSecret\) is required/, 'Redis without a URL')
  refuse({ session: { store: 'memory' } }, /session\.store memory keeps sessions inside one pod/, 'memory sessions on two replicas')
  const one = renderSet('one replica, memory', [chartValues('gateway'), { replicaCount: 1, session: { store: 'memory' }, redis: { enabled: false } }])
  t.equal(one.objects.find((o) => o.kind === 'Deployment')!.spec.replicas, 1, 'memory sessions with one replica render')
})

t.test('chart toggles and existing Secrets', async (t) => {
  const kinds = (values: Record<string, unknown>): string[] => renderSet('x', [chartValues('gateway'), values]).objects.map((o) => o.kind).sort()
  t.same(kinds({ pdb: { enabled: false }, networkPolicy: { enabled: false }, serviceMonitor: { enabled: false } }), ['ConfigMap', 'Deployment', 'Secret', 'Secret', 'Service'])
  const existing = renderSet('existing', [chartValues('gateway'), { secrets: { existingSecret: 'mine' }, redis: { existingSecret: 'my-redis', existingSecretKey: 'url' } }])
  t.equal(existing.objects.filter((o) => o.kind === 'Secret').length, 0, 'no Secret is rendered')
  const sources = existing.objects.find((o) => o.kind === 'Deployment')!.spec.template.spec.volumes.find((v: any) => v.name === 'secrets').projected.sources
  t.same(sources.map((s: any) => [s.secret.name, s.secret.items.map((i: any) => `${i.key}>${i.path}`)]), [
    ['mine', ['client-secret>client-secret', 'session-secrets>session-secrets']],
    ['my-redis', ['url>redis-url']],
  ])
  const a = renderSet('a', [chartValues('gateway')]).objects.find((o) => o.kind === 'Deployment')!
  const b = renderSet('b', [chartValues('gateway'), { session: { idleTimeout: '2h' } }]).objects.find((o) => o.kind === 'Deployment')!
  t.not(a.spec.template.metadata.annotations['checksum/config'], b.spec.template.metadata.annotations['checksum/config'], 'a configuration change rolls the pods')
  const named = renderSet('named', [chartValues('sidecar')]).objects
  t.ok(named.every((o) => o.metadata.name.startsWith('gatehouse')), 'release "gatehouse": objects are not named gatehouse-gatehouse')
})
