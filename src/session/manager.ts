import { LRUCache } from 'lru-cache'
import type { SessionConfig } from '../config/types.js'
import {
  clearCookies, cookieNames, presentSessionCookies, readSessionValue, sessionSetCookies,
  type CookieNames, type CookieOptions, type SerializeCookie,
} from './cookies.js'
import { Sealer } from './crypto.js'
import { SessionParseCache } from './parse-cache.js'
import { sessionState, type Session } from './session.js'
import type { SessionStore } from './store.js'

export type ReadOutcome = 'none' | 'ok' | 'malformed' | 'unknown-key' | 'tampered' | 'unknown' | 'revoked' | 'idle' | 'expired'

export interface ReadResult {
  readonly session: Session | null
  readonly outcome: ReadOutcome
  /** The cookie was sealed with an older key: write it again with the newest. */
  readonly reseal: boolean
}

const NONE: ReadResult = Object.freeze({ session: null, outcome: 'none', reseal: false })

/**
 * Sessions as the request path sees them: cookie -> unseal -> store ->
 * timeouts -> revocation, and back. Every failure is a typed "no session"
 * outcome (for a debug log), never an exception.
 */
export class SessionManager {
  readonly names: CookieNames
  readonly cookieOptions: CookieOptions
  readonly sealer: Sealer
  readonly store: SessionStore
  readonly #cfg: SessionConfig
  readonly #serialize: SerializeCookie
  readonly #purpose: string
  /**
   * Ids of sessions ended by logout. A copy of a cookie taken before logout
   * must not authenticate after it (ASVS 7.4.1), even with the stateless
   * cookie store. Entries live as long as a session can.
   */
  readonly #revoked: LRUCache<string, true>

  constructor (cfg: SessionConfig, secure: boolean, store: SessionStore, serialize: SerializeCookie) {
    this.#cfg = cfg
    this.names = cookieNames(cfg.cookieName, secure, cfg.cookieDomain)
    this.cookieOptions = Object.freeze({
      path: '/',
      httpOnly: true,
      secure,
      sameSite: 'lax' as const,
      ...(cfg.cookieDomain !== undefined ? { domain: cfg.cookieDomain } : {}),
    })
    this.sealer = new Sealer(cfg.secrets)
    this.store = store
    this.#serialize = serialize
    this.#purpose = `session:${this.names.session}`
    this.#revoked = new LRUCache({ max: 100_000, ttl: cfg.absoluteTimeout, ttlAutopurge: false })
    this.#parsed = new SessionParseCache(this.sealer, this.#purpose)
  }

  /** Opened cookies by hash of their sealed value: one decrypt per distinct cookie, not per request. */
  readonly #parsed: SessionParseCache

  /** Reads the session from the request's Gatehouse cookies. */
  async read (ours: Map<string, string> | undefined, now: number): Promise<ReadResult> {
    const sealed = readSessionValue(this.names, ours)
    if (sealed === undefined) return NONE
    const opened = this.#parsed.open(sealed)
    if (!opened.ok) return { session: null, outcome: opened.reason, reseal: false }
    const loaded = this.store.load(opened.ticket)
    const session = loaded instanceof Promise ? await loaded : loaded
    if (session === null) return { session: null, outcome: 'unknown', reseal: false }
    if (this.#revoked.has(session.id)) return { session: null, outcome: 'revoked', reseal: false }
    const state = sessionState(session, now, this.#cfg)
    if (state !== 'ok') return { session: null, outcome: state, reseal: false }
    return { session, outcome: 'ok', reseal: opened.rotated }
  }

  /** Persists the session and returns the Set-Cookie values that carry it. */
  async write (session: Session, ours: Map<string, string> | undefined, now: number): Promise<string[]> {
    const saved = this.store.save(session)
    const ticket = saved instanceof Promise ? await saved : saved
    const sealed = this.sealer.seal(this.#purpose, JSON.stringify(ticket))
    const maxAge = Math.max(0, Math.floor((session.iat + this.#cfg.absoluteTimeout - now) / 1000))
    return sessionSetCookies(this.names, sealed, { ...this.cookieOptions, maxAge }, presentSessionCookies(this.names, ours), this.#serialize)
  }

  /** Set-Cookie values that delete the session cookie and its chunks. */
  clear (ours: Map<string, string> | undefined): string[] {
    return clearCookies(presentSessionCookies(this.names, ours), this.cookieOptions, this.#serialize)
  }

  /** Ends a session everywhere this process can: store and revocation list. */
  async end (session: Session): Promise<void> {
    this.revoke(session.id)
    this.onEnd?.(session.id)
    await this.store.destroy(session)
  }

  /** Told the id of every session ended here (cluster workers pass it on to their siblings). */
  onEnd: ((sessionId: string) => void) | undefined

  /** Refuses a session id from now on (ended here, or in a sibling worker). */
  revoke (sessionId: string): void {
    this.#revoked.set(sessionId, true)
  }

  serialize (name: string, value: string, options: CookieOptions): string {
    return this.#serialize(name, value, options)
  }
}
