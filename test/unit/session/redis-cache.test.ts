import { Redis } from 'ioredis'
import { createServer, connect as tcpConnect, type Socket } from 'node:net'
import t, { type Test } from 'tap'
import { randomToken, ticketDigest } from '../../../src/session/crypto.js'
import { LOCAL_CACHE_MAX } from '../../../src/session/redis-cache.js'
import { RedisConnection, RedisStore } from '../../../src/session/redis.js'
import type { Session } from '../../../src/session/session.js'
import { startRedis, startRedisCluster, type RedisServer } from '../../fixtures/redis.js'

const H = 3_600_000
const TTL = 5_000
const quiet = { info: () => {}, warn: () => {} }
const start = 1_000_000_000

function session (over: Partial<Session> = {}): Session {
  return { v: 1, id: randomToken(16), provider: 'p', iat: start, seen: start, sub: 'alice', sid: 'sid-1', claims: { email: 'alice@example.com', groups: ['a'] }, accessToken: 'at-1', refreshToken: 'rt-1', ...over }
}

const until = async (what: string, check: () => boolean, ms = 5_000): Promise<void> => {
  const deadline = Date.now() + ms
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

/** A replica's store on its own connection, with the test's clock. */
async function replica (t: Test, url: string, clock: { now: number }, localCacheTtl = TTL, log: { warn (obj: object, msg?: string): void } = quiet): Promise<{ conn: RedisConnection, store: RedisStore }> {
  const conn = new RedisConnection({ url }, quiet)
  const store = new RedisStore(conn, { keyPrefix: 'gh:', idleTimeout: H, absoluteTimeout: 12 * H, localCacheTtl, now: () => clock.now, log })
  t.teardown(async () => { await store.close(); await conn.close() })
  await until('the connection', () => conn.ready())
  if (store.cache !== undefined && log === quiet) await until('the subscription', () => store.cache!.trusted)
  return { conn, store }
}

/** GETs Redis served since the last call (INFO commandstats). */
async function getsSince (redis: RedisServer): Promise<number> {
  const m = /cmdstat_get:calls=(\d+)/.exec(await redis.command('INFO', 'commandstats'))
  await redis.command('CONFIG', 'RESETSTAT')
  return m === null ? 0 : Number(m[1])
}

/**
 * A TCP relay in front of Redis that can make the subscriber connection deaf:
 * its messages are dropped on the way back while the connection stays open,
 * as in a partition that neither side has noticed yet.
 */
async function relay (t: Test, redis: RedisServer): Promise<{ url: string, deafen (): void }> {
  let deaf = false
  const pairs: Socket[] = []
  const server = createServer((client) => {
    const upstream = tcpConnect(redis.port, '127.0.0.1')
    pairs.push(client, upstream)
    let subscriber = false
    client.on('data', (d) => { if (/subscribe/i.test(d.toString('latin1'))) subscriber = true; upstream.write(d) })
    upstream.on('data', (d) => { if (!(deaf && subscriber)) client.write(d) })
    const end = (): void => { client.destroy(); upstream.destroy() }
    client.on('error', end).on('close', end)
    upstream.on('error', end).on('close', end)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { for (const s of pairs) s.destroy(); server.close() })
  const { port } = server.address() as { port: number }
  return { url: `redis://127.0.0.1:${port}`, deafen: () => { deaf = true } }
}

/** Two replicas on one Redis, and a session saved by A. */
async function twoReplicas (t: Test): Promise<{ redis: RedisServer, clock: { now: number }, a: Awaited<ReturnType<typeof replica>>, b: Awaited<ReturnType<typeof replica>>, s: Session }> {
  const redis = await startRedis(t)
  const clock = { now: start }
  const a = await replica(t, redis.url, clock)
  const b = await replica(t, redis.url, clock)
  const s = session()
  await a.store.save(s, clock.now, true)
  return { redis, clock, a, b, s }
}

t.test('a session read once is served from memory, frozen, with no Redis command, until the TTL', async (t) => {
  const redis = await startRedis(t)
  const clock = { now: start }
  const { store } = await replica(t, redis.url, clock)
  const s = session()
  await store.save(s, clock.now, true)
  await getsSince(redis)
  const first = await store.load(s.id)
  t.same(first, s)
  t.equal(await getsSince(redis), 1, 'the first read is a GET')
  for (let i = 0; i < 20; i++) t.equal(await store.load(s.id), first, 'the same object')
  t.equal(await getsSince(redis), 0, 'cache hits send no command')
  t.ok(Object.isFrozen(first) && Object.isFrozen(first!.claims) && Object.isFrozen(first!.claims.groups), 'frozen, claims included')
  t.throws(() => { (first as { seen: number }).seen = 1 }, TypeError, 'a request cannot change the shared copy')

  clock.now += TTL - 1
  await store.load(s.id)
  t.equal(await getsSince(redis), 0, 'still served just before the TTL')
  clock.now += 1
  await store.load(s.id)
  t.equal(await getsSince(redis), 1, 'read again once the TTL has passed')

  // Concurrent first reads of one session share one GET.
  clock.now += TTL
  const all = await Promise.all(Array.from({ length: 10 }, async () => store.load(s.id)))
  t.ok(all.every((x) => x === all[0]), 'one object for all')
  t.equal(await getsSince(redis), 1, 'one GET for 10 concurrent reads')

  // Under the refresh lock the session is read from Redis, never from memory.
  await store.withRefreshLock(all[0]!, async (current) => { t.same(current, s); return undefined })
  t.equal(await getsSince(redis), 2, 'the refresh lock reads Redis (and its release script runs a GET)')

  t.equal(await store.load(randomToken(16)), null, 'an unknown ticket')
  t.equal(await getsSince(redis), 1, 'is not remembered: asked again')
  await store.load(randomToken(16))
  t.equal(await getsSince(redis), 1)
})

t.test('localCacheTtl 0: every read is a GET, no subscriber', async (t) => {
  const redis = await startRedis(t)
  const clock = { now: start }
  const { store } = await replica(t, redis.url, clock, 0)
  t.equal(store.cache, undefined)
  const s = session()
  await store.save(s, clock.now, true)
  await getsSince(redis)
  for (let i = 0; i < 5; i++) await store.load(s.id)
  t.equal(await getsSince(redis), 5)
  t.notMatch(await redis.command('CLIENT', 'LIST'), /cmd=subscribe/, 'no subscriber connection')
})

t.test('two replicas: a change on one is dropped from the other\'s memory by pub/sub', async (t) => {
  const { redis, clock, a, b, s } = await twoReplicas(t)
  t.same(await b.store.load(s.id), s, 'B reads the session')
  t.equal(b.store.cache!.size, 1)

  // The messages carry the key's digest, never the ticket.
  const seen: string[] = []
  const spy = new Redis(redis.url)
  t.teardown(() => { spy.disconnect() })
  await spy.subscribe('gh:changed')
  spy.on('message', (_ch: string, m: string) => { seen.push(m) })

  const refreshed = { ...s, accessToken: 'at-2', refreshToken: 'rt-2' }
  await a.store.settle(s, { kind: 'refreshed', session: refreshed }, clock.now)
  await until('the message', () => b.store.cache!.size === 0, 1_000)
  t.same(await b.store.load(s.id), refreshed, 'B reads the refreshed session at once')
  await a.store.destroy(refreshed)
  await until('the message', () => b.store.cache!.size === 0, 1_000)
  t.equal(await b.store.load(s.id), null, 'and the logout')

  const bob = [session({ sub: 'bob', sid: 'bob-1' }), session({ sub: 'bob', sid: 'bob-2' })]
  for (const x of bob) { await a.store.save(x, clock.now, true); await b.store.load(x.id) }
  t.equal(b.store.cache!.size, 2)
  t.equal(await a.store.endMatching({ provider: 'p', sub: 'bob' }), 2)
  await until('the messages', () => b.store.cache!.size === 0, 1_000)
  for (const x of bob) t.equal(await b.store.load(x.id), null, 'a back-channel logout on A ends it on B')

  await until('the spy', () => seen.length >= 4, 1_000)
  t.ok(seen.includes(ticketDigest(s.id)), 'the digest is announced')
  t.notOk(seen.some((m) => m.includes(s.id) || bob.some((x) => m.includes(x.id))), 'never a ticket')
})

t.test('subscriber killed: the cache is emptied and bypassed until it has subscribed again', async (t) => {
  const { redis, clock, a, b, s } = await twoReplicas(t)
  await b.store.load(s.id)
  t.equal(b.store.cache!.size, 1)
  t.match(await redis.command('CLIENT', 'KILL', 'TYPE', 'pubsub'), /^:[1-9]/, 'the subscribers are cut')
  await until('B to notice', () => !b.store.cache!.trusted, 1_000)
  t.equal(b.store.cache!.size, 0, 'emptied')
  // The logout is announced while B's subscriber is away: B misses it.
  await a.store.destroy(s)
  t.equal(await b.store.load(s.id), null, 'B reads Redis meanwhile and refuses the ended session')
  const other = session()
  await a.store.save(other, clock.now, true)
  await getsSince(redis)
  await b.store.load(other.id)
  await b.store.load(other.id)
  t.equal(await getsSince(redis), 2, 'nothing is cached while not subscribed')
  await until('B to subscribe again', () => b.store.cache!.trusted)
  await b.store.load(other.id)
  await b.store.load(other.id)
  t.equal(await getsSince(redis), 1, 'cached again once subscribed')
})

t.test('a deaf subscriber: an ended session is never served once the TTL has passed', async (t) => {
  const redis = await startRedis(t)
  const clock = { now: start }
  const a = await replica(t, redis.url, clock)
  const r = await relay(t, redis)
  const b = await replica(t, r.url, clock)
  const s = session()
  await a.store.save(s, clock.now, true)
  clock.now += 1_000
  t.ok(await b.store.load(s.id), 'B reads the session at +1 s')
  r.deafen()
  clock.now += 500
  await a.store.destroy(s)
  const endedAt = clock.now
  await new Promise((resolve) => setTimeout(resolve, 100))
  t.ok(b.store.cache!.trusted, 'B does not know it missed the message')
  // Within the bound B may still serve its copy ...
  t.ok(await b.store.load(s.id), 'within the TTL of its read, B still has its copy')
  // ... but never once the TTL from the logout has passed (it runs from the read, earlier still).
  for (const at of [endedAt + TTL - 500, endedAt + TTL, endedAt + 10 * TTL]) {
    clock.now = at
    t.equal(await b.store.load(s.id), null, `refused ${at - endedAt} ms after the logout`)
  }
})

t.test('a read under way when its session changes is not kept', async (t) => {
  const { redis, clock, a, b, s } = await twoReplicas(t)
  // B's GET is sent, then Redis stops answering; the logout's message reaches B before the GET's reply.
  redis.pause()
  const loading = b.store.load(s.id)
  await new Promise((resolve) => setTimeout(resolve, 50))
  b.store.cache!.drop(ticketDigest(s.id))
  redis.resume()
  t.same(await loading, s, 'the read answers what it read')
  t.equal(b.store.cache!.size, 0, 'but it is not kept')
})

t.test('memory stays bounded: at most LOCAL_CACHE_MAX sessions', async (t) => {
  const redis = await startRedis(t)
  const clock = { now: start }
  const { store } = await replica(t, redis.url, clock)
  const n = LOCAL_CACHE_MAX + 500
  const ids: string[] = []
  for (let i = 0; i < n; i += 500) {
    const batch = Array.from({ length: Math.min(500, n - i) }, () => session({ sid: undefined }))
    await Promise.all(batch.map(async (x) => store.save(x, clock.now, true)))
    await Promise.all(batch.map(async (x) => store.load(x.id)))
    ids.push(...batch.map((x) => x.id))
  }
  t.equal(store.cache!.size, LOCAL_CACHE_MAX, `${n} sessions read, ${LOCAL_CACHE_MAX} kept`)
  await getsSince(redis)
  await store.load(ids.at(-1)!)
  t.equal(await getsSince(redis), 0, 'the most recent is kept')
  await store.load(ids[0]!)
  t.equal(await getsSince(redis), 1, 'the least recent was dropped')
})

t.test('Redis Cluster: sharded pub/sub; a lost subscriber connection empties the cache until the client has subscribed again', async (t) => {
  const cluster = await startRedisCluster(t)
  const clock = { now: start }
  const open = async (): Promise<RedisStore> => {
    const conn = new RedisConnection({ cluster: cluster.nodes.map((n) => ({ host: '127.0.0.1', port: Number(n.split(':')[1]) })) }, quiet)
    const store = new RedisStore(conn, { keyPrefix: 'gh:', idleTimeout: H, absoluteTimeout: 12 * H, localCacheTtl: TTL, now: () => clock.now })
    t.teardown(async () => { await store.close(); await conn.close() })
    await until('the cluster', () => conn.ready(), 10_000)
    await until('the subscription', () => store.cache!.trusted, 10_000)
    return store
  }
  const [a, b] = [await open(), await open()]
  const s = session()
  await a.save(s, clock.now, true)
  t.ok(await b.load(s.id))
  t.equal(b.cache!.size, 1)
  await a.destroy(s)
  await until('the message', () => b.cache!.size === 0, 1_000)
  t.equal(await b.load(s.id), null, 'a logout on A reaches B (SSUBSCRIBE)')

  const other = session()
  await a.save(other, clock.now, true)
  await b.load(other.id)
  t.equal(b.cache!.size, 1)
  for (const port of cluster.ports) await cluster.command(port, 'CLIENT', 'KILL', 'TYPE', 'pubsub')
  await until('B to notice', () => !b.cache!.trusted, 2_000)
  t.equal(b.cache!.size, 0, 'emptied')
  await until('B to subscribe again', () => b.cache!.trusted, 15_000)
  await b.load(other.id)
  t.equal(b.cache!.size, 1, 'cached again')
  await a.destroy(other)
  await until('the message', () => b.cache!.size === 0, 1_000)
  t.equal(await b.load(other.id), null, 'and told of changes again')
})

t.test('an ACL user without the channel: sessions work, the cache stays off, one warning', async (t) => {
  const redis = await startRedis(t)
  t.match(await redis.command('ACL', 'SETUSER', 'gh', 'on', '>gh-password', '~*', '+@all', 'resetchannels'), /OK/)
  const clock = { now: start }
  const warnings: string[] = []
  const { store } = await replica(t, `redis://gh:gh-password@127.0.0.1:${redis.port}`, clock, TTL, { warn: (_o, msg) => { warnings.push(msg ?? '') } })
  await until('the refusal', () => warnings.length > 0)
  const s = session()
  await store.save(s, clock.now, true)
  await store.save({ ...s, seen: clock.now + 1 }, clock.now + 1, false)
  await getsSince(redis)
  for (let i = 0; i < 3; i++) t.ok(await store.load(s.id))
  t.equal(await getsSince(redis), 3, 'not subscribed: every read is a GET')
  await store.destroy(s)
  t.equal(await store.load(s.id), null, 'a logout works although its announcement is refused')
  await new Promise((resolve) => setTimeout(resolve, 1_200))
  t.notOk(store.cache!.trusted)
  t.same([...new Set(warnings)].sort(), [
    'session cache: announcing a session change failed; other replicas may serve their copy until localCacheTtl',
    'session cache: subscribing to session changes failed; reading every session from Redis until it succeeds',
  ])
  t.equal(warnings.length, 2, 'each logged once, not on every retry or write')
})
