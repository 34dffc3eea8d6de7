import t from 'tap'
import { kubeProblems } from '../fixtures/kube-schema.js'
import { chartValues, manifestSets, renderSet, staticFiles, type K8sObject } from '../fixtures/manifests.js'

// Every shipped manifest, static and rendered, against the Kubernetes schemas
// (kubernetes-models, offline), strictly: unknown fields are errors too.

const label = (o: K8sObject): string => `${o.kind}/${o.metadata?.name}`

t.test('deploy/*.yaml: every object matches its Kubernetes schema', async (t) => {
  const files = staticFiles()
  t.same(files.map((f) => f.file).sort(), ['deploy/gateway.yaml', 'deploy/redis.yaml', 'deploy/sidecar.yaml'])
  for (const { file, objects } of files) {
    t.ok(objects.length >= 4, `${file}: has its objects`)
    for (const o of objects) t.same(kubeProblems(o), [], `${file}: ${label(o)}`)
  }
})

t.test('the Helm chart, rendered in both modes and with existing Secrets, matches the schemas', async (t) => {
  const sets = [
    ...manifestSets().filter((s) => s.name.startsWith('helm')),
    renderSet('helm: existing Secrets', [chartValues('gateway'), { secrets: { existingSecret: 'my-gatehouse' }, redis: { existingSecret: 'my-redis', existingSecretKey: 'url' } }]),
  ]
  for (const set of sets) {
    const kinds = set.objects.map((o) => o.kind).sort()
    t.ok(['ConfigMap', 'Deployment', 'NetworkPolicy', 'PodDisruptionBudget', 'Service', 'ServiceMonitor'].every((k) => kinds.includes(k)), `${set.name}: ${kinds.join(', ')}`)
    for (const o of set.objects) t.same(kubeProblems(o), [], `${set.name}: ${label(o)}`)
  }
})

t.test('the check rejects what the API server would: wrong types, missing fields, unknown fields', async (t) => {
  const deployment = structuredClone(manifestSets()[1]!.objects.find((o) => o.kind === 'Deployment')!)
  t.same(kubeProblems(deployment), [])
  const c = deployment.spec.template.spec.containers[0]
  c.ports[0].containerPort = '8080'
  delete c.name
  c.securityContex = c.securityContext
  deployment.spec.template.spec.securityContext.seccompProfile.typ = 'RuntimeDefault'
  const problems = kubeProblems(deployment)
  t.ok(problems.some((p) => /containerPort must be integer/.test(p)))
  t.ok(problems.some((p) => /containers\/0 must have required property name/.test(p)))
  t.ok(problems.some((p) => p.endsWith('/containers/0/securityContex: unknown field')))
  t.ok(problems.some((p) => p.endsWith('/seccompProfile/typ: unknown field')))
  t.match(kubeProblems({ apiVersion: 'v1', kind: 'Pod' }), [/no schema for v1\/Pod/])
  // Maps (labels, ConfigMap data) take any key.
  t.same(kubeProblems({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x', labels: { 'a.b/c': 'd' } }, data: { 'any.yaml': 'x' } }), [])
})
