import { spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import t from 'tap'
import { parse as parseYaml, stringify } from 'yaml'
import { embeddedConfig, gatehouseContainers, manifestSets, secretData, workloads, type K8sObject, type ManifestSet } from '../fixtures/manifests.js'

// The gatehouse.yaml inside each manifest passes `gatehouse check`, run as the
// pod would run it: the container's files (ConfigMap and Secret volumes, at
// their mount paths) laid out under a temporary root from the example objects,
// and its environment (values and secretKeyRefs) resolved from the same objects.
// npm test builds dist/ before the tests run.

const CLI = join(process.cwd(), 'dist/cli.js')

/** The files a volume shows: every key, or the listed items at their paths. */
function volumeFiles (set: ManifestSet, vol: K8sObject): Record<string, string> {
  const files: Record<string, string> = {}
  const add = (kind: 'Secret' | 'ConfigMap', name: string, items: K8sObject[] | undefined): void => {
    const obj = set.objects.find((o) => o.kind === kind && o.metadata.name === name)
    if (obj === undefined) throw new Error(`${kind} ${name} is defined nowhere`)
    const data: Record<string, string> = kind === 'Secret' ? secretData(obj) : obj.data ?? {}
    if (items === undefined) Object.assign(files, data)
    else for (const i of items) files[i.path] = data[i.key]!
  }
  if (vol.secret !== undefined) add('Secret', vol.secret.secretName, vol.secret.items)
  if (vol.configMap !== undefined) add('ConfigMap', vol.configMap.name, vol.configMap.items)
  for (const s of vol.projected?.sources ?? []) {
    if (s.secret !== undefined) add('Secret', s.secret.name, s.secret.items)
    if (s.configMap !== undefined) add('ConfigMap', s.configMap.name, s.configMap.items)
  }
  return files
}

/** Runs `gatehouse check` on a container's configuration, with its files and environment. */
function checkContainer (set: ManifestSet, pod: K8sObject, c: K8sObject): { status: number | null, stdout: string, stderr: string, files: string[] } {
  const root = mkdtempSync(join(tmpdir(), 'gatehouse-k8s-'))
  const files: string[] = []
  for (const m of c.volumeMounts ?? []) {
    const vol = (pod.volumes ?? []).find((v: K8sObject) => v.name === m.name)
    if (vol === undefined) throw new Error(`volume ${m.name} is not in the pod`)
    for (const [path, text] of Object.entries(volumeFiles(set, vol))) {
      const p = join(root, m.mountPath, path)
      mkdirSync(dirname(p), { recursive: true })
      writeFileSync(p, text)
      files.push(join(m.mountPath, path))
    }
  }
  const env: Record<string, string> = {}
  for (const e of c.env ?? []) {
    if (e.value !== undefined) env[e.name] = String(e.value)
    const ref = e.valueFrom?.secretKeyRef
    if (ref !== undefined) {
      const s = set.objects.find((o) => o.kind === 'Secret' && o.metadata.name === ref.name)
      if (s === undefined) throw new Error(`Secret ${ref.name} is defined nowhere`)
      env[e.name] = secretData(s)[ref.key]!
    }
  }
  // The configuration names files (xFile) by their paths in the container: point them into the root.
  const { path, text } = embeddedConfig(set, pod, c)
  const mounts: string[] = (c.volumeMounts ?? []).map((m: K8sObject) => m.mountPath)
  const reroot = (node: unknown): unknown => {
    if (Array.isArray(node)) return node.map(reroot)
    if (node === null || typeof node !== 'object') return node
    return Object.fromEntries(Object.entries(node).map(([k, v]) =>
      [k, k.endsWith('File') && typeof v === 'string' && mounts.some((m) => v.startsWith(`${m}/`)) ? join(root, v) : reroot(v)]))
  }
  const file = join(root, `${path}.rooted.yaml`)
  writeFileSync(file, stringify(reroot(parseYaml(text))))
  const r = spawnSync(process.execPath, [CLI, 'check', '--config', file], { encoding: 'utf8', env: { PATH: process.env.PATH ?? '', ...env } })
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, files }
}

/**
 * The set with every example secret that is a placeholder (`change-me…`)
 * replaced by a real one, as an operator must before deploying.
 */
