// Summarises V8 .cpuprofile files (node --cpu-prof): self time by function and
// by area (Gatehouse's own code, each package, Node internals, GC, idle).
import { readdirSync, readFileSync } from 'node:fs'
import path from 'node:path'

/**
 * Which part of the program a call frame belongs to.
 * @param {{ functionName: string, url: string }} frame
 */
export function area (frame) {
  const u = frame.url
  if (u === '') {
    if (frame.functionName === '(garbage collector)') return 'GC'
    if (frame.functionName === '(idle)') return 'idle'
    if (frame.functionName === '(program)') return '(program: native, not attributed)'
    return `native ${frame.functionName}`
  }
  const nm = u.lastIndexOf('/node_modules/')
  if (nm !== -1) {
    const rest = u.slice(nm + 14).split('/')
    return rest[0].startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]
  }
  if (u.startsWith('node:')) {
    const mod = u.slice(5).replace(/^internal\//, '').split('/')[0].replace(/\.js$/, '')
    return `node:${mod}`
  }
  const dist = u.indexOf('/dist/')
  if (dist !== -1) return `gatehouse ${u.slice(dist + 6).replace(/\.js$/, '')}`
  return u
}

/**
 * Self time per function and per area of one profile, in % of samples.
 * V8 stamps samples with the monotonic clock, the one of
 * `process.hrtime.bigint()`: `window` (µs) keeps only the samples of a load run.
 * @param {{ startTime: number, nodes: { id: number, callFrame: { functionName: string, url: string, lineNumber: number } }[], samples: number[], timeDeltas: number[] }} profile
 * @param {{ from: number, to: number }} [window]
 */
export function selfTimes (profile, window) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]))
  const fn = new Map()
  const ar = new Map()
  let total = 0
  let t = profile.startTime
  for (let i = 0; i < profile.samples.length; i++) {
    const node = byId.get(profile.samples[i])
    const dt = profile.timeDeltas[i] ?? 0
    t += dt
    if (node === undefined) continue
    if (window !== undefined && (t < window.from || t > window.to)) continue
    total += dt
    const f = node.callFrame
    const key = `${f.functionName || '(anonymous)'} ${f.url === '' ? '' : `${path.basename(f.url)}:${f.lineNumber + 1}`}`.trim()
    fn.set(key, (fn.get(key) ?? 0) + dt)
    const a = area(f)
    ar.set(a, (ar.get(a) ?? 0) + dt)
  }
  const pct = (m) => [...m].map(([k, v]) => [k, (100 * v) / Math.max(1, total)]).sort((a, b) => b[1] - a[1])
  return { functions: pct(fn), areas: pct(ar), totalMs: total / 1000 }
}

/** Summary text of every .cpuprofile in `dir` (one per process), optionally of a time window. */
export function summariseProfile (dir, window, top = 30) {
  const out = []
  for (const f of readdirSync(dir).filter((x) => x.endsWith('.cpuprofile'))) {
    const s = selfTimes(JSON.parse(readFileSync(path.join(dir, f), 'utf8')), window)
    out.push(`## ${f} (${s.totalMs.toFixed(0)} ms sampled)`, '', '| area | self % |', '|---|---:|')
    for (const [k, v] of s.areas.slice(0, top)) out.push(`| ${k} | ${v.toFixed(1)} |`)
    out.push('', '| function | self % |', '|---|---:|')
    for (const [k, v] of s.functions.slice(0, top)) out.push(`| ${k} | ${v.toFixed(1)} |`)
    out.push('')
  }
  return out.join('\n')
}
