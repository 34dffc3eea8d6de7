import { Cluster, Redis } from 'ioredis'
import type { RedisAddress, RedisConfig } from '../config/types.js'
import { StoreUnavailableError } from '../errors.js'
import { randomToken, sha256, sealWithTicket, ticketDigest, unsealWithTicket } from './crypto.js'
import { LocalSessionCache } from './redis-cache.js'
import { isSession, type Session } from './session.js'
import { isTicket, remainingLifetime, type RefreshLock, type RefreshSettled, type SessionMatch, type SessionStore } from './store.js'

/** The few logger methods the Redis code uses (pino-compatible). */
export interface StoreLogger {
  info (obj: object, msg?: string): void
  warn (obj: object, msg?: string): void
}

/** Redis fails a command that gets no reply within this time (a paused or partitioned server). */
export const REDIS_COMMAND_TIMEOUT_MS = 2_000
/** A connection attempt (TCP and TLS) gives up after this long, then the next one is scheduled. */
const CONNECT_TIMEOUT_MS = 2_000
/** Reconnect backoff: 100 ms more per attempt, capped. */
const reconnectDelay = (times: number): number => Math.min(100 * times, 2_000)

/** Where Redis is, as `session.redis` gives it (the key prefix aside). */
export type RedisTarget = Omit<RedisConfig, 'keyPrefix' | 'localCacheTtl'>

