import { Redis } from 'ioredis'
import t, { type Test } from 'tap'
import { request } from '../fixtures/browser.js'
import { api, loginCookie, signJwt, startSessionStack, type SessionStack } from '../fixtures/gateway.js'
import { startRedis } from '../fixtures/redis.js'
import { CLIENT_ID } from '../fixtures/stack.js'
import type { RedisStore } from '../../src/session/redis.js'

/**
 * store: redis with the local session cache (session.redis.localCacheTtl),
 * two gateways sharing one real redis-server: what one of them changes, the
 * other stops serving from memory by the next request.
 */

const bearer = (h: Record<string, unknown>): string => String(h.authorization ?? '').replace(/^Bearer /, '')
type Node = SessionStack['nodes'][number]
const cacheOf = (n: Node): NonNullable<RedisStore['cache']> => (n.gh.gateway.sessions.store as RedisStore).cache!

/** Commands Redis served while `fn` ran, the test's own left out. */
async function gets (r: Redis, fn: () => Promise<unknown>): Promise<number> {
  await r.config('RESETSTAT')
  await fn()
  const m = /cmdstat_get:calls=(\d+)/.exec(await r.info('commandstats'))
  return m === null ? 0 : Number(m[1])
}

async function twoGateways (t: Test, extra: { redisYaml?: string, idpTtl?: { AccessToken?: number } } = {}): Promise<{ s: SessionStack, a: Node, b: Node, r: Redis }> {
  const redis = await startRedis(t)
  const s = await startSessionStack(t, 'redis', { replicas: 2, redis, session: '  idleTimeout: 3h\n', ...(extra.redisYaml !== undefined ? { redisYaml: `    url: ${redis.url}\n${extra.redisYaml}` } : {}), ...(extra.idpTtl !== undefined ? { idpTtl: extra.idpTtl } : {}) })
  const [a, b] = s.nodes as [Node, Node]
  const r = new Redis(redis.url)
  t.teardown(() => { r.disconnect() })
  const deadline = Date.now() + 5_000
  while (!(cacheOf(a).trusted && cacheOf(b).trusted) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10))
  return { s, a, b, r }
}

t.test('logout on A: B refuses the old cookie on the next request', async (t) => {
  const { s, a, b, r } = await twoGateways(t)
  const browser = s.browser()
  const cookie = await loginCookie(browser, `${a.url}/`)
  t.equal((await api(`${b.url}/first`, cookie)).status, 200)
  t.equal(await gets(r, async () => {
    for (let i = 0; i < 5; i++) t.equal((await api(`${b.url}/cached/${i}`, cookie)).status, 200)
  }), 0, 'B serves the session from memory: no GET')

  const out = await browser.navigate(`${a.url}/.gatehouse/logout`, { stopAt: (res) => res.url.startsWith(s.idp.issuer) })
  t.equal(out.hops[0]!.status, 302)
  const started = Date.now()
  t.equal((await api(`${b.url}/after`, cookie)).status, 401, 'B refuses the old cookie at once')
  t.comment(`measured: logout on A refused on B ${Date.now() - started} ms after the logout answered`)
  t.equal((await api(`${a.url}/after`, cookie)).status, 401, 'and A')
})

t.test('back-channel logout on A: B refuses every session it names', async (t) => {
  const { s, a, b } = await twoGateways(t)
  const bobs = [await loginCookie(s.browser(), `${a.url}/`, 'bob'), await loginCookie(s.browser(), `${b.url}/`, 'bob')]
  const alice = await loginCookie(s.browser(), `${a.url}/`)
  for (const c of [...bobs, alice]) t.equal((await api(`${b.url}/x`, c)).status, 200)
  t.ok(cacheOf(b).size >= 3, 'B holds the three sessions in memory')
  const token = await signJwt(s.key, { iss: s.idp.issuer, aud: CLIENT_ID, iat: Math.floor(s.clock.now / 1000), jti: 'rcache-bcl-1', events: { 'http://schemas.openid.net/event/backchannel-logout': {} }, sub: 'bob' })
  const res = await request(`${a.url}/.gatehouse/backchannel-logout`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `logout_token=${token}` })
  t.equal(res.status, 200, 'back-channel logout accepted on A')
  for (const c of bobs) t.equal((await api(`${b.url}/after`, c)).status, 401, 'B refuses a session of bob')
  t.equal((await api(`${b.url}/after`, alice)).status, 200, 'alice stays signed in on B')
})

