import type { Claims } from '../policy/evaluate.js'

/**
 * A signed-in user's session. Times are epoch milliseconds. Kept small: it
 * travels in a cookie with the cookie store.
 */
export interface Session {
  readonly v: 1
  /** Random 128-bit id: the memory/redis key and the revocation-list key. */
  readonly id: string
  readonly provider: string
  /** Created (login time); `absoluteTimeout` counts from here. */
  readonly iat: number
  /** Last seen; `idleTimeout` counts from here. Updated at most once a minute. */
  seen: number
  readonly sub: string
  /** The provider's session id (`sid` claim), for back-channel logout. */
  readonly sid?: string
  /** Identity claims: ID token (without protocol claims) merged with userinfo. */
  claims: Claims
  idToken?: string
  accessToken?: string
  refreshToken?: string
  /** When the access token (or, without one, the ID token) expires. */
  expiresAt?: number
  /** When the tokens were obtained (login, renewal or refresh). */
  tokensAt?: number
}

export type SessionState = 'ok' | 'idle' | 'expired'

export interface Timeouts {
  readonly idleTimeout: number
  readonly absoluteTimeout: number
}

/** Whether the session is still within its idle and absolute timeouts at `now`. */
export function sessionState (s: Session, now: number, t: Timeouts): SessionState {
  if (now - s.iat >= t.absoluteTimeout) return 'expired'
  if (now - s.seen >= t.idleTimeout) return 'idle'
  return 'ok'
}

/**
 * Whether `seen` should be rewritten now. Rewriting on every request would
 * re-send the cookie on every response; once a minute (or a tenth of a short
 * idle timeout) keeps the idle window accurate to within that.
 */
export function needsTouch (s: Session, now: number, t: Timeouts): boolean {
  return now - s.seen >= Math.min(60_000, t.idleTimeout / 10)
}

/** Structural check of a value that claims to be a session (after decryption). */
export function isSession (v: unknown): v is Session {
  if (v === null || typeof v !== 'object') return false
  const s = v as Record<string, unknown>
  return s.v === 1 && typeof s.id === 'string' && typeof s.provider === 'string' && typeof s.iat === 'number' &&
    typeof s.seen === 'number' && typeof s.sub === 'string' && s.claims !== null && typeof s.claims === 'object'
}

/** Claims that describe the token rather than the user; not kept in the session. */
export const PROTOCOL_CLAIMS: ReadonlySet<string> = new Set(['iss', 'aud', 'exp', 'iat', 'nbf', 'nonce', 'at_hash', 'c_hash', 's_hash', 'azp', 'jti', 'auth_time', 'acr', 'amr', 'sid'])

/** Identity claims of an ID token and userinfo, protocol claims removed. */
export function identityClaims (idClaims: Claims, userinfo?: Claims): Claims {
  const out: Record<string, unknown> = {}
  if (userinfo !== undefined) for (const [k, v] of Object.entries(userinfo)) out[k] = v
  // The ID token is the signed statement: where both carry a claim, it wins.
  for (const [k, v] of Object.entries(idClaims)) if (!PROTOCOL_CLAIMS.has(k)) out[k] = v
  return out
}
