import t from 'tap'
import { parse as parseYaml } from 'yaml'
import { parseDuration } from '../../src/config/duration.js'
import {
  containerPort, embeddedConfig, gatehouseContainers, manifestSets, secretData, selects, workloads,
  type K8sObject, type ManifestSet,
} from '../fixtures/manifests.js'

// How the objects of each set fit together: references, probes, ports,
// shutdown timing, disruption budget, network policy, metrics, memory.

/** Every Secret and ConfigMap (with the keys it needs) that a pod spec refers to. */
function references (pod: K8sObject): Array<{ kind: 'Secret' | 'ConfigMap', name: string, keys: string[], where: string }> {
  const out: Array<{ kind: 'Secret' | 'ConfigMap', name: string, keys: string[], where: string }> = []
  const keys = (items: K8sObject[] | undefined): string[] => (items ?? []).map((i) => i.key)
  for (const v of pod.volumes ?? []) {
    if (v.secret !== undefined) out.push({ kind: 'Secret', name: v.secret.secretName, keys: keys(v.secret.items), where: `volume ${v.name}` })
    if (v.configMap !== undefined) out.push({ kind: 'ConfigMap', name: v.configMap.name, keys: keys(v.configMap.items), where: `volume ${v.name}` })
    for (const s of v.projected?.sources ?? []) {
      if (s.secret !== undefined) out.push({ kind: 'Secret', name: s.secret.name, keys: keys(s.secret.items), where: `volume ${v.name}` })
      if (s.configMap !== undefined) out.push({ kind: 'ConfigMap', name: s.configMap.name, keys: keys(s.configMap.items), where: `volume ${v.name}` })
    }
  }
  for (const c of [...(pod.initContainers ?? []), ...(pod.containers ?? [])]) {
    for (const e of c.env ?? []) {
      const s = e.valueFrom?.secretKeyRef
      const m = e.valueFrom?.configMapKeyRef
      if (s !== undefined) out.push({ kind: 'Secret', name: s.name, keys: [s.key], where: `${c.name} env ${e.name}` })
      if (m !== undefined) out.push({ kind: 'ConfigMap', name: m.name, keys: [m.key], where: `${c.name} env ${e.name}` })
    }
    for (const e of c.envFrom ?? []) {
      if (e.secretRef !== undefined) out.push({ kind: 'Secret', name: e.secretRef.name, keys: [], where: `${c.name} envFrom` })
      if (e.configMapRef !== undefined) out.push({ kind: 'ConfigMap', name: e.configMapRef.name, keys: [], where: `${c.name} envFrom` })
    }
  }
  return out
}

function undefinedReferences (set: ManifestSet): string[] {
  const problems: string[] = []
  for (const w of workloads(set)) {
    for (const ref of references(w.pod)) {
      const obj = set.objects.find((o) => o.kind === ref.kind && o.metadata.name === ref.name)
      if (obj === undefined) { problems.push(`${w.object.metadata.name} ${ref.where}: ${ref.kind} ${ref.name} is defined nowhere`); continue }
      const have = ref.kind === 'Secret' ? Object.keys(secretData(obj)) : Object.keys(obj.data ?? {})
      for (const k of ref.keys) if (!have.includes(k)) problems.push(`${w.object.metadata.name} ${ref.where}: ${ref.kind} ${ref.name} has no key ${k}`)
    }
  }
  return problems
}

/** Gatehouse containers with the configuration they run (undefined: none is mounted where GATEHOUSE_CONFIG says). */
const gatehousePods = (set: ManifestSet): Array<{ w: ReturnType<typeof workloads>[number], c: K8sObject, config: Record<string, any> | undefined }> =>
  workloads(set).flatMap((w) => gatehouseContainers(w.pod).map((c) => {
    try {
      return { w, c, config: parseYaml(embeddedConfig(set, w.pod, c).text) as Record<string, any> }
    } catch {
      return { w, c, config: undefined }
    }
  }))

const portOf = (listen: string): number => Number(listen.slice(listen.lastIndexOf(':') + 1))

