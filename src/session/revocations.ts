import { LRUCache } from 'lru-cache'
import { sha256 } from './crypto.js'
import type { RedisConnection } from './redis.js'
import type { Session } from './session.js'
import type { SessionMatch } from './store.js'

/**
 * Records of ended sessions, for the cookie store, which cannot delete a
 * cookie it does not see: a copy of a cookie taken before logout must not
 * authenticate after it (ASVS 7.4.1), and a back-channel logout must end
 * sessions whose cookies are in browsers. Also the replay cache of
 * back-channel logout tokens (`jti`).
 *
 * Each record is a time: sessions created at or before it are ended. So a
 * user logged out by `sub` can sign in again at once, while every older
 * session of theirs stays ended. Records live as long as a session can
 * (the absolute timeout).
 *
 * In memory for one replica; in Redis when `session.redis` is configured, so
 * that every replica sees every logout.
 */
export interface Revocations {
  readonly kind: 'memory' | 'redis'
  /** Ends sessions under `key` created at or before `at`. */
  revoke (key: string, at: number, ttl: number): void | Promise<void>
  /** The latest revocation time among `keys` (one lookup), or undefined. */
  revokedAt (keys: readonly string[]): number | undefined | Promise<number | undefined>
  /** Records `key` for `ttl` ms; false when it was already recorded (a replay). */
  once (key: string, ttl: number): boolean | Promise<boolean>
  ready (): boolean
}

/** Revocation keys that cover `s`: its own id, its provider session, its subject. */
export function revocationKeys (s: Session): string[] {
  return s.sid !== undefined
    ? [`id\n${s.id}`, `sub\n${s.provider}\n${s.sub}`, `sid\n${s.provider}\n${s.sid}`]
    : [`id\n${s.id}`, `sub\n${s.provider}\n${s.sub}`]
}

/** The revocation key a back-channel logout names. */
export function matchKey (m: SessionMatch): string {
  return m.sid !== undefined ? `sid\n${m.provider}\n${m.sid}` : `sub\n${m.provider}\n${m.sub ?? ''}`
}

export class MemoryRevocations implements Revocations {
  readonly kind = 'memory' as const
  readonly #records = new LRUCache<string, number>({ max: 200_000, ttlResolution: 0 })

  revoke (key: string, at: number, ttl: number): void {
    this.#records.set(key, Math.max(at, this.#records.get(key) ?? 0), { ttl })
  }

  revokedAt (keys: readonly string[]): number | undefined {
    // The common case on the hot path: nobody has logged out yet.
    if (this.#records.size === 0) return undefined
    let latest: number | undefined
    for (const k of keys) {
      const at = this.#records.get(k)
      if (at !== undefined && (latest === undefined || at > latest)) latest = at
    }
    return latest
  }

  once (key: string, ttl: number): boolean {
    const k = `once\n${key}`
    if (this.#records.has(k)) return false
    this.#records.set(k, 1, { ttl })
    return true
  }

  ready (): boolean { return true }
}

export class RedisRevocations implements Revocations {
  readonly kind = 'redis' as const
  readonly #conn: RedisConnection
  readonly #prefix: string

  constructor (conn: RedisConnection, keyPrefix: string) {
    this.#conn = conn
    this.#prefix = keyPrefix
  }

  // Hashed: a subject or provider session id is personal data, not a key name.
  #key (kind: 'r' | 'j', key: string): string { return `${this.#prefix}${kind}:${sha256(key)}` }

  async revoke (key: string, at: number, ttl: number): Promise<void> {
    const k = this.#key('r', key)
    await this.#conn.run(async (c) => c.set(k, String(at), 'PX', Math.ceil(ttl)))
  }

  async revokedAt (keys: readonly string[]): Promise<number | undefined> {
    const ks = keys.map((k) => this.#key('r', k))
    // One MGET; in a Cluster the keys lie in different slots and are read one by one.
    const values = await this.#conn.run(async (c) => this.#conn.getMany(c, ks))
    let latest: number | undefined
    for (const v of values) {
      const at = v === null ? NaN : Number(v)
      if (!Number.isNaN(at) && (latest === undefined || at > latest)) latest = at
    }
    return latest
  }

  async once (key: string, ttl: number): Promise<boolean> {
    const k = this.#key('j', key)
    return (await this.#conn.run(async (c) => c.set(k, '1', 'PX', Math.ceil(ttl), 'NX'))) === 'OK'
  }

  ready (): boolean { return this.#conn.ready() }
}