const hostPort = (a: RedisAddress): string => a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`

/** Where Redis is, for logs and error messages: never the URL, which may carry a password. */
export function redisWhere (t: RedisTarget): string {
  if (t.sentinels !== undefined) return `Sentinel master ${t.sentinelName ?? ''} via ${t.sentinels.map(hostPort).join(',')}`
  if (t.cluster !== undefined) return `Cluster via ${t.cluster.map(hostPort).join(',')}`
  const u = new URL(t.url ?? 'redis://127.0.0.1')
  return `${u.hostname}:${u.port || '6379'}`
}

/**
 * A server that became a replica (a Sentinel failover) refuses writes with
 * READONLY: reconnect, which asks the Sentinels for the new master. The
 * failed command is not resent (its request has already got its 503).
 */
const reconnectOnReadonly = (err: Error): boolean => err.message.startsWith('READONLY')

/**
 * One ioredis client (a single server, a Sentinel-managed master, or a
 * Cluster) shared by the redis store, the revocation list and the refresh
 * lock.
 *
 * Failure behaviour is chosen for a gateway, not a cache:
 * - no offline queue (`enableOfflineQueue: false`): while Redis is away a
 *   request fails at once with StoreUnavailableError (503 + Retry-After)
 *   instead of piling up behind a reconnect;
 * - no per-command retries (`maxRetriesPerRequest: 0`): a command whose
 *   connection dropped is failed, never sent twice (a refresh lock or a
 *   session write must not run again behind the request's back);
 * - `commandTimeout` and `socketTimeout` of 2 s: a Redis that stops
 *   answering without closing the connection (paused, partitioned) fails
 *   the commands waiting on it after 2 s and the connection is dropped, so
 *   the next requests fail at once and `/readyz` says so until it answers;
 * - reconnects forever with capped backoff; readiness follows the connection.
 */
export class RedisConnection {
  readonly client: Redis | Cluster
  /** Redis Cluster: keys of one session carry a hash tag, multi-key commands stay within one slot. */
  readonly cluster: boolean
  readonly #log: StoreLogger
  readonly #where: string
  #down = false
  #closing = false

  constructor (target: RedisTarget, log: StoreLogger) {
    this.#log = log
    this.#where = redisWhere(target)
    this.cluster = target.cluster !== undefined
    const auth = {
      ...(target.username !== undefined ? { username: target.username } : {}),
      ...(target.password !== undefined ? { password: target.password } : {}),
    }
    const perNode = {
      maxRetriesPerRequest: 0,
      commandTimeout: REDIS_COMMAND_TIMEOUT_MS,
      socketTimeout: REDIS_COMMAND_TIMEOUT_MS,
      connectTimeout: CONNECT_TIMEOUT_MS,
      ...auth,
    }
    if (target.cluster !== undefined) {
      this.client = new Cluster(target.cluster.map((a) => ({ host: a.host, port: a.port })), {
        enableOfflineQueue: false,
        clusterRetryStrategy: reconnectDelay,
        // A node that failed over answers MOVED; the slot map is refreshed then, and every 5 s.
        slotsRefreshTimeout: CONNECT_TIMEOUT_MS,
        // A cluster that lost a master with no replica to promote refuses
        // every command (CLUSTERDOWN): fail at once, as with no connection,
        // instead of retrying until the command timeout.
        retryDelayOnClusterDown: 0,
        redisOptions: perNode,
      })
    } else if (target.sentinels !== undefined) {
      this.client = new Redis({
        sentinels: target.sentinels.map((a) => ({ host: a.host, port: a.port })),
        name: target.sentinelName ?? '',
        ...perNode,
        enableOfflineQueue: false,
        retryStrategy: reconnectDelay,
        sentinelRetryStrategy: reconnectDelay,
        sentinelCommandTimeout: REDIS_COMMAND_TIMEOUT_MS,
        reconnectOnError: reconnectOnReadonly,
      })
    } else {
      this.client = new Redis(target.url ?? '', {
        ...perNode,
        enableOfflineQueue: false,
        retryStrategy: reconnectDelay,
        reconnectOnError: reconnectOnReadonly,
      })
    }
    this.client.on('ready', () => {
      if (this.#down) this.#log.info({ redis: this.#where }, 'session store reconnected')
      this.#down = false
    })
    // Without an 'error' listener ioredis would raise an unhandled error and
    // crash the process on the first connection loss.
    this.client.on('error', (err: Error & { code?: string }) => { this.#lost(err.code ?? err.message) })
    this.client.on('close', () => { if (!this.#closing) this.#lost('connection closed') })
  }

  /** Logs a loss once per outage, not once per reconnection attempt. */
  #lost (reason: string): void {
    if (this.#down) return
    this.#down = true
    this.#log.warn({ redis: this.#where, reason }, 'session store unreachable; requests that need it get 503; reconnecting')
  }

  /** Connected and ready for commands. */
  ready (): boolean { return this.client.status === 'ready' }

  /**
   * The part of a key that places it in a Cluster slot: a session's keys
   * (session, refresh lock, refresh result) share `id`, so in a Cluster it is
   * wrapped in a hash tag and they land in one slot. A single Redis or
   * Sentinel keeps the plain names it always had.
   */
  tag (id: string): string { return this.cluster ? `{${id}}` : id }

  /** GET of several keys: one MGET, or in a Cluster (keys in different slots) one GET each, sent together. */
  async getMany (c: Redis | Cluster, keys: readonly string[]): Promise<(string | null)[]> {
    return this.cluster ? Promise.all(keys.map(async (k) => c.get(k))) : c.mget(...keys)
  }

  /** Runs Redis commands; any failure becomes StoreUnavailableError. */
  async run<T> (fn: (c: Redis | Cluster) => Promise<T>): Promise<T> {
    if (!this.ready()) throw new StoreUnavailableError(`the session store (Redis at ${this.#where}) is not connected`)
    try {
      return await fn(this.client)
    } catch (err) {
      throw new StoreUnavailableError(`the session store (Redis at ${this.#where}) failed: ${(err as Error).message}`, { cause: err })
    }
  }

  async close (): Promise<void> {
    this.#closing = true
    this.client.disconnect()
  }
}

/** A session stored sealed under `key` with a key derived from `id` (see sealWithTicket); null when it does not open or is not that session. */
export function unsealSession (id: string, key: string, raw: string): Session | null {
  const plain = unsealWithTicket(id, key, raw)
  if (plain === undefined) return null
  let s: unknown
  try { s = JSON.parse(plain.toString('utf8')) } catch { return null }
  return isSession(s) && s.id === id ? s : null
}

