import { connect } from 'node:net'
import t from 'tap'
import { request, type Response } from '../fixtures/browser.js'
import { loginCookie, sessionOf, setCookieHeader, startSessionStack, type SessionStack } from '../fixtures/gateway.js'
import { CLIENT_ID, CLIENT_SECRET, gatewayYaml, startStack } from '../fixtures/stack.js'

/**
 * /.gatehouse/auth called the way Traefik ForwardAuth, Caddy forward_auth,
 * nginx auth_request and Envoy ext_authz call it, with their headers sent
 * directly (the nginx test runs a real nginx: forward-auth-nginx.test.ts).
 */

const ROUTES = `
  - path: /admin
    name: admin-area
    upstream: {{UPSTREAM}}
    allow:
      groups: [admins]
  - path: /idt
    upstream: {{UPSTREAM}}
    bearer: id_token
  - path: /public
    upstream: {{UPSTREAM}}
    auth: public
  - host: api.example.com
    path: /
    name: api
    upstream: {{UPSTREAM}}
    unauthenticated: deny
  - path: /
    name: app
    upstream: {{UPSTREAM}}
`

const BROWSER = { accept: 'text/html,application/xhtml+xml', 'sec-fetch-mode': 'navigate' }
const API = { accept: 'application/json' }

/** Traefik's and Caddy's spelling of the original request. */
function traefik (s: SessionStack, uri: string, extra: Record<string, string> = {}): Record<string, string> {
  return { 'x-forwarded-method': 'GET', 'x-forwarded-proto': 'http', 'x-forwarded-host': new URL(s.url).host, 'x-forwarded-uri': uri, ...extra }
}

async function auth (s: SessionStack, headers: Record<string, string | string[]>, query = ''): Promise<Response> {
  return request(`${s.url}/.gatehouse/auth${query}`, { headers })
}

/** Sends a request as raw bytes (what a Node client refuses to send), returns the status line's code. */
async function rawStatus (url: string, head: string): Promise<number> {
  const u = new URL(url)
  return new Promise((resolve, reject) => {
    const sock = connect(Number(u.port), u.hostname, () => { sock.write(head) })
    let data = ''
    sock.on('data', (c: Buffer) => { data += c.toString('latin1'); if (data.includes('\r\n')) { sock.destroy(); resolve(Number(data.split(' ')[1])) } })
    sock.on('error', reject)
    sock.setTimeout(5000, () => { sock.destroy(); reject(new Error('timeout')) })
  })
}

t.test('Traefik/Caddy headers: 401 without a session, 302 to the login with ?redirect=true for a browser, 200 with identity headers once signed in', async (t) => {
  const s = await startSessionStack(t, 'cookie', { routes: ROUTES })
  const anon = await auth(s, { ...traefik(s, '/app/page?x=1&y=2'), ...API })
  t.equal(anon.status, 401)
  t.equal(anon.json().error, 'unauthenticated')
  t.equal(anon.json().login, `${s.url}/.gatehouse/login?rd=${encodeURIComponent('/app/page?x=1&y=2')}`)
  t.equal(anon.headers['x-forwarded-user'], undefined)

  const apiRedirect = await auth(s, { ...traefik(s, '/app/page'), ...API }, '?redirect=true')
  t.equal(apiRedirect.status, 401, 'an API client is never redirected')
  const nav = await auth(s, { ...traefik(s, '/app/page?x=1&y=2'), ...BROWSER }, '?redirect=true')
  t.equal(nav.status, 302, 'a browser is sent to log in')
  t.equal(nav.headers.location, `${s.url}/.gatehouse/login?rd=${encodeURIComponent('/app/page?x=1&y=2')}`, 'rd is the original path (same origin as publicUrl)')
  const noRedirect = await auth(s, { ...traefik(s, '/app/page'), ...BROWSER })
  t.equal(noRedirect.status, 401, 'without ?redirect=true a browser gets 401 too (nginx turns anything else into 500)')

  // The login link works: the browser ends on the original page, signed in.
  const b = s.browser()
  const landed = await b.login(nav.headers.location!)
  t.equal(landed.status, 200)
  t.equal(new URL(landed.url).pathname + new URL(landed.url).search, '/app/page?x=1&y=2', 'back on the original URL')
  const cookie = (await b.cookieHeader(`${s.url}/`)).split('; ').filter((c) => c.startsWith('gatehouse')).join('; ')
  t.not(cookie, '')

  const ok = await auth(s, { ...traefik(s, '/app/page'), ...BROWSER, cookie })
  t.equal(ok.status, 200)
  const session = await sessionOf(s.nodes[0]!, cookie, s.clock.now)
  t.ok(session)
  t.equal(ok.headers['x-forwarded-user'], session!.sub)
  t.equal(ok.headers['x-forwarded-email'], 'alice@example.com')
  t.equal(ok.headers['x-forwarded-groups'], 'admins,staff')
  t.equal(ok.headers.authorization, `Bearer ${session!.accessToken}`, 'bearer: access_token')
  t.equal(ok.headers['cache-control'], 'no-store')
  t.equal(ok.text, '')
  t.match(ok.headers['x-request-id'], /^[0-9a-f]+_/, 'answered by the server\'s listener, without a Fastify request')

  const idt = await auth(s, { ...traefik(s, '/idt/x'), ...API, cookie })
  t.equal(idt.status, 200)
  t.equal(idt.headers.authorization, `Bearer ${session!.idToken}`, 'bearer: id_token')
})

