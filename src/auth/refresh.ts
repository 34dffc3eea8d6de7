import { LRUCache } from 'lru-cache'
import { GatewayError } from '../errors.js'
import type { Metrics } from '../metrics.js'
import { sha256 } from '../session/crypto.js'
import { identityClaims, type Session } from '../session/session.js'
import type { RefreshLock } from '../session/store.js'
import type { OidcProvider, RefreshResult } from './oidc.js'

export type RefreshOutcome =
  | { readonly kind: 'refreshed', readonly session: Session }
  /** `reason`: a catalog code (GH_REFRESH_*, or the GH_LOGIN_* of a refreshed token that failed a check). */
  | { readonly kind: 'ended', readonly reason: string }
  | { readonly kind: 'unavailable', readonly error: GatewayError }

/**
 * The longest lead a refresh may take, as a share of the token's lifetime:
 * with tokens that live less than `refreshBefore + clockSkew`, a fixed lead
 * would refresh on every request (mod_auth_openidc and Pomerium cap it the
 * same way).
 */
export const MAX_LEAD_SHARE = 0.5

/**
 * How long before its expiry the session's token is refreshed:
 * `refreshBefore + clockSkew` (skew makes a refresh earlier, never a token
 * usable later), at most half the token's lifetime. Pure.
 */
export function refreshLead (s: Session, refreshBefore: number, clockSkew: number): number {
  const lead = refreshBefore + clockSkew
  if (s.expiresAt === undefined) return lead
  const lifetime = s.expiresAt - (s.tokensAt ?? s.iat)
  return lifetime > 0 ? Math.min(lead, lifetime * MAX_LEAD_SHARE) : lead
}

/** Whether the session's token must be refreshed before forwarding: it expires within the lead. Pure. */
export function needsRefresh (s: Session, now: number, refreshBefore: number, clockSkew: number): boolean {
  return s.expiresAt !== undefined && s.expiresAt - now <= refreshLead(s, refreshBefore, clockSkew)
}

/**
 * Whether the session's token has expired: from `expiresAt` on it is never
 * forwarded. No skew is added after expiry; skew only moves refreshes earlier.
 */
export function isTokenExpired (s: Session, now: number): boolean {
  return s.expiresAt !== undefined && now >= s.expiresAt
}

/**
 * Whether a browser navigation should renew this session at the provider
 * (prompt=none): it has no refresh token and its token is within the refresh
 * lead. The lead is capped at half the token's lifetime, so renewed tokens
 * are never renewed again on the next page view. Pure.
 */
export function needsRenewal (s: Session, now: number, refreshBefore: number, clockSkew: number): boolean {
  return s.refreshToken === undefined && needsRefresh(s, now, refreshBefore, clockSkew)
}

/**
 * The session after a successful refresh. Claims of a refreshed ID token
 * replace the old ones entirely (a group removed at the provider is removed
 * here); without a new ID token, fresh userinfo is merged over the old
 * claims; with neither, the claims stay. Pure.
 */
export function refreshedSession (session: Session, r: Extract<RefreshResult, { kind: 'refreshed' }>, now: number): Session {
  const claims = r.idClaims !== undefined
    ? identityClaims(r.idClaims, r.userinfo)
    : r.userinfo !== undefined ? identityClaims({}, { ...session.claims, ...r.userinfo }) : session.claims
  return {
    ...session,
    seen: now,
    tokensAt: now,
    claims,
    accessToken: r.accessToken,
    refreshToken: r.refreshToken ?? session.refreshToken,
    ...(r.idToken !== undefined ? { idToken: r.idToken } : {}),
    ...(r.expiresAt !== undefined ? { expiresAt: r.expiresAt } : {}),
  }
}

/** How long a result is kept for requests still carrying the refresh token it spent (reused only while its token is fresh). */
const RECENT_TTL_MS = 30_000
/** After a provider failure, requests keep their current token this long before the next attempt. */
const BACKOFF_MS = 5_000

/** When a refresh is due: the session's `refreshBefore` and `clockSkew`. */
export interface RefreshTiming {
  readonly refreshBefore: number
  readonly clockSkew: number
}