function withRealSecrets (set: ManifestSet): ManifestSet {
  const objects = structuredClone(set.objects)
  for (const o of objects) {
    if (o.kind !== 'Secret') continue
    for (const field of ['stringData', 'data'] as const) {
      const d = o[field] as Record<string, string> | undefined
      if (d === undefined) continue
      for (const [k, v] of Object.entries(d)) {
        const text = field === 'data' ? Buffer.from(v, 'base64').toString('utf8') : v
        if (!text.trim().startsWith('change-me')) continue
        const real = randomBytes(36).toString('base64')
        d[k] = field === 'data' ? Buffer.from(real).toString('base64') : real
      }
    }
  }
  return { ...set, objects }
}

t.test('the example Secrets are placeholders that check refuses until they are replaced', async (t) => {
  let n = 0
  for (const set of manifestSets()) {
    for (const w of workloads(set)) {
      for (const c of gatehouseContainers(w.pod)) {
        const r = checkContainer(set, w.pod, c)
        t.equal(r.status, 1, `${set.name}: ${w.object.metadata.name}/${c.name}: the shipped placeholders are refused`)
        t.match(r.stderr, /session\.secrets\[0\]: is a placeholder, not a secret; generate one with: openssl rand -base64 48/)
        t.match(r.stderr, /providers\[0\]\.clientSecret: is a placeholder/)
        n++
      }
    }
  }
  t.equal(n, 4, 'sidecar and gateway, static and from the chart')
})

t.test('the configuration in every manifest passes gatehouse check with its own Secrets, once they are real', async (t) => {
  let n = 0
  for (const shipped of manifestSets()) {
    const set = withRealSecrets(shipped)
    for (const w of workloads(set)) {
      for (const c of gatehouseContainers(w.pod)) {
        const r = checkContainer(set, w.pod, c)
        t.equal(r.status, 0, `${set.name}: ${w.object.metadata.name}/${c.name}: ${r.stderr}`)
        t.match(r.stdout, /: OK \(\d+ providers?, \d+ routes?, (cookie|redis) sessions\)/)
        t.ok(r.files.includes('/var/run/secrets/gatehouse/session-secrets'), 'the session secrets are mounted')
        n++
      }
    }
  }
  t.equal(n, 4, 'sidecar and gateway, static and from the chart')
})

t.test('a configuration the pod cannot run is caught', async (t) => {
  const set = withRealSecrets(manifestSets()[1]!)
  const edit = (f: (objs: K8sObject[]) => void): ReturnType<typeof checkContainer> => {
    const objects = structuredClone(set.objects)
    f(objects)
    const s = { name: 'broken', objects }
    const w = workloads(s).find((x) => gatehouseContainers(x.pod).length > 0)!
    return checkContainer(s, w.pod, gatehouseContainers(w.pod)[0]!)
  }
  const cm = (o: K8sObject[]): K8sObject => o.find((x) => x.kind === 'ConfigMap' && x.metadata.name === 'gatehouse')!
  const secret = (o: K8sObject[]): K8sObject => o.find((x) => x.kind === 'Secret' && x.metadata.name === 'gatehouse')!
  const short = edit((o) => { secret(o).stringData['session-secrets'] = 'too-short' })
  t.equal(short.status, 1)
  t.match(short.stderr, /session\.secrets\[0\]: must be at least 32 characters/)
  const missing = edit((o) => { delete secret(o).stringData['client-secret'] })
  t.equal(missing.status, 1)
  t.match(missing.stderr, /providers\[0\]\.clientSecretFile: cannot read .*client-secret.*ENOENT/)
  const typo = edit((o) => { cm(o).data['gatehouse.yaml'] = cm(o).data['gatehouse.yaml'].replace('store: redis', 'store: redls') })
  t.equal(typo.status, 1)
  t.match(typo.stderr, /session\.store: expected one of/)
  const noEnv = edit((o) => { const d = o.find((x) => x.kind === 'Deployment' && x.metadata.name === 'gatehouse')!; d.spec.template.spec.containers[0].env.pop() })
  t.equal(noEnv.status, 1)
  t.match(noEnv.stderr, /session\.redis\.url: environment variable REDIS_PASSWORD is not set/)
})
