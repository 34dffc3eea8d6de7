import http from 'node:http'
import { mkdirSync, mkdtempSync, renameSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { startDevProvider, type DevProvider } from '../../src/demo/idp.js'
import { startEchoUpstream, type EchoUpstream } from '../../src/demo/upstream.js'
import { Browser, request, type Response } from '../fixtures/browser.js'
import { api, loginCookie, setCookieHeader } from '../fixtures/gateway.js'
import { CLIENT_ID, CLIENT_SECRET, SESSION_SECRET, freePort } from '../fixtures/stack.js'
import { startGatehouse, until, type Gatehouse } from '../fixtures/cli.js'

// SIGHUP, the file watch and SIGTERM on the built CLI (npm test builds dist/
// first), with real signals, a real provider and real upstreams.
const dir = mkdtempSync(join(tmpdir(), 'gatehouse-signals-'))
const OLD_SECRET = 'old-session-secret-0123456789abcdef-0123456789'
const NEW_SECRET = 'new-session-secret-0123456789abcdef-0123456789'

interface Teardown { teardown (fn: () => unknown): void }

async function upstreams (t: Teardown, n: number): Promise<EchoUpstream[]> {
  const out: EchoUpstream[] = []
  for (let i = 0; i < n; i++) {
    const u = await startEchoUpstream()
    t.teardown(async () => u.close())
    out.push(u)
  }
  return out
}

async function provider (t: Teardown, port: number): Promise<DevProvider> {
  const idp = await startDevProvider({ clients: [{ client_id: CLIENT_ID, client_secret: CLIENT_SECRET, redirect_uris: [`http://127.0.0.1:${port}/.gatehouse/callback`], response_types: ['code'], grant_types: ['authorization_code', 'refresh_token'] }] })
  t.teardown(async () => idp.close())
  return idp
}

/** A config with one public catch-all route. */
function yaml (o: { port: number, issuer: string, upstream: string, extra?: string, session?: string, auth?: string }): string {
  return `
listen: 127.0.0.1:${o.port}
publicUrl: http://127.0.0.1:${o.port}
log: { level: info }
${o.extra ?? ''}
providers:
  - issuer: ${o.issuer}
    clientId: ${CLIENT_ID}
    clientSecret: ${CLIENT_SECRET}
session:
${o.session ?? `  secret: ${SESSION_SECRET}`}
routes:
  - upstream: ${o.upstream}
    auth: ${o.auth ?? 'public'}
`
}

/** A GET on a keep-alive agent (the fixture's request() sends Connection: close itself). */
async function get (url: string, agent: http.Agent): Promise<{ status: number, headers: http.IncomingHttpHeaders, socket: import('node:net').Socket }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent }, (res) => {
      res.resume()
      res.on('end', () => { resolve({ status: res.statusCode ?? 0, headers: res.headers, socket }) })
    })
    let socket!: import('node:net').Socket
    req.on('socket', (s) => { socket = s })
    req.on('error', reject)
  })
}

const served = (u: EchoUpstream, path: string): boolean => u.received.some((r) => r.url === path)
const serving = (g: Gatehouse) => async (): Promise<true | undefined> => (await request(`${g.url}/up`)).status === 200 ? true : undefined
const hup = async (g: Gatehouse, msg = 'configuration reloaded'): Promise<void> => {
  const before = g.count(msg)
  g.child.kill('SIGHUP')
  await until(`log "${msg}" after SIGHUP`, () => g.count(msg) > before ? true : undefined)
}

