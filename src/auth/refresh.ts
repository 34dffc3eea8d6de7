import { LRUCache } from 'lru-cache'
import type { GatewayError } from '../errors.js'
import type { Metrics } from '../metrics.js'
import { sha256 } from '../session/crypto.js'
import { identityClaims, type Session } from '../session/session.js'
import type { OidcProvider } from './oidc.js'

export type RefreshOutcome =
  | { readonly kind: 'refreshed', readonly session: Session }
  | { readonly kind: 'ended', readonly reason: string }
  | { readonly kind: 'unavailable', readonly error: GatewayError }

/**
 * Whether the session's token must be refreshed before forwarding: it
 * expires within `refreshBefore` (clock skew included). Pure.
 */
export function needsRefresh (s: Session, now: number, refreshBefore: number, clockSkew: number): boolean {
  return s.expiresAt !== undefined && s.expiresAt - now <= refreshBefore + clockSkew
}

/** Whether the session's token is past its expiry (with skew tolerance). */
export function isTokenExpired (s: Session, now: number, clockSkew: number): boolean {
  return s.expiresAt !== undefined && now >= s.expiresAt + clockSkew
}

/**
 * Whether a browser navigation should renew this session at the provider
 * (prompt=none): it has no refresh token and its token expires within
 * `refreshBefore`. Before actual expiry only when the tokens are older than
 * that window, so a provider issuing tokens shorter-lived than the window
 * does not send every page view through the provider. Pure.
 */
export function needsRenewal (s: Session, now: number, refreshBefore: number, clockSkew: number): boolean {
  if (s.refreshToken !== undefined || !needsRefresh(s, now, refreshBefore, clockSkew)) return false
  return isTokenExpired(s, now, clockSkew) || now - (s.tokensAt ?? s.iat) >= refreshBefore + clockSkew
}

const RECENT_TTL_MS = 30_000

/**
 * Refreshes tokens, once per session at a time.
 *
 * - Single flight: concurrent requests of one session share one refresh.
 * - Recent results are kept for a short while keyed by a hash of the refresh
 *   token that was spent: a request that still carries the old cookie (the
 *   browser has not stored the new one yet) gets the same result instead of
 *   spending a refresh token the provider has already rotated.
 */
export class Refresher {
  readonly #inflight = new Map<string, Promise<RefreshOutcome>>()
  readonly #recent = new LRUCache<string, RefreshOutcome>({ max: 10_000, ttl: RECENT_TTL_MS })
  readonly #metrics: Metrics

  constructor (metrics: Metrics) { this.#metrics = metrics }

  refresh (session: Session, provider: OidcProvider, now: number): Promise<RefreshOutcome> {
    const rt = session.refreshToken
    if (rt === undefined) return Promise.resolve({ kind: 'ended', reason: 'no_refresh_token' })
    const key = sha256(rt)
    const recent = this.#recent.get(key)
    if (recent !== undefined) return Promise.resolve(recent)
    let p = this.#inflight.get(key)
    if (p === undefined) {
      p = this.#run(session, rt, provider, now).then((outcome) => {
        if (outcome.kind !== 'unavailable') this.#recent.set(key, outcome)
        return outcome
      }).finally(() => { this.#inflight.delete(key) })
      this.#inflight.set(key, p)
    }
    return p
  }

  async #run (session: Session, rt: string, provider: OidcProvider, now: number): Promise<RefreshOutcome> {
    const r = await provider.refresh(rt, session.sub)
    this.#metrics.inc(`gatehouse_refreshes_total{result="${r.kind}"}`)
    if (r.kind !== 'refreshed') return r
    // Claims from a refreshed ID token (and userinfo) replace the old ones.
    const claims = r.idClaims !== undefined || r.userinfo !== undefined
      ? identityClaims(r.idClaims ?? {}, { ...session.claims, ...r.userinfo })
      : session.claims
    const next: Session = {
      ...session,
      seen: now,
      tokensAt: now,
      claims,
      accessToken: r.accessToken,
      refreshToken: r.refreshToken ?? rt,
      ...(r.idToken !== undefined ? { idToken: r.idToken } : {}),
      ...(r.expiresAt !== undefined ? { expiresAt: r.expiresAt } : {}),
    }
    return { kind: 'refreshed', session: next }
  }
}
