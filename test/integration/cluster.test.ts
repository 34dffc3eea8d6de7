import t from 'tap'
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startDevProvider } from '../../src/demo/idp.js'
import { startEchoUpstream } from '../../src/demo/upstream.js'
import { Browser, request } from '../fixtures/browser.js'
import { CLIENT_ID, CLIENT_SECRET, SESSION_SECRET, freePort } from '../fixtures/stack.js'

/** Children of `pid`, from /proc. */
function childrenOf (pid: number): number[] {
  const out: number[] = []
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue
    try {
      const s = readFileSync(`/proc/${d}/stat`, 'utf8')
      if (Number(s.slice(s.lastIndexOf(')') + 2).split(' ')[1]) === pid) out.push(Number(d))
    } catch { /* gone */ }
  }
  return out
}
const alive = (pid: number): boolean => { try { process.kill(pid, 0); return true } catch { return false } }

async function until<T> (what: string, f: () => Promise<T | undefined>, ms = 90_000): Promise<T> {
  const t0 = Date.now()
  let last: unknown
  while (Date.now() - t0 < ms) {
    try { const v = await f(); if (v !== undefined) return v } catch (e) { last = e }
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
  throw new Error(`${what}: not within ${ms} ms (${String(last)})`)
}

t.test('workers: 2 — one port, both workers serve, logout reaches every worker, SIGTERM drains all', async (t) => {
  const port = await freePort()
  const adminPort = await freePort()
  const publicUrl = `http://127.0.0.1:${port}`
  const idp = await startDevProvider({
    clients: [{
      client_id: CLIENT_ID,
      client_secret: CLIENT_SECRET,
      redirect_uris: [`${publicUrl}/.gatehouse/callback`],
      post_logout_redirect_uris: [`${publicUrl}/`],
      grant_types: ['authorization_code', 'refresh_token'],
    }],
  })
  t.teardown(async () => idp.close())
  const upstream = await startEchoUpstream()
  t.teardown(async () => upstream.close())
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-cluster-'))
  const file = join(dir, 'gatehouse.yaml')
  writeFileSync(file, `
listen: 127.0.0.1:${port}
publicUrl: ${publicUrl}
workers: 2
shutdownGrace: 2s
log: { level: warn }
admin: { listen: 127.0.0.1:${adminPort} }
providers:
  - id: test
    issuer: ${idp.issuer}
    clientId: ${CLIENT_ID}
    clientSecret: ${CLIENT_SECRET}
session: { secret: ${SESSION_SECRET} }
routes:
  - { path: /signed, upstream: ${upstream.url}, assertion: true }
  - { path: /, upstream: ${upstream.url} }
`)
  // The same TypeScript loader as this test, so the CLI runs from src/ (workers inherit it).
  const loader = process.execArgv.filter((a) => a.includes('@tapjs/typescript'))
  const cli: ChildProcess = spawn(process.execPath, [...loader, 'src/cli.ts', '--config', file], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NODE_OPTIONS: '' } })
  let output = ''
  cli.stdout!.on('data', (d: Buffer) => { output += d.toString() })
  cli.stderr!.on('data', (d: Buffer) => { output += d.toString() })
  const exited = new Promise<number | null>((resolve) => cli.on('exit', (code) => resolve(code)))
  t.teardown(() => { if (alive(cli.pid!)) cli.kill('SIGKILL') })

  const ready = await until<{ workers: Record<string, unknown> }>('cluster ready', async () => {
    const r = await request(`http://127.0.0.1:${adminPort}/readyz`)
    return r.status === 200 ? r.json() : undefined
  }).catch((e: Error) => { throw new Error(`${e.message}\n${output}`) })
  t.equal(Object.keys(ready.workers).length, 2, 'readyz reports both workers')
  const workers = childrenOf(cli.pid!)
  t.equal(workers.length, 2, 'two worker processes')

  // Each request on its own connection: the primary deals connections out in turn.
  for (let i = 0; i < 6; i++) t.equal((await request(`${publicUrl}/api`, { headers: { accept: 'application/json' } })).status, 401)
  const metrics = (await request(`http://127.0.0.1:${adminPort}/metrics`)).text
  const served = [...metrics.matchAll(/gatehouse_requests_total\{outcome="unauthenticated",worker="(\d+)"\} (\d+)/g)]
  t.equal(served.length, 2, 'both workers answered requests')
  t.equal(served.reduce((a, m) => a + Number(m[2]), 0), 6)

  // No assertion key configured: the primary made one, and every worker signs with it and publishes it.
  const kids = new Set<string>()
  const answeredBy = new Set<string>()
  for (let i = 0; i < 6; i++) {
    const r = await request(`${publicUrl}/.gatehouse/jwks`)
    kids.add(String(r.json<{ keys: { kid: string }[] }>().keys[0]!.kid))
    answeredBy.add(String(r.headers['x-request-id']).split(/[-_]/)[0]!)
  }
  t.equal(answeredBy.size, 2, 'both workers served /.gatehouse/jwks')
  t.equal(kids.size, 1, 'with one and the same key')

  const b = new Browser()
  t.equal((await b.login(`${publicUrl}/hello`)).status, 200, 'login through the cluster')
  const cookie = await b.cookieHeader(`${publicUrl}/`)
  const signedKids = new Set<string>()
  for (let i = 0; i < 4; i++) {
    t.equal((await request(`${publicUrl}/signed/x`, { headers: { cookie, accept: 'application/json' } })).status, 200)
    const jwt = String(upstream.received.at(-1)!.headers['x-gatehouse-assertion'])
    signedKids.add(String(JSON.parse(Buffer.from(jwt.split('.')[0]!, 'base64url').toString()).kid))
  }
  t.same([...signedKids], [...kids], 'every worker\'s assertions name the published key')
  for (let i = 0; i < 4; i++) t.equal((await request(`${publicUrl}/x`, { headers: { cookie, accept: 'application/json' } })).status, 200, 'the session works on every worker')
  t.equal((await b.fetch(`${publicUrl}/.gatehouse/logout`)).status, 302)
  // The copy taken before logout must fail on both workers, not only the one that did the logout.
  for (let i = 0; i < 4; i++) t.equal((await request(`${publicUrl}/x`, { headers: { cookie, accept: 'application/json' } })).status, 401, 'the old cookie is refused')

  cli.kill('SIGTERM')
  t.equal(await exited, 0, 'primary exits 0 after draining')
  t.same(workers.filter(alive), [], 'no worker left behind')
})