/** What the sets claim about themselves; each check returns its problems. */
function problems (set: ManifestSet): Record<string, string[]> {
  const out: Record<string, string[]> = { refs: undefinedReferences(set), probes: [], shutdown: [], pdb: [], netpol: [], metrics: [], memory: [], redis: [] }
  const gh = gatehousePods(set)
  if (gh.length === 0) out.probes!.push('no Gatehouse container')
  for (const { w, c, config } of gh) {
    const at = `${w.object.metadata.name}/${c.name}`
    if (config === undefined) { out.refs!.push(`${at}: no ConfigMap holds its gatehouse.yaml`); continue }
    const admin = portOf(String(config.admin?.listen ?? ''))
    const http = portOf(String(config.listen ?? '0.0.0.0:8080'))
    // Probes: /readyz and /healthz on admin.listen, by number or by port name.
    for (const [probe, path] of [['readinessProbe', '/readyz'], ['livenessProbe', '/healthz']] as const) {
      const g = c[probe]?.httpGet
      if (g === undefined) { out.probes!.push(`${at}: no ${probe}`); continue }
      if (g.path !== path) out.probes!.push(`${at}: ${probe} path ${g.path}, expected ${path}`)
      if (containerPort(c, g.port) !== admin) out.probes!.push(`${at}: ${probe} port ${g.port} is not admin.listen's ${admin}`)
    }
    if (containerPort(c, 'http') !== http) out.probes!.push(`${at}: port "http" is not listen's ${http}`)
    // Shutdown: preStop sleep, then SIGTERM and up to shutdownGrace of drain, within the grace period.
    const cmd: string[] = c.lifecycle?.preStop?.exec?.command ?? []
    const preStop = cmd[0] === 'sleep' ? Number(cmd[1]) : NaN
    if (!(preStop >= 3)) out.shutdown!.push(`${at}: no preStop sleep of 3 s or more (endpoints take a few seconds to update)`)
    const grace = (parseDuration(config.shutdownGrace ?? '10s') ?? NaN) / 1000
    const period = w.pod.terminationGracePeriodSeconds ?? 30
    if (!(period > preStop + grace)) out.shutdown!.push(`${at}: terminationGracePeriodSeconds ${period} <= preStop ${preStop} + shutdownGrace ${grace}`)
    for (const other of w.pod.containers.filter((o: K8sObject) => o !== c)) {
      const s = other.lifecycle?.preStop?.exec?.command
      if (!(s?.[0] === 'sleep' && Number(s[1]) >= preStop + grace)) out.shutdown!.push(`${w.object.metadata.name}/${other.name}: stops before Gatehouse has drained`)
    }
    // A disruption budget and a network policy for these pods.
    const replicas = w.object.spec.replicas ?? 1
    const pdbs = set.objects.filter((o) => o.kind === 'PodDisruptionBudget' && selects(o.spec.selector, w.podLabels))
    if (pdbs.length !== 1) out.pdb!.push(`${at}: ${pdbs.length} PodDisruptionBudgets select the pods`)
    for (const p of pdbs) {
      const left = p.spec.minAvailable ?? replicas - (p.spec.maxUnavailable ?? 0)
      if (!(left >= 1 && left < replicas)) out.pdb!.push(`${at}: ${p.metadata.name} keeps ${left} of ${replicas} pods (must keep one and allow a drain)`)
    }
    const nps = set.objects.filter((o) => o.kind === 'NetworkPolicy' && selects(o.spec.podSelector, w.podLabels))
    if (nps.length === 0) out.netpol!.push(`${at}: no NetworkPolicy selects the pods`)
    for (const np of nps) {
      const types: string[] = np.spec.policyTypes ?? []
      if (!types.includes('Ingress') || !types.includes('Egress')) out.netpol!.push(`${np.metadata.name}: policyTypes ${types.join(',')}`)
      const open = (port: number): boolean => (np.spec.ingress ?? []).some((r: K8sObject) => (r.ports ?? []).some((p: K8sObject) => p.port === port || containerPort(c, p.port) === port))
      if (!open(http)) out.netpol!.push(`${np.metadata.name}: the proxy port ${http} is closed`)
      if (!open(admin)) out.netpol!.push(`${np.metadata.name}: the admin port ${admin} (metrics) is closed`)
      const dns = (np.spec.egress ?? []).some((r: K8sObject) => (r.ports ?? []).some((p: K8sObject) => p.port === 53))
      if (!dns) out.netpol!.push(`${np.metadata.name}: no DNS egress`)
    }
    // A Service port named metrics on the admin port, and a ServiceMonitor scraping it.
    const svcs = set.objects.filter((o) => o.kind === 'Service' && selects({ matchLabels: o.spec.selector }, w.podLabels))
    const metricsSvc = svcs.filter((s) => (s.spec.ports ?? []).some((p: K8sObject) => p.name === 'metrics' && containerPort(c, p.targetPort ?? p.port) === admin))
    if (metricsSvc.length === 0) out.metrics!.push(`${at}: no Service port named metrics targets the admin port`)
    const sms = set.objects.filter((o) => o.kind === 'ServiceMonitor' && metricsSvc.some((s) => selects(o.spec.selector, s.metadata.labels ?? {})))
    if (sms.length === 0) out.metrics!.push(`${at}: no ServiceMonitor selects the metrics Service`)
    for (const sm of sms) {
      if (!(sm.spec.endpoints ?? []).some((e: K8sObject) => e.port === 'metrics' && e.path === '/metrics')) out.metrics!.push(`${sm.metadata.name}: does not scrape port metrics at /metrics`)
    }
    // Memory: the request covers the measured RSS (131-135 MiB; docs/kubernetes.md).
    const mib = (q: string | undefined): number => (q === undefined ? 0 : /Gi$/.test(q) ? parseFloat(q) * 1024 : /Mi$/.test(q) ? parseFloat(q) : parseFloat(q) / 2 ** 20)
    const req = mib(c.resources?.requests?.memory)
    const lim = mib(c.resources?.limits?.memory)
    if (req < 150) out.memory!.push(`${at}: memory request ${c.resources?.requests?.memory} is below the measured RSS + headroom (150Mi)`)
    if (lim < req) out.memory!.push(`${at}: memory limit ${c.resources?.limits?.memory} below the request`)
    // Several replicas share logouts only through Redis (session.redis).
    if (replicas > 1 && config.session?.redis === undefined) out.redis!.push(`${at}: ${replicas} replicas without session.redis do not share logouts`)
    if (config.session?.store === 'memory' && replicas > 1) out.redis!.push(`${at}: memory sessions with ${replicas} replicas`)
  }
  return out
}

