import { sealWithTicket, sha256, ticketDigest } from './crypto.js'
import { refreshLockKey, unsealSession, withRedisLock, type RedisConnection } from './redis.js'
import type { Session } from './session.js'
import type { RefreshLock, RefreshSettled } from './store.js'

/**
 * How long a refreshed session is kept for other replicas. A request that
 * still carries the cookie from before the refresh (sent before the browser
 * stored the new one) reaches another replica within moments; it gets the
 * result instead of spending the refresh token again.
 */
export const REFRESH_RESULT_TTL_MS = 60_000

/**
 * The refresh lock of the cookie store when `session.redis` is configured.
 * The cookie store keeps no session on the server, so the lock alone is not
 * enough: the replica that refreshed also leaves the refreshed session in
 * Redis, under the refresh token it spent, and a replica that waited for the
 * lock with the same cookie takes that result instead of spending the token
 * again (a provider that rotates refresh tokens would refuse the second use
 * and end the session).
 *
 * Keys (after keyPrefix): `l:<digest>` the lock (as the redis store's),
 * `f:<digest>:<spent>` the result, where `<digest>` is the one-way digest of
 * the session id and `<spent>` a hash of the spent refresh token. The value
 * is sealed with a key derived from the session id, which only the cookie
 * holds: a Redis dump yields no token. In a Cluster both keys carry the
 * digest as a hash tag and share a slot.
 */
export class RedisRefreshLock implements RefreshLock {
  readonly #conn: RedisConnection
  readonly #prefix: string

  constructor (conn: RedisConnection, keyPrefix: string) {
    this.#conn = conn
    this.#prefix = keyPrefix
  }

  #resultKey (s: Session): string {
    return `${this.#prefix}f:${this.#conn.tag(ticketDigest(s.id))}:${sha256(s.refreshToken ?? '').slice(0, 32)}`
  }

  async withRefreshLock<T> (session: Session, fn: (current: Session | null) => Promise<T>): Promise<T> {
    return withRedisLock(this.#conn, refreshLockKey(this.#conn, this.#prefix, ticketDigest(session.id)), async () => fn(await this.#result(session) ?? session))
  }

  /** The session another replica refreshed from `s` (the same refresh token spent), if any. */
  async #result (s: Session): Promise<Session | undefined> {
    const key = this.#resultKey(s)
    const raw = await this.#conn.run(async (c) => c.get(key))
    return (raw === null ? null : unsealSession(s.id, key, raw)) ?? undefined
  }

  async settle (current: Session, outcome: RefreshSettled): Promise<void> {
    // An ended session needs no record: the spent token fails again for whoever tries it.
    if (outcome.kind !== 'refreshed') return
    const key = this.#resultKey(current)
    const value = sealWithTicket(current.id, key, JSON.stringify(outcome.session))
    await this.#conn.run(async (c) => c.set(key, value, 'PX', REFRESH_RESULT_TTL_MS))
  }
}
