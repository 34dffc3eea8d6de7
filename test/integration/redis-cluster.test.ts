import { Redis } from 'ioredis'
import t from 'tap'
import { request } from '../fixtures/browser.js'
import { api, loginCookie, sessionOf, signJwt, startSessionStack } from '../fixtures/gateway.js'
import { startRedisCluster, type RedisCluster } from '../fixtures/redis.js'
import { CLIENT_ID } from '../fixtures/stack.js'
import { ticketDigest } from '../../src/session/crypto.js'
import { REDIS_COMMAND_TIMEOUT_MS, type RedisStore } from '../../src/session/redis.js'

/** Every key on every node, with the node's port. */
async function keysByNode (t: { teardown (fn: () => unknown): void }, cluster: RedisCluster): Promise<Map<number, string[]>> {
  const out = new Map<number, string[]>()
  for (const port of cluster.ports) {
    const r = new Redis({ port, host: '127.0.0.1', lazyConnect: true })
    t.teardown(() => { r.disconnect() })
    await r.connect()
    out.set(port, await r.keys('gh-test:*'))
    r.disconnect()
  }
  return out
}

const slotOf = async (cluster: RedisCluster, key: string): Promise<number> => Number(/:(\d+)/.exec(await cluster.command(cluster.ports[0]!, 'CLUSTER', 'KEYSLOT', key))![1])

