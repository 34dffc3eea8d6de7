import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import type { IncomingHttpHeaders } from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { WebSocket } from 'ws'
import { parseConfig } from '../../src/config/load.js'
import { jwtClaims, loginCookie, startSessionStack, type SessionStack } from '../fixtures/gateway.js'
import { freePort, gatewayYaml, startGateway } from '../fixtures/stack.js'
import { startSilentUpstream, startWsUpstream, type WsUpstream } from '../fixtures/ws-upstream.js'

/**
 * WebSocket upgrades through the gateway to a real `ws` upstream: decided
 * like any request (session, policy, route), then tunnelled both ways.
 */

interface Refused { status: number, headers: IncomingHttpHeaders, body: string }

/** Opens a WebSocket; rejects with the answer when the gateway or upstream does not switch protocols. */
async function open (url: string, headers: Record<string, string> = {}, protocols?: string[]): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, protocols, { headers })
    ws.once('open', () => { resolve(ws) })
    ws.once('error', reject)
    ws.once('unexpected-response', (req, res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (c: string) => { body += c })
      res.on('end', () => {
        req.destroy()
        reject(Object.assign(new Error(`status ${res.statusCode}`), { refused: { status: res.statusCode ?? 0, headers: res.headers, body } }))
      })
    })
  })
}

async function refused (p: Promise<WebSocket>): Promise<Refused> {
  try {
    const ws = await p
    ws.terminate()
    throw new Error('the upgrade was accepted')
  } catch (err) {
    const r = (err as { refused?: Refused }).refused
    if (r === undefined) throw err
    return r
  }
}

async function echo (ws: WebSocket, data: string | Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    ws.once('message', (m: Buffer) => { resolve(m) })
    ws.once('error', reject)
    ws.send(data)
  })
}

async function closed (ws: WebSocket): Promise<number> {
  if (ws.readyState === WebSocket.CLOSED) return -1
  return new Promise((resolve) => { ws.once('close', (code: number) => { resolve(code) }) })
}

/** Sends raw bytes to the gateway and reads everything until it closes (or 5 s). */
async function raw (base: string, text: string): Promise<string> {
  const { port } = new URL(base)
  return new Promise((resolve, reject) => {
    const s = connect(Number(port), '127.0.0.1')
    let out = ''
    s.setEncoding('latin1')
    s.on('data', (c: string) => { out += c })
    s.on('error', reject)
    s.on('close', () => { clearTimeout(timer); resolve(out) })
    const timer = setTimeout(() => { s.destroy(); resolve(out + '\n[timeout]') }, 5000)
    s.write(text)
  })
}

