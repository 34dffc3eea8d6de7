import type { StoreKind } from '../config/types.js'
import { isSession, type Session } from './session.js'

/**
 * Where sessions live. The cookie always carries a sealed "ticket"; the store
 * turns a ticket into a session and back:
 * - cookie: the ticket is the whole session (stateless; any replica reads it);
 * - memory / redis: the ticket is an opaque random id, the session is server-side.
 *
 * Methods may be synchronous; callers await them only when they return a promise.
 */
export interface SessionStore {
  readonly kind: StoreKind
  /** Turns the unsealed cookie ticket into a session; null when unknown or invalid. */
  load (ticket: unknown): Session | null | Promise<Session | null>
  /** Persists the session and returns the ticket to seal into the cookie. */
  save (session: Session): unknown
  /** Removes the session (no-op where the cookie is the only copy). */
  destroy (session: Session): void | Promise<void>
  /** Whether the store can serve requests (e.g. Redis connected). */
  ready (): boolean
  close (): Promise<void>
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
