import t from 'tap'
import { NAVIGATE, request } from '../fixtures/browser.js'
import { CLIENT_ID, CLIENT_SECRET, SESSION_SECRET, startStack } from '../fixtures/stack.js'

const yaml = (routes: string, extra = ''): string => `
listen: 127.0.0.1:{{PORT}}
publicUrl: {{PUBLIC}}
${extra}
providers:
  - id: test
    issuer: {{ISSUER}}
    clientId: ${CLIENT_ID}
    clientSecret: ${CLIENT_SECRET}
session:
  secret: ${SESSION_SECRET}
routes:
${routes}`

const ROUTES = `
  - path: /public
    upstream: {{UPSTREAM}}
    auth: public
  - path: /optional
    upstream: {{UPSTREAM}}
    auth: optional
  - path: /strip
    upstream: {{UPSTREAM}}/base
    stripPrefix: true
    bearer: id_token
    headers:
      X-Auth-User: sub
      X-Auth-Roles: groups
  - path: /deny
    upstream: {{UPSTREAM}}
    unauthenticated: deny
  - path: /api
    upstream: {{UPSTREAM}}
    unauthenticated: redirect
  - path: /admin
    upstream: {{UPSTREAM}}
    allow:
      groups: [admins]
  - path: /nobearer
    upstream: {{UPSTREAM}}
    bearer: none
  - path: /
    host: other.test
    upstream: {{UPSTREAM}}/other
    auth: public
  - path: /
    upstream: {{UPSTREAM}}`

const SPOOF = {
  'x-forwarded-user': 'mallory',
  'X_Forwarded_User': 'mallory',
  'x-forwarded-email': 'mallory@evil.example',
  'x_forwarded_email': 'mallory@evil.example',
  'x-forwarded-groups': 'admins',
  'x-forwarded-preferred-username': 'mallory',
  'x-auth-user': 'mallory',
  'X_AUTH_ROLES': 'admins',
  'x-forwarded-for': '6.6.6.6',
  'x-forwarded-host': 'evil.example',
  'x-forwarded-proto': 'https',
}

t.test('identity headers sent by the client never reach the upstream, on any route', async (t) => {
  const s = await startStack(t, { yaml: yaml(ROUTES) })
  const anon = await request(`${s.url}/public/page`, { headers: { ...SPOOF, cookie: 'app=1; gatehouse=forged; gatehouse.1=x', authorization: 'Bearer client-token' } })
  t.equal(anon.status, 200)
  const seen = s.upstream.received.at(-1)!
  for (const name of Object.keys(SPOOF)) {
    if (name.startsWith('x-forwarded-for') || name.startsWith('x-forwarded-host') || name.startsWith('x-forwarded-proto')) continue
    t.equal(seen.headers[name.toLowerCase()], undefined, `public route: ${name} removed`)
  }
  t.notOk(seen.rawHeaders.some((h) => /^x_/i.test(h)), 'no underscore spelling survives')
  t.equal(seen.headers['x-forwarded-for'], '127.0.0.1', 'X-Forwarded-For is the real peer (trustProxy false)')
  t.equal(seen.headers['x-forwarded-proto'], 'http')
  t.equal(seen.headers['x-forwarded-host'], new URL(s.url).host)
  t.equal(seen.headers.cookie, 'app=1', 'gatehouse cookies removed, the app\'s kept')
  t.equal(seen.headers.authorization, 'Bearer client-token', 'a public route passes the client\'s own Authorization')

  const b = s.browser()
  await b.login(`${s.url}/`, 'bob')
  const cookie = await b.cookieHeader(`${s.url}/`)
  const res = await request(`${s.url}/strip/deep/path?q=1`, { headers: { ...SPOOF, cookie, authorization: 'Bearer forged' } })
  t.equal(res.status, 200)
  const got = s.upstream.received.at(-1)!
  t.equal(got.url, '/base/deep/path?q=1', 'prefix stripped, upstream base path prepended')
  t.equal(got.headers['x-auth-user'], 'bob', 'configured header carries the real user')
  t.equal(got.headers['x-auth-roles'], 'staff')
  t.equal(got.headers['x-forwarded-user'], undefined, 'headers of other routes are stripped too')
  t.equal(got.headers['x-forwarded-groups'], undefined)
  const idToken = String(got.headers.authorization).slice(7)
  t.equal(idToken.split('.').length, 3, 'bearer: id_token sends the ID token')
  t.equal(JSON.parse(Buffer.from(idToken.split('.')[1]!, 'base64url').toString()).sub, 'bob')

  const nb = await request(`${s.url}/nobearer`, { headers: { cookie, authorization: 'Bearer client' } })
  t.equal(nb.status, 200)
  t.equal(s.upstream.received.at(-1)!.headers.authorization, 'Bearer client', 'bearer: none leaves Authorization alone')
  t.equal(s.upstream.received.at(-1)!.headers['x-forwarded-user'], 'bob')
})