t.test('policy: 403 for a user the route does not allow; the route is the one for the original host and path', async (t) => {
  const s = await startSessionStack(t, 'cookie', { routes: ROUTES })
  const bob = await loginCookie(s.browser(), `${s.url}/`, 'bob')
  const alice = await loginCookie(s.browser(), `${s.url}/`, 'alice')
  t.equal((await auth(s, { ...traefik(s, '/admin/x'), ...API, cookie: bob })).status, 403)
  t.equal((await auth(s, { ...traefik(s, '/admin/x'), ...API, cookie: alice })).status, 200)
  t.equal((await auth(s, { ...traefik(s, '/other'), ...API, cookie: bob })).status, 200)
  // The route for another host: unauthenticated: deny, so even a browser with ?redirect=true gets 401.
  const denied = await auth(s, { ...traefik(s, '/x', { 'x-forwarded-host': 'api.example.com' }), ...BROWSER }, '?redirect=true')
  t.equal(denied.status, 401)
  // The method decides too: a POST is never redirected.
  const post = await auth(s, { ...traefik(s, '/app', { 'x-forwarded-method': 'POST' }), ...BROWSER }, '?redirect=true')
  t.equal(post.status, 401)
})

t.test('the path is normalised before the route decides: dot segments, encodings and backslashes cannot reach another route\'s rules', async (t) => {
  const s = await startSessionStack(t, 'cookie', { routes: ROUTES })
  const bob = await loginCookie(s.browser(), `${s.url}/`, 'bob')
  t.equal((await auth(s, { ...traefik(s, '/public/x'), ...API })).status, 200, 'a public route is allowed anonymously')
  for (const uri of ['/public/../admin/x', '/public/%2e%2e/admin/x', '/public\\..\\admin\\x', '/public/.%2E/admin', '/%61dmin/x']) {
    const r = await auth(s, { ...traefik(s, uri), ...API, cookie: bob })
    t.ok(r.status === 403 || r.status === 400, `${uri}: judged as /admin or refused, never allowed (${r.status})`)
  }
  const bad = await auth(s, { ...traefik(s, '/public/%2F..%2Fadmin'), ...API, cookie: bob })
  t.equal(bad.status, 400, 'an encoded slash that would change the route')
  t.equal(bad.headers['x-gatehouse-response'], 'GH_BAD_PATH')
  const dbl = await auth(s, { ...traefik(s, '/public/%252e%252e/admin'), ...API, cookie: bob })
  t.equal(dbl.status, 400, 'a double-encoded dot is refused, as on the proxy port')
  t.equal(dbl.headers['x-gatehouse-response'], 'GH_BAD_PATH')
  t.equal((await auth(s, { ...traefik(s, '/public/%2561'), ...API, cookie: bob })).status, 200, 'a double-encoded letter stays under /public')
})

