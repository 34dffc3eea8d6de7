import t from 'tap'
import { api, loginCookie, startSessionStack } from '../fixtures/gateway.js'
import { startRedis } from '../fixtures/redis.js'
import { REDIS_COMMAND_TIMEOUT_MS } from '../../src/session/redis.js'

/** The longest a request may wait on a paused Redis: the command timeout, and room for a loaded machine. */
const BOUND_MS = REDIS_COMMAND_TIMEOUT_MS + 3_000

async function timed (url: string, cookie: string): Promise<{ status: number, ms: number, code: string | undefined }> {
  const started = Date.now()
  const res = await api(url, cookie)
  return { status: res.status, ms: Date.now() - started, code: res.headers['x-gatehouse-response'] as string | undefined }
}

for (const kind of ['redis', 'cookie'] as const) {
  t.test(`${kind} store: a paused Redis (SIGSTOP) gives 503 within the command timeout, and SIGCONT recovers without a restart`, async (t) => {
    const redis = await startRedis(t)
    // Without the local session cache: every request needs Redis (the cache under a paused Redis: redis-cache.test.ts).
    const s = await startSessionStack(t, kind, { replicas: 1, redis, realClock: true, redisYaml: `    url: ${redis.url}\n    localCacheTtl: 0\n` })
    const [a] = s.nodes as [typeof s.nodes[0]]
    const cookie = await loginCookie(s.browser(), `${a.url}/`)
    t.equal((await api(`${a.url}/x`, cookie)).status, 200)
    const readyz = async (): Promise<number> => (await a.gh.admin!.inject({ url: '/readyz' })).statusCode

    redis.pause()
    t.teardown(() => { redis.resume() })
    // Requests already waiting when Redis stops answering, and more behind them.
    const first = await Promise.all(Array.from({ length: 6 }, async (_, i) => timed(`${a.url}/paused/${i}`, cookie)))
    for (const r of first) {
      t.equal(r.status, 503, `503 while Redis is paused (${r.ms} ms)`)
      t.equal(r.code, 'GH_SESSION_STORE_UNAVAILABLE')
      t.ok(r.ms < BOUND_MS, `answered within ${BOUND_MS} ms: ${r.ms} ms`)
    }
    t.comment(`measured (${kind}): first requests on a paused Redis answered 503 after ${Math.min(...first.map((r) => r.ms))}-${Math.max(...first.map((r) => r.ms))} ms`)
    const later = await timed(`${a.url}/paused/later`, cookie)
    t.equal(later.status, 503, 'a later request gets 503 too')
    t.ok(later.ms < BOUND_MS, `without hanging (${later.ms} ms)`)
    t.equal(await readyz(), 503, '/readyz reports the store down while Redis is paused')
    t.equal((await api(`${a.url}/public/x`, '')).status, 200, 'public routes keep working')

    redis.resume()
    const deadline = Date.now() + 10_000
    let back = await timed(`${a.url}/resumed`, cookie)
    while (back.status !== 200 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100))
      back = await timed(`${a.url}/resumed`, cookie)
    }
    t.equal(back.status, 200, 'served again after SIGCONT, by the same process')
    t.equal(await readyz(), 200, '/readyz is 200 again')
  })
}