/** Deletes the lock only when it still holds our token: a lock that expired and was taken by another replica is left alone. */
const RELEASE_LOCK = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`

/** The refresh lock outlives the longest refresh (token call + userinfo, 10 s timeout each). */
const LOCK_TTL_MS = 25_000
const LOCK_POLL_MS = 25

/**
 * Runs `fn` holding the lock at `key` across replicas (`SET NX PX` with a
 * random token; released only by its owner). Waits for another holder at
 * most the lock's lifetime.
 */
export async function withRedisLock<T> (conn: RedisConnection, key: string, fn: () => Promise<T>): Promise<T> {
  const token = randomToken(16)
  const deadline = Date.now() + LOCK_TTL_MS
  for (;;) {
    const took = await conn.run(async (c) => c.set(key, token, 'PX', LOCK_TTL_MS, 'NX'))
    if (took === 'OK') break
    if (Date.now() >= deadline) throw new StoreUnavailableError('timed out waiting for another replica to finish refreshing this session')
    await new Promise((resolve) => setTimeout(resolve, LOCK_POLL_MS))
  }
  try {
    return await fn()
  } finally {
    // If this fails the lock simply expires; never let it mask fn's result.
    await conn.run(async (c) => c.eval(RELEASE_LOCK, 1, key, token)).catch(() => undefined)
  }
}

/** The refresh lock of the session with this ticket digest (the same key for every store). */
export const refreshLockKey = (conn: RedisConnection, keyPrefix: string, digest: string): string => `${keyPrefix}l:${conn.tag(digest)}`

export interface RedisStoreOptions {
  readonly keyPrefix: string
  readonly idleTimeout: number
  readonly absoluteTimeout: number
  /** How long a session read from Redis is served from this replica's memory (see redis-cache.ts); 0: never. */
  readonly localCacheTtl?: number
  /** Clock of the cache's TTL, in ms (monotonic in production). */
  readonly now?: () => number
  /** Where subscriber problems are reported. */
  readonly log?: Pick<StoreLogger, 'warn'>
}

/** The channel that announces changed and ended sessions (by digest) to every replica. */
export const invalidationChannel = (keyPrefix: string): string => `${keyPrefix}changed`

/**
 * Sessions in Redis, shared by every replica. The cookie carries the sealed
 * ticket (the session's random id). Redis holds, under a one-way digest of the
 * ticket, the session encrypted with a key derived from the ticket: a dump of
 * Redis alone yields no usable token. Keys expire with the session's idle and
 * absolute deadlines.
 *
 * Keys (after keyPrefix): `s:<digest>` session, `l:<digest>` refresh lock,
 * `i:<hash>` index of session keys by provider sid / sub, for back-channel
 * logout. In a Cluster the digest is a hash tag (`s:{<digest>}`), so a
 * session and its lock share a slot; every command touches one key, or keys
 * of one slot.
 *
 * With `localCacheTtl`, sessions read are kept in memory for that long and
 * every update or deletion is announced on the `changed` channel, so the
 * other replicas drop their copy (see LocalSessionCache for the bound).
 */
export class RedisStore implements SessionStore, RefreshLock {
  readonly kind = 'redis' as const
  readonly #conn: RedisConnection
  readonly #opts: RedisStoreOptions
  /** Recently read sessions; undefined when `localCacheTtl` is 0. */
  readonly cache: LocalSessionCache | undefined

  constructor (conn: RedisConnection, opts: RedisStoreOptions) {
    this.#conn = conn
    this.#opts = opts
    const ttl = opts.localCacheTtl ?? 0
    this.cache = ttl > 0 ? new LocalSessionCache(conn.client, conn.cluster, invalidationChannel(opts.keyPrefix), ttl, opts.now ?? (() => performance.now()), opts.log ?? { warn: () => undefined }) : undefined
  }

  #key (ticket: string): string { return this.#keyOf(ticketDigest(ticket)) }
  #keyOf (digest: string): string { return `${this.#opts.keyPrefix}s:${this.#conn.tag(digest)}` }

  #indexKey (kind: 'sid' | 'sub', provider: string, value: string): string {
    return `${this.#opts.keyPrefix}i:${sha256(`${kind}\n${provider}\n${value}`)}`
  }

  #indexKeys (s: Session): string[] {
    const keys = [this.#indexKey('sub', s.provider, s.sub)]
    if (s.sid !== undefined) keys.push(this.#indexKey('sid', s.provider, s.sid))
    return keys
  }

  async load (ticket: unknown): Promise<Session | null> {
    if (!isTicket(ticket)) return null
    const cache = this.cache
    // While Redis is away the store is down for every request, cached or not.
    if (cache === undefined || !this.#conn.ready()) return this.#fetch(ticket)
    return cache.get(ticketDigest(ticket), async () => this.#fetch(ticket))
  }

  /** The session as Redis has it now (one GET). */
  async #fetch (ticket: string): Promise<Session | null> {
    const key = this.#key(ticket)
    const raw = await this.#conn.run(async (c) => c.get(key))
    return raw === null ? null : unsealSession(ticket, key, raw)
  }

  /** Tells the replicas' caches that these sessions changed (none without a cache; nothing to tell of a new one). */
  #announce (c: Redis | Cluster, digests: readonly string[]): Promise<unknown>[] {
    const cache = this.cache
    return cache === undefined ? [] : digests.map(async (d) => cache.announce(c, d))
  }

  async save (session: Session, now: number, create: boolean): Promise<string> {
    const key = this.#key(session.id)
    const ttl = remainingLifetime(session, now, this.#opts.idleTimeout, this.#opts.absoluteTimeout)
    await this.#conn.run(async (c) => {
      if (ttl <= 0) return c.del(key)
      const value = sealWithTicket(session.id, key, JSON.stringify(session))
      // An update must not bring back a session that a logout deleted meanwhile (XX: only if it exists).
      const set = create ? c.set(key, value, 'PX', Math.ceil(ttl)) : c.set(key, value, 'PX', Math.ceil(ttl), 'XX')
      // The index sets are keyed by subject and provider session, in other
      // slots than the session: one transaction per key, sent together. A
      // member whose session is gone is harmless (logout deletes nothing).
      const index = this.#indexKeys(session).map(async (idx) => c.multi().sadd(idx, key).pexpire(idx, this.#opts.absoluteTimeout).exec())
      return Promise.all([set, ...index, ...this.#announce(c, create ? [] : [ticketDigest(session.id)])])
    })
    return session.id
  }

  async destroy (session: Session): Promise<void> {
    const digest = ticketDigest(session.id)
    const key = this.#keyOf(digest)
    await this.#conn.run(async (c) => Promise.all([c.del(key), ...this.#announce(c, [digest])]))
  }

  async endMatching (match: SessionMatch): Promise<number> {
    // The index is keyed by provider and sid (or sub); the sessions themselves
    // cannot be opened here without their tickets, and need not be.
    const idx = match.sid !== undefined ? this.#indexKey('sid', match.provider, match.sid) : this.#indexKey('sub', match.provider, match.sub ?? '')
    return this.#conn.run(async (c) => {
      const keys = await c.smembers(idx)
      // One DEL per session: in a Cluster they live in different slots.
      const ended = (await Promise.all(keys.map(async (k) => c.del(k)))).reduce((a, b) => a + b, 0)
      await Promise.all([c.del(idx), ...this.#announce(c, keys.map((k) => this.#digestOf(k)))])
      return ended
    })
  }

  /** The digest in a session key (`<prefix>s:<digest>`, or `s:{<digest>}` in a Cluster). */
  #digestOf (key: string): string { return key.slice(this.#opts.keyPrefix.length + 2).replace(/^\{(.*)\}$/, '$1') }

  async withRefreshLock<T> (session: Session, fn: (current: Session | null) => Promise<T>): Promise<T> {
    // Re-read under the lock, from Redis (never the cache): another replica may have refreshed already.
    return withRedisLock(this.#conn, refreshLockKey(this.#conn, this.#opts.keyPrefix, ticketDigest(session.id)), async () => fn(await this.#fetch(session.id)))
  }

  async settle (current: Session, outcome: RefreshSettled, now: number): Promise<void> {
    if (outcome.kind === 'refreshed') await this.save(outcome.session, now, false)
    else await this.destroy(current)
  }

  ready (): boolean { return this.#conn.ready() }
  async close (): Promise<void> { this.cache?.close() /* the connection is closed by its owner */ }
}