async function until (what: string, cond: () => boolean | Promise<boolean>, ms = 5000): Promise<void> {
  const end = Date.now() + ms
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

const wsUrl = (base: string, path: string): string => base.replace(/^http/, 'ws') + path

const KEY = 'dGhlIHNhbXBsZSBub25jZQ=='
const upgradeText = (path: string, lines: string[], method = 'GET', version = '1.1'): string =>
  `${method} ${path} HTTP/${version}\r\nHost: 127.0.0.1\r\n${lines.map((l) => l + '\r\n').join('')}\r\n`

let up: WsUpstream
let stack: SessionStack
let alice: string
let bob: string
let silent: Awaited<ReturnType<typeof startSilentUpstream>>

t.before(async () => {
  up = await startWsUpstream()
  silent = await startSilentUpstream()
  const down = await freePort()
  stack = await startSessionStack(t, 'cookie', {
    routes: `
  - path: /ws/admin
    upstream: ${up.url}
    allow:
      groups: [admins]
  - path: /ws/off
    upstream: ${up.url}
    websocket: false
  - path: /ws/public
    upstream: ${up.url}
    auth: public
  - path: /ws/idt
    upstream: ${up.url}/base
    stripPrefix: true
    bearer: id_token
    headers:
      X-Auth-User: sub
  - path: /ws/down
    upstream: http://127.0.0.1:${down}
  - path: /ws/silent
    upstream: ${silent.url}
  - path: /ws
    upstream: ${up.url}
  - path: /
    upstream: {{UPSTREAM}}
upstream:
  timeout: 1s
  connectTimeout: 1s
`,
    idpTtl: { AccessToken: 600 },
  })
  alice = await loginCookie(stack.browser(), stack.url + '/', 'alice')
  bob = await loginCookie(stack.browser(), stack.url + '/', 'bob')
})
t.teardown(async () => { await up.close(); await silent.close() })

/** A gateway of its own with one public route to the WebSocket upstream (sharing the test provider). */
async function publicGateway (t: Parameters<typeof startGateway>[0]): ReturnType<typeof startGateway> {
  return startGateway(t, gatewayYaml({ routes: `
  - path: /
    upstream: ${up.url}
    auth: public
` }), { issuer: stack.idp.issuer, upstream: up.url })
}

t.test('frames both ways, with the decided headers upstream', async (t) => {
  const spoof = {
    'x-forwarded-user': 'mallory',
    'X_Forwarded_Email': 'mallory@evil.example',
    'x-forwarded-groups': 'admins',
    'x-auth-user': 'mallory',
    authorization: 'Bearer forged',
    cookie: `${alice}; app=kept`,
    'x-request-id': 'client-chosen',
  }
  const series = 'gatehouse_http_requests_total{route="6",code="1xx"}'
  const before = await stack.gh.gateway.metrics.get(series)
  const ws = await open(wsUrl(stack.url, '/ws/chat?room=1'), spoof, ['chat.v1', 'chat.v2'])
  t.equal(await stack.gh.gateway.metrics.get(series), before + 1, 'counted on its route, as 1xx')
  t.equal(ws.protocol, 'chat.v1', 'the upstream\'s subprotocol choice reaches the client')
  t.equal((await echo(ws, 'hello')).toString(), 'hello')
  t.equal((await echo(ws, Buffer.from([0, 1, 2, 255]))).toString('hex'), '000102ff')
  const h = up.upgrades.at(-1)!
  t.equal(up.paths.at(-1), '/ws/chat?room=1')
  t.equal(h['x-forwarded-user'], 'alice', 'identity from the session, not the client')
  t.equal(h['x-forwarded-email'], 'alice@example.com')
  t.equal(h['x-forwarded-groups'], 'admins,staff')
  t.notOk('x_forwarded_email' in h, 'the underscore spelling is stripped')
  t.notOk('x-auth-user' in h, 'another route\'s identity header is stripped too')
  t.match(h.authorization, /^Bearer [\w-]+\.[\w-]+\.[\w-]+$|^Bearer [\w-]+$/)
  t.not(h.authorization, 'Bearer forged')
  t.equal(h.cookie, 'app=kept', 'Gatehouse\'s cookies never reach the upstream')
  t.equal(h.upgrade, 'websocket')
  t.match(h.connection, /upgrade/i)
  t.ok(typeof h['sec-websocket-key'] === 'string' && h['sec-websocket-key'].length === 24)
  t.equal(h['sec-websocket-version'], '13')
  t.equal(h['sec-websocket-protocol'], 'chat.v1,chat.v2')
  t.equal(h['x-forwarded-proto'], 'http')
  t.equal(h['x-request-id'], 'client-chosen', 'a sane incoming request id is kept, as for any request')
  ws.close()
  await closed(ws)
})

t.test('stripPrefix, base path and bearer: id_token apply to upgrades', async (t) => {
  const ws = await open(wsUrl(stack.url, '/ws/idt/live'), { cookie: alice, 'x-auth-user': 'mallory' })
  t.equal(up.paths.at(-1), '/base/live')
  const h = up.upgrades.at(-1)!
  t.equal(h['x-auth-user'], 'alice')
  t.equal(jwtClaims(h.authorization!.slice(7)).aud, 'gatehouse-test', 'the ID token is the Bearer')
  ws.close()
  await closed(ws)
})

t.test('a 64 KiB message each way', async (t) => {
  const ws = await open(wsUrl(stack.url, '/ws/big'), { cookie: alice })
  const big = Buffer.alloc(64 * 1024)
  for (let i = 0; i < big.length; i++) big[i] = (i * 31) & 0xff
  const back = await echo(ws, big)
  t.equal(back.length, big.length)
  t.ok(back.equals(big), 'the same bytes came back')
  const text = 'x'.repeat(64 * 1024)
  t.equal((await echo(ws, text)).toString(), text)
  ws.close()
  await closed(ws)
})

t.test('a client that reads slowly: nothing lost, nothing reordered (backpressure)', async (t) => {
  const ws = await open(wsUrl(stack.url, '/ws/flood'), { cookie: alice })
  const got: number[] = []
  ws.on('message', (m: Buffer) => { if (m.length === 64 * 1024) got.push(m.readUInt32BE(0)) })
  ws.pause()
  await new Promise((resolve) => setTimeout(resolve, 300))
  t.ok(got.length < 64, `held back while the client does not read (${got.length} arrived)`)
  ws.resume()
  await until('every message', () => got.length === 64)
  t.same(got, Array.from({ length: 64 }, (_, i) => i), 'all 64, in order')
  ws.close()
  await closed(ws)
})

t.test('no session: 401 on the socket, never a redirect', async (t) => {
  const before = await stack.gh.gateway.metrics.get('gatehouse_auth_decisions_total{decision="deny",reason="unauthenticated"}')
  const r = await refused(open(wsUrl(stack.url, '/ws/x'), { accept: 'text/html', 'sec-fetch-mode': 'websocket' }))
  t.equal(r.status, 401)
  t.equal(r.headers['x-gatehouse-response'], 'unauthenticated')
  t.equal(r.headers['www-authenticate'], 'Bearer realm="gatehouse"')
  t.equal(r.headers.connection, 'close')
  t.match(r.headers['x-request-id'], /\S/)
  t.equal(await stack.gh.gateway.metrics.get('gatehouse_http_requests_total{route="6",code="401"}'), 1, 'counted on its route with its status')
  t.same(JSON.parse(r.body), { error: 'unauthenticated', message: 'sign in required', login: '/.gatehouse/login' })
  t.equal(await stack.gh.gateway.metrics.get('gatehouse_auth_decisions_total{decision="deny",reason="unauthenticated"}'), before + 1, 'counted as a decision')
  // A route that would redirect a browser to log in still answers an upgrade with 401.
  const bad = await refused(open(wsUrl(stack.url, '/ws/x'), { cookie: 'gatehouse=not-a-session' }))
  t.equal(bad.status, 401)
  t.match(String(bad.headers['set-cookie']), /gatehouse=;/, 'the unusable cookie is cleared')
})

t.test('refused by the policy: 403', async (t) => {
  const r = await refused(open(wsUrl(stack.url, '/ws/admin/x'), { cookie: bob }))
  t.equal(r.status, 403)
  t.equal(r.headers['x-gatehouse-response'], 'GH_FORBIDDEN')
  t.match(r.body, /GH_FORBIDDEN/)
  const ok = await open(wsUrl(stack.url, '/ws/admin/x'), { cookie: alice })
  ok.close()
  await closed(ok)
})

t.test('websocket: false refuses upgrades on its route (and serves plain requests)', async (t) => {
  const before = up.upgrades.length
  for (const cookie of [alice, '']) {
    const r = await refused(open(wsUrl(stack.url, '/ws/off/x'), cookie !== '' ? { cookie } : {}))
    t.equal(r.status, 403)
    t.equal(r.headers['x-gatehouse-response'], 'GH_WEBSOCKET_REFUSED')
    t.match(r.body, /GH_WEBSOCKET_REFUSED/)
  }
  t.equal(up.upgrades.length, before, 'the upstream never saw them')
  const res = await fetch(stack.url + '/ws/off/x', { headers: { cookie: alice } })
  t.equal(res.status, 426, 'a plain request on that route is forwarded (the upstream answers it)')
})

t.test('a public route tunnels without a session; Gatehouse endpoints take no upgrade', async (t) => {
  const ws = await open(wsUrl(stack.url, '/ws/public/feed'))
  t.notOk('x-forwarded-user' in up.upgrades.at(-1)!)
  ws.close()
  await closed(ws)
  const r = await refused(open(wsUrl(stack.url, '/.gatehouse/login'), { cookie: alice }))
  t.equal(r.status, 404)
  t.equal(r.headers['x-gatehouse-response'], 'GH_NOT_FOUND')
  const p = await refused(open(wsUrl(stack.url, '/ws/..%2fadmin'), { cookie: alice }))
  t.equal(p.status, 400)
  t.equal(p.headers['x-gatehouse-response'], 'GH_BAD_PATH')
})

t.test('upstream down: 502; upstream silent: 504 and its connection closed', async (t) => {
  const failures = await stack.gh.gateway.metrics.get('gatehouse_websocket_upgrades_total{result="upstream_failed"}')
  const r = await refused(open(wsUrl(stack.url, '/ws/down'), { cookie: alice }))
  t.equal(r.status, 502)
  t.equal(r.headers['x-gatehouse-response'], 'unreachable')
  t.match(r.body, /GH_UPSTREAM_UNREACHABLE/)
  const started = Date.now()
  const s = await refused(open(wsUrl(stack.url, '/ws/silent'), { cookie: alice }))
  t.equal(s.status, 504)
  t.equal(s.headers['x-gatehouse-response'], 'timeout')
  t.ok(Date.now() - started >= 900 && Date.now() - started < 4000, 'after upstream.timeout')
  await until('the silent upstream\'s connection to close', () => silent.open() === 0)
  t.equal(await stack.gh.gateway.metrics.get('gatehouse_websocket_upgrades_total{result="upstream_failed"}'), failures + 2)
})

t.test('an upstream that answers without 101: its answer passes through, then both close', async (t) => {
  const r = await refused(open(wsUrl(stack.url, '/ws/refuse'), { cookie: alice }))
  t.equal(r.status, 418)
  t.equal(r.body, 'teapot')
  t.equal(r.headers['x-upstream'], 'yes')
  t.equal(r.headers.connection, 'close')
  await until('upstream sockets to close', () => up.open() === 0)
})

t.test('the upstream closes: the client sees the close; the client closes: the upstream sees it', async (t) => {
  const ws = await open(wsUrl(stack.url, '/ws/close'), { cookie: alice })
  t.equal(await closed(ws), 4000, 'the upstream\'s close code')
  const ws2 = await open(wsUrl(stack.url, '/ws/y'), { cookie: alice })
  const upstreamSaw = up.nextClose()
  ws2.close(4001, 'done')
  t.equal((await upstreamSaw).code, 4001)
  await until('both sides to be gone', () => up.open() === 0 && stack.gh.gateway.metrics.websocketsOpen === 0)
  // The client's TCP connection just drops: the upstream's goes too.
  const ws3 = await open(wsUrl(stack.url, '/ws/z'), { cookie: alice })
  t.equal(up.open(), 1)
  const gone = up.nextClose()
  ws3.terminate()
  t.equal((await gone).code, 1006, 'the upstream saw the connection end')
  await until('the upstream socket to close', () => up.open() === 0)
})

t.test('200 sockets open and close; nothing stays open', async (t) => {
  const server = stack.gh.app.server
  const connections = async (): Promise<number> => new Promise((resolve) => { server.getConnections((_e, n) => { resolve(n) }) })
  const tunnelled = await stack.gh.gateway.metrics.get('gatehouse_websocket_upgrades_total{result="tunnelled"}')
  const baseline = await connections()
  const all = await Promise.all(Array.from({ length: 200 }, async () => open(wsUrl(stack.url, '/ws/many'), { cookie: alice })))
  t.equal(up.open(), 200)
  t.equal(stack.gh.gateway.metrics.websocketsOpen, 200)
  t.equal(await stack.gh.gateway.metrics.get('gatehouse_websocket_open'), 200)
  const replies = await Promise.all(all.map(async (ws, i) => (await echo(ws, `m${i}`)).toString()))
  t.same(replies, all.map((_ws, i) => `m${i}`))
  all.forEach((ws, i) => { if (i % 2 === 0) ws.close(); else ws.terminate() })
  await until('every socket to close', async () => up.open() === 0 && stack.gh.gateway.metrics.websocketsOpen === 0 && await connections() <= baseline, 10_000)
  t.equal(await stack.gh.gateway.metrics.get('gatehouse_websocket_upgrades_total{result="tunnelled"}'), tunnelled + 200)
})

t.test('a refresh during the upgrade: the new cookie is set on the 101', async (t) => {
  const cookie = await loginCookie(stack.browser(), stack.url + '/', 'alice')
  // The access token (600 s) now expires within refreshBefore (60 s).
  stack.clock.advance(570_000)
  t.teardown(() => { stack.clock.advance(-570_000) })
  const refreshed = await stack.gh.gateway.metrics.get('gatehouse_refreshes_total{result="refreshed"}')
  let setCookie: string[] | undefined
  const ws = await new Promise<WebSocket>((resolve, reject) => {
    const w = new WebSocket(wsUrl(stack.url, '/ws/refresh'), { headers: { cookie } })
    w.once('upgrade', (res) => { setCookie = res.headers['set-cookie'] })
    w.once('open', () => { resolve(w) })
    w.once('error', reject)
  })
  t.ok(setCookie !== undefined && setCookie.some((c) => /^gatehouse=[^;]+/.test(c)), 'Set-Cookie on the 101')
  t.equal(up.upgrades.at(-1)!['x-forwarded-user'], 'alice')
  t.equal(await stack.gh.gateway.metrics.get('gatehouse_refreshes_total{result="refreshed"}'), refreshed + 1)
  ws.close()
  await closed(ws)
})

t.test('bad handshakes get a clear 4xx, never a 5xx, and the gateway goes on', async (t) => {
  const cases: [string, string, number][] = [
    ['no Sec-WebSocket-Key', upgradeText('/ws/x', ['Upgrade: websocket', 'Connection: Upgrade', 'Sec-WebSocket-Version: 13', `Cookie: ${alice}`]), 400],
    ['a malformed key', upgradeText('/ws/x', ['Upgrade: websocket', 'Connection: Upgrade', 'Sec-WebSocket-Key: short', 'Sec-WebSocket-Version: 13']), 400],
    ['Upgrade: h2c', upgradeText('/ws/x', ['Upgrade: h2c', 'Connection: Upgrade, HTTP2-Settings', 'HTTP2-Settings: AAMAAABkAAQAAP__']), 400],
    ['a POST', upgradeText('/ws/x', ['Upgrade: websocket', 'Connection: Upgrade', `Sec-WebSocket-Key: ${KEY}`, 'Sec-WebSocket-Version: 13', 'Content-Length: 0'], 'POST'), 400],
    ['no version', upgradeText('/ws/x', ['Upgrade: websocket', 'Connection: Upgrade', `Sec-WebSocket-Key: ${KEY}`]), 400],
    ['version 8', upgradeText('/ws/x', ['Upgrade: websocket', 'Connection: Upgrade', `Sec-WebSocket-Key: ${KEY}`, 'Sec-WebSocket-Version: 8']), 426],
    ['Upgrade: websocket without Connection: upgrade', upgradeText('/ws/x', ['Upgrade: websocket', 'Connection: keep-alive', `Sec-WebSocket-Key: ${KEY}`, 'Sec-WebSocket-Version: 13', `Cookie: ${alice}`]), 400],
    ['an absolute-form target', upgradeText('http://127.0.0.1/ws/x', ['Upgrade: websocket', 'Connection: Upgrade', `Sec-WebSocket-Key: ${KEY}`, 'Sec-WebSocket-Version: 13']), 400],
  ]
  const before = up.upgrades.length
  for (const [name, text, status] of cases) {
    const out = await raw(stack.url, text)
    t.match(out, new RegExp(`^HTTP/1\\.1 ${status} `), `${name}: ${status}`)
    t.match(out, /x-gatehouse-response: GH_(WEBSOCKET_BAD_UPGRADE|BAD_PATH)/i, `${name}: a catalog code`)
    if (status === 426) t.match(out, /sec-websocket-version: 13/i)
  }
  t.equal(up.upgrades.length, before, 'none reached the upstream')
  const ws = await open(wsUrl(stack.url, '/ws/after'), { cookie: alice })
  t.equal((await echo(ws, 'still here')).toString(), 'still here')
  ws.close()
  await closed(ws)
})

t.test('a client that goes away mid-handshake leaves nothing open', async (t) => {
  const { port } = new URL(stack.url)
  const s = connect(Number(port), '127.0.0.1')
  s.on('error', () => undefined)
  s.write(upgradeText('/ws/silent', ['Upgrade: websocket', 'Connection: Upgrade', `Sec-WebSocket-Key: ${KEY}`, 'Sec-WebSocket-Version: 13', `Cookie: ${alice}`]))
  await until('the gateway to reach the silent upstream', () => silent.open() === 1)
  s.destroy()
  await until('the upstream connection to close with the client', () => silent.open() === 0, 900)
  t.equal(stack.gh.gateway.metrics.websocketsOpen, 0)
})

t.test('closing the gateway closes its tunnels (and does not wait for them)', async (t) => {
  const { gh, url } = await publicGateway(t)
  const ws = await open(wsUrl(url, '/live'))
  t.equal((await echo(ws, 'a')).toString(), 'a')
  const started = Date.now()
  await gh.close()
  t.ok(Date.now() - started < 3000, `closed in ${Date.now() - started} ms`)
  t.equal(await closed(ws), 1006, 'the client saw its connection end')
  await until('the upstream socket to close', () => up.open() === 0)
  const after = await refused(open(wsUrl(url, '/live'))).catch((err: Error) => err)
  t.ok(after instanceof Error, 'no more upgrades once closed')
})

t.test('an https upstream: TLS with SNI, and a certificate that is not trusted is refused (502)', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'gh-ws-tls-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', '/CN=localhost', '-days', '1', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'ignore' })
  const names: string[] = []
  let requests = 0
  const server = createHttpsServer({
    key: readFileSync(join(dir, 'key.pem')),
    cert: readFileSync(join(dir, 'cert.pem')),
    SNICallback: (name, cb) => { names.push(name); cb(null) },
  }, (_req, res) => { requests++; res.end() })
  server.on('upgrade', (_req, socket) => { requests++; socket.destroy() })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { server.close() })
  const port = (server.address() as { port: number }).port
  const { gh, url } = await startGateway(t, gatewayYaml({ routes: `
  - path: /
    upstream: https://localhost:${port}
    auth: public
` }), { issuer: stack.idp.issuer, upstream: up.url })
  const r = await refused(open(wsUrl(url, '/secure')))
  t.equal(r.status, 502)
  t.equal(r.headers['x-gatehouse-response'], 'unreachable')
  t.same(names, ['localhost'], 'a TLS handshake with the upstream\'s host name as SNI')
  t.equal(requests, 0, 'nothing was sent over an unverified connection')
  t.equal(await gh.gateway.metrics.get('gatehouse_websocket_upgrades_total{result="upstream_failed"}'), 1)
})

