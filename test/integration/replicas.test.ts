import { Redis } from 'ioredis'
import t from 'tap'
import { request } from '../fixtures/browser.js'
import { api, loginCookie, sessionOf, signJwt, startSessionStack } from '../fixtures/gateway.js'
import { startRedis } from '../fixtures/redis.js'
import { CLIENT_ID } from '../fixtures/stack.js'

const bearer = (h: Record<string, unknown>): string => String(h.authorization ?? '').replace(/^Bearer /, '')

t.test('two gateways sharing one Redis: sessions, refresh and logout are shared', async (t) => {
  const s = await startSessionStack(t, 'redis', { replicas: 2, session: '  idleTimeout: 3h\n' })
  const [a, b] = s.nodes as [typeof s.nodes[0], typeof s.nodes[0]]
  t.not(a.url, b.url, 'two instances on different ports')
  const browser = s.browser()
  const cookie = await loginCookie(browser, `${a.url}/`)
  t.equal((await api(`${b.url}/on-b`, cookie)).status, 200, 'a session created on A works on B')
  t.equal(s.upstream.received.at(-1)!.headers['x-forwarded-user'], 'alice')

  // Nothing in Redis gives the session away without the browser's cookie.
  const session = (await sessionOf(a, cookie, s.clock.now))!
  const redis = new Redis(s.redis!.url)
  t.teardown(() => { redis.disconnect() })
  const keys = await redis.keys('*')
  t.ok(keys.length > 0 && keys.every((k) => k.startsWith('gh-test:')), 'every key is under the configured prefix')
  t.ok(keys.every((k) => !k.includes(session.id)), 'no key contains the ticket')
  const dump = (await Promise.all(keys.map(async (k) => (await redis.type(k)) === 'string' ? redis.get(k) : (await redis.smembers(k)).join(' ')))).join('\n')
  for (const [what, secret] of [['access token', session.accessToken!], ['refresh token', session.refreshToken!], ['ID token', session.idToken!.split('.')[1]!], ['subject', 'alice'], ['email', 'alice@example.com']] as const) {
    t.notOk(dump.includes(secret), `a Redis dump holds no ${what}`)
  }
  const ttl = await redis.pttl(keys.find((k) => k.startsWith('gh-test:s:'))!)
  t.ok(ttl > 3 * 3_600_000 - 60_000 && ttl <= 3 * 3_600_000, `the session key expires with the idle timeout (${ttl} ms)`)

  // Expiry: 50 concurrent requests, split across both instances.
  const old = bearer(s.upstream.received.at(-1)!.headers)
  s.clock.advance(3600_000 + 60_000)
  const before = s.upstream.received.length
  const results = await Promise.all(Array.from({ length: 50 }, async (_, i) => api(`${i % 2 === 0 ? a.url : b.url}/burst/${i}`, cookie)))
  t.same(results.map((r) => r.status), Array(50).fill(200), 'all 50 requests succeed')
  const grants = s.idp.grants.get('refresh_token')
  t.equal(grants, 1, 'exactly one refresh_token grant at the provider')
  t.comment(`measured: 50 concurrent requests across two instances -> ${grants} refresh_token grant(s)`)
  const tokens = new Set(s.upstream.received.slice(before).map((r) => bearer(r.headers)))
  t.equal(tokens.size, 1, 'both instances forwarded the same refreshed token')
  t.not([...tokens][0], old)
  const shared = await a.gh.gateway.metrics.get('gatehouse_refreshes_total{result="shared"}') + await b.gh.gateway.metrics.get('gatehouse_refreshes_total{result="shared"}')
  const spent = await a.gh.gateway.metrics.get('gatehouse_refreshes_total{result="refreshed"}') + await b.gh.gateway.metrics.get('gatehouse_refreshes_total{result="refreshed"}')
  t.equal(spent, 1, 'one instance refreshed')
  t.equal(shared, 1, 'the other took its result from Redis under the lock')
  t.equal(await redis.keys('gh-test:l:*').then((k) => k.length), 0, 'the refresh lock was released')

  // Logout on A ends the session on B.
  const out = await browser.navigate(`${a.url}/.gatehouse/logout`, { stopAt: (r) => r.url.startsWith(s.idp.issuer) })
  t.equal(out.hops[0]!.status, 302)
  t.equal((await api(`${b.url}/after`, cookie)).status, 401, 'logout on A ended the session on B')
  t.equal((await api(`${a.url}/after`, cookie)).status, 401, 'and on A')
})

