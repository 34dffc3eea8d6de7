import t, { type Test } from 'tap'
import { StoreUnavailableError } from '../../../src/errors.js'
import { randomToken, ticketDigest } from '../../../src/session/crypto.js'
import { RedisConnection, RedisStore, type StoreLogger } from '../../../src/session/redis.js'
import type { Session } from '../../../src/session/session.js'
import { startRedis, type RedisServer } from '../../fixtures/redis.js'

const H = 3_600_000
const quiet = { info: () => {}, warn: () => {} }
const now = 1_000_000_000
function session (over: Partial<Session> = {}): Session {
  return { v: 1, id: randomToken(16), provider: 'p', iat: now, seen: now, sub: 'alice', sid: 'sid-1', claims: { email: 'alice@example.com' }, accessToken: 'secret-access-token', refreshToken: 'secret-refresh-token', ...over }
}

async function connect (t: Test, redis: RedisServer, log: StoreLogger = quiet): Promise<{ conn: RedisConnection, store: RedisStore }> {
  const conn = new RedisConnection({ url: redis.url }, log)
  t.teardown(async () => conn.close())
  const deadline = Date.now() + 5000
  while (!conn.ready() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20))
  return { conn, store: new RedisStore(conn, { keyPrefix: 'gh:', idleTimeout: H, absoluteTimeout: 12 * H }) }
}

t.test('round trip; the stored value is encrypted under a digest of the ticket; TTL follows the timeouts', async (t) => {
  const redis = await startRedis(t)
  const { conn, store } = await connect(t, redis)
  const s = session()
  t.equal(await store.save(s, now, true), s.id)
  t.same(await store.load(s.id), s)
  const key = `gh:s:${ticketDigest(s.id)}`
  const raw = await conn.client.get(key)
  t.ok(raw !== null && !raw.includes('secret') && !raw.includes('alice'), 'nothing readable in the stored value')
  const ttl = await conn.client.pttl(key)
  t.ok(ttl > H - 5000 && ttl <= H, `a fresh session lives for the idle timeout (${ttl})`)
  await store.save({ ...s, seen: now + 11.5 * H }, now + 11.5 * H, false)
  const late = await conn.client.pttl(key)
  t.ok(late > 0.5 * H - 5000 && late <= 0.5 * H, `near the end it lives only until the absolute deadline (${late})`)
  t.equal(await store.load(randomToken(16)), null, 'unknown ticket')
  t.equal(await store.load('not a ticket'), null)
  // A value written under the key of one ticket does not open for another.
  const other = session()
  await conn.client.set(`gh:s:${ticketDigest(other.id)}`, raw!)
  t.equal(await store.load(other.id), null, 'a value copied under another ticket does not open')
})

t.test('an update never brings back a destroyed session; endMatching by sid and by sub', async (t) => {
  const redis = await startRedis(t)
  const { store } = await connect(t, redis)
  const s = session()
  await store.save(s, now, true)
  await store.destroy(s)
  await store.save(s, now + 1000, false)
  t.equal(await store.load(s.id), null, 'not resurrected')
  const a1 = session({ sid: 's1' })
  const a2 = session({ sid: 's2' })
  const bob = session({ sub: 'bob', sid: 's3' })
  for (const x of [a1, a2, bob]) await store.save(x, now, true)
  t.equal(await store.endMatching({ provider: 'p', sid: 's1' }), 1)
  t.equal(await store.load(a1.id), null)
  t.not(await store.load(a2.id), null)
  t.equal(await store.endMatching({ provider: 'q', sub: 'alice' }), 0, 'another provider: nothing')
  t.equal(await store.endMatching({ provider: 'p', sub: 'alice' }), 1)
  t.equal(await store.load(a2.id), null)
  t.not(await store.load(bob.id), null)
})