t.test('an access-log line per upgrade: 101 for a tunnel, the refusal\'s status otherwise', async (t) => {
  const lines: Record<string, unknown>[] = []
  const { url } = await startGateway(t, gatewayYaml({ routes: `
  - path: /off
    name: off
    upstream: ${up.url}
    auth: public
    websocket: false
  - path: /
    name: live
    upstream: ${up.url}
    auth: public
` }), { issuer: stack.idp.issuer, upstream: up.url, deps: { logStream: { write: (l: string) => { lines.push(JSON.parse(l) as Record<string, unknown>) } } } })
  const ws = await open(wsUrl(url, '/feed?token=secret-value'), { 'x-request-id': 'ws-1' })
  await refused(open(wsUrl(url, '/off/x'), { 'x-request-id': 'ws-2' }))
  ws.close()
  await closed(ws)
  await until('both lines', () => lines.filter((l) => l.msg === 'request').length >= 2)
  const byId = (id: string): Record<string, unknown> | undefined => lines.find((l) => l.msg === 'request' && l.reqId === id)
  t.match(byId('ws-1'), { method: 'GET', route: 'live', status: 101, decision: 'allow', reason: 'public' })
  t.match(byId('ws-1')?.url, /^\/feed\?token=/)
  t.notMatch(String(byId('ws-1')?.url), /secret-value/, 'token-like query values redacted as for any request')
  t.match(byId('ws-2'), { route: 'off', status: 403 })
})

