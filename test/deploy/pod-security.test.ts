import { readFileSync } from 'node:fs'
import t from 'tap'
import { allContainers, gatehouseContainers, manifestSets, workloads, type K8sObject } from '../fixtures/manifests.js'

// What a namespace labelled pod-security.kubernetes.io/enforce=restricted
// admits (https://kubernetes.io/docs/concepts/security/pod-security-standards/),
// plus a read-only root filesystem, for every container of every pod template.

const ALLOWED_VOLUMES = ['configMap', 'csi', 'downwardAPI', 'emptyDir', 'ephemeral', 'persistentVolumeClaim', 'projected', 'secret']

/** The restricted profile's violations in one pod spec, each naming its container. */
function restrictedViolations (pod: K8sObject): string[] {
  const out: string[] = []
  const psc = pod.securityContext ?? {}
  for (const f of ['hostNetwork', 'hostPID', 'hostIPC']) if (pod[f] === true) out.push(`pod: ${f}`)
  for (const v of pod.volumes ?? []) {
    const type = Object.keys(v).find((k) => k !== 'name')
    if (type === undefined || !ALLOWED_VOLUMES.includes(type)) out.push(`volume ${v.name}: ${type} is not allowed`)
  }
  if (psc.runAsUser === 0) out.push('pod: runAsUser 0')
  for (const c of allContainers(pod)) {
    const sc = c.securityContext ?? {}
    const at = `container ${c.name}`
    if ((sc.runAsNonRoot ?? psc.runAsNonRoot) !== true) out.push(`${at}: runAsNonRoot is not true`)
    const uid = sc.runAsUser ?? psc.runAsUser
    if (!Number.isInteger(uid) || uid <= 0) out.push(`${at}: runAsUser is not a numeric non-root uid (${uid})`)
    const gid = sc.runAsGroup ?? psc.runAsGroup
    if (!Number.isInteger(gid) || gid <= 0) out.push(`${at}: runAsGroup is not a numeric non-root gid (${gid})`)
    const seccomp = (sc.seccompProfile ?? psc.seccompProfile)?.type
    if (seccomp !== 'RuntimeDefault' && seccomp !== 'Localhost') out.push(`${at}: seccompProfile is ${seccomp ?? 'unset'}`)
    if (sc.allowPrivilegeEscalation !== false) out.push(`${at}: allowPrivilegeEscalation is not false`)
    if (sc.privileged === true) out.push(`${at}: privileged`)
    if (!(sc.capabilities?.drop ?? []).includes('ALL')) out.push(`${at}: capabilities do not drop ALL`)
    for (const cap of sc.capabilities?.add ?? []) if (cap !== 'NET_BIND_SERVICE') out.push(`${at}: adds capability ${cap}`)
    if (sc.readOnlyRootFilesystem !== true) out.push(`${at}: readOnlyRootFilesystem is not true`)
    for (const p of c.ports ?? []) if (p.hostPort !== undefined && p.hostPort !== 0) out.push(`${at}: hostPort ${p.hostPort}`)
    if (sc.procMount !== undefined && sc.procMount !== 'Default') out.push(`${at}: procMount ${sc.procMount}`)
  }
  return out
}

/** USER of the Dockerfile's last stage. */
function dockerfile (): { stages: string[], user: string | undefined, text: string } {
  const text = readFileSync('Dockerfile', 'utf8')
  const lines = text.split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'))
  const stages = lines.filter((l) => /^FROM\s/i.test(l)).map((l) => l.split(/\s+/)[1]!)
  const last = lines.slice(lines.map((l) => /^FROM\s/i.test(l)).lastIndexOf(true))
  const user = last.filter((l) => /^USER\s/i.test(l)).pop()?.split(/\s+/)[1]
  return { stages, user, text }
}

