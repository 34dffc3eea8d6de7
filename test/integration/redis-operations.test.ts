import { Redis } from 'ioredis'
import t from 'tap'
import { api, loginCookie, startSessionStack } from '../fixtures/gateway.js'
import { startRedis } from '../fixtures/redis.js'

/**
 * Redis commands per request, counted by the server itself (INFO
 * commandstats), for the capacity table in docs/performance.md. A test, so
 * that the table cannot drift from what the code does.
 */

type Counts = Record<string, number>

async function commandStats (r: Redis): Promise<Counts> {
  const out: Counts = {}
  for (const line of (await r.info('commandstats')).split('\r\n')) {
    const m = /^cmdstat_([a-z|]+):calls=(\d+)/.exec(line)
    if (m !== null && !['info', 'config|resetstat', 'hello', 'client|setinfo', 'ping'].includes(m[1]!)) out[m[1]!] = Number(m[2])
  }
  return out
}

/** Runs `fn` and returns the commands Redis served meanwhile (the test's own INFO and RESETSTAT left out). */
async function counted (r: Redis, fn: () => Promise<unknown>): Promise<Counts> {
  await r.config('RESETSTAT')
  await fn()
  return commandStats(r)
}

const show = (c: Counts): string => Object.entries(c).sort().map(([k, v]) => `${k.toUpperCase()} ${v}`).join(', ') || 'none'

t.test('store: redis with localCacheTtl: 0: one GET per request', async (t) => {
  const redis = await startRedis(t)
  const s = await startSessionStack(t, 'redis', { replicas: 1, redis, redisYaml: `    url: ${redis.url}\n    localCacheTtl: 0\n` })
  const [a] = s.nodes as [typeof s.nodes[0]]
  const r = new Redis(redis.url)
  t.teardown(() => { r.disconnect() })
  const cookie = await loginCookie(s.browser(), `${a.url}/`)
  const n = 50
  const steady = await counted(r, async () => {
    for (let i = 0; i < n; i++) if ((await api(`${a.url}/x/${i}`, cookie)).status !== 200) throw new Error('request failed')
  })
  t.comment(`measured: redis, localCacheTtl 0: ${n} signed-in requests: ${show(steady)}`)
  t.same(steady, { get: n }, 'one GET per request')
})

for (const kind of ['redis', 'cookie', 'memory'] as const) {
  t.test(`store: ${kind} with session.redis: Redis commands per request`, async (t) => {
    const redis = await startRedis(t)
    const s = await startSessionStack(t, kind, { replicas: 1, redis, session: '  idleTimeout: 3h\n' })
    const [a] = s.nodes as [typeof s.nodes[0]]
    const r = new Redis(redis.url)
    t.teardown(() => { r.disconnect() })

    let cookie = ''
    const login = await counted(r, async () => { cookie = await loginCookie(s.browser(), `${a.url}/`) })
    t.comment(`measured: ${kind}: login: ${show(login)}`)

    const n = 50
    const steady = await counted(r, async () => {
      for (let i = 0; i < n; i++) if ((await api(`${a.url}/x/${i}`, cookie)).status !== 200) throw new Error('request failed')
    })
    t.comment(`measured: ${kind}: ${n} signed-in requests: ${show(steady)}`)
    if (kind === 'redis') t.same(steady, {}, 'redis store: the session read at login is served from memory (localCacheTtl)')
    else if (kind === 'cookie') t.same(steady, { mget: n }, 'cookie store: one MGET per request (the revocation list)')
    else t.same(steady, {}, 'memory store: Redis is not on the request path')

    if (kind === 'redis') {
      // Once localCacheTtl (5 s) has passed, one GET, then memory again.
      s.clock.advance(5_000)
      const after = await counted(r, async () => {
        for (let i = 0; i < n; i++) if ((await api(`${a.url}/y/${i}`, cookie)).status !== 200) throw new Error('request failed')
      })
      t.comment(`measured: ${kind}: ${n} signed-in requests after localCacheTtl: ${show(after)}`)
      t.same(after, { get: 1 }, 'redis store: one GET per session per localCacheTtl')
    }

    s.clock.advance(3600_000 + 60_000)
    const refresh = await counted(r, async () => {
      const res = await api(`${a.url}/refresh`, cookie)
      if (res.status !== 200) throw new Error(`refresh failed: ${res.status}`)
    })
    t.comment(`measured: ${kind}: a request that refreshes: ${show(refresh)}`)
    // Commands a Lua script runs count too: the release (EVAL) adds a GET and a DEL.
    const total = Object.values(refresh).reduce((x, y) => x + y, 0)
    if (kind === 'memory') t.same(refresh, {}, 'memory store: no lock in Redis (one process)')
    else {
      t.equal(refresh.eval, 1, 'one lock release')
      t.ok(total <= (kind === 'redis' ? 30 : 12), `a bounded number of commands (${total})`)
    }
    if (kind === 'cookie') t.equal(refresh.set, 2, 'cookie store: the lock and the refresh result')
  })
}