t.test('the session store down: 503 on the socket; open tunnels go on', async (t) => {
  const s = await startSessionStack(t, 'redis', { routes: `
  - path: /live
    upstream: ${up.url}
  - path: /
    upstream: {{UPSTREAM}}
` })
  const cookie = await loginCookie(s.browser(), s.url + '/', 'alice')
  const before = await open(wsUrl(s.url, '/live'), { cookie })
  await s.redis!.stop()
  const r = await refused(open(wsUrl(s.url, '/live'), { cookie }))
  t.equal(r.status, 503)
  t.equal(r.headers['x-gatehouse-response'], 'GH_SESSION_STORE_UNAVAILABLE')
  t.equal(r.headers['retry-after'], '5')
  t.notMatch(r.body, /127\.0\.0\.1:\d+/, 'the page does not reveal where the store is')
  t.equal((await echo(before, 'still open')).toString(), 'still open')
  before.close()
  await closed(before)
})

t.test('a reload: new upgrades follow the new routes, open tunnels stay', async (t) => {
  const yaml = (websocket: boolean): string => gatewayYaml({ routes: `
  - path: /
    upstream: ${up.url}
    auth: public
    websocket: ${websocket}
` })
  const { gh, url } = await startGateway(t, yaml(true), { issuer: stack.idp.issuer, upstream: up.url })
  const ws = await open(wsUrl(url, '/live'))
  const next = parseConfig(yaml(false).replaceAll('{{PORT}}', new URL(url).port).replaceAll('{{PUBLIC}}', url).replaceAll('{{ISSUER}}', stack.idp.issuer), { env: {} })
  t.match(await gh.reload(next), { ok: true })
  const r = await refused(open(wsUrl(url, '/live')))
  t.equal(r.status, 403)
  t.equal(r.headers['x-gatehouse-response'], 'GH_WEBSOCKET_REFUSED')
  t.equal((await echo(ws, 'kept')).toString(), 'kept', 'the tunnel opened before the reload goes on')
  ws.close()
  await closed(ws)
})

t.test('a shutdown drain lets open tunnels go on (they close when the gateway does)', async (t) => {
  const { gh, url } = await publicGateway(t)
  const ws = await open(wsUrl(url, '/live'))
  gh.beginDrain()
  // The drain closes idle keep-alive connections every second: a tunnel is not one.
  await new Promise((resolve) => setTimeout(resolve, 1500))
  t.equal((await echo(ws, 'draining')).toString(), 'draining')
  await gh.close()
  t.equal(await closed(ws), 1006)
})