t.test('identity headers are never echoed from the call: public routes, anonymous and signed-in answers', async (t) => {
  const s = await startSessionStack(t, 'cookie', { routes: ROUTES })
  const spoof = { 'x-forwarded-user': 'mallory', 'x-forwarded-email': 'mallory@evil.example', 'x-forwarded-groups': 'admins', X_Forwarded_User: 'mallory', authorization: 'Bearer forged' }
  const pub = await auth(s, { ...traefik(s, '/public/x'), ...API, ...spoof })
  t.equal(pub.status, 200)
  for (const h of ['x-forwarded-user', 'x-forwarded-email', 'x-forwarded-groups', 'x_forwarded_user', 'authorization']) t.equal(pub.headers[h], undefined, `${h} is not in the answer`)
  const bob = await loginCookie(s.browser(), `${s.url}/`, 'bob')
  const signed = await auth(s, { ...traefik(s, '/x'), ...API, ...spoof, cookie: bob })
  t.equal(signed.status, 200)
  t.equal(signed.headers['x-forwarded-email'], 'bob@example.com')
  t.equal(signed.headers['x-forwarded-groups'], 'staff')
  t.not(signed.headers.authorization, 'Bearer forged')
})

t.test('X-Forwarded-* and X-Original-* name the original request on /.gatehouse/auth only', async (t) => {
  const s = await startSessionStack(t, 'cookie', { routes: ROUTES })
  // On the proxy port, the request's own path decides: /admin stays /admin.
  const r = await request(`${s.url}/admin/x`, { headers: { ...API, 'x-forwarded-uri': '/public/x', 'x-original-url': `${s.url}/public/x`, 'x-forwarded-host': 'api.example.com' } })
  t.equal(r.status, 401)
  t.equal(s.upstream.received.length, 0, 'nothing reached the upstream')
})

t.test('Caddy (Host, no X-Forwarded-Host), nginx (X-Original-URL, X-Original-URI + Host) and Envoy (path after /.gatehouse/auth) spellings', async (t) => {
  const s = await startSessionStack(t, 'cookie', { routes: ROUTES })
  const bob = await loginCookie(s.browser(), `${s.url}/`, 'bob')
  const host = new URL(s.url).host
  const caddy = await auth(s, { 'x-forwarded-method': 'GET', 'x-forwarded-uri': '/admin/x', ...API, cookie: bob })
  t.equal(caddy.status, 403, 'Caddy: the Host header names the host')
  t.equal((await auth(s, { 'x-original-url': `${s.url}/admin/x`, ...API, cookie: bob })).status, 403, 'X-Original-URL, absolute')
  t.equal((await auth(s, { 'x-original-url': `${s.url}/x`, ...API, cookie: bob })).status, 200)
  t.equal((await auth(s, { 'x-original-url': '/admin/x', ...API, cookie: bob })).status, 403, 'X-Original-URL, a path with Host')
  t.equal((await auth(s, { 'x-original-uri': '/admin/x', ...API, cookie: bob })).status, 403, 'X-Original-URI with Host')
  t.equal((await auth(s, { 'x-original-uri': '/x', 'x-original-url': `${s.url}/x`, ...API, cookie: bob })).status, 200, 'both, agreeing')
  const nginxLogin = await auth(s, { 'x-original-url': `${s.url}/a?b=c`, 'x-original-method': 'GET', ...BROWSER }, '?redirect=true')
  t.equal(nginxLogin.status, 302)
  t.equal(nginxLogin.headers.location, `${s.url}/.gatehouse/login?rd=${encodeURIComponent('/a?b=c')}`)
  const other = await auth(s, { 'x-original-url': 'https://app.example.com:8443/a?b=c', ...BROWSER }, '?redirect=true')
  t.equal(other.status, 302)
  t.equal(other.headers.location, `${s.url}/.gatehouse/login?rd=${encodeURIComponent('https://app.example.com:8443/a?b=c')}`, 'another host: rd is the absolute original URL')
  // Envoy: the original path follows the prefix, the Host header is the original authority, the method is the original's.
  const envoy = await request(`${s.url}/.gatehouse/auth/admin/x?q=1`, { headers: { host, ...API, cookie: bob } })
  t.equal(envoy.status, 403)
  t.equal((await request(`${s.url}/.gatehouse/auth/x?q=1`, { method: 'POST', headers: { host, ...API, cookie: bob } })).status, 200)
  t.equal((await request(`${s.url}/.gatehouse/auth/x`, { headers: { host, ...API } })).status, 401)
})

