// `--scale`: CPU per request against the size of the route table and of the
// session cookie, and memory per session in the server-side store.
import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { runRounds } from './measure.mjs'
import { aggregate, fmt, resultsTable } from './report.mjs'
import { ROOT, dist } from './stack.mjs'
import { login } from './login.mjs'
import { USER } from './idp.mjs'

export const ROUTE_COUNTS = [10, 1_000, 10_000]
export const COOKIE_KB = [1, 4, 12]
export const SESSION_COUNTS = [10_000, 100_000]

/**
 * Routes besides the three every bench config has (/public, /__echo, /): a
 * quarter each of host-less prefixes (the measured requests hit one),
 * `pathRegex` routes, prefixes on exact hosts and on wildcard hosts.
 */
function extraRoutes (total) {
  const id = (i) => String(i).padStart(5, '0')
  return Array.from({ length: total - 3 }, (_, i) => {
    switch (i % 4) {
      case 0: return { yaml: `pathRegex: '^/re${id(i)}/v[0-9]+/items/[0-9]+$'` }
      case 1: return { yaml: `host: h${i % 50}.example.com\n    path: /svc${id(i)}` }
      case 2: return { yaml: `host: '*.w${i % 50}.example.com'\n    path: /svc${id(i)}` }
      default: return `/svc${id(i)}`
    }
  })
}

/** A host-less prefix route near the middle of the table (extraRoutes puts them at i % 4 === 3). */
function middlePrefix (routes) {
  let i = Math.floor((routes - 3) / 2)
  while (i % 4 !== 3) i--
  return `/svc${String(i).padStart(5, '0')}`
}

/**
 * A session of about `targetBytes` of Cookie header, sealed by Gatehouse's
 * own SessionManager (same secret and cookie name as the instance): opaque
 * tokens, and a groups claim padded to size.
 */
export async function mintCookie (file, targetBytes) {
  const { parseConfig } = await dist('config/load.js')
  const { SessionManager } = await dist('session/manager.js')
  const { CookieStore } = await dist('session/store.js')
  const config = parseConfig(readFileSync(file, 'utf8'), { env: {} })
  const sm = new SessionManager(config.session, false, new CookieStore(), (n, v) => `${n}=${v}`)
  const now = Date.now()
  const token = () => randomBytes(32).toString('base64url')
  let cookie = ''
  for (let groups = 0; groups < 2000; groups++) {
    const session = {
      v: 1, id: token(), provider: config.providers[0].id, iat: now, seen: now, sub: USER,
      claims: { sub: USER, email: `${USER}@bench.example`, name: 'Alice Bench', groups: Array.from({ length: groups }, (_, i) => `cn=team-${i},ou=groups`) },
      accessToken: token(), refreshToken: token(), expiresAt: now + 3_600_000,
    }
    cookie = (await sm.write(session, undefined, now)).join('; ')
    if (Buffer.byteLength(cookie) >= targetBytes) break
  }
  return cookie
}

export const runScale = {
  async plan ({ instance }) {
    const instances = []
    for (const n of ROUTE_COUNTS) instances.push(await instance(`gatehouse-${n}-routes`, { extraRoutes: extraRoutes(n), routes: n }))
    return { instances }
  },

  async run ({ plan, procs, opts, env, log, startGatehouse, verify, ctx }) {
    const cases = []
    for (const i of plan.instances) {
      if (i.skip !== undefined) { log(`${i.name}: skipped (${i.skip})`); continue }
      const t0 = Date.now()
      i.proc = await startGatehouse(procs, i)
      log(`${i.name}: started in ${Date.now() - t0} ms`)
      if (i === plan.instances[0]) await verify(i, ctx)
      const mid = `${middlePrefix(i.routes)}/item`
      cases.push({ key: `routes-${i.routes}`, label: `authenticated, ${i.routes.toLocaleString('en-US')} routes`, url: `http://127.0.0.1:${i.port}${mid}`, expect: 200, pid: i.proc.pid, headers: async () => ({ cookie: (await login(`http://127.0.0.1:${i.port}/`, USER)).cookie }) })
    }
    const small = plan.instances[0]
    for (const kb of COOKIE_KB) {
      const size = await mintCookie(small.file, kb * 1024)
      log(`cookie of ${kb} KB: ${Buffer.byteLength(size)} bytes in ${size.split('; ').length} cookie(s)`)
      cases.push({ key: `cookie-${kb}k`, label: `authenticated, session cookie ~${kb} KB (${size.split('; ').length} chunk${size.includes('; ') ? 's' : ''})`, url: `http://127.0.0.1:${small.port}/`, expect: 200, pid: small.proc.pid, headers: async () => ({ cookie: await mintCookie(small.file, kb * 1024) }) })
    }
    const results = await runRounds(cases, opts, env, log)
    const rows = aggregate(results, cases.map((c) => c.key))
    const table = resultsTable(rows, Object.fromEntries(cases.map((c) => [c.key, c.label])), 'routes-10')
    const r10 = rows.find((r) => r.key === 'routes-10')
    const r10k = rows.find((r) => r.key === 'routes-10000')
    const flat = r10 !== undefined && r10k !== undefined ? `CPU at 10,000 routes vs 10 routes: ${fmt(r10k.cpuUs, 1)} / ${fmt(r10.cpuUs, 1)} µs = ${fmt(r10k.cpuUs / r10.cpuUs, 3)} (target ≤ 1.10)` : ''
    const lookups = await routeLookups()
    const memory = sessionMemory(log)
    return [table, '', flat, '', lookups, '', memory].join('\n')
  },
}