t.test('the refresh lock serialises holders, re-reads, and is released only by its owner', async (t) => {
  const redis = await startRedis(t)
  const { conn, store } = await connect(t, redis)
  const s = session()
  await store.save(s, now, true)
  const order: string[] = []
  let release!: () => void
  const gate = new Promise<void>((resolve) => { release = resolve })
  const first = store.withRefreshLock(s, async (current) => {
    order.push('first in')
    t.same(current, s, 'the holder sees the stored session')
    await gate
    await store.save({ ...current!, accessToken: 'new' }, now, false)
    order.push('first out')
  })
  await new Promise((resolve) => setTimeout(resolve, 50))
  const second = store.withRefreshLock(s, async (current) => {
    order.push('second in')
    t.equal(current?.accessToken, 'new', 'the next holder re-reads what the first stored')
  })
  await new Promise((resolve) => setTimeout(resolve, 100))
  t.same(order, ['first in'], 'the second waits while the first holds the lock')
  release()
  await Promise.all([first, second])
  t.same(order, ['first in', 'first out', 'second in'])
  const lockKey = `gh:l:${ticketDigest(s.id)}`
  t.equal(await conn.client.exists(lockKey), 0, 'released')
  // A lock that expired and was taken by someone else is not deleted by the late owner.
  await store.withRefreshLock(s, async () => {
    await conn.client.set(lockKey, 'someone-else')
  })
  t.equal(await conn.client.get(lockKey), 'someone-else', 'only the owner releases')
})

t.test('Redis away: StoreUnavailableError at once, not ready; back by itself; one log line each way', async (t) => {
  const redis = await startRedis(t)
  const lines: string[] = []
  const log = { info: (_o: object, m?: string) => { lines.push(`info ${m}`) }, warn: (o: object, m?: string) => { lines.push(`warn ${m} ${JSON.stringify(o)}`) } }
  const { conn, store } = await connect(t, redis, log)
  const s = session()
  await store.save(s, now, true)
  await redis.stop()
  const started = Date.now()
  await t.rejects(store.load(s.id), StoreUnavailableError)
  await t.rejects(store.save(s, now, false), { code: 'GH_SESSION_STORE_UNAVAILABLE' })
  t.ok(Date.now() - started < 1000, 'fails fast instead of queueing')
  // The client notices the closed socket asynchronously; readiness follows within moments.
  const noticed = Date.now() + 2_000
  while (store.ready() && Date.now() < noticed) await new Promise((resolve) => setTimeout(resolve, 20))
  t.equal(store.ready(), false, 'not ready while Redis is away')
  await redis.start()
  const deadline = Date.now() + 10_000
  while (!conn.ready() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50))
  t.equal(store.ready(), true, 'reconnected')
  t.same(await store.load(s.id), s, 'the session is still there')
  t.equal(lines.length, 2, 'one warning for the outage, one line for the recovery')
  t.match(lines[0], /^warn session store unreachable/)
  t.notMatch(lines[0], /redis:\/\//, 'the URL (which may hold a password) is not logged')
  t.match(lines[1], /^info session store reconnected/)
})

t.test('AUTH: password given apart from the url, or in it; a wrong one is a 503, never logged', async (t) => {
  const redis = await startRedis(t, { args: ['--requirepass', 'sesame-0123456789'] })
  const lines: string[] = []
  const log = { info: (o: object, m?: string) => { lines.push(JSON.stringify(o) + (m ?? '')) }, warn: (o: object, m?: string) => { lines.push(JSON.stringify(o) + (m ?? '')) } }
  for (const target of [{ url: redis.url, password: 'sesame-0123456789' }, { url: `redis://:sesame-0123456789@127.0.0.1:${redis.port}` }]) {
    const conn = new RedisConnection(target, log)
    t.teardown(async () => conn.close())
    const deadline = Date.now() + 5000
    while (!conn.ready() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20))
    t.ok(conn.ready(), `connected with ${'password' in target ? 'password' : 'the password in the url'}`)
    const store = new RedisStore(conn, { keyPrefix: 'gh:', idleTimeout: H, absoluteTimeout: 12 * H })
    const s = session()
    await store.save(s, now, true)
    t.same(await store.load(s.id), s)
  }
  const wrong = new RedisConnection({ url: redis.url, password: 'not-the-password' }, log)
  t.teardown(async () => wrong.close())
  await new Promise((resolve) => setTimeout(resolve, 500))
  t.notOk(wrong.ready(), 'a wrong password: not ready')
  await t.rejects(new RedisStore(wrong, { keyPrefix: 'gh:', idleTimeout: H, absoluteTimeout: 12 * H }).load(randomToken(16)), StoreUnavailableError)
  t.ok(lines.length > 0, 'the failure is logged')
  t.notOk(lines.some((l) => l.includes('sesame') || l.includes('not-the-password')), `no password in a log line: ${lines.join(' | ')}`)
})