t.test('bad calls: a clear 400 with a catalog code, never a 5xx, and the gateway keeps serving', async (t) => {
  const s = await startSessionStack(t, 'cookie', { routes: ROUTES })
  const host = new URL(s.url).host
  const cases: [string, Record<string, string | string[]>, string][] = [
    ['no original URL at all', { ...API }, 'GH_AUTH_NO_ORIGINAL_URL'],
    ['only X-Forwarded-Host and -Proto', { 'x-forwarded-host': host, 'x-forwarded-proto': 'http', ...API }, 'GH_AUTH_NO_ORIGINAL_URL'],
    ['X-Forwarded-Uri twice', { 'x-forwarded-uri': ['/a', '/public/x'], ...API }, 'GH_AUTH_BAD_ORIGINAL'],
    ['X-Forwarded-Host twice', { ...traefik(s, '/a'), 'x-forwarded-host': [host, 'api.example.com'] }, 'GH_AUTH_BAD_ORIGINAL'],
    ['X-Forwarded-Host as a list', { ...traefik(s, '/a'), 'x-forwarded-host': `${host}, api.example.com` }, 'GH_AUTH_BAD_ORIGINAL'],
    ['X-Forwarded-Uri and X-Original-URL', { ...traefik(s, '/admin'), 'x-original-url': `${s.url}/public/x` }, 'GH_AUTH_AMBIGUOUS_ORIGINAL'],
    ['X-Original-URL and X-Original-URI disagree', { 'x-original-url': `${s.url}/admin`, 'x-original-uri': '/public/x' }, 'GH_AUTH_AMBIGUOUS_ORIGINAL'],
    ['a method that is not a token', { ...traefik(s, '/a', { 'x-forwarded-method': 'GE T' }) }, 'GH_AUTH_BAD_ORIGINAL'],
    ['a method with a slash', { ...traefik(s, '/a', { 'x-forwarded-method': 'GET/1' }) }, 'GH_AUTH_BAD_ORIGINAL'],
    ['a scheme that is not http(s)', { ...traefik(s, '/a', { 'x-forwarded-proto': 'gopher' }) }, 'GH_AUTH_BAD_ORIGINAL'],
    ['a URI that is not a path', { ...traefik(s, 'http://evil/a') }, 'GH_AUTH_BAD_ORIGINAL'],
    ['a URI with a space', { ...traefik(s, '/a b') }, 'GH_AUTH_BAD_ORIGINAL'],
    ['a URI with non-ASCII', { ...traefik(s, '/caf\u00e9') }, 'GH_AUTH_BAD_ORIGINAL'],
    ['a huge URI', { ...traefik(s, '/' + 'a'.repeat(20_000)) }, 'GH_AUTH_BAD_ORIGINAL'],
    ['a bad URL', { 'x-original-url': 'http//nope' }, 'GH_AUTH_BAD_ORIGINAL'],
    ['a URL with user information', { 'x-original-url': 'http://user@evil.example/a' }, 'GH_AUTH_BAD_ORIGINAL'],
    ['a scheme-relative URL', { 'x-original-url': '//evil.example/a' }, 'GH_AUTH_BAD_ORIGINAL'],
    ['a bad host', { 'x-original-url': 'http://ev il/a' }, 'GH_AUTH_BAD_ORIGINAL'],
    ['an invalid escape', { ...traefik(s, '/a%zz') }, 'GH_BAD_PATH'],
    ['a NUL', { ...traefik(s, '/a%00b') }, 'GH_BAD_PATH'],
  ]
  for (const [name, headers, code] of cases) {
    const r = await auth(s, { ...headers, accept: 'application/json' })
    t.equal(r.status, 400, `${name}: 400`)
    t.equal(r.headers['x-gatehouse-response'], code, `${name}: ${code}`)
  }
  // Values a Node client will not send: a raw CR inside a value, and a 100 kB header.
  const cr = await rawStatus(s.url, `GET /.gatehouse/auth HTTP/1.1\r\nHost: ${host}\r\nX-Forwarded-Uri: /a\rX-Injected: 1\r\nConnection: close\r\n\r\n`)
  t.ok(cr >= 400 && cr < 500, `a bare CR is refused with ${cr}`)
  const huge = await rawStatus(s.url, `GET /.gatehouse/auth HTTP/1.1\r\nHost: ${host}\r\nX-Forwarded-Uri: /${'a'.repeat(100_000)}\r\nConnection: close\r\n\r\n`)
  t.ok(huge >= 400 && huge < 500, `a header over the server's limit is refused with ${huge}`)
  t.equal((await auth(s, { ...traefik(s, '/public/x'), ...API })).status, 200, 'the gateway still serves')
})

