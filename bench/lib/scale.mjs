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

/** Route prefixes besides the three every bench config has (/public, /__echo, /). */
function extraRoutes (total) {
  return Array.from({ length: total - 3 }, (_, i) => `/svc${String(i).padStart(5, '0')}`)
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
      const mid = `/svc${String(Math.floor((i.routes - 3) / 2)).padStart(5, '0')}/item`
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
 * and 10,000 prefix routes (exact host, wildcard and host-less routes mixed),
 * for a path that hits a route deep in the table and one that hits none. A
 * segment trie costs the same whatever the number of routes.
 */
async function routeLookups () {
  const { buildRouteTable, matchRoute } = await dist('routing/match.js')
  const lines = ['| routes | ns per lookup (hit) | ns per lookup (miss, falls back to /) |', '|---:|---:|---:|']
  for (const n of ROUTE_COUNTS) {
    const routes = Array.from({ length: n }, (_, i) => ({
      index: i,
      path: `/svc${String(i).padStart(5, '0')}/api`,
      ...(i % 3 === 1 ? { host: 'app.example.com' } : i % 3 === 2 ? { host: '*.example.com' } : {}),
    }))
    routes.push({ index: n, path: '/' })
    const table = buildRouteTable(routes)
    const hit = `/svc${String(n - 3).padStart(5, '0')}/api/items/42`
    const time = (path) => {
      let found = 0
      for (let i = 0; i < 200_000; i++) if (matchRoute(table, 'app.example.com', path) !== undefined) found++
      const t0 = process.hrtime.bigint()
      for (let i = 0; i < 1_000_000; i++) if (matchRoute(table, 'app.example.com', path) !== undefined) found++
      return Number(process.hrtime.bigint() - t0) / 1_000_000
    }
    lines.push(`| ${n.toLocaleString('en-US')} | ${fmt(time(hit), 0)} | ${fmt(time('/nothing/here'), 0)} |`)
  }
  return lines.join('\n')
}