/** Memory per session in the server-side store, measured in a child with --expose-gc. */
function sessionMemory (log) {
  const lines = ['| sessions | heap MB | bytes per session | what was measured |', '|---:|---:|---:|---|']
  for (const n of SESSION_COUNTS) {
    const out = execFileSync(process.execPath, ['--expose-gc', '--max-old-space-size=4096', path.join(ROOT, 'bench', 'session-memory.mjs'), String(n)], { encoding: 'utf8', cwd: ROOT })
    const r = JSON.parse(out.trim().split('\n').pop())
    log(`memory: ${n} sessions -> ${(r.bytes / 2 ** 20).toFixed(1)} MB heap (${r.what})`)
    lines.push(`| ${n.toLocaleString('en-US')} | ${fmt(r.bytes / 2 ** 20, 1)} | ${fmt(r.bytes / n)} | ${r.what} |`)
  }
  return lines.join('\n')
}

/**
 * The route table alone, in this process: ns per matchRoute() with 10, 1,000
 * and 10,000 routes — prefixes and `pathRegex` routes, on exact hosts,
 * wildcard hosts and no host — for requests that hit a prefix, hit a regex,
 * hit a regex under a wildcard host, and hit none (fall back to /). The
 * table is indexed by host and by path segment, and a regex is tried only on
 * its host and its literal prefix, so a lookup costs the same whatever the
 * number of routes: the last column is the ratio 10,000 ÷ 10 (target ≤ 1.1).
 * The fastest of seven interleaved rounds per case.
 */
export async function routeLookups () {
  const { buildRouteTable, matchRoute } = await dist('routing/match.js')
  const id = (i) => String(i).padStart(5, '0')
  const host = (i) => i % 3 === 1 ? { host: 'app.example.com' } : i % 3 === 2 ? { host: '*.example.com' } : {}
  const table = (n) => {
    const routes = Array.from({ length: n }, (_, i) => i % 2 === 0
      ? { index: i, path: `/svc${id(i)}/api`, ...host(i) }
      : { index: i, path: '/', pathRegex: `^/re${id(i)}/v[0-9]+/items/[0-9]+$`, methods: ['GET', 'HEAD'], ...host(i) })
    routes.push({ index: n, path: '/' })
    return buildRouteTable(routes)
  }
  // The last route of each kind: deep in the file (and in the table's lists, were it a list).
  const last = (n, pred) => { let i = n - 1; while (!pred(i)) i--; return i }
  const cases = (n) => [
    ['prefix, exact host', 'app.example.com', `/svc${id(last(n, (i) => i % 2 === 0 && i % 3 === 1))}/api/items/42`],
    ['regex, exact host', 'app.example.com', `/re${id(last(n, (i) => i % 2 === 1 && i % 3 === 1))}/v2/items/42`],
    ['regex, wildcard host', 'x.example.com', `/re${id(last(n, (i) => i % 2 === 1 && i % 3 === 2))}/v2/items/42`],
    ['miss, falls back to /', 'app.example.com', '/nothing/here'],
  ]
  const time = (t, h, path) => {
    let found = 0
    const t0 = process.hrtime.bigint()
    for (let i = 0; i < 300_000; i++) if (matchRoute(t, h, path, 'GET') !== undefined) found++
    if (found !== 300_000) throw new Error(`a lookup found no route: ${h}${path}`)
    return Number(process.hrtime.bigint() - t0) / 300_000
  }
  // Rounds interleave the table sizes and keep each case's fastest round:
  // on a shared machine the minimum is the measure least disturbed by others.
  const tables = ROUTE_COUNTS.map((n) => [n, table(n), cases(n)])
  const ns = new Map(ROUTE_COUNTS.map((n) => [n, cases(n).map(() => Infinity)]))
  for (let round = 0; round < 7; round++) {
    for (const [n, t, cs] of tables) cs.forEach(([, h, p], k) => { ns.get(n)[k] = Math.min(ns.get(n)[k], time(t, h, p)) })
  }
  const names = cases(10).map(([name]) => name)
  const lo = ns.get(ROUTE_COUNTS[0])
  const hi = ns.get(ROUTE_COUNTS.at(-1))
  const lines = ['| lookup | ' + ROUTE_COUNTS.map((n) => `ns, ${n.toLocaleString('en-US')} routes`).join(' | ') + ' | 10,000 ÷ 10 |', '|---|' + ROUTE_COUNTS.map(() => '---:').join('|') + '|---:|']
  names.forEach((name, k) => lines.push(`| ${name} | ${ROUTE_COUNTS.map((n) => fmt(ns.get(n)[k], 0)).join(' | ')} | ${fmt(hi[k] / lo[k], 2)} |`))
  const sum = (a) => a.reduce((x, y) => x + y, 0)
  lines.push('', `Route lookup, all four cases, 10,000 routes vs 10: ${fmt(sum(hi) / sum(lo), 3)} (target ≤ 1.1)`)
  return lines.join('\n')
}