t.test('a refresh during the check is not lost: the 200 carries the refreshed session cookie, which then works', async (t) => {
  const s = await startSessionStack(t, 'cookie', { routes: ROUTES, session: '  idleTimeout: 3h\n' })
  const cookie = await loginCookie(s.browser(), `${s.url}/`)
  const before = await sessionOf(s.nodes[0]!, cookie, s.clock.now)
  s.clock.advance(3600_000 + 60_000)
  const r = await auth(s, { ...traefik(s, '/x'), ...API, cookie })
  t.equal(r.status, 200)
  t.equal(s.idp.grants.get('refresh_token'), 1, 'one refresh at the provider')
  const fresh = setCookieHeader(r)
  t.not(fresh, '', 'the answer sets the refreshed session cookie')
  const after = await sessionOf(s.nodes[0]!, fresh, s.clock.now)
  t.not(after!.accessToken, before!.accessToken, 'with new tokens')
  t.equal(r.headers.authorization, `Bearer ${after!.accessToken}`, 'and the answer carries the new token')
  const again = await auth(s, { ...traefik(s, '/x'), ...API, cookie: fresh })
  t.equal(again.status, 200)
  t.equal(s.idp.grants.get('refresh_token'), 1, 'the refreshed cookie needs no further refresh')
})

t.test('metrics: decisions counted like proxied requests, under the decided route', async (t) => {
  const s = await startSessionStack(t, 'cookie', { routes: ROUTES })
  await s.gh.admin!.listen({ host: '127.0.0.1', port: 0 })
  const admin = `http://127.0.0.1:${(s.gh.admin!.server.address() as { port: number }).port}`
  const bob = await loginCookie(s.browser(), `${s.url}/`, 'bob')
  await auth(s, { ...traefik(s, '/x'), ...API, cookie: bob })
  await auth(s, { ...traefik(s, '/admin/x'), ...API, cookie: bob })
  await auth(s, { ...traefik(s, '/x'), ...API })
  await auth(s, { ...API })
  const text = (await request(`${admin}/metrics`)).text
  const value = (series: string): number => Number(text.split('\n').find((l) => l.startsWith(series + ' '))?.split(' ')[1] ?? NaN)
  t.ok(value('gatehouse_http_requests_total{route="app",code="200"}') >= 1, 'the allowed check counts under its route')
  t.equal(value('gatehouse_http_requests_total{route="admin-area",code="403"}'), 1, 'the denied one under /admin\'s')
  t.ok(value('gatehouse_http_requests_total{route="app",code="401"}') >= 1)
  t.equal(value('gatehouse_http_requests_total{route="gatehouse:auth",code="400"}'), 1, 'a call without an original URL under gatehouse:auth')
  t.equal(value('gatehouse_auth_decisions_total{decision="deny",reason="policy"}'), 1)
  t.ok(value('gatehouse_auth_decisions_total{decision="allow",reason="session"}') >= 1)
  t.ok(value('gatehouse_auth_decisions_total{decision="deny",reason="unauthenticated"}') >= 1)
})

t.test('the same answers when every request goes through Fastify (log.requests: true)', async (t) => {
  const s = await startStack(t, { yaml: gatewayYaml({ routes: ROUTES }) + 'log:\n  requests: true\n', deps: { logger: false } })
  const host = new URL(s.url).host
  const h = (uri: string): Record<string, string> => ({ 'x-forwarded-method': 'GET', 'x-forwarded-proto': 'http', 'x-forwarded-host': host, 'x-forwarded-uri': uri, ...API })
  const bob = await loginCookie(s.browser(), `${s.url}/`, 'bob')
  const ok = await request(`${s.url}/.gatehouse/auth`, { headers: { ...h('/x'), cookie: bob } })
  t.equal(ok.status, 200)
  t.equal(ok.headers['x-forwarded-email'], 'bob@example.com')
  t.match(ok.headers.authorization, /^Bearer .+/)
  t.equal(ok.headers['x-gatehouse-response'], 'auth-ok')
  t.match(ok.headers['x-request-id'], /^[0-9a-f]+-/, 'answered by the Fastify route')
  t.equal((await request(`${s.url}/.gatehouse/auth`, { headers: { ...h('/admin'), cookie: bob } })).status, 403)
  t.equal((await request(`${s.url}/.gatehouse/auth`, { headers: h('/x') })).status, 401)
  t.equal((await request(`${s.url}/.gatehouse/auth`, { headers: { ...API } })).status, 400)
})

