import type { SessionConfig } from '../config/types.js'
import {
  clearCookies, cookieNames, domainCovers, presentSessionCookies, readSessionValue, sessionSetCookies,
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
const UNKNOWN: ReadResult = Object.freeze({ session: null, outcome: 'unknown', reseal: false })
const REVOKED: ReadResult = Object.freeze({ session: null, outcome: 'revoked', reseal: false })

/** A session read, unless a revocation at or after its start ended it. */
function revokedOrOk (session: Session, at: number | undefined, reseal: boolean): ReadResult {
  return at !== undefined && at >= session.iat ? REVOKED : { session, outcome: 'ok', reseal }
}

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
  /** cookieOptions without Domain: for the hosts outside the cookie domain (their cookie comes by handoff). */
  readonly #hostOnly: CookieOptions

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
    const { domain: _domain, ...hostOnly } = this.cookieOptions
    this.#hostOnly = Object.freeze(hostOnly)
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
   * Reads the session from the request's Gatehouse cookies: synchronously
   * when the store and the revocation list answer from memory (the cookie
   * and memory stores, the redis store's local cache), else a promise.
   * Throws (or rejects with) StoreUnavailableError when the store or the
   * revocation list is unreachable.
   */
  read (ours: Map<string, string> | undefined, now: number): ReadResult | Promise<ReadResult> {
    const sealed = readSessionValue(this.names, ours)
    if (sealed === undefined) return NONE
    const opened = this.#parsed.open(sealed)
    if (!opened.ok) return { session: null, outcome: opened.reason, reseal: false }
    return this.#load(opened.ticket, now, opened.rotated)
  }

  /** The session behind an unsealed ticket: store, timeouts, revocation. */
  #load (ticket: unknown, now: number, reseal: boolean): ReadResult | Promise<ReadResult> {
    const loaded = this.store.load(ticket)
    return loaded instanceof Promise ? loaded.then((s) => this.#checked(s, now, reseal)) : this.#checked(loaded, now, reseal)
  }

  #checked (session: Session | null, now: number, reseal: boolean): ReadResult | Promise<ReadResult> {
    if (session === null) return UNKNOWN
    const state = sessionState(session, now, this.#cfg)
    if (state !== 'ok') return { session: null, outcome: state, reseal: false }
    if (!this.#checkRevoked) return { session, outcome: 'ok', reseal }
    const at = this.revocations.revokedAt(revocationKeys(session))
    return at instanceof Promise ? at.then((a) => revokedOrOk(session, a, reseal)) : revokedOrOk(session, at, reseal)
  }

  /**
   * Persists the session and returns the Set-Cookie values that carry it.
   * `create` only for a new login; an update never brings back a session
   * that was ended meanwhile.
   */
  async write (session: Session, ours: Map<string, string> | undefined, now: number, create = false, host?: string): Promise<string[]> {
    return (await this.save(session, ours, now, create, host)).cookies
  }

  /**
   * The options of the session cookie on `host`: with Domain where the
   * cookie domain covers it (or when the host is not known: the publicUrl
   * host, which it always covers), else host-only, as a browser would refuse
   * a Domain that does not cover the host it answers for.
   */
  cookieOptionsFor (host: string | undefined): CookieOptions {
    return host === undefined || this.#cfg.cookieDomain === undefined || domainCovers(this.#cfg.cookieDomain, host) ? this.cookieOptions : this.#hostOnly
  }

  /**
   * write(), and the ticket the cookie carries: another host of the same
   * gateway gets its own cookie for this session from it (auth/handoff.ts).
   */
  async save (session: Session, ours: Map<string, string> | undefined, now: number, create = false, host?: string): Promise<{ readonly cookies: string[], readonly ticket: unknown }> {
    const saved = this.store.save(session, now, create)
    const ticket = saved instanceof Promise ? await saved : saved
    return { cookies: this.#cookies(ticket, session, ours, now, host), ticket }
  }

  /**
   * The session behind a ticket handed over from another host, read as a
   * cookie would be (an ended, expired or revoked session is none), and the
   * Set-Cookie values that carry it on this host.
   */
  async adopt (ticket: unknown, ours: Map<string, string> | undefined, now: number, host: string): Promise<{ readonly read: ReadResult, readonly cookies: string[] }> {
    const read = await this.#load(ticket, now, false)
    return { read, cookies: read.session === null ? [] : this.#cookies(ticket, read.session, ours, now, host) }
  }

  #cookies (ticket: unknown, session: Session, ours: Map<string, string> | undefined, now: number, host: string | undefined): string[] {
    const sealed = this.sealer.seal(this.#purpose, JSON.stringify(ticket))
    const maxAge = Math.max(0, Math.floor((session.iat + this.#cfg.absoluteTimeout - now) / 1000))
    return sessionSetCookies(this.names, sealed, { ...this.cookieOptionsFor(host), maxAge }, presentSessionCookies(this.names, ours), this.#serialize)
  }

  /** Set-Cookie values that delete the session cookie and its chunks. */
  clear (ours: Map<string, string> | undefined, host?: string): string[] {
    return clearCookies(presentSessionCookies(this.names, ours), this.cookieOptionsFor(host), this.#serialize)
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