t.test('auth modes, unauthenticated modes, policy, host routing', async (t) => {
  const s = await startStack(t, { yaml: yaml(ROUTES) })
  const opt = await request(`${s.url}/optional/x`, { headers: NAVIGATE })
  t.equal(opt.status, 200, 'optional: anonymous passes')
  t.equal(s.upstream.received.at(-1)!.headers['x-forwarded-user'], undefined)
  const deny = await request(`${s.url}/deny`, { headers: NAVIGATE })
  t.equal(deny.status, 401, 'deny: even a browser gets 401')
  const api = await request(`${s.url}/api/items`, { headers: { accept: 'application/json' } })
  t.equal(api.status, 302, 'redirect: even an API client is redirected')
  const host = await request(`${s.url}/x`, { headers: { host: 'other.test' } })
  t.equal(host.status, 200)
  t.equal(s.upstream.received.at(-1)!.url, '/other/x', 'host route wins over the catch-all')

  const b = s.browser()
  await b.login(`${s.url}/`, 'bob')
  const cookie = await b.cookieHeader(`${s.url}/`)
  const optIn = await request(`${s.url}/optional/x`, { headers: { cookie } })
  t.equal(optIn.status, 200)
  t.equal(s.upstream.received.at(-1)!.headers['x-forwarded-user'], 'bob', 'optional: identity when signed in')
  const before = s.upstream.received.length
  const forbidden = await request(`${s.url}/admin/panel`, { headers: { ...NAVIGATE, cookie } })
  t.equal(forbidden.status, 403, 'bob is not in admins')
  t.match(forbidden.text, /Access denied/)
  t.equal(s.upstream.received.length, before, 'a 403 never reaches the upstream')
  const a = s.browser()
  await a.login(`${s.url}/`, 'alice')
  const ok = await request(`${s.url}/admin/panel`, { headers: { cookie: await a.cookieHeader(`${s.url}/`) } })
  t.equal(ok.status, 200, 'alice is in admins')
})

t.test('bad paths, unknown endpoints and upstream failures are clean errors', async (t) => {
  const s = await startStack(t, {
    yaml: yaml(`
  - path: /down
    upstream: http://127.0.0.1:1
    auth: public
  - path: /
    upstream: {{UPSTREAM}}
    auth: public`, 'upstream:\n  timeout: 500ms'),
  })
  // Dot segments are resolved before the route decides (here every path is
  // on the catch-all route), and the upstream gets the resolved path.
  for (const [p, sent] of [['/a/../b', '/b'], ['/a/%2e%2e/b', '/b'], ['/%2E/x', '/x'], ['/.', '/'], ['/a/./b/..', '/a/']]) {
    const r = await request(s.url, { rawPath: p })
    t.equal(r.status, 200, `dot segments resolved: ${p}`)
    t.equal(s.upstream.received.at(-1)!.url, sent, `the upstream gets ${sent} for ${p}`)
  }
  for (const p of ['/a%00b', '/a/%zz', '/a/%2', '/x/%252e%252e/y']) {
    const r = await request(s.url, { rawPath: p })
    t.equal(r.status, 400, `refused: ${p}`)
    t.equal(r.headers['x-gatehouse-response'], 'GH_BAD_PATH')
  }
  const down = await request(`${s.url}/down/x`, { headers: NAVIGATE })
  t.equal(down.status, 502)
  t.match(down.text, /correlation id/)
  const slow = await request(`${s.url}/slow`)
  t.equal(slow.status, 504, 'upstream timeout')
  const nf = await request(`${s.url}/.gatehouse/nope`)
  t.equal(nf.status, 404)
  const sent = JSON.stringify({ big: 'x'.repeat(200_000) })
  const post = await request(`${s.url}/echo`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: sent })
  t.equal(post.status, 200, 'request bodies stream to the upstream')
  t.equal(s.upstream.received.at(-1)!.body, sent, 'body arrives intact')
  const status = await request(`${s.url}/status/418`)
  t.equal(status.status, 418, 'upstream statuses pass through')
  t.equal(status.headers['set-cookie']?.[0], 'app=1; Path=/', 'upstream cookies pass through')
  const alive = await request(`${s.url}/still-alive`)
  t.equal(alive.status, 200, 'the gateway keeps serving')
})

t.test('no route configured for a host: 404', async (t) => {
  const s = await startStack(t, { yaml: yaml(`
  - path: /
    host: only.test
    upstream: {{UPSTREAM}}`) })
  const r = await request(`${s.url}/`)
  t.equal(r.status, 404)
  t.equal(r.headers['x-gatehouse-response'], 'GH_NO_ROUTE')
})

t.test('loginRedirect: gateway sends browsers to /.gatehouse/login?rd=', async (t) => {
  const s = await startStack(t, { yaml: yaml('  - path: /\n    upstream: {{UPSTREAM}}', 'loginRedirect: gateway') })
  const r = await request(`${s.url}/a/b?c=d`, { headers: NAVIGATE })
  t.equal(r.status, 302)
  t.equal(r.headers.location, '/.gatehouse/login?rd=%2Fa%2Fb%3Fc%3Dd')
  t.equal(r.headers['set-cookie'], undefined, 'no login state until the login endpoint')
  const res = await s.browser().login(`${s.url}/a/b?c=d`)
  t.equal(res.status, 200)
  t.equal(res.url, `${s.url}/a/b?c=d`)
})
