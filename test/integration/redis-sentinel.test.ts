import t from 'tap'
import { api, loginCookie, startSessionStack } from '../fixtures/gateway.js'
import { startRedisSentinel } from '../fixtures/redis.js'

interface Seen { readonly at: number, readonly status: number }

/**
 * Requests with `cookie` from `workers` loops in turn to each URL, from now
 * until `until()` resolves and then `settle` ms more (bounded by `maxMs`).
 */
async function traffic (urls: readonly string[], cookie: string, until: Promise<unknown>, settle = 1_000, workers = 4, maxMs = 25_000): Promise<Seen[]> {
  const seen: Seen[] = []
  let stopAt = Date.now() + maxMs
  void until.then(() => { stopAt = Math.min(stopAt, Date.now() + settle) }, () => { stopAt = 0 })
  let n = 0
  await Promise.all(Array.from({ length: workers }, async () => {
    while (Date.now() < stopAt) {
      const res = await api(`${urls[n++ % urls.length]!}/traffic`, cookie)
      seen.push({ at: Date.now(), status: res.status })
      // A paced loop: a few hundred requests per phase, not a load test.
      await new Promise((resolve) => setTimeout(resolve, 10))
    }
  }))
  await until
  return seen
}

/** The span from the first to the last 503, in ms (0 without any). */
function burst (seen: readonly Seen[]): { count: number, spanMs: number } {
  const bad = seen.filter((s) => s.status === 503)
  return { count: bad.length, spanMs: bad.length === 0 ? 0 : bad.at(-1)!.at - bad[0]!.at }
}

t.test('Redis Sentinel: sessions survive a failover during traffic through two gateways, with a bounded burst of 503s', async (t) => {
  const sentinel = await startRedisSentinel(t, 2)
  const s = await startSessionStack(t, 'redis', {
    replicas: 2,
    realClock: true,
    redisYaml: `    sentinels: [${sentinel.sentinels.join(', ')}]\n    sentinelName: ${sentinel.name}\n`,
  })
  const [a, b] = s.nodes as [typeof s.nodes[0], typeof s.nodes[0]]
  const urls = [a.url, b.url]
  const deadline = Date.now() + 10_000
  while (!(a.gh.gateway.sessions.ready() && b.gh.gateway.sessions.ready()) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50))
  t.ok(a.gh.gateway.sessions.ready() && b.gh.gateway.sessions.ready(), 'both gateways found the master through the Sentinels')
  const cookie = await loginCookie(s.browser(), `${a.url}/`)
  t.equal((await api(`${b.url}/x`, cookie)).status, 200, 'signed in on A, served on B')
  const first = await sentinel.masterPort()
  // The replica must hold the session before the failover (replication is asynchronous).
  await new Promise((resolve) => setTimeout(resolve, 200))

  // 1. SENTINEL FAILOVER while requests flow.
  const failover = sentinel.failover()
  const seen = await traffic(urls, cookie, failover)
  const second = await failover
  t.not(second, first, `the Sentinels promoted the replica (${first} -> ${second})`)
  const statuses = new Set(seen.map((x) => x.status))
  t.same([...statuses].filter((x) => x !== 200 && x !== 503), [], 'every answer was 200 or 503')
  const b1 = burst(seen)
  t.comment(`measured: SENTINEL FAILOVER: ${seen.length} requests, ${b1.count} answered 503 over ${b1.spanMs} ms`)
  t.ok(b1.spanMs < 8_000, `503s only during the switch (${b1.spanMs} ms)`)
  t.ok(seen.slice(-8).every((x) => x.status === 200), 'served again after the failover')
  t.equal((await api(`${a.url}/after`, cookie)).status, 200, 'the session survived on A')
  t.equal((await api(`${b.url}/after`, cookie)).status, 200, 'and on B')
  const bob = await loginCookie(s.browser(), `${b.url}/`, 'bob')
  t.equal((await api(`${a.url}/bob`, bob)).status, 200, 'a login after the failover is written to the new master')

  // 2. The new master dies (SIGKILL): the Sentinels notice and promote the other server.
  await new Promise((resolve) => setTimeout(resolve, 500))
  const killed = (async () => {
    await sentinel.killMaster()
    const deadline = Date.now() + 20_000
    for (;;) {
      const now = await sentinel.masterPort().catch(() => second)
      if (now !== second) return now
      if (Date.now() > deadline) throw new Error('no failover after the master was killed')
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
  })()
  const seen2 = await traffic(urls, bob, killed, 3_000)
  const third = await killed
  t.equal(third, first, `the former master, now a replica, was promoted (${second} -> ${third})`)
  const b2 = burst(seen2)
  t.comment(`measured: master killed: ${seen2.length} requests, ${b2.count} answered 503 over ${b2.spanMs} ms`)
  t.same([...new Set(seen2.map((x) => x.status))].filter((x) => x !== 200 && x !== 503), [], 'every answer was 200 or 503')
  t.ok(b2.spanMs < 15_000, `503s only until the Sentinels promote (${b2.spanMs} ms)`)
  t.ok(seen2.slice(-8).every((x) => x.status === 200), 'served again after the second failover')
  t.equal((await api(`${a.url}/end`, cookie)).status, 200, 'the first session survived both failovers')
  t.equal((await api(`${b.url}/end`, bob)).status, 200, 'and so did the second')
})
