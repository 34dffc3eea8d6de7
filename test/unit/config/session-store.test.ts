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
  t.same(redis.config?.session.redis, { url: 'redis://127.0.0.1:6379', keyPrefix: 'gatehouse:' }, 'default key prefix')
  const prefixed = validateConfig(base({ store: 'redis', redis: { url: 'rediss://r.example:6380', keyPrefix: 'app1:' } }))
  t.equal(prefixed.config?.session.redis?.keyPrefix, 'app1:')
  t.equal(validateConfig(base({ redis: { url: 'redis://r:6379' } })).config?.session.redis?.url, 'redis://r:6379', 'cookie store with Redis for revocation records')
})

t.test('session store problems name the field', async (t) => {
  t.same(validateConfig(base({ store: 'redis' })).problems, ['session.redis.url: is required with store: redis'])
  t.same(validateConfig(base({ store: 'redis', redis: { url: 'http://r' } })).problems, ['session.redis.url: expected redis://host:port or rediss://..., got "http://r"'])
  t.same(validateConfig(base({ store: 'disk' })).problems, ['session.store: expected one of "cookie", "memory", "redis", got "disk"'])
  t.same(validateConfig(base({ store: 'memory', memory: { maxSessions: 0 } })).problems, ['session.memory.maxSessions: expected a whole number from 1 to 100000000, got 0'])
})