t.test('each call is decided once: one session read, whatever the answer and whichever path answers it', async (t) => {
  const s = await startSessionStack(t, 'memory', { routes: ROUTES })
  const store = s.gh.gateway.sessions.store
  let loads = 0
  const load = store.load.bind(store)
  store.load = (ticket: unknown) => { loads++; return load(ticket) }
  const alice = await loginCookie(s.browser(), `${s.url}/`, 'alice')
  const bob = await loginCookie(s.browser(), `${s.url}/`, 'bob')
  const cases: [string, Record<string, string>, string, number][] = [
    ['allowed (the listener answers)', { ...traefik(s, '/x'), ...API, cookie: alice }, '', 200],
    ['refused by the policy (Fastify answers)', { ...traefik(s, '/admin'), ...API, cookie: bob }, '', 403],
    ['unknown session, redirected', { ...traefik(s, '/x'), ...BROWSER, cookie: 'gatehouse=nope' }, '?redirect=true', 302],
  ]
  for (const [what, headers, query, status] of cases) {
    const before = loads
    t.equal((await auth(s, headers, query)).status, status, what)
    t.ok(loads - before <= 1, `${what}: at most one session read (${loads - before})`)
  }
  const before = loads
  await auth(s, { ...traefik(s, '/admin'), ...API, cookie: bob })
  t.equal(loads - before, 1, 'a refused call reads the session exactly once')
})

t.test('access log: one line per call, with the original host, the decided route, the user and the decision', async (t) => {
  const raw: string[] = []
  const s = await startStack(t, { yaml: gatewayYaml({ routes: ROUTES }), deps: { logStream: { write: (line: string) => { raw.push(line) } } } })
  const lines = (): Record<string, unknown>[] => raw.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.msg === 'request')
  const bob = await loginCookie(s.browser(), `${s.url}/`, 'bob')
  const h = (uri: string, id: string): Record<string, string> => ({ 'x-forwarded-method': 'GET', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'App.Example.com', 'x-forwarded-uri': uri, 'x-request-id': id, ...API })
  t.equal((await request(`${s.url}/.gatehouse/auth`, { headers: { ...h('/x', 'fa.1'), cookie: bob } })).status, 200)
  t.equal((await request(`${s.url}/.gatehouse/auth`, { headers: { ...h('/admin/x', 'fa.2'), cookie: bob } })).status, 403)
  t.equal((await request(`${s.url}/.gatehouse/auth`, { headers: { ...API, 'x-request-id': 'fa.3' } })).status, 400)
  await new Promise((resolve) => setTimeout(resolve, 20))
  const byId = (id: string): Record<string, unknown> | undefined => lines().find((l) => l.reqId === id)
  t.match(byId('fa.1'), { host: 'app.example.com', url: '/.gatehouse/auth', route: 'app', status: 200, decision: 'allow', reason: 'session' })
  t.type(byId('fa.1')!.user, 'string')
  t.match(byId('fa.2'), { host: 'app.example.com', route: 'admin-area', status: 403, decision: 'deny', reason: 'policy' })
  t.match(byId('fa.3'), { route: 'gatehouse:auth', status: 400 })
  for (const l of raw) t.notMatch(l, /Bearer [A-Za-z0-9._-]{20,}/, 'no token in any log line')
})

t.test('a session whose refresh token the provider refuses: the 401 deletes the session cookie', async (t) => {
  const s = await startSessionStack(t, 'cookie', { routes: ROUTES, session: '  idleTimeout: 3h\n' })
  const cookie = await loginCookie(s.browser(), `${s.url}/`)
  const session = await sessionOf(s.nodes[0]!, cookie, s.clock.now)
  // The grant is revoked at the provider (RFC 7009): the next refresh is invalid_grant.
  const revoked = await request(`${s.idp.issuer}/token/revocation`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${CLIENT_ID}:${CLIENT_SECRET}`).toString('base64')}` },
    body: new URLSearchParams({ token: session!.refreshToken!, token_type_hint: 'refresh_token' }).toString(),
  })
  t.equal(revoked.status, 200)
  s.clock.advance(3600_000 + 60_000)
  const r = await auth(s, { ...traefik(s, '/x'), ...API, cookie })
  t.equal(r.status, 401)
  const cleared = ([] as string[]).concat(r.headers['set-cookie'] ?? []).filter((c) => c.startsWith('gatehouse'))
  t.ok(cleared.length > 0, 'the answer sets the session cookie')
  t.ok(cleared.every((c) => /Max-Age=0|Expires=Thu, 01 Jan 1970/i.test(c)), 'to nothing: deleted')
})