t.test('each set is consistent: references, probes, shutdown, PDB, NetworkPolicy, metrics, memory, Redis', async (t) => {
  const sets = manifestSets()
  t.equal(sets.length, 4)
  for (const set of sets) {
    for (const [check, found] of Object.entries(problems(set))) t.same(found, [], `${set.name}: ${check}`)
  }
  const gateway = sets.filter((s) => /gateway/.test(s.name)).flatMap(gatehousePods)
  t.ok(gateway.length === 2 && gateway.every((g) => g.config?.session.store === 'redis'), 'gateway mode keeps sessions in Redis')
})

t.test('each check finds what it is there for', async (t) => {
  const base = manifestSets()[1]!
  const broken = (edit: (objs: K8sObject[]) => void): ManifestSet => {
    const objects = structuredClone(base.objects)
    edit(objects)
    return { name: 'broken', objects }
  }
  const dep = (o: K8sObject[]): K8sObject => o.find((x) => x.kind === 'Deployment' && x.metadata.name === 'gatehouse')!
  const gh = (o: K8sObject[]): K8sObject => dep(o).spec.template.spec.containers[0]
  const cases: Array<[string, string, (o: K8sObject[]) => void, RegExp]> = [
    ['refs', 'a Secret missing', (o) => { o.splice(o.findIndex((x) => x.kind === 'Secret' && x.metadata.name === 'gatehouse'), 1) }, /Secret gatehouse is defined nowhere/],
    ['refs', 'a key missing', (o) => { delete o.find((x) => x.kind === 'Secret' && x.metadata.name === 'gatehouse-redis')!.stringData.password }, /has no key password/],
    ['refs', 'a ConfigMap missing', (o) => { dep(o).spec.template.spec.volumes[0].configMap.name = 'other' }, /ConfigMap other is defined nowhere/],
    ['probes', 'readiness on the proxy port', (o) => { gh(o).readinessProbe.httpGet.port = 'http' }, /readinessProbe port http is not admin.listen's 9901/],
    ['probes', 'liveness on /readyz', (o) => { gh(o).livenessProbe.httpGet.path = '/readyz' }, /livenessProbe path \/readyz/],
    ['shutdown', 'no preStop', (o) => { delete gh(o).lifecycle }, /no preStop sleep/],
    ['shutdown', 'grace too short', (o) => { dep(o).spec.template.spec.terminationGracePeriodSeconds = 15 }, /15 <= preStop 5 \+ shutdownGrace 10/],
    ['pdb', 'no PDB', (o) => { o.splice(o.findIndex((x) => x.kind === 'PodDisruptionBudget'), 1) }, /0 PodDisruptionBudgets/],
    ['pdb', 'a PDB that blocks drains', (o) => { o.find((x) => x.kind === 'PodDisruptionBudget')!.spec.maxUnavailable = 0 }, /keeps 2 of 2 pods/],
    ['netpol', 'admin port closed', (o) => { o.find((x) => x.kind === 'NetworkPolicy' && x.metadata.name === 'gatehouse')!.spec.ingress.pop() }, /admin port 9901 \(metrics\) is closed/],
    ['metrics', 'no metrics port', (o) => { o.find((x) => x.kind === 'Service' && x.metadata.name === 'gatehouse')!.spec.ports.pop() }, /no Service port named metrics/],
    ['metrics', 'no ServiceMonitor', (o) => { o.splice(o.findIndex((x) => x.kind === 'ServiceMonitor'), 1) }, /no ServiceMonitor/],
    ['memory', '64Mi', (o) => { gh(o).resources.requests.memory = '64Mi' }, /memory request 64Mi/],
    ['redis', 'no Redis', (o) => {
      const cm = o.find((x) => x.kind === 'ConfigMap' && x.metadata.name === 'gatehouse')!
      const cfg = parseYaml(cm.data['gatehouse.yaml'])
      delete cfg.session.redis
      cfg.session.store = 'cookie'
      cm.data['gatehouse.yaml'] = JSON.stringify(cfg)
    }, /2 replicas without session.redis/],
  ]
  for (const [check, name, edit, re] of cases) t.match(problems(broken(edit))[check]!.join('\n'), re, `${check}: ${name}`)
})