t.test('redis store on a Redis Cluster of three masters: sessions, refresh and logout across two gateways', async (t) => {
  const cluster = await startRedisCluster(t)
  const s = await startSessionStack(t, 'redis', { replicas: 2, session: '  idleTimeout: 3h\n', redisYaml: `    cluster: [${cluster.nodes.join(', ')}]\n` })
  const [a, b] = s.nodes as [typeof s.nodes[0], typeof s.nodes[0]]
  const deadline = Date.now() + 10_000
  while (!(a.gh.gateway.sessions.ready() && b.gh.gateway.sessions.ready()) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50))
  t.ok(a.gh.gateway.sessions.ready() && b.gh.gateway.sessions.ready(), 'both gateways connected to the cluster')

  const cookie = await loginCookie(s.browser(), `${a.url}/`)
  t.equal((await api(`${b.url}/on-b`, cookie)).status, 200, 'a session created on A works on B')
  const session = (await sessionOf(a, cookie, s.clock.now))!
  const digest = ticketDigest(session.id)
  const sessionKey = `gh-test:s:{${digest}}`
  const all = [...(await keysByNode(t, cluster)).values()].flat()
  t.ok(all.includes(sessionKey), 'the session key carries the digest as a hash tag')

  // Expiry: concurrent requests to both gateways take the lock next to the session.
  s.clock.advance(3600_000 + 60_000)
  const results = await Promise.all(Array.from({ length: 20 }, async (_, i) => api(`${i % 2 === 0 ? a.url : b.url}/burst/${i}`, cookie)))
  t.same(results.map((r) => r.status), Array(20).fill(200), 'all 20 requests succeed')
  t.equal(s.idp.grants.get('refresh_token'), 1, 'exactly one refresh_token grant')
  const lockKey = `gh-test:l:{${digest}}`
  t.equal(await slotOf(cluster, lockKey), await slotOf(cluster, sessionKey), 'the refresh lock and the session share a slot')

  // Several sessions spread over the masters; a back-channel logout ends those in other slots too.
  const bobs: string[] = []
  for (let i = 0; i < 8; i++) bobs.push(await loginCookie(s.browser(), `${i % 2 === 0 ? a.url : b.url}/`, 'bob'))
  const byNode = await keysByNode(t, cluster)
  const holding = [...byNode.values()].filter((keys) => keys.some((k) => k.startsWith('gh-test:s:{'))).length
  t.ok(holding >= 2, `sessions live on ${holding} of 3 masters`)
  for (const k of [...byNode.values()].flat()) t.match(k, /^gh-test:(s:\{[A-Za-z0-9_-]+\}|i:[A-Za-z0-9_-]+)$/, `key layout: ${k}`)
  for (const c of bobs) t.equal((await api(`${b.url}/bob`, c)).status, 200)
  // B serves them from memory (localCacheTtl), subscribed to the sharded channel that announces a logout.
  const cache = (b.gh.gateway.sessions.store as RedisStore).cache!
  t.ok(cache.trusted, 'B is subscribed to session changes (SSUBSCRIBE)')
  t.ok(cache.size >= 8, `B holds the sessions in memory (${cache.size})`)
  const token = await signJwt(s.key, { iss: s.idp.issuer, aud: CLIENT_ID, iat: Math.floor(s.clock.now / 1000), jti: 'cluster-1', events: { 'http://schemas.openid.net/event/backchannel-logout': {} }, sub: 'bob' })
  const r = await request(`${a.url}/.gatehouse/backchannel-logout`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `logout_token=${token}` })
  t.equal(r.status, 200, 'back-channel logout accepted')
  const after = await Promise.all(bobs.map(async (c, i) => (await api(`${i % 2 === 0 ? b.url : a.url}/after`, c)).status))
  t.same(after, Array(8).fill(401), 'every session of bob ended, whichever master held it')
  t.equal((await api(`${b.url}/alice`, cookie)).status, 200, 'alice is still signed in')

  // The master holding alice's session stops answering (SIGSTOP): her
  // requests get 503 within the command timeout. Once the other masters mark
  // it failed (cluster-node-timeout), the cluster refuses every command
  // (CLUSTERDOWN: no replica to promote), and a session on another master
  // gets 503 at once. SIGCONT brings both back.
  const owner = [...(await keysByNode(t, cluster)).entries()].find(([, keys]) => keys.includes(sessionKey))![0]
  let other = ''
  for (let i = 0; i < 20 && other === ''; i++) {
    const c = await loginCookie(s.browser(), `${a.url}/`, 'bob')
    const key = `gh-test:s:{${ticketDigest((await sessionOf(a, c, s.clock.now))!.id)}}`
    const holder = [...(await keysByNode(t, cluster)).entries()].find(([, keys]) => keys.includes(key))?.[0]
    if (holder !== undefined && holder !== owner) other = c
  }
  t.not(other, '', 'a session on another master')
  cluster.pause(owner)
  t.teardown(() => { cluster.resume(owner) })
  const started = Date.now()
  const paused = await api(`${a.url}/paused`, cookie)
  const ms = Date.now() - started
  t.equal(paused.status, 503, `503 while the master of the session's slot is paused (${ms} ms)`)
  // One command timeout, with room for the cluster client's own retry.
  t.ok(ms < 2 * REDIS_COMMAND_TIMEOUT_MS + 3_000, `within twice the command timeout and a margin (${ms} ms)`)
  let down: { status: number, ms: number } = { status: 200, ms: 0 }
  const until = Date.now() + 15_000
  while (down.status === 200 && Date.now() < until) {
    const t0 = Date.now()
    const r = await api(`${b.url}/other`, other)
    down = { status: r.status, ms: Date.now() - t0 }
    // A session read within localCacheTtl is served from B's memory; let it pass.
    if (r.status === 200) { s.clock.advance(5_000); await new Promise((resolve) => setTimeout(resolve, 100)) }
  }
  t.equal(down.status, 503, 'once the cluster is down, a session on another master gets 503 too')
  // The first 503 may still be a command timeout (the cluster was marking
  // the master failed while the request ran); the next one is CLUSTERDOWN.
  if (down.ms >= 1_000) {
    const t0 = Date.now()
    const r = await api(`${b.url}/other`, other)
    down = { status: r.status, ms: Date.now() - t0 }
    t.equal(down.status, 503, 'the next request on another master: 503')
  }
  t.ok(down.ms < 1_000, `at once (${down.ms} ms)`)
  t.comment(`measured: cluster master paused: 503 after ${ms} ms for its sessions; CLUSTERDOWN 503 after ${down.ms} ms for the others`)
  cluster.resume(owner)
  const back = Date.now() + 15_000
  let status = [0, 0]
  while (status.some((x) => x !== 200) && Date.now() < back) {
    status = [(await api(`${a.url}/resumed`, cookie)).status, (await api(`${b.url}/resumed`, other)).status]
    if (status.some((x) => x !== 200)) await new Promise((resolve) => setTimeout(resolve, 100))
  }
  t.same(status, [200, 200], 'both served again after SIGCONT')
})

t.test('cookie store with session.redis on a Cluster: logouts reach every gateway', async (t) => {
  const cluster = await startRedisCluster(t)
  const s = await startSessionStack(t, 'cookie', { replicas: 2, redisYaml: `    cluster: [${cluster.nodes.join(', ')}]\n` })
  const [a, b] = s.nodes as [typeof s.nodes[0], typeof s.nodes[0]]
  const deadline = Date.now() + 10_000
  while (!(a.gh.gateway.sessions.ready() && b.gh.gateway.sessions.ready()) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50))
  const browser = s.browser()
  const cookie = await loginCookie(browser, `${a.url}/`)
  t.equal((await api(`${b.url}/x`, cookie)).status, 200, 'the cookie works on B (revocations read from the cluster, one key per slot)')
  await browser.navigate(`${a.url}/.gatehouse/logout`, { stopAt: (r) => r.url.startsWith(s.idp.issuer) })
  t.equal((await api(`${b.url}/x`, cookie)).status, 401, 'a copy of the cookie taken before logout on A fails on B')
})