t.test('SIGHUP: a changed upstream serves new requests; a slow request in flight completes on the old one', async (t) => {
  const port = await freePort()
  const idp = await provider(t, port)
  const [a, b] = await upstreams(t, 2)
  const file = join(dir, 'route.yaml')
  writeFileSync(file, yaml({ port, issuer: idp.issuer, upstream: a!.url, extra: 'shutdownGrace: 2s' }))
  const g = startGatehouse(t, file, port)
  await until('serving', serving(g))
  const slow = request(`${g.url}/delay/2500`)
  await until('the slow request reached the old upstream', () => served(a!, '/delay/2500') ? true : undefined)

  writeFileSync(file, yaml({ port, issuer: idp.issuer, upstream: b!.url, extra: 'shutdownGrace: 2s' }))
  await hup(g)
  t.equal((await request(`${g.url}/after`)).status, 200)
  t.ok(served(b!, '/after'), 'a new request goes to the new upstream')
  t.notOk(served(a!, '/after'), 'and not to the old one')
  const res = await slow
  t.equal(res.status, 200, 'the request in flight completes')
  t.equal(res.text, 'late', 'with the old upstream\'s answer')
  const line = g.logs().find((l) => l.msg === 'configuration reloaded') as { upstreams: { created: string[], removed: string[] }, trigger: string } | undefined
  t.same(line?.upstreams.created, [b!.url], 'the new origin got a pool')
  t.same(line?.upstreams.removed, [a!.url], 'the old origin\'s pool is retired')
  t.equal(line?.trigger, 'SIGHUP')
  // The retired pool is closed after shutdownGrace; the process serves on.
  await new Promise((resolve) => setTimeout(resolve, 2_500))
  t.equal((await request(`${g.url}/later`)).status, 200)
  t.ok(served(b!, '/later'))
  t.equal(g.child.exitCode, null, 'still running')
})

t.test('SIGHUP: an invalid file is logged as path: problem lines and the running config keeps serving', async (t) => {
  const port = await freePort()
  const idp = await provider(t, port)
  const [a] = await upstreams(t, 1)
  const file = join(dir, 'invalid.yaml')
  const good = yaml({ port, issuer: idp.issuer, upstream: a!.url })
  writeFileSync(file, good)
  const g = startGatehouse(t, file, port)
  await until('serving', serving(g))

  writeFileSync(file, good.replace(SESSION_SECRET, 'too-short').replace(`upstream: ${a!.url}`, 'upstream: "htp:/x"'))
  await hup(g, 'session.secret: must be at least 32 characters (got 9); generate one with: openssl rand -base64 48')
  const msgs = g.logs().map((l) => l.msg)
  t.ok(msgs.includes(`reload refused: ${file}: 2 problems: the running configuration stays`), 'a head line names the file and the count')
  t.ok(msgs.includes('routes[0].upstream: not a URL: "htp:/x" (expected http:// or https://)'), 'each problem as gatehouse check prints it')
  t.equal((await request(`${g.url}/still`)).status, 200, 'the old config serves')
  t.ok(served(a!, '/still'))

  const refusals = (): number => g.logs().filter((l) => l.msg.startsWith(`reload refused: ${file}: `)).length
  const before = refusals()
  writeFileSync(file, '{ not yaml: [')
  g.child.kill('SIGHUP')
  await until('a YAML syntax error is refused', () => refusals() > before ? true : undefined)
  t.ok(g.logs().some((l) => l.msg.startsWith('yaml: ')), 'the YAML error is logged')

  // A field only a restart can change: refused, named, the rest not applied either.
  const other = await freePort()
  writeFileSync(file, good.replace(`listen: 127.0.0.1:${port}`, `listen: 127.0.0.1:${other}`))
  await hup(g, `listen: changed from 127.0.0.1:${port} to 127.0.0.1:${other}; this needs a restart`)
  t.equal((await request(`${g.url}/again`)).status, 200, 'still serving on the old port')
  t.equal(g.child.exitCode, null, 'SIGHUP never ends the process')

  writeFileSync(file, good)
  await hup(g)
  t.equal(g.count('configuration reloaded'), 1, 'a good file applies again')
})