t.test('every pod template meets the restricted Pod Security profile, in both modes', async (t) => {
  for (const set of manifestSets()) {
    const pods = workloads(set)
    t.ok(pods.length >= 1, `${set.name}: has workloads`)
    for (const w of pods) t.same(restrictedViolations(w.pod), [], `${set.name}: ${w.object.kind}/${w.object.metadata.name}`)
  }
  const sidecars = manifestSets().filter((s) => /sidecar/.test(s.name)).flatMap(workloads).filter((w) => gatehouseContainers(w.pod).length > 0)
  t.ok(sidecars.length === 2 && sidecars.every((w) => w.pod.containers.length === 2), 'sidecar mode: the application and Gatehouse in one pod')
})

t.test('the check finds each violation', async (t) => {
  const good = workloads(manifestSets()[1]!).find((w) => gatehouseContainers(w.pod).length > 0)!.pod
  const cases: Array<[string, (p: K8sObject) => void, RegExp]> = [
    ['runAsNonRoot unset', (p) => { delete p.securityContext.runAsNonRoot; delete p.containers[0].securityContext.runAsNonRoot }, /runAsNonRoot is not true/],
    ['runAsUser unset (a named image user cannot be checked)', (p) => { delete p.securityContext.runAsUser; delete p.containers[0].securityContext.runAsUser }, /runAsUser is not a numeric/],
    ['runAsUser 0', (p) => { p.containers[0].securityContext.runAsUser = 0 }, /runAsUser is not a numeric non-root uid \(0\)/],
    ['no seccomp profile', (p) => { delete p.securityContext.seccompProfile }, /seccompProfile is unset/],
    ['seccomp Unconfined', (p) => { p.containers[0].securityContext.seccompProfile = { type: 'Unconfined' } }, /seccompProfile is Unconfined/],
    ['privilege escalation', (p) => { delete p.containers[0].securityContext.allowPrivilegeEscalation }, /allowPrivilegeEscalation/],
    ['capabilities kept', (p) => { p.containers[0].securityContext.capabilities = { drop: ['NET_RAW'] } }, /do not drop ALL/],
    ['capability added', (p) => { p.containers[0].securityContext.capabilities.add = ['SYS_ADMIN'] }, /adds capability SYS_ADMIN/],
    ['writable root', (p) => { p.containers[0].securityContext.readOnlyRootFilesystem = false }, /readOnlyRootFilesystem/],
    ['hostPath volume', (p) => { p.volumes.push({ name: 'h', hostPath: { path: '/' } }) }, /hostPath is not allowed/],
    ['host network', (p) => { p.hostNetwork = true }, /hostNetwork/],
  ]
  for (const [name, breakIt, re] of cases) {
    const p = structuredClone(good)
    breakIt(p)
    t.match(restrictedViolations(p).join('\n'), re, name)
  }
})

t.test('the image runs as a numeric user, the one the manifests name', async (t) => {
  const d = dockerfile()
  t.ok(d.user !== undefined, 'the runtime stage sets USER')
  t.match(d.user, /^\d+(:\d+)?$/, `USER ${d.user} is numeric (uid or uid:gid)`)
  const [uid, gid] = (d.user ?? '').split(':').map(Number)
  t.not(uid, 0, 'not root')
  t.ok(d.stages.length >= 2, 'multi-stage build')
  for (const image of d.stages) t.match(image, /^node:(22|24)(-[a-z0-9.-]+)?$/, `${image}: a maintained Node LTS`)
  t.match(d.text, /npm ci --omit=dev/, 'the runtime stage installs production dependencies only')
  for (const set of manifestSets()) {
    for (const w of workloads(set)) {
      for (const c of gatehouseContainers(w.pod)) {
        const sc = { ...w.pod.securityContext, ...c.securityContext }
        t.equal(sc.runAsUser, uid, `${set.name}: ${c.name} runAsUser is the image's uid`)
        if (gid !== undefined) t.equal(sc.runAsGroup, gid, `${set.name}: ${c.name} runAsGroup is the image's gid`)
      }
    }
  }
})
