import { formatDuration } from '../duration.js'
import { choice, duration, integer, optionalSection, parseListen, section, strings, text, type Checker } from '../fields.js'
import { GENERATE_HINT, weakSecretReason } from '../secret-strength.js'
import type { RedisAddress, RedisConfig, SessionConfig, StoreKind } from '../types.js'

const STORES: readonly StoreKind[] = ['cookie', 'memory', 'redis']
/** A cookie Domain: a host name with at least one dot, not an IP address (the last label starts with a letter). */
const COOKIE_DOMAIN = /^\.?([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/
const MIN_SECRET_LENGTH = 32

/** `host:port` of a Sentinel or cluster node (a host is required; `[v6]:port` for IPv6). */
function redisAddresses (c: Checker, list: readonly string[] | undefined, path: string): RedisAddress[] | undefined {
  if (list === undefined) return undefined
  if (list.length === 0) { c.add(path, 'expected at least one host:port'); return undefined }
  const out: RedisAddress[] = []
  list.forEach((item, i) => {
    const a = parseListen(item)
    if (a === undefined || item.trim().startsWith(':')) c.add(`${path}[${i}]`, `expected host:port, got ${JSON.stringify(item)}`)
    else out.push(a)
  })
  return out.length === list.length ? out : undefined
}

const MODES = ['url', 'sentinels', 'cluster'] as const
/** The local session cache's TTL is the time a logout may go unseen on another replica: keep it short. */
const MAX_LOCAL_CACHE_TTL = 60_000

/** Which credentials a redis:// URL carries. */
function urlCredentials (url: string): { username: boolean, password: boolean } | undefined {
  try {
    const u = new URL(url)
    return { username: u.username !== '', password: u.password !== '' }
  } catch { return undefined }
}

const redis = optionalSection({
  url: text({
    secret: true,
    description: 'one Redis: redis://[user:password@]host:port[/db] or rediss:// (TLS)',
    pattern: { re: /^rediss?:\/\//, message: (v) => `expected redis://host:port or rediss://..., got ${JSON.stringify(v)}` },
  }),
  sentinels: strings({ description: 'instead of url: Redis Sentinels as host:port; they name the current master of sentinelName' }),
  sentinelName: text({ description: 'with sentinels: the master group name the Sentinels monitor' }),
  cluster: strings({ description: 'instead of url: seed nodes of a Redis Cluster as host:port' }),
  username: text({ description: 'ACL user for AUTH (unless the url carries one)' }),
  password: text({ secret: true, description: 'password for AUTH (unless the url carries one); passwordFile reads it from a file' }),
  keyPrefix: text({ def: 'gatehouse:', description: 'prefix of every key Gatehouse writes' }),
  localCacheTtl: duration({ def: '5s', description: 'store: redis: serve a session read from Redis from memory for this long (the longest another replica may still accept a session after its logout); 0 reads Redis on every request' }),
}, {
  description: 'Redis: the session store with store: redis; with store: cookie, the shared revocation list and refresh lock',
  build (v, c, { path, raw }): RedisConfig {
    // As written (a value refused by its own check still counts as given).
    const given = MODES.filter((m) => raw[m] !== undefined || (m === 'url' && raw.urlFile !== undefined))
    if (given.length === 0) c.add(`${path}.url`, 'is required (or sentinels with sentinelName, or cluster)')
    if (given.length > 1) c.add(`${path}.${given[1]!}`, `give only one of url, sentinels or cluster (got ${given.join(' and ')})`)
    const sentinels = redisAddresses(c, v.sentinels, `${path}.sentinels`)
    const cluster = redisAddresses(c, v.cluster, `${path}.cluster`)
    if (v.sentinels !== undefined && v.sentinelName === undefined) c.add(`${path}.sentinelName`, 'is required with sentinels (the master group name, as in "sentinel monitor <name> ...")')
    if (v.sentinels === undefined && v.sentinelName !== undefined) c.add(`${path}.sentinelName`, 'is used only with sentinels')
    // The password may come from its own file while the URL stays in plain config; never from both.
    const inUrl = v.url !== undefined ? urlCredentials(v.url) : undefined
    if (inUrl?.password === true && ('password' in raw || 'passwordFile' in raw)) c.add(`${path}.password`, 'the url carries a password already (redis://:password@host); give it in one place')
    if (inUrl?.username === true && v.username !== undefined) c.add(`${path}.username`, 'the url carries a user already (redis://user:password@host); give it in one place')
    // In a cluster each session's keys carry a hash tag ({...}) after the
    // prefix; a brace in the prefix would make the prefix the tag and put
    // every key in one slot.
    if (v.localCacheTtl > MAX_LOCAL_CACHE_TTL) c.add(`${path}.localCacheTtl`, `must be at most ${formatDuration(MAX_LOCAL_CACHE_TTL)} (a logout on another replica may go unseen this long), got ${formatDuration(v.localCacheTtl)}`)
    if (v.cluster !== undefined && /[{}]/.test(v.keyPrefix)) c.add(`${path}.keyPrefix`, 'must not contain "{" or "}" with cluster (Gatehouse adds a hash tag after the prefix)')
    return {
      ...(v.url !== undefined ? { url: v.url } : {}),
      ...(sentinels !== undefined ? { sentinels } : {}),
      ...(v.sentinelName !== undefined ? { sentinelName: v.sentinelName } : {}),
      ...(cluster !== undefined ? { cluster } : {}),
      ...(v.username !== undefined ? { username: v.username } : {}),
      ...(v.password !== undefined ? { password: v.password } : {}),
      keyPrefix: v.keyPrefix,
      localCacheTtl: v.localCacheTtl,
    }
  },
  schema: { anyOf: [{ required: ['url'] }, { required: ['urlFile'] }, { required: ['sentinels'] }, { required: ['cluster'] }] },
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
