import { formatDuration } from '../duration.js'
import { choice, duration, integer, optionalSection, section, strings, text } from '../fields.js'
import { GENERATE_HINT, weakSecretReason } from '../secret-strength.js'
import type { SessionConfig, StoreKind } from '../types.js'

const STORES: readonly StoreKind[] = ['cookie', 'memory', 'redis']
/** A cookie Domain: a host name with at least one dot, not an IP address (the last label starts with a letter). */
const COOKIE_DOMAIN = /^\.?([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/
const MIN_SECRET_LENGTH = 32

const redis = optionalSection({
  url: text({
    secret: true,
    required: true,
    description: 'redis://[user:password@]host:port[/db] or rediss:// (TLS)',
    pattern: { re: /^rediss?:\/\//, message: (v) => `expected redis://host:port or rediss://..., got ${JSON.stringify(v)}` },
  }),
  keyPrefix: text({ def: 'gatehouse:', description: 'prefix of every key Gatehouse writes' }),
}, {
  description: 'Redis: the session store with store: redis; with store: cookie, the shared revocation list',
  build: (v) => ({ url: v.url ?? '', keyPrefix: v.keyPrefix }),
})

const memory = section({
  maxSessions: integer({ def: 100_000, min: 1, max: 100_000_000, description: 'sessions kept at most; the least recently used is dropped first' }),
}, {
  description: 'store: memory settings',
  build: (v) => ({ maxSessions: v.maxSessions }),
})

export const session = section({
  secret: text({ secret: true, description: `seals the session cookie: at least ${MIN_SECRET_LENGTH} random characters (${GENERATE_HINT})` }),
  secrets: strings({ secret: true, description: 'instead of secret: [new, old, ...]; the first seals, all unseal' }),
  cookieName: text({ def: 'gatehouse', description: 'the session cookie (chunks: <name>.1, <name>.2, ...)', pattern: { re: /^[A-Za-z0-9_-]+$/, message: () => 'use only letters, digits, "_" and "-"' } }),
  cookieDomain: text({
    description: 'share the session cookie with this domain and its subdomains',
    pattern: { re: COOKIE_DOMAIN, message: (v) => `not a domain: ${JSON.stringify(v)} (write a domain name such as example.com, without scheme, port, path or wildcard; it covers every subdomain)` },
  }),
  store: choice(STORES, { def: 'cookie', description: 'cookie (stateless) | memory (one replica) | redis (shared)' }),
  redis,
  memory,
  idleTimeout: duration({ def: '1h', description: 'sliding: the session ends after this long without a request' }),
  absoluteTimeout: duration({ def: '12h', description: 'from login, whatever the activity' }),
  refreshBefore: duration({ def: '60s', description: 'refresh the access token when it expires within this time' }),
  clockSkew: duration({ def: '30s', description: 'tolerance when comparing token times' }),
}, {
  description: 'the encrypted session',
  required: 'is required (at least session.secret)',
  // Exactly one of the four ways to give the secrets.
  schema: { oneOf: [{ required: ['secret'] }, { required: ['secretFile'] }, { required: ['secrets'] }, { required: ['secretsFile'] }] },
  build (v, c, { present, raw, path }): SessionConfig {
    const bothGiven = ('secret' in raw || 'secretFile' in raw) && ('secrets' in raw || 'secretsFile' in raw)
    if (bothGiven) c.add(`${path}.secrets`, 'give either secret or secrets, not both')
    const listed = v.secrets !== undefined
    const secrets = v.secrets ?? (v.secret !== undefined ? [v.secret] : [])
    const unreadable = c.isSilenced(`${path}.secret`) || c.isSilenced(`${path}.secrets`)
    if (secrets.length === 0 && present && !unreadable) c.add(`${path}.secret`, 'is required (or secrets: [new, old, ...])')
    secrets.forEach((s, i) => {
      const p = listed ? `${path}.secrets[${i}]` : `${path}.secret`
      if (s.length < MIN_SECRET_LENGTH) { c.add(p, `must be at least ${MIN_SECRET_LENGTH} characters (got ${s.length}); ${GENERATE_HINT}`); return }
      // Whoever can guess the secret can forge any user's session.
      const weak = weakSecretReason(s)
      if (weak !== undefined) c.add(p, `${weak}; ${GENERATE_HINT}`)
    })
    if (v.store === 'redis' && v.redis === undefined) c.add(`${path}.redis.url`, 'is required with store: redis')
    const { idleTimeout, absoluteTimeout, refreshBefore } = v
    if (idleTimeout <= 0) c.add(`${path}.idleTimeout`, 'must be greater than 0')
    if (absoluteTimeout <= 0) c.add(`${path}.absoluteTimeout`, 'must be greater than 0')
    if (idleTimeout > absoluteTimeout) c.add(`${path}.idleTimeout`, 'must not be longer than absoluteTimeout')
    // A token is refreshed when it expires within refreshBefore: with a window
    // as long as the whole session, every token counts as expiring, and every
    // request would go to the provider.
    if (absoluteTimeout > 0 && refreshBefore >= absoluteTimeout) {
      c.add(`${path}.refreshBefore`, `must be shorter than absoluteTimeout (${formatDuration(refreshBefore)} >= ${formatDuration(absoluteTimeout)}): every token would count as expiring and be refreshed on every request (the default is 60s)`)
    }
    return {
      secrets,
      cookieName: v.cookieName,
      ...(v.cookieDomain !== undefined ? { cookieDomain: v.cookieDomain } : {}),
      store: v.store,
      ...(v.redis !== undefined ? { redis: v.redis } : {}),
      memory: v.memory,
      idleTimeout,
      absoluteTimeout,
      refreshBefore,
      clockSkew: v.clockSkew,
    }
  },
})