t.test('SIGHUP: secretsFile rotation [new, old] then [new]', async (t) => {
  const port = await freePort()
  const idp = await provider(t, port)
  const [a] = await upstreams(t, 1)
  const secrets = join(dir, 'secrets')
  writeFileSync(secrets, `${OLD_SECRET}\n`)
  const file = join(dir, 'rotate.yaml')
  writeFileSync(file, yaml({ port, issuer: idp.issuer, upstream: a!.url, auth: 'required', session: `  secretsFile: ${secrets}` }))
  const g = startGatehouse(t, file, port)
  await until('serving', async () => (await request(`${g.url}/up`, { headers: { accept: 'application/json' } })).status === 401 ? true : undefined)
  await until('provider ready', async () => (await request(`${g.url}/.gatehouse/login`)).status === 302 ? true : undefined)
  const oldCookie = await loginCookie(new Browser(), `${g.url}/`)
  t.equal((await api(`${g.url}/x`, oldCookie)).status, 200, 'signed in with the old secret')

  writeFileSync(secrets, `${NEW_SECRET}\n${OLD_SECRET}\n`)
  await hup(g)
  const res: Response = await api(`${g.url}/x`, oldCookie)
  t.equal(res.status, 200, 'a cookie sealed with the old secret works while it is listed')
  const newCookie = setCookieHeader(res)
  t.not(newCookie, '', 'and is sealed again with the new one')

  writeFileSync(secrets, `${NEW_SECRET}\n`)
  await hup(g)
  t.equal((await api(`${g.url}/x`, oldCookie)).status, 401, 'the old secret is gone: its cookie no longer works')
  t.equal((await api(`${g.url}/x`, newCookie)).status, 200, 'the re-sealed cookie does')
})

t.test('SIGHUP: upstreamToken.tokenFile is read again; the token is never logged', async (t) => {
  const port = await freePort()
  const [a] = await upstreams(t, 1)
  const token = join(dir, 'upstream-token')
  writeFileSync(token, 'first-upstream-token-0123456789\n')
  const file = join(dir, 'token.yaml')
  // The provider is never reached: a static token needs none.
  writeFileSync(file, yaml({ port, issuer: 'http://127.0.0.1:9', upstream: a!.url }) + `    upstreamToken:\n      tokenFile: ${token}\n`)
  const g = startGatehouse(t, file, port)
  await until('serving', serving(g))
  const sent = (): string | undefined => a!.received.at(-1)?.headers.authorization
  t.equal(sent(), 'Bearer first-upstream-token-0123456789')
  writeFileSync(token, 'second-upstream-token-0123456789\n')
  await hup(g)
  t.equal((await request(`${g.url}/up`, { headers: { authorization: 'Bearer the-client' } })).status, 200)
  t.equal(sent(), 'Bearer second-upstream-token-0123456789', 'the new token after SIGHUP, in place of the client\'s')
  t.notMatch(g.output(), /upstream-token-0123456789/, 'neither token in the output')
})

t.test('reload.watch: a ConfigMap-style symlink swap reloads; an unrelated file does not', async (t) => {
  const port = await freePort()
  const idp = await provider(t, port)
  const [a, b] = await upstreams(t, 2)
  // What the kubelet writes: ..<ts>/file, ..data -> ..<ts>, file -> ..data/file.
  const cm = join(dir, 'configmap')
  mkdirSync(join(cm, '..v1'), { recursive: true })
  writeFileSync(join(cm, '..v1', 'gatehouse.yaml'), yaml({ port, issuer: idp.issuer, upstream: a!.url, extra: 'reload: { watch: true }' }))
  symlinkSync('..v1', join(cm, '..data'))
  symlinkSync('..data/gatehouse.yaml', join(cm, 'gatehouse.yaml'))
  const g = startGatehouse(t, join(cm, 'gatehouse.yaml'), port)
  await until('serving', serving(g))

  writeFileSync(join(cm, 'unrelated'), 'x')
  await new Promise((resolve) => setTimeout(resolve, 1_500))
  t.equal(g.count('configuration reloaded'), 0, 'same content: no reload')

  mkdirSync(join(cm, '..v2'))
  writeFileSync(join(cm, '..v2', 'gatehouse.yaml'), yaml({ port, issuer: idp.issuer, upstream: b!.url, extra: 'reload: { watch: true }' }))
  symlinkSync('..v2', join(cm, '..data_tmp'))
  renameSync(join(cm, '..data_tmp'), join(cm, '..data'))
  await until('reloaded by the watch', () => g.count('configuration reloaded') === 1 ? true : undefined)
  t.equal((await request(`${g.url}/watched`)).status, 200)
  t.ok(served(b!, '/watched'), 'the new upstream serves')
  t.equal(g.logs().find((l) => l.msg === 'configuration reloaded')?.trigger, 'watch')
})