t.test('refresh on A: B forwards the refreshed token, without refreshing itself', async (t) => {
  // Tokens live 90 s and are refreshed in their second half: due 45 s after login, while B's copy (1m) is still fresh.
  const { s, a, b } = await twoGateways(t, { redisYaml: '    localCacheTtl: 1m\n', idpTtl: { AccessToken: 90 } })
  const cookie = await loginCookie(s.browser(), `${a.url}/`)
  t.equal((await api(`${b.url}/before`, cookie)).status, 200)
  const old = bearer(s.upstream.received.at(-1)!.headers)
  t.equal((await api(`${a.url}/before`, cookie)).status, 200)

  s.clock.advance(46_000)
  t.equal((await api(`${a.url}/refresh`, cookie)).status, 200)
  const fresh = bearer(s.upstream.received.at(-1)!.headers)
  t.not(fresh, old, 'A refreshed')
  t.equal(await a.gh.gateway.metrics.get('gatehouse_refreshes_total{result="refreshed"}'), 1)

  t.equal((await api(`${b.url}/after`, cookie)).status, 200)
  t.equal(bearer(s.upstream.received.at(-1)!.headers), fresh, 'B forwards the refreshed token, not its old copy')
  for (const result of ['refreshed', 'shared']) t.equal(await b.gh.gateway.metrics.get(`gatehouse_refreshes_total{result="${result}"}`), 0, `B did not refresh (${result})`)
  t.equal(s.idp.grants.get('refresh_token'), 1, 'one refresh grant at the provider')
})

t.test('subscriber connections killed: B reads Redis until it has subscribed again, and refuses a logout it was not told of', async (t) => {
  const { s, a, b, r } = await twoGateways(t)
  const browser = s.browser()
  const cookie = await loginCookie(browser, `${a.url}/`)
  t.equal((await api(`${b.url}/first`, cookie)).status, 200)
  // Both gateways' subscribers are cut; B's logout message would be lost.
  await r.call('CLIENT', 'KILL', 'TYPE', 'pubsub')
  const deadline = Date.now() + 1_000
  while (cacheOf(b).trusted && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5))
  t.notOk(cacheOf(b).trusted, 'B noticed')
  await browser.navigate(`${a.url}/.gatehouse/logout`, { stopAt: (res) => res.url.startsWith(s.idp.issuer) })
  t.equal((await api(`${b.url}/after`, cookie)).status, 401, 'B refuses the ended session')
  const back = Date.now() + 5_000
  while (!cacheOf(b).trusted && Date.now() < back) await new Promise((resolve) => setTimeout(resolve, 10))
  t.ok(cacheOf(b).trusted, 'B subscribed again by itself')
})

t.test('Redis paused: copies are served until localCacheTtl after their read, then 503', async (t) => {
  const { s, b } = await twoGateways(t)
  const cookie = await loginCookie(s.browser(), `${b.url}/`)
  t.equal((await api(`${b.url}/first`, cookie)).status, 200)
  s.redis!.pause()
  t.teardown(() => { s.redis!.resume() })
  t.equal((await api(`${b.url}/paused`, cookie)).status, 200, 'within the TTL: from memory')
  s.clock.advance(5_000)
  const started = Date.now()
  const res = await api(`${b.url}/paused`, cookie)
  t.equal(res.status, 503, `then the store is needed again: 503 (${Date.now() - started} ms)`)
  t.equal(res.headers['x-gatehouse-response'], 'GH_SESSION_STORE_UNAVAILABLE')
})
