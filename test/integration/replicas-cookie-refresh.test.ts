import { Redis } from 'ioredis'
import t from 'tap'
import { api, loginCookie, setCookieHeader, startSessionStack } from '../fixtures/gateway.js'
import { startRedis } from '../fixtures/redis.js'

const bearer = (h: Record<string, unknown>): string => String(h.authorization ?? '').replace(/^Bearer /, '')

for (const shared of [true, false]) {
  t.test(`cookie store, rotating refresh tokens, two gateways ${shared ? 'with' : 'without'} session.redis: concurrent requests at expiry`, async (t) => {
    const redis = shared ? await startRedis(t) : undefined
    const s = await startSessionStack(t, 'cookie', { replicas: 2, session: '  idleTimeout: 3h\n', ...(redis !== undefined ? { redis } : {}) })
    const [a, b] = s.nodes as [typeof s.nodes[0], typeof s.nodes[0]]
    const cookie = await loginCookie(s.browser(), `${a.url}/`)
    t.equal((await api(`${b.url}/x`, cookie)).status, 200)
    const old = bearer(s.upstream.received.at(-1)!.headers)

    s.clock.advance(3600_000 + 60_000)
    const before = s.upstream.received.length
    const results = await Promise.all(Array.from({ length: 20 }, async (_, i) => api(`${i % 2 === 0 ? a.url : b.url}/burst/${i}`, cookie)))
    const grants = s.idp.grants.get('refresh_token') ?? 0
    t.comment(`measured: ${shared ? 'with' : 'without'} session.redis: 20 concurrent requests across two gateways -> ${grants} refresh_token grant(s), statuses ${[...new Set(results.map((r) => r.status))].join(',')}`)
    if (!shared) {
      // What the shared lock prevents: each gateway spends the same rotating
      // refresh token, and the provider refuses the second use.
      t.ok(results.some((r) => r.status === 401), 'without Redis the gateway that lost the race ended the session (401)')
      return
    }
    t.same(results.map((r) => r.status), Array(20).fill(200), 'all 20 requests succeed')
    t.equal(grants, 1, 'exactly one refresh_token grant at the provider')
    const tokens = new Set(s.upstream.received.slice(before).map((r) => bearer(r.headers)))
    t.equal(tokens.size, 1, 'both gateways forwarded the same refreshed token')
    t.not([...tokens][0], old)
    const metric = async (result: string): Promise<number> => await a.gh.gateway.metrics.get(`gatehouse_refreshes_total{result="${result}"}`) + await b.gh.gateway.metrics.get(`gatehouse_refreshes_total{result="${result}"}`)
    t.equal(await metric('refreshed'), 1, 'one gateway refreshed')
    t.equal(await metric('shared'), 1, 'the other took the result it left in Redis')

    // Both gateways keep the session: the new cookies each of them set work on the other.
    const fromA = setCookieHeader(results[0]!)
    const fromB = setCookieHeader(results[1]!)
    t.ok(fromA !== '' && fromB !== '', 'both gateways set the refreshed cookie')
    t.equal((await api(`${b.url}/y`, fromA)).status, 200, "A's new cookie works on B")
    t.equal((await api(`${a.url}/y`, fromB)).status, 200, "B's new cookie works on A")
    t.equal((await api(`${b.url}/late`, cookie)).status, 200, 'the old cookie, sent late, still gets the result')
    t.equal(s.idp.grants.get('refresh_token'), 1, 'and still no second grant')

    // Nothing readable in Redis: the result is sealed, keys are digests.
    const r = new Redis(redis!.url)
    t.teardown(() => { r.disconnect() })
    const keys = await r.keys('gh-test:*')
    const results2 = keys.filter((k) => k.startsWith('gh-test:f:'))
    t.equal(results2.length, 1, 'one refresh result in Redis')
    t.match(results2[0]!, /^gh-test:f:[A-Za-z0-9_-]{43}:[A-Za-z0-9_-]{32}$/)
    const value = (await r.get(results2[0]!))!
    t.notOk(value.includes([...tokens][0]!) || value.includes('alice'), 'the stored result is sealed')
    const ttl = await r.pttl(results2[0]!)
    t.ok(ttl > 0 && ttl <= 60_000, `the result expires within a minute (${ttl} ms)`)
    t.equal(keys.filter((k) => k.startsWith('gh-test:l:')).length, 0, 'the lock was released')
  })
}