t.test('a Redis stop and start loses no session and crashes nothing', async (t) => {
  const s = await startSessionStack(t, 'redis', { replicas: 2 })
  const [a, b] = s.nodes as [typeof s.nodes[0], typeof s.nodes[0]]
  const cookie = await loginCookie(s.browser(), `${a.url}/`)
  t.equal((await api(`${b.url}/x`, cookie)).status, 200)
  const readyz = async (): Promise<number> => (await a.gh.admin!.inject({ url: '/readyz' })).statusCode
  t.equal(await readyz(), 200, 'ready with Redis up')

  await s.redis!.stop()
  const down = await api(`${a.url}/x`, cookie)
  t.equal(down.status, 503, 'a request that needs the store gets 503')
  t.equal(down.headers['retry-after'], '5', 'with Retry-After')
  t.equal(down.headers['x-gatehouse-response'], 'GH_SESSION_STORE_UNAVAILABLE')
  t.notMatch(down.text, /127\.0\.0\.1:\d+/, 'the page does not reveal where Redis is')
  t.equal((await api(`${b.url}/x`, cookie)).status, 503, 'on both instances')
  t.equal((await api(`${a.url}/public/x`, '')).status, 200, 'public routes do not need the store and keep working')
  const noticed = Date.now() + 2_000
  while (await readyz() !== 503 && Date.now() < noticed) await new Promise((resolve) => setTimeout(resolve, 20))
  t.equal(await readyz(), 503, '/readyz reports the store down')
  const body = (await a.gh.admin!.inject({ url: '/readyz' })).json()
  t.same(body.store, { kind: 'redis', ready: false })
  const bcl = await request(`${a.url}/.gatehouse/backchannel-logout`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'logout_token=x' })
  t.equal(bcl.status, 400, 'a malformed logout token is refused before the store is needed')

  await s.redis!.start()
  const deadline = Date.now() + 10_000
  while (await readyz() !== 200 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100))
  t.equal(await readyz(), 200, 'reconnected by itself; /readyz is 200 again')
  t.equal((await api(`${a.url}/x`, cookie)).status, 200, 'the session survived on A')
  const deadlineB = Date.now() + 10_000
  while (!b.gh.gateway.sessions.ready() && Date.now() < deadlineB) await new Promise((resolve) => setTimeout(resolve, 100))
  t.equal((await api(`${b.url}/x`, cookie)).status, 200, 'and on B')
})

t.test('cookie store with session.redis: logouts recorded in Redis reach every instance', async (t) => {
  const redis = await startRedis(t)
  const s = await startSessionStack(t, 'cookie', { replicas: 2, redis })
  const [a, b] = s.nodes as [typeof s.nodes[0], typeof s.nodes[0]]
  t.equal(a.gh.gateway.sessions.revocations.kind, 'redis', 'revocation records live in Redis')
  const browser = s.browser()
  const cookie = await loginCookie(browser, `${a.url}/`)
  t.equal((await api(`${b.url}/x`, cookie)).status, 200, 'the cookie works on B')
  await browser.navigate(`${a.url}/.gatehouse/logout`, { stopAt: (r) => r.url.startsWith(s.idp.issuer) })
  t.equal((await api(`${b.url}/x`, cookie)).status, 401, 'a copy of the cookie taken before logout on A fails on B')

  s.clock.advance(1000)
  const second = await loginCookie(s.browser(), `${b.url}/`, 'bob')
  t.equal((await api(`${a.url}/x`, second)).status, 200)
  const token = await signJwt(s.key, { iss: s.idp.issuer, aud: CLIENT_ID, iat: Math.floor(s.clock.now / 1000), jti: 'cookie-redis-1', events: { 'http://schemas.openid.net/event/backchannel-logout': {} }, sub: 'bob' })
  const r = await request(`${a.url}/.gatehouse/backchannel-logout`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `logout_token=${token}` })
  t.equal(r.status, 200, 'back-channel logout accepted on A')
  t.equal((await api(`${b.url}/x`, second)).status, 401, 'and the session ends on B')
  const replay = await request(`${b.url}/.gatehouse/backchannel-logout`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `logout_token=${token}` })
  t.equal(replay.status, 400, 'the same token replayed to B is refused (jti seen in Redis)')
})
