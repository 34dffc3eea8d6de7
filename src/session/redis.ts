import { Redis } from 'ioredis'
import { StoreUnavailableError } from '../errors.js'
import { randomToken, sha256, sealWithTicket, ticketDigest, unsealWithTicket } from './crypto.js'
import { isSession, type Session } from './session.js'
import { isTicket, remainingLifetime, type SessionMatch, type SessionStore } from './store.js'

/** The few logger methods the Redis code uses (pino-compatible). */
export interface StoreLogger {
  info (obj: object, msg?: string): void
  warn (obj: object, msg?: string): void
}

/**
 * One ioredis connection shared by the redis store and the revocation list.
 *
 * Failure behaviour is chosen for a gateway, not a cache:
 * - no offline queue and no per-command retries: while Redis is away a
 *   request fails at once with StoreUnavailableError (503 + Retry-After)
 *   instead of piling up behind a reconnect;
 * - a command timeout, so a hung Redis cannot hang requests;
 * - reconnects forever with capped backoff; readiness follows the connection.
 */
export class RedisConnection {
  readonly client: Redis
  readonly #log: StoreLogger
  readonly #where: string
  #down = false
  #closing = false

  constructor (url: string, log: StoreLogger) {
    this.#log = log
    const u = new URL(url)
    // Never log the URL itself: it may carry a password.
    this.#where = `${u.hostname}:${u.port || '6379'}`
    this.client = new Redis(url, {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      commandTimeout: 2_000,
      connectTimeout: 2_000,
      retryStrategy: (times) => Math.min(100 * times, 2_000),
    })
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

  /** Runs Redis commands; any failure becomes StoreUnavailableError. */
  async run<T> (fn: (c: Redis) => Promise<T>): Promise<T> {
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

/** Deletes the lock only when it still holds our token: a lock that expired and was taken by another replica is left alone. */
const RELEASE_LOCK = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`

/** The refresh lock outlives the longest refresh (token call + userinfo, 10 s timeout each). */
const LOCK_TTL_MS = 25_000
const LOCK_POLL_MS = 25

export interface RedisStoreOptions {
  readonly keyPrefix: string
  readonly idleTimeout: number
  readonly absoluteTimeout: number
}

/**
 * Sessions in Redis, shared by every replica. The cookie carries the sealed
 * ticket (the session's random id). Redis holds, under a one-way digest of the
 * ticket, the session encrypted with a key derived from the ticket: a dump of
 * Redis alone yields no usable token. Keys expire with the session's idle and
 * absolute deadlines.
 *
 * Keys (after keyPrefix): `s:<digest>` session, `l:<digest>` refresh lock,
 * `i:<hash>` index of session keys by provider sid / sub, for back-channel logout.
 */
export class RedisStore implements SessionStore {
  readonly kind = 'redis' as const
  readonly #conn: RedisConnection
  readonly #opts: RedisStoreOptions

  constructor (conn: RedisConnection, opts: RedisStoreOptions) {
    this.#conn = conn
    this.#opts = opts
  }

  #key (ticket: string): string { return `${this.#opts.keyPrefix}s:${ticketDigest(ticket)}` }

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
    const key = this.#key(ticket)
    const raw = await this.#conn.run(async (c) => c.get(key))
    if (raw === null) return null
    const plain = unsealWithTicket(ticket, key, raw)
    if (plain === undefined) return null
    let s: unknown
    try { s = JSON.parse(plain.toString('utf8')) } catch { return null }
    return isSession(s) && s.id === ticket ? s : null
  }

  async save (session: Session, now: number, create: boolean): Promise<string> {
    const key = this.#key(session.id)
    const ttl = remainingLifetime(session, now, this.#opts.idleTimeout, this.#opts.absoluteTimeout)
    await this.#conn.run(async (c) => {
      if (ttl <= 0) return c.del(key)
      const value = sealWithTicket(session.id, key, JSON.stringify(session))
      // An update must not bring back a session that a logout deleted meanwhile (XX: only if it exists).
      const m = create ? c.multi().set(key, value, 'PX', Math.ceil(ttl)) : c.multi().set(key, value, 'PX', Math.ceil(ttl), 'XX')
      for (const idx of this.#indexKeys(session)) m.sadd(idx, key).pexpire(idx, this.#opts.absoluteTimeout)
      return m.exec()
    })
    return session.id
  }

  async destroy (session: Session): Promise<void> {
    const key = this.#key(session.id)
    await this.#conn.run(async (c) => c.del(key))
  }

  async endMatching (match: SessionMatch): Promise<number> {
    // The index is keyed by provider and sid (or sub); the sessions themselves
    // cannot be opened here without their tickets, and need not be.
    const idx = match.sid !== undefined ? this.#indexKey('sid', match.provider, match.sid) : this.#indexKey('sub', match.provider, match.sub ?? '')
    return this.#conn.run(async (c) => {
      const keys = await c.smembers(idx)
      const ended = keys.length > 0 ? await c.del(...keys) : 0
      await c.del(idx)
      return ended
    })
  }

  async withRefreshLock<T> (session: Session, fn: (current: Session | null) => Promise<T>): Promise<T> {
    const lock = `${this.#opts.keyPrefix}l:${ticketDigest(session.id)}`
    const token = randomToken(16)
    const deadline = Date.now() + LOCK_TTL_MS
    for (;;) {
      const took = await this.#conn.run(async (c) => c.set(lock, token, 'PX', LOCK_TTL_MS, 'NX'))
      if (took === 'OK') break
      if (Date.now() >= deadline) throw new StoreUnavailableError('timed out waiting for another replica to finish refreshing this session')
      await new Promise((resolve) => setTimeout(resolve, LOCK_POLL_MS))
    }
    try {
      // Re-read under the lock: another replica may have refreshed already.
      return await fn(await this.load(session.id))
    } finally {
      // If this fails the lock simply expires; never let it mask fn's result.
      await this.#conn.run(async (c) => c.eval(RELEASE_LOCK, 1, lock, token)).catch(() => undefined)
    }
  }

  ready (): boolean { return this.#conn.ready() }
  async close (): Promise<void> { /* the connection is closed by its owner */ }
}
