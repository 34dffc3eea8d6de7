import t from 'tap'
import http from 'node:http'
import { parseConfig } from '../../src/config/load.js'
import { buildApp } from '../../src/app.js'
import { startEchoUpstream } from '../../src/demo/upstream.js'
import { NAVIGATE, request } from '../fixtures/browser.js'
import { SESSION_SECRET, freePort, startStack } from '../fixtures/stack.js'

const YAML = `
listen: 127.0.0.1:{{PORT}}
publicUrl: {{PUBLIC}}
providers:
  - id: test
    issuer: {{ISSUER}}
    clientId: gatehouse-test
    clientSecret: gatehouse-test-secret-0123456789abcdef
session:
  secret: ${SESSION_SECRET}
routes:
  - path: /public
    upstream: {{UPSTREAM}}
    auth: public
  - path: /down
    upstream: http://127.0.0.1:1
    auth: public
  - path: /app
    upstream: {{UPSTREAM}}
`

/** Status of a GET for a path sent as is (URL objects would resolve dot segments first). */
function rawStatus (base: string, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const u = new URL(base)
    http.get({ host: u.hostname, port: u.port, path, agent: false }, (res) => { res.resume(); resolve(res.statusCode ?? 0) }).on('error', reject)
  })
}

/** The sequence number in a correlation id (`<boot>-<base36 seq>`): how many requests went through Fastify. */
const seqOf = (text: string): number => parseInt(/correlation id <code>[0-9a-f]+-([0-9a-z]+)<\/code>/.exec(text)![1]!, 36)

t.test('forwarded requests skip Fastify; everything else gets the same answers as before', async (t) => {
  const s = await startStack(t, { yaml: YAML })
  const b = s.browser()
  t.equal((await b.login(`${s.url}/app/home`)).status, 200, 'login through Fastify, then the upstream')
  const cookie = await b.cookieHeader(`${s.url}/app/`)
  const first = await request(`${s.url}/nowhere`)
  t.equal(first.status, 404)
  for (let i = 0; i < 5; i++) t.equal((await request(`${s.url}/public/x?i=${i}`)).status, 200)
  for (let i = 0; i < 5; i++) t.equal((await request(`${s.url}/app/x`, { headers: { cookie } })).status, 200)
  t.match(s.upstream.received.at(-1)!.headers.authorization, /^Bearer /, 'the authenticated path still adds the token')
  const second = await request(`${s.url}/nowhere`)
  t.equal(seqOf(second.text) - seqOf(first.text), 1, 'the ten forwarded requests got no Fastify request id')
  const login = await request(`${s.url}/app/x`, { headers: NAVIGATE })
  t.equal(login.status, 302, 'no session: Fastify sends the browser to log in')
  t.equal((await request(`${s.url}/app/x`, { headers: { accept: 'application/json' } })).status, 401)
  t.equal(await rawStatus(s.url, '/app/%2e%2e/public/x'), 400, 'dot segments: 400 page')
  t.equal((await request(`${s.url}/.gatehouse/nothing`)).status, 404, 'Gatehouse endpoints stay with Fastify')
  t.equal((await request(`${s.url}/%2Egatehouse/nothing`)).status, 404, 'in any spelling')
  const third = await request(`${s.url}/nowhere`)
  t.equal(seqOf(third.text) - seqOf(second.text), 6, 'each of those six went through Fastify')
})

t.test('an unreachable upstream on the fast path: 502 page with a correlation id', async (t) => {
  const s = await startStack(t, { yaml: YAML })
  const r = await request(`${s.url}/down/x`)
  t.equal(r.status, 502)
  t.equal(r.headers['x-gatehouse-response'], 'unreachable')
  // The same page, with the same headers, as every page Gatehouse renders.
  t.match(r.headers['content-security-policy'], /^default-src 'none'/)
  t.equal(r.headers['x-content-type-options'], 'nosniff')
  t.equal(r.headers['referrer-policy'], 'no-referrer')
  t.equal(r.headers['cache-control'], 'no-store')
  t.match(r.text, /GH_UPSTREAM_UNREACHABLE/)
  // Fast-path requests get ids of their own series (`<boot>_<seq>`), never a Fastify one.
  const id = /correlation id <code>([0-9a-f]+_[0-9a-z]+)<\/code>/.exec(r.text)?.[1]
  t.ok(id, 'a fast-path correlation id in the page')
  t.equal(r.headers['x-request-id'], id, 'the same id in X-Request-Id')
})

t.test('a request hook on the app turns the fast path off: hooks always run', async (t) => {
  const upstream = await startEchoUpstream()
  t.teardown(async () => upstream.close())
  const port = await freePort()
  const config = parseConfig(`
listen: 127.0.0.1:${port}
publicUrl: http://127.0.0.1:${port}
providers: [{ id: p, issuer: http://127.0.0.1:9, clientId: c, clientSecret: s }]
session: { secret: ${SESSION_SECRET} }
routes: [{ path: /, upstream: ${upstream.url}, auth: public }]
`, { env: {} })
  const gh = await buildApp(config, { logger: false })
  t.teardown(async () => gh.close())
  let hooked = 0
  gh.app.addHook('onRequest', async () => { hooked++ })
  await gh.app.listen({ host: '127.0.0.1', port })
  for (let i = 0; i < 3; i++) t.equal((await request(`http://127.0.0.1:${port}/x`)).status, 200)
  t.equal(hooked, 3)
})
