import t from 'tap'
import { NAVIGATE, request } from '../fixtures/browser.js'
import { gatewayYaml, startStack } from '../fixtures/stack.js'
import { startEchoUpstream } from '../../src/demo/upstream.js'

const yaml = (routes: string): string => gatewayYaml({ routes })

t.test('methods: a GET route and a POST route on one path reach different upstreams', async (t) => {
  const writer = await startEchoUpstream()
  t.teardown(async () => writer.close())
  const s = await startStack(t, {
    yaml: yaml(`
  - path: /items
    methods: [GET, HEAD]
    upstream: {{UPSTREAM}}
    auth: public
  - path: /items
    methods: [POST]
    upstream: ${writer.url}
  - path: /other
    upstream: {{UPSTREAM}}
    auth: public`),
  })
  const get = await request(`${s.url}/items/1`)
  t.equal(get.status, 200)
  t.equal(s.upstream.received.at(-1)!.url, '/items/1', 'GET went to the reader')
  t.equal(writer.received.length, 0)

  const anonPost = await request(`${s.url}/items`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } })
  t.equal(anonPost.status, 401, 'the POST route keeps its own auth: required')
  t.equal(writer.received.length, 0)

  const b = s.browser()
  await b.login(`${s.url}/.gatehouse/login?rd=/other`, 'alice')
  const cookie = await b.cookieHeader(`${s.url}/`)
  const post = await request(`${s.url}/items`, { method: 'POST', body: '{"a":1}', headers: { 'content-type': 'application/json', cookie } })
  t.equal(post.status, 200)
  t.equal(writer.received.length, 1, 'POST went to the writer')
  t.equal(writer.received[0]!.body, '{"a":1}')
  t.equal(writer.received[0]!.headers['x-forwarded-user'], 'alice')

  const before = s.upstream.received.length + writer.received.length
  const put = await request(`${s.url}/items`, { method: 'PUT', body: 'x', headers: { cookie } })
  t.equal(put.status, 404, 'a method no route lists: no route')
  t.equal(put.headers['x-gatehouse-response'], 'GH_NO_ROUTE')
  t.equal(s.upstream.received.length + writer.received.length, before, 'and no upstream saw it')
})

t.test('pathRegex: matched on the normalised path, before prefixes', async (t) => {
  const health = await startEchoUpstream()
  t.teardown(async () => health.close())
  const s = await startStack(t, {
    yaml: yaml(`
  - pathRegex: '^/api/v[0-9]+/health$'
    upstream: ${health.url}
    auth: public
  - path: /
    upstream: {{UPSTREAM}}
    unauthenticated: deny`),
  })
  const ok = await request(`${s.url}/api/v12/health`)
  t.equal(ok.status, 200, 'public through the regex route')
  t.equal(health.received.at(-1)!.url, '/api/v12/health')
  const dotted = await request(s.url, { rawPath: '/api/x/../v2/health' })
  t.equal(dotted.status, 200, 'decided on the dot-resolved path')
  t.equal(health.received.at(-1)!.url, '/api/v2/health')
  const encoded = await request(s.url, { rawPath: '/api/v%32/health' })
  t.equal(encoded.status, 200, 'decided on the decoded path')
  for (const p of ['/api/v1/health/x', '/api/vx/health', '/x/api/v1/health']) {
    const r = await request(`${s.url}${p}`, { headers: NAVIGATE })
    t.equal(r.status, 401, `${p}: not the regex route (anchored), the catch-all`)
  }
  const sneaky = await request(s.url, { rawPath: '/api/v1%2Fhealth' })
  t.equal(sneaky.status, 400, 'an encoded slash that would change the route is refused')
})

t.test('allowPreflight: a preflight is forwarded without a session; other OPTIONS still need one', async (t) => {
  const s = await startStack(t, {
    yaml: yaml(`
  - path: /api
    upstream: {{UPSTREAM}}
    unauthenticated: deny
    allowPreflight: true
  - path: /
    upstream: {{UPSTREAM}}
    unauthenticated: deny`),
  })
  const preflight = { origin: 'https://spa.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type', 'x-forwarded-user': 'mallory' }
  const r = await request(`${s.url}/api/items`, { method: 'OPTIONS', headers: preflight })
  t.equal(r.status, 200, 'forwarded')
  const seen = s.upstream.received.at(-1)!
  t.equal(seen.method, 'OPTIONS')
  t.equal(seen.headers.origin, 'https://spa.example')
  t.equal(seen.headers['x-forwarded-user'], undefined, 'spoofed identity headers are still stripped')
  t.equal(seen.headers.authorization, undefined)

  const before = s.upstream.received.length
  const notPreflights: [string, Record<string, string | string[]>][] = [
    ['no Origin', { 'access-control-request-method': 'POST' }],
    ['no Access-Control-Request-Method', { origin: 'https://spa.example' }],
    ['Origin twice', { origin: ['https://spa.example', 'https://evil.example'], 'access-control-request-method': 'POST' }],
  ]
  for (const [what, headers] of notPreflights) {
    const o = await request(`${s.url}/api/items`, { method: 'OPTIONS', headers })
    t.equal(o.status, 401, `${what}: not a preflight, auth applies`)
  }
  const other = await request(`${s.url}/elsewhere`, { method: 'OPTIONS', headers: preflight })
  t.equal(other.status, 401, 'a route without allowPreflight authenticates preflights too')
  const get = await request(`${s.url}/api/items`, { headers: { origin: 'https://spa.example', 'access-control-request-method': 'POST' } })
  t.equal(get.status, 401, 'the CORS headers on a GET change nothing')
  t.equal(s.upstream.received.length, before, 'none of these reached the upstream')

  const b = s.browser()
  await b.login(`${s.url}/.gatehouse/login?rd=/api/x`, 'alice')
  const cookie = await b.cookieHeader(`${s.url}/`)
  const signedIn = await request(`${s.url}/api/me`, { headers: { cookie } })
  t.equal(signedIn.status, 200)
  t.equal(s.upstream.received.at(-1)!.headers['x-forwarded-user'], 'alice', 'signed in')
  await request(`${s.url}/api/items`, { method: 'OPTIONS', headers: { ...preflight, cookie } })
  t.equal(s.upstream.received.at(-1)!.method, 'OPTIONS')
  t.equal(s.upstream.received.at(-1)!.headers['x-forwarded-user'], undefined, 'a preflight carries no identity even with a session')
  t.equal(s.upstream.received.at(-1)!.headers.authorization, undefined, 'nor a bearer token')
})