t.test('SIGTERM: /readyz fails at once, in-flight and new requests are served, exit 0 within shutdownGrace + margin', async (t) => {
  const port = await freePort()
  const adminPort = await freePort()
  const idp = await provider(t, port)
  const [a] = await upstreams(t, 1)
  const file = join(dir, 'drain.yaml')
  writeFileSync(file, yaml({ port, issuer: idp.issuer, upstream: a!.url, extra: `shutdownGrace: 3s\nadmin: { listen: 127.0.0.1:${adminPort} }` }))
  const g = startGatehouse(t, file, port)
  await until('ready', async () => (await request(`http://127.0.0.1:${adminPort}/readyz`)).status === 200 ? true : undefined)

  // A keep-alive connection idle when the drain begins is closed by the gateway.
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
  t.teardown(() => { agent.destroy() })
  const first = await get(`${g.url}/keepalive`, agent)
  t.equal(first.headers.connection, 'keep-alive', 'before the drain, connections are kept alive')
  const idleClosed = new Promise<void>((resolve) => { first.socket.once('close', () => { resolve() }) })

  const inflight = request(`${g.url}/delay/2000`)
  await until('the slow request reached the upstream', () => served(a!, '/delay/2000') ? true : undefined)
  const t0 = Date.now()
  g.child.kill('SIGTERM')
  await until('drain started', () => g.count('drain started: readiness fails, requests are served for shutdownGrace') === 1 ? true : undefined, 5_000)
  const ready = await request(`http://127.0.0.1:${adminPort}/readyz`)
  t.equal(ready.status, 503, '/readyz answers 503 as soon as the drain starts')
  t.equal(ready.json().status, 'draining')
  const other = new http.Agent({ keepAlive: true })
  t.teardown(() => { other.destroy() })
  const during = await get(`${g.url}/during`, other)
  t.equal(during.status, 200, 'a new request during the grace is served')
  t.equal(during.headers.connection, 'close', 'with Connection: close')
  t.ok(served(a!, '/during'))
  await until('the idle keep-alive connection is closed', async () => { await idleClosed; return true }, 5_000)
  const res = await inflight
  t.equal(res.status, 200, 'the request in flight completes')
  t.equal(res.text, 'late')
  t.equal(await g.exited, 0, 'exit 0')
  const took = Date.now() - t0
  t.ok(took >= 2_500, `the listener served for the grace (${took} ms)`)
  t.ok(took < 3_000 + 5_000 + 2_000, `exited within shutdownGrace + margin (${took} ms)`)
  t.equal(g.count('drain complete; exiting'), 1, 'a line at the end of the drain')
})

t.test('workers: 2 — SIGHUP to the primary reloads every worker', async (t) => {
  const port = await freePort()
  const idp = await provider(t, port)
  const [a, b] = await upstreams(t, 2)
  const file = join(dir, 'workers.yaml')
  writeFileSync(file, yaml({ port, issuer: idp.issuer, upstream: a!.url, extra: 'workers: 2\nshutdownGrace: 1s' }))
  const g = startGatehouse(t, file, port)
  await until('serving', serving(g))
  // Both workers listen before the reload (each logs its provider discovery).
  await until('both workers up', () => new Set(g.logs().filter((l) => l.msg === 'provider discovery complete').map((l) => l.pid)).size === 2 ? true : undefined)

  writeFileSync(file, yaml({ port, issuer: idp.issuer, upstream: b!.url, extra: 'workers: 2\nshutdownGrace: 1s' }))
  g.child.kill('SIGHUP')
  const pids = await until('every worker reloaded', () => {
    const p = new Set(g.logs().filter((l) => l.msg === 'configuration reloaded').map((l) => l.pid))
    return p.size === 2 ? p : undefined
  })
  t.equal(pids.size, 2, 'two workers logged the reload')
  t.ok(g.logs().some((l) => l.msg === 'reload: SIGHUP sent to every worker' && l.workers === 2), 'the primary relayed it')
  // Each request on its own connection: the primary deals them out to both workers.
  for (let i = 0; i < 6; i++) t.equal((await request(`${g.url}/w${i}`)).status, 200)
  t.equal(b!.received.filter((r) => r.url.startsWith('/w')).length, 6, 'every worker sends to the new upstream')
  t.equal(a!.received.filter((r) => r.url.startsWith('/w')).length, 0)
  g.child.kill('SIGTERM')
  t.equal(await g.exited, 0, 'the cluster drains and exits 0')
})