/**
 * Refreshes tokens, once per session at a time.
 *
 * - Single flight: concurrent requests of one session share one refresh.
 * - Recent results are kept for a short while keyed by the session and the
 *   refresh token that was spent: a request that still carries the old
 *   cookie (the browser has not stored the new one yet) gets the same result
 *   instead of spending a refresh token the provider has already rotated. A
 *   kept result is reused only while its own token is fresh: a provider that
 *   does not rotate refresh tokens (Google, most Keycloak and Okta setups)
 *   presents the same token at every refresh, and a result from an earlier
 *   refresh must not hand out a token that has expired since.
 * - A provider failure is remembered for a few seconds, so an outage does not
 *   turn every request into another call to a provider that is down.
 * - Across replicas (a RefreshLock: the redis store, or the cookie store
 *   with `session.redis`): the refresh runs under a lock in Redis on the
 *   freshest copy every replica can see; if another replica refreshed
 *   meanwhile and its token is fresh, its result is used and the provider is
 *   not called.
 */
export class Refresher {
  readonly #inflight = new Map<string, Promise<RefreshOutcome>>()
  readonly #recent = new LRUCache<string, RefreshOutcome>({ max: 10_000, ttl: RECENT_TTL_MS })
  readonly #failed = new LRUCache<string, RefreshOutcome>({ max: 10_000, ttl: BACKOFF_MS })
  readonly #metrics: Metrics
  readonly #lock: RefreshLock | undefined
  readonly #timing: RefreshTiming

  constructor (metrics: Metrics, timing: RefreshTiming, lock?: RefreshLock) {
    this.#metrics = metrics
    this.#timing = timing
    this.#lock = lock
  }

  #due (s: Session, now: number): boolean {
    return needsRefresh(s, now, this.#timing.refreshBefore, this.#timing.clockSkew)
  }

  refresh (session: Session, provider: OidcProvider, now: number): Promise<RefreshOutcome> {
    const rt = session.refreshToken
    if (rt === undefined) return Promise.resolve({ kind: 'ended', reason: 'GH_REFRESH_NO_REFRESH_TOKEN' })
    const key = sha256(`${session.id}\n${rt}`)
    const recent = this.#recent.get(key)
    if (recent !== undefined) {
      if (recent.kind !== 'refreshed' || !this.#due(recent.session, now)) return Promise.resolve(recent)
      // The kept result is due itself. With a rotated refresh token, this one
      // is spent: refresh the successor instead (never spend a token twice).
      if (recent.session.refreshToken !== undefined && recent.session.refreshToken !== rt) return this.refresh(recent.session, provider, now)
      this.#recent.delete(key)
    }
    const failed = this.#failed.get(key)
    if (failed !== undefined) return Promise.resolve(failed)
    let p = this.#inflight.get(key)
    if (p === undefined) {
      const run = this.#lock !== undefined ? this.#coordinated(this.#lock, session, provider, now) : this.#run(session, rt, provider, now)
      p = run.then((outcome) => {
        if (outcome.kind === 'unavailable') this.#failed.set(key, outcome)
        else this.#recent.set(key, outcome)
        return outcome
      }).finally(() => { this.#inflight.delete(key) })
      this.#inflight.set(key, p)
    }
    return p
  }

  async #coordinated (lock: RefreshLock, session: Session, provider: OidcProvider, now: number): Promise<RefreshOutcome> {
    try {
      return await lock.withRefreshLock(session, async (current) => {
        if (current === null) return { kind: 'ended', reason: 'GH_REFRESH_SESSION_ENDED' }
        const changed = current.refreshToken !== session.refreshToken || current.accessToken !== session.accessToken
        if (changed && !this.#due(current, now)) {
          // Another replica refreshed while we waited for the lock.
          this.#metrics.refresh('shared')
          return { kind: 'refreshed', session: current }
        }
        const rt = current.refreshToken
        if (rt === undefined) return { kind: 'ended', reason: 'GH_REFRESH_NO_REFRESH_TOKEN' }
        const outcome = await this.#run(current, rt, provider, now)
        // Persist before the lock is released, so the next holder sees it.
        if (outcome.kind !== 'unavailable') await lock.settle(current, outcome, now)
        return outcome
      })
    } catch (err) {
      if (err instanceof GatewayError) return { kind: 'unavailable', error: err }
      throw err
    }
  }

  async #run (session: Session, rt: string, provider: OidcProvider, now: number): Promise<RefreshOutcome> {
    const r = await provider.refresh(rt, session.sub, now)
    this.#metrics.refresh(r.kind)
    if (r.kind !== 'refreshed') return r
    return { kind: 'refreshed', session: refreshedSession(session, r, now) }
  }
}
