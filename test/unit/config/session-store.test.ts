import t from 'tap'
import { validateConfig } from '../../../src/config/validate.js'

const base = (session: Record<string, unknown>): Record<string, unknown> => ({
  publicUrl: 'https://app.example.com',
  providers: [{ id: 'main', issuer: 'https://id.example.com/', clientId: 'c', clientSecret: 's' }],
  session: { secret: 'session-store-test-secret-0123456789abcdef', ...session },
  routes: [{ path: '/', upstream: 'http://127.0.0.1:3000' }],
})

t.test('session.store: cookie, memory and redis are accepted', async (t) => {
  t.equal(validateConfig(base({})).config?.session.store, 'cookie', 'default cookie')
  const mem = validateConfig(base({ store: 'memory', memory: { maxSessions: 500 } }))
  t.same(mem.problems, [])
  t.equal(mem.config?.session.memory.maxSessions, 500)
  const redis = validateConfig(base({ store: 'redis', redis: { url: 'redis://127.0.0.1:6379' } }))
  t.same(redis.problems, [])
  t.same(redis.config?.session.redis, { url: 'redis://127.0.0.1:6379', keyPrefix: 'gatehouse:', localCacheTtl: 5_000 }, 'default key prefix and local cache TTL')
  const prefixed = validateConfig(base({ store: 'redis', redis: { url: 'rediss://r.example:6380', keyPrefix: 'app1:' } }))
  t.equal(prefixed.config?.session.redis?.keyPrefix, 'app1:')
  const ttl = (v: unknown): number | undefined => validateConfig(base({ store: 'redis', redis: { url: 'redis://r:6379', localCacheTtl: v } })).config?.session.redis?.localCacheTtl
  t.equal(ttl('500ms'), 500, 'localCacheTtl in milliseconds')
  t.equal(ttl(0), 0, 'localCacheTtl 0 turns the local cache off')
  t.equal(ttl('1m'), 60_000, 'up to a minute')
  t.equal(validateConfig(base({ redis: { url: 'redis://r:6379' } })).config?.session.redis?.url, 'redis://r:6379', 'cookie store with Redis for revocation records')
})

t.test('session store problems name the field', async (t) => {
  t.same(validateConfig(base({ store: 'redis' })).problems, ['session.redis.url: is required with store: redis'])
  t.same(validateConfig(base({ store: 'redis', redis: { url: 'http://r' } })).problems, ['session.redis.url: expected redis://host:port or rediss://..., got "http://r"'])
  t.same(validateConfig(base({ store: 'disk' })).problems, ['session.store: expected one of "cookie", "memory", "redis", got "disk"'])
  t.same(validateConfig(base({ store: 'redis', redis: { url: 'redis://r:6379', localCacheTtl: '2m' } })).problems, ['session.redis.localCacheTtl: must be at most 1m (a logout on another replica may go unseen this long), got 2m'])
  t.same(validateConfig(base({ store: 'redis', redis: { url: 'redis://r:6379', localCacheTtl: 'soon' } })).problems, ['session.redis.localCacheTtl: not a duration: "soon" (use e.g. 90s, 15m, 12h, 7d)'])
  t.same(validateConfig(base({ store: 'memory', memory: { maxSessions: 0 } })).problems, ['session.memory.maxSessions: expected a whole number from 1 to 100000000, got 0'])
})

t.test('session.redis: Sentinel and Cluster', async (t) => {
  const sentinel = validateConfig(base({ store: 'redis', redis: { sentinels: ['10.0.0.1:26379', '[::1]:26380'], sentinelName: 'mymaster', password: 'pw' } }))
  t.same(sentinel.problems, [])
  t.same(sentinel.config?.session.redis, { sentinels: [{ host: '10.0.0.1', port: 26379 }, { host: '::1', port: 26380 }], sentinelName: 'mymaster', password: 'pw', keyPrefix: 'gatehouse:', localCacheTtl: 5_000 })
  const cluster = validateConfig(base({ store: 'redis', redis: { cluster: ['10.0.0.1:7000', '10.0.0.2:7000'], username: 'gh', passwordFile: '/run/pw' } }), { readFile: () => 'from-file\n' })
  t.same(cluster.problems, [])
  t.same(cluster.config?.session.redis, { cluster: [{ host: '10.0.0.1', port: 7000 }, { host: '10.0.0.2', port: 7000 }], username: 'gh', password: 'from-file', keyPrefix: 'gatehouse:', localCacheTtl: 5_000 })
  t.same(validateConfig(base({ redis: { cluster: '10.0.0.1:7000' } })).config?.session.redis?.cluster, [{ host: '10.0.0.1', port: 7000 }], 'a single node may be written as a string')
})

t.test('session.redis problems: exactly one of url, sentinels or cluster, each well formed', async (t) => {
  const problems = (redis: Record<string, unknown>): readonly string[] => validateConfig(base({ store: 'redis', redis })).problems
  t.same(problems({}), ['session.redis.url: is required (or sentinels with sentinelName, or cluster)'])
  t.same(problems({ url: 'redis://r:6379', sentinels: ['s:26379'], sentinelName: 'm' }), ['session.redis.sentinels: give only one of url, sentinels or cluster (got url and sentinels)'])
  t.same(problems({ sentinels: ['s:26379'], sentinelName: 'm', cluster: ['c:7000'] }), ['session.redis.cluster: give only one of url, sentinels or cluster (got sentinels and cluster)'])
  t.same(problems({ sentinels: ['s:26379'] }), ['session.redis.sentinelName: is required with sentinels (the master group name, as in "sentinel monitor <name> ...")'])
  t.same(problems({ url: 'redis://r:6379', sentinelName: 'm' }), ['session.redis.sentinelName: is used only with sentinels'])
  t.same(problems({ sentinels: ['s:26379', 'nohost', ':26379', 's:99999'], sentinelName: 'm' }), [
    'session.redis.sentinels[1]: expected host:port, got "nohost"',
    'session.redis.sentinels[2]: expected host:port, got ":26379"',
    'session.redis.sentinels[3]: expected host:port, got "s:99999"',
  ])
  t.same(problems({ cluster: [] }), ['session.redis.cluster: expected at least one host:port'])
  t.same(problems({ cluster: ['c:7000'], keyPrefix: 'app{1}:' }), ['session.redis.keyPrefix: must not contain "{" or "}" with cluster (Gatehouse adds a hash tag after the prefix)'])
  t.same(problems({ url: 'redis://:pw@r:6379', password: 'other' }), ['session.redis.password: the url carries a password already (redis://:password@host); give it in one place'])
  t.same(problems({ url: 'redis://gh@r:6379', username: 'other' }), ['session.redis.username: the url carries a user already (redis://user:password@host); give it in one place'])
  t.same(problems({ url: 'redis://gh@r:6379', password: 'pw' }), [], 'a user in the url, the password apart')
})
