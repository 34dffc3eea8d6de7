import { createServer, type Socket } from 'node:net'
import t from 'tap'
import { DISCOVERY_WAIT_MS } from '../../src/auth/oidc.js'
import { NAVIGATE, request } from '../fixtures/browser.js'
import { gatewayYaml, startGateway, startStack } from '../fixtures/stack.js'

/**
 * The first visitors after start: a login that arrives while discovery is
 * still in flight waits for it (bounded) and is sent to the provider; only a
 * discovery that has really failed answers 503. /readyz stays 503 until
 * discovery is done.
 */

const sleep = async (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

t.test('slow discovery (800 ms): a browser arriving at once is redirected to the provider, not given 503', async (t) => {
  let discoveries = 0
  const s = await startStack(t, {
    yaml: gatewayYaml({ admin: true }),
    waitForProviders: false,
    onIdp: (idp) => {
      idp.use(async (ctx, next) => {
        if (ctx.path === '/.well-known/openid-configuration') { discoveries++; await sleep(800) }
        await next()
      })
    },
  })
  t.equal((await s.gh.admin!.inject('/readyz')).statusCode, 503, '/readyz: 503 while discovery is in flight')
  const started = Date.now()
  const [page, api, login] = await Promise.all([
    request(`${s.url}/page`, { headers: NAVIGATE }),
    request(`${s.url}/api`, { headers: { accept: 'application/json' } }),
    request(`${s.url}/.gatehouse/login?rd=/x`),
  ])
  t.equal(page.status, 302, 'the navigation is sent to log in')
  t.ok(String(page.headers.location).startsWith(`${s.idp.issuer}/auth?`), 'at the provider')
  t.equal(login.status, 302, '/.gatehouse/login too')
  t.ok(String(login.headers.location).startsWith(`${s.idp.issuer}/auth?`))
  t.equal(api.status, 401, 'an API client gets its 401 (no provider needed)')
  t.comment(`answered after ${Date.now() - started} ms`)
  t.equal(discoveries, 1, 'one discovery')
  t.equal((await s.gh.admin!.inject('/readyz')).statusCode, 200, '/readyz: 200 once discovered')
  const b = s.browser()
  const res = await b.login(`${s.url}/after`)
  t.equal(res.status, 200, 'and the login completes')
})

t.test('discovery that has failed: 503 at once, without waiting', async (t) => {
  // A port nothing listens on: the attempt fails at once, then retries after a backoff.
  const { gh, url } = await startGateway(t, gatewayYaml(), { issuer: 'http://127.0.0.1:1', upstream: 'http://127.0.0.1:2', discover: 'background' })
  await sleep(300)
  t.notOk(gh.gateway.defaultProvider.ready)
  const started = Date.now()
  const r = await request(`${url}/page`, { headers: NAVIGATE })
  t.equal(r.status, 503, 'sign-in unavailable')
  t.equal(r.headers['x-gatehouse-response'], 'GH_PROVIDER_UNAVAILABLE')
  t.ok(Date.now() - started < DISCOVERY_WAIT_MS, 'answered without waiting for the bound')
})

t.test('a provider that stops answering: the wait is bounded, then 503', async (t) => {
  // Accepts connections and never answers.
  const sockets = new Set<Socket>()
  const hang = createServer((sock) => { sockets.add(sock) })
  await new Promise<void>((resolve) => hang.listen(0, '127.0.0.1', resolve))
  t.teardown(async () => { for (const s of sockets) s.destroy(); await new Promise((resolve) => hang.close(resolve)) })
  const port = (hang.address() as { port: number }).port
  const { url } = await startGateway(t, gatewayYaml(), { issuer: `http://127.0.0.1:${port}`, upstream: 'http://127.0.0.1:2', discover: 'background' })
  const started = Date.now()
  const r = await request(`${url}/page`, { headers: NAVIGATE })
  const took = Date.now() - started
  t.equal(r.status, 503, 'sign-in unavailable')
  t.equal(r.headers['x-gatehouse-response'], 'GH_PROVIDER_UNAVAILABLE')
  t.ok(took >= DISCOVERY_WAIT_MS - 100, `waited for the discovery in flight (${took} ms)`)
  t.ok(took < DISCOVERY_WAIT_MS + 5_000, 'but no longer than the bound')
})
