import type { SessionConfig } from '../config/types.js'
import {
  clearCookies, cookieNames, presentSessionCookies, readSessionValue, sessionSetCookies,
  type CookieNames, type CookieOptions, type SerializeCookie,
} from './cookies.js'
import { Sealer } from './crypto.js'
import { SessionParseCache } from './parse-cache.js'
import { sessionState, type Session } from './session.js'
import { MemoryRevocations, matchKey, revocationKeys, type Revocations } from './revocations.js'
import type { SessionMatch, SessionStore } from './store.js'

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
 * timeouts -> revocation, and back. Every fault of the cookie is a typed
 * "no session" outcome (for a debug log), never an exception; only an
 * unreachable store throws (StoreUnavailableError, answered with 503).
 */
export class SessionManager {
  readonly names: CookieNames
  readonly cookieOptions: CookieOptions
  readonly sealer: Sealer
  readonly store: SessionStore
  /** Records of ended sessions and seen logout tokens (see Revocations). */
  readonly revocations: Revocations
  readonly #cfg: SessionConfig
  readonly #serialize: SerializeCookie
  readonly #purpose: string
  /**
   * Whether reads consult the revocation list: only for the cookie store.
   * Server-side stores delete ended sessions, so a copy of the cookie finds
   * nothing, and the hot path skips the lookup.
   */
  readonly #checkRevoked: boolean

  constructor (cfg: SessionConfig, secure: boolean, store: SessionStore, serialize: SerializeCookie, revocations: Revocations = new MemoryRevocations()) {
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
    this.revocations = revocations
    this.#serialize = serialize
    this.#purpose = `session:${this.names.session}`
    this.#checkRevoked = store.endMatching === undefined
    this.#parsed = new SessionParseCache(this.sealer, this.#purpose)
  }

  /** Opened cookies: one decrypt per distinct cookie, not per request (see parse-cache.ts). */
  readonly #parsed: SessionParseCache

  /**
   * Reads the session from the request's Gatehouse cookies. Throws
   * StoreUnavailableError when the store (or the revocation list) is unreachable.
   */
  async read (ours: Map<string, string> | undefined, now: number): Promise<ReadResult> {
    const sealed = readSessionValue(this.names, ours)
    if (sealed === undefined) return NONE
    const opened = this.#parsed.open(sealed)
    if (!opened.ok) return { session: null, outcome: opened.reason, reseal: false }
    const loaded = this.store.load(opened.ticket)
    const session = loaded instanceof Promise ? await loaded : loaded
    if (session === null) return { session: null, outcome: 'unknown', reseal: false }
    const state = sessionState(session, now, this.#cfg)
    if (state !== 'ok') return { session: null, outcome: state, reseal: false }
    if (this.#checkRevoked) {
      const r = this.revocations.revokedAt(revocationKeys(session))
      const at = r instanceof Promise ? await r : r
      if (at !== undefined && at >= session.iat) return { session: null, outcome: 'revoked', reseal: false }
    }
    return { session, outcome: 'ok', reseal: opened.rotated }
  }

  /**
   * Persists the session and returns the Set-Cookie values that carry it.
   * `create` only for a new login; an update never brings back a session
   * that was ended meanwhile.
   */
  async write (session: Session, ours: Map<string, string> | undefined, now: number, create = false): Promise<string[]> {
    const saved = this.store.save(session, now, create)
    const ticket = saved instanceof Promise ? await saved : saved
    const sealed = this.sealer.seal(this.#purpose, JSON.stringify(ticket))
    const maxAge = Math.max(0, Math.floor((session.iat + this.#cfg.absoluteTimeout - now) / 1000))
    return sessionSetCookies(this.names, sealed, { ...this.cookieOptions, maxAge }, presentSessionCookies(this.names, ours), this.#serialize)
  }

  /** Set-Cookie values that delete the session cookie and its chunks. */
  clear (ours: Map<string, string> | undefined): string[] {
    return clearCookies(presentSessionCookies(this.names, ours), this.cookieOptions, this.#serialize)
  }

  /** Ends a session everywhere: deleted from the store, or (cookie store) revoked so no copy of the cookie works. */
  async end (session: Session, now: number): Promise<void> {
    if (this.#checkRevoked) {
      const r = this.revocations.revoke(revocationKeys(session)[0]!, now, Math.max(1, session.iat + this.#cfg.absoluteTimeout - now))
      if (r instanceof Promise) await r
    }
    const d = this.store.destroy(session)
    if (d instanceof Promise) await d
  }

  /**
   * Ends every session a back-channel logout names. Server-side stores delete
   * them and return how many; with the cookie store the sessions are revoked
   * (their number is unknown: undefined).
   */
  async endMatching (match: SessionMatch, now: number): Promise<number | undefined> {
    if (this.store.endMatching !== undefined) return this.store.endMatching(match)
    await this.revocations.revoke(matchKey(match), now, this.#cfg.absoluteTimeout)
    return undefined
  }

  /** Store and revocation list can serve requests. */
  ready (): boolean { return this.store.ready() && this.revocations.ready() }

  serialize (name: string, value: string, options: CookieOptions): string {
    return this.#serialize(name, value, options)
  }
}
