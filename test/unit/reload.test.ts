import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Fastify from 'fastify'
import { LRUCache } from 'lru-cache'
import t from 'tap'
import { Observer } from '../../src/observe.js'
import { queryRedactor } from '../../src/redact.js'
import { Refresher } from '../../src/auth/refresh.js'
import { parseConfig } from '../../src/config/load.js'
import { ConfigError } from '../../src/errors.js'
import { buildGeneration, closeRetired, reconcile, retire, type SharedParts } from '../../src/gateway.js'
import { Metrics } from '../../src/metrics.js'
import { problemLines, restartChanges } from '../../src/reload.js'
import { MemoryRevocations } from '../../src/session/revocations.js'
import { CookieStore } from '../../src/session/store.js'
import { selfSigned, type CertPair } from '../fixtures/tls.js'

const SECRET = 'reload-test-secret-0123456789abcdef-0123456789'

/** A config: `routes` as YAML flow items, `extra` top-level lines, `provider` extra provider fields. */
function config (o: { routes?: string[], extra?: string, provider?: string, clientSecret?: string, secret?: string, session?: string, providers?: string } = {}): ReturnType<typeof parseConfig> {
  return parseConfig(`
listen: 127.0.0.1:8080
publicUrl: http://127.0.0.1:8080
${o.extra ?? ''}
providers:
${o.providers ?? `  - { id: main, issuer: http://127.0.0.1:9000, clientId: c, clientSecret: ${o.clientSecret ?? 's'}${o.provider ?? ''} }`}
session: { ${o.secret ?? `secret: ${SECRET}`}${o.session ?? ''} }
routes: [${(o.routes ?? ['{ upstream: http://127.0.0.1:3001 }']).join(', ')}]
`, { env: {} })
}

function shared (): SharedParts {
  const metrics = new Metrics({ routes: [], defaultMetrics: false })
  const store = new CookieStore()
  const log = Fastify({ logger: false }).log
  return {
    log,
    now: Date.now,
    metrics,
    store,
    revocations: new MemoryRevocations(),
    serialize: (name, value) => `${name}=${value}`,
    refresher: new Refresher(metrics, { refreshBefore: 60_000, clockSkew: 30_000 }),
    observer: new Observer({ metrics, log, access: false, redact: queryRedactor(), trustProxy: false, newId: () => 'id', host: () => '' }),
    consumedStates: new LRUCache<string, true>({ max: 10 }),
    newRequestId: () => 'id',
    callbackPath: '/.gatehouse/callback',
  }
}

function problems (yaml: () => unknown): readonly string[] {
  try { yaml(); return [] } catch (err) { return (err as ConfigError).problems }
}

t.test('reconcile: reuse when the identity is the same, create and remove when it changed or went', async (t) => {
  const prev = new Map([['a', '1'], ['b', '1'], ['c', '1']])
  const next = new Map([['a', '1'], ['b', '2'], ['d', '1']])
  const r = reconcile(prev, next)
  t.same(r.reuse, ['a'])
  t.same(r.create, ['b', 'd'])
  t.same([...r.remove].sort(), ['b', 'c'])
  t.same(reconcile(new Map(), next), { reuse: [], create: ['a', 'b', 'd'], remove: [] }, 'from nothing: all new')
  t.same(reconcile(prev, prev), { reuse: ['a', 'b', 'c'], create: [], remove: [] }, 'no change: all reused')
})

t.test('restartChanges: fields a running process cannot change are named; the rest are not', async (t) => {
  const base = config()
  t.same(restartChanges(base, config({ routes: ['{ upstream: http://127.0.0.1:3002 }'], extra: 'loginRedirect: gateway\nshutdownGrace: 3s\nlog: { level: debug }' })), [], 'routes, loginRedirect, grace, log level: reloadable')
  t.same(restartChanges(base, config({ secret: 'secrets: [a-very-new-secret-0123456789abcdef-0123, x-older-secret-0123456789abcdef-0123456]' })), [], 'secrets: reloadable')
  t.same(restartChanges(base, config({ clientSecret: 'other', provider: ', scopes: [openid, email]' })), [], 'provider settings: reloadable')
  const moved = restartChanges(base, parseConfig(`
listen: 127.0.0.1:9090
publicUrl: http://127.0.0.1:8080
admin: { listen: 127.0.0.1:9901 }
workers: 2
trustProxy: true
log: { requests: true, flushInterval: 0 }
providers: [{ id: main, issuer: http://127.0.0.1:9000, clientId: c, clientSecret: s }]
session: { secret: ${SECRET}, store: redis, redis: { url: "redis://:hunter2@127.0.0.1:6379" } }
routes: [{ upstream: http://127.0.0.1:3001 }]
`, { env: {} }))
  t.same(moved, [
    'listen: changed from 127.0.0.1:8080 to 127.0.0.1:9090; this needs a restart',
    'admin.listen: changed from none to 127.0.0.1:9901; this needs a restart',
    'workers: changed from 1 to 2; this needs a restart',
    'trustProxy: changed from false to true; this needs a restart',
    'log.requests: changed from false to true; this needs a restart',
    'log.flushInterval: changed from 1000ms to 0ms; this needs a restart',
    'session.store: changed from cookie to redis; this needs a restart',
    'session.redis.url: changed; this needs a restart',
    'session.redis.keyPrefix: changed from undefined to gatehouse:; this needs a restart',
  ])
  t.notOk(moved.some((l) => l.includes('hunter2')), 'the Redis URL (it may hold a password) is not logged')
  const memory = config({ session: ', store: memory' })
  t.same(restartChanges(memory, config({ session: ', store: memory, idleTimeout: 2h' })), ['session.idleTimeout: changed from 3600000ms to 7200000ms; this needs a restart'], 'a server-side store keeps the timeouts it was built with')
  t.same(restartChanges(base, config({ session: ', idleTimeout: 2h' })), [], 'the cookie store takes new timeouts')
  const cached = config({ session: ', store: redis, redis: { url: "redis://127.0.0.1:6379" }' })
  t.same(restartChanges(cached, config({ session: ', store: redis, redis: { url: "redis://127.0.0.1:6379", localCacheTtl: 1s }' })), ['session.redis.localCacheTtl: changed from 5000ms to 1000ms; this needs a restart'], 'the redis store keeps the local cache it was built with')
  t.same(restartChanges(config({ session: ', redis: { url: "redis://127.0.0.1:6379" }' }), config({ session: ', redis: { url: "redis://127.0.0.1:6379", localCacheTtl: 1s }' })), [], 'the cookie store has no local cache')
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-reload-'))
  const [a, b] = [selfSigned(dir, 'a'), selfSigned(dir, 'b')]
  const tls = (p: CertPair): string => `tls: { certFile: ${p.certFile}, keyFile: ${p.keyFile} }`
  t.same(restartChanges(config({ extra: tls(a) }), config({ extra: tls(b) })), [], 'another certificate: reloadable')
  t.same(restartChanges(base, config({ extra: tls(a) })), ['tls: changed from off to on; this needs a restart'], 'HTTP to HTTPS needs a restart')
  t.same(restartChanges(config({ extra: tls(a) }), base), ['tls: changed from on to off; this needs a restart'])
  const sentinel = config({ session: ', redis: { sentinels: [10.0.0.1:26379], sentinelName: m, password: hunter2 }' })
  const changed = restartChanges(sentinel, config({ session: ', redis: { sentinels: [10.0.0.1:26379, 10.0.0.2:26379], sentinelName: m, password: hunter3 }' }))
  t.same(changed, [
    'session.redis.sentinels: changed from 10.0.0.1:26379 to 10.0.0.1:26379,10.0.0.2:26379; this needs a restart',
    'session.redis.password: changed; this needs a restart',
  ], 'Sentinel addresses and the password need a restart')
  t.notOk(changed.some((l) => l.includes('hunter')), 'the password is not logged')
  t.same(restartChanges(sentinel, config({ session: ', redis: { cluster: [10.0.0.1:7000], password: hunter2 }' })), [
    'session.redis.sentinels: changed from 10.0.0.1:26379 to undefined; this needs a restart',
    'session.redis.sentinelName: changed from m to undefined; this needs a restart',
    'session.redis.cluster: changed from undefined to 10.0.0.1:7000; this needs a restart',
  ], 'from Sentinel to Cluster')
})

t.test('problemLines: the lines gatehouse check prints', async (t) => {
  t.same(problemLines('g.yaml', ['a: x', 'b: y']), ['g.yaml: 2 problems:', '  a: x', '  b: y'])
  t.same(problemLines('g.yaml', ['a: x']), ['g.yaml: 1 problem:', '  a: x'])
})

t.test('buildGeneration + retire: providers and pools are reused when unchanged, replaced when changed, closed when gone', async (t) => {
  const s = shared()
  const g1 = await buildGeneration(config({ routes: ['{ path: /a, upstream: http://127.0.0.1:3001 }', '{ path: /b, upstream: http://127.0.0.1:3002/base }'] }), s)
  const main1 = g1.gateway.providers.get('main')!
  const pool1 = g1.pools.get('http://127.0.0.1:3001')
  const pool2 = g1.pools.get('http://127.0.0.1:3002')

  // Same provider, one origin gone, one new.
  const g2 = await buildGeneration(config({ routes: ['{ path: /a, upstream: http://127.0.0.1:3001 }', '{ path: /c, upstream: http://127.0.0.1:3003 }'] }), s, g1)
  t.equal(g2.gateway.providers.get('main'), main1, 'an unchanged provider (discovery, JWKS cache) is the same instance')
  t.equal(g2.pools, g1.pools, 'unchanged pool options: the same pool set')
  t.equal(g2.pools.get('http://127.0.0.1:3001'), pool1, 'an origin still routed keeps its pool')
  t.not(g2.gateway.sessions, g1.gateway.sessions, 'a new session manager (secrets may have changed)')
  t.equal(g1.pools.get('http://127.0.0.1:3002'), pool2, 'building changes nothing of the running generation')
  const pool3 = g2.pools.get('http://127.0.0.1:3003')
  const r2 = retire(g1, g2)
  t.same(r2.providers, [], 'no provider retired')
  t.same(r2.pools, [pool2], 'the pool of the origin no route names any more')
  t.equal(r2.poolSet, undefined)
  t.notOk(g1.pools.origins().includes('http://127.0.0.1:3002'), 'detached from the set')
  t.notOk(pool2.closed, 'not closed before its grace')
  await closeRetired(r2)
  t.ok(pool2.closed, 'closed by closeRetired')
  t.notOk(pool1.closed, 'the reused pool stays open')

  // The origin comes back: a fresh pool, not the closed one.
  const g3 = await buildGeneration(config({ routes: ['{ upstream: http://127.0.0.1:3002 }'], clientSecret: 'rotated' }), s, g2)
  const back = g3.pools.get('http://127.0.0.1:3002')
  t.not(back, pool2, 'a removed origin that returns gets a new pool')
  t.notOk(back.closed)
  t.not(g3.gateway.providers.get('main'), main1, 'a changed provider config: a new instance')
  const r3 = retire(g2, g3)
  t.same(r3.providers, [main1], 'and the old one is retired')
  t.same(new Set(r3.pools), new Set([pool1, pool3]), 'the origins no longer routed are retired')
  await closeRetired(r3)

  // Pool options changed: every pool is new, the whole old set is retired.
  const g4 = await buildGeneration(config({ routes: ['{ upstream: http://127.0.0.1:3002 }'], clientSecret: 'rotated', extra: 'upstream: { connections: 8 }' }), s, g3)
  t.not(g4.pools, g3.pools)
  t.equal(g4.gateway.providers.get('main'), g3.gateway.providers.get('main'), 'the provider is unaffected')
  const r4 = retire(g3, g4)
  t.equal(r4.poolSet, g3.pools)
  await closeRetired(r4)
  t.ok(back.closed, 'the old set is closed')
  t.notOk(g4.pools.get('http://127.0.0.1:3002').closed)
  await g4.pools.close()
})

t.test('a provider is new when the redirect URI or clock skew changes (both are baked into the instance)', async (t) => {
  const s = shared()
  const g1 = await buildGeneration(config(), s)
  const g2 = await buildGeneration(config({ session: ', clockSkew: 5s' }), s, g1)
  t.not(g2.gateway.providers.get('main'), g1.gateway.providers.get('main'))
  const g3 = await buildGeneration(parseConfig(`
publicUrl: https://app.example.com
providers: [{ id: main, issuer: http://127.0.0.1:9000, clientId: c, clientSecret: s }]
session: { secret: ${SECRET}, clockSkew: 5s }
routes: [{ upstream: http://127.0.0.1:3001 }]
`, { env: {} }), s, g2)
  t.not(g3.gateway.providers.get('main'), g2.gateway.providers.get('main'))
  t.equal(g3.gateway.redirectUri, 'https://app.example.com/.gatehouse/callback')
  await g3.pools.close()
  await g1.pools.close()
})

t.test('config: shutdownGrace and reload.watch', async (t) => {
  const c = config()
  t.equal(c.shutdownGrace, 10_000, 'shutdownGrace defaults to 10s')
  t.equal(c.reload.watch, false, 'no watch by default')
  const d = config({ extra: 'shutdownGrace: 1m30s\nreload: { watch: true }' })
  t.equal(d.shutdownGrace, 90_000)
  t.equal(d.reload.watch, true)
  t.same(problems(() => config({ extra: 'shutdownGrace: soon' })), ['shutdownGrace: not a duration: "soon" (use e.g. 90s, 15m, 12h, 7d)'])
  t.same(problems(() => config({ extra: 'reload: { watch: maybe }' })), ['reload.watch: expected true or false, got "maybe"'])
  t.match(problems(() => config({ extra: 'reload: { wacth: true }' })), [/^reload\.wacth: unknown field \(expected one of: watch\)/])
  t.match(problems(() => config({ extra: 'reload: yes' })), [/^reload: expected a map/])
})
