import { LRUCache } from 'lru-cache'
import type { Session } from './session.js'
import { isTicket, remainingLifetime, sessionMatches, type SessionMatch, type SessionStore } from './store.js'

export interface MemoryStoreOptions {
  readonly maxSessions: number
  readonly idleTimeout: number
  readonly absoluteTimeout: number
}

/**
 * Sessions in this process's memory; the cookie carries only the sealed
 * random id. For a single replica: a restart signs everyone out, and a second
 * replica would not see these sessions. The least recently used session is
 * dropped when `maxSessions` is reached.
 */
export class MemoryStore implements SessionStore {
  readonly kind = 'memory' as const
  readonly #opts: MemoryStoreOptions
  readonly #sessions: LRUCache<string, Session>
  /** provider + sid and provider + sub -> session ids, for back-channel logout. */
  readonly #index = new Map<string, Set<string>>()

  constructor (opts: MemoryStoreOptions) {
    this.#opts = opts
    this.#sessions = new LRUCache<string, Session>({
      max: opts.maxSessions,
      ttl: opts.absoluteTimeout,
      // Read the clock on each lookup: the default (1 ms) caches it behind a timer set anew every millisecond under load.
      ttlResolution: 0,
      // Expired entries are dropped when touched; the index follows every removal.
      dispose: (s, id) => { this.#unindex(s, id) },
    })
  }

  #keys (s: Session): string[] {
    return s.sid !== undefined ? [`sid\n${s.provider}\n${s.sid}`, `sub\n${s.provider}\n${s.sub}`] : [`sub\n${s.provider}\n${s.sub}`]
  }

  #unindex (s: Session, id: string): void {
    for (const k of this.#keys(s)) {
      const set = this.#index.get(k)
      if (set === undefined) continue
      set.delete(id)
      if (set.size === 0) this.#index.delete(k)
    }
  }

  load (ticket: unknown): Session | null {
    return isTicket(ticket) ? this.#sessions.get(ticket) ?? null : null
  }

  save (session: Session, now: number, create: boolean): string {
    // An update must not bring back a session that a logout deleted meanwhile.
    if (!create && !this.#sessions.has(session.id)) return session.id
    const ttl = remainingLifetime(session, now, this.#opts.idleTimeout, this.#opts.absoluteTimeout)
    if (ttl <= 0) {
      this.#sessions.delete(session.id)
      return session.id
    }
    this.#sessions.set(session.id, session, { ttl })
    for (const k of this.#keys(session)) {
      let set = this.#index.get(k)
      if (set === undefined) { set = new Set(); this.#index.set(k, set) }
      set.add(session.id)
    }
    return session.id
  }

  destroy (session: Session): void {
    this.#sessions.delete(session.id)
  }

  endMatching (match: SessionMatch): number {
    const key = match.sid !== undefined ? `sid\n${match.provider}\n${match.sid}` : `sub\n${match.provider}\n${match.sub ?? ''}`
    const ids = this.#index.get(key)
    if (ids === undefined) return 0
    let ended = 0
    for (const id of [...ids]) {
      const s = this.#sessions.peek(id)
      if (s !== undefined && sessionMatches(s, match)) { this.#sessions.delete(id); ended++ }
    }
    return ended
  }

  /** Sessions held (for tests and metrics). */
  get size (): number { return this.#sessions.size }

  ready (): boolean { return true }
  async close (): Promise<void> { this.#sessions.clear() }
}
