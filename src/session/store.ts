import type { StoreKind } from '../config/types.js'
import { isSession, type Session } from './session.js'

/**
 * Sessions a back-channel logout names: the provider's session id (`sid`),
 * or, without one, every session of the subject (`sub`) at that provider.
 */
export interface SessionMatch {
  readonly provider: string
  readonly sid?: string
  readonly sub?: string
}

/** Whether `s` is one of the sessions `m` names (a sid match also requires the same sub when both are given). */
export function sessionMatches (s: Session, m: SessionMatch): boolean {
  if (s.provider !== m.provider) return false
  if (m.sid !== undefined) return s.sid === m.sid && (m.sub === undefined || s.sub === m.sub)
  return m.sub !== undefined && s.sub === m.sub
}

/**
 * Where sessions live. The cookie always carries a sealed "ticket"; the store
 * turns a ticket into a session and back:
 * - cookie: the ticket is the whole session (stateless; any replica reads it);
 * - memory / redis: the ticket is the session's random id, the session is server-side.
 *
 * Methods may be synchronous; callers await them only when they return a promise.
 * A store that cannot be reached throws StoreUnavailableError (503).
 */
export interface SessionStore {
  readonly kind: StoreKind
  /** Turns the unsealed cookie ticket into a session; null when unknown or invalid. */
  load (ticket: unknown): Session | null | Promise<Session | null>
  /**
   * Persists the session at `now` (its lifetime follows the timeouts) and
   * returns the ticket to seal into the cookie. `create` is true only for a
   * new login: an update never re-creates a session ended meanwhile.
   */
  save (session: Session, now: number, create: boolean): unknown
  /** Removes the session (no-op where the cookie is the only copy). */
  destroy (session: Session): void | Promise<void>
  /**
   * Removes every stored session `match` names and returns how many. Absent
   * on the cookie store, which holds no sessions: a revocation list covers it.
   */
  endMatching? (match: SessionMatch): number | Promise<number>
  /** Whether the store can serve requests (e.g. Redis connected). */
  ready (): boolean
  close (): Promise<void>
}

/** What a refresh under the lock came to, as the next holder must see it. */
export type RefreshSettled = { readonly kind: 'refreshed', readonly session: Session } | { readonly kind: 'ended' }

/**
 * A session's refresh lock across replicas (Redis). Absent where one
 * process sees every refresh of a session.
 */
export interface RefreshLock {
  /**
   * Runs `fn` while holding the session's refresh lock, with the freshest
   * copy of the session known to every replica (null when it is gone).
   */
  withRefreshLock<T> (session: Session, fn: (current: Session | null) => Promise<T>): Promise<T>
  /** Inside the lock: makes the outcome of refreshing `current` what the next holder sees. */
  settle (current: Session, outcome: RefreshSettled, now: number): Promise<void>
}

/** How long a server-side session may still live at `now`: the earlier of its idle and absolute deadlines. */
export function remainingLifetime (s: Session, now: number, idleTimeout: number, absoluteTimeout: number): number {
  return Math.min(s.iat + absoluteTimeout, s.seen + idleTimeout) - now
}

/** The whole session sealed in the cookie. */
export class CookieStore implements SessionStore {
  readonly kind = 'cookie' as const
  load (ticket: unknown): Session | null { return isSession(ticket) ? ticket : null }
  save (session: Session): unknown { return session }
  destroy (): void { /* the cookie is cleared by the caller; revocation covers copies */ }
  ready (): boolean { return true }
  async close (): Promise<void> { /* nothing held */ }
}

/** A ticket for the memory and redis stores: the session's random id, as sealed in the cookie. */
export function isTicket (t: unknown): t is string {
  // 128-bit ids are 22 base64url characters; accept up to 64 for longer ids.
  return typeof t === 'string' && t.length >= 22 && t.length <= 64 && /^[A-Za-z0-9_-]+$/.test(t)
}
