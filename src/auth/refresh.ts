import { LRUCache } from 'lru-cache'
import { GatewayError } from '../errors.js'
import type { Metrics } from '../metrics.js'
import { sha256 } from '../session/crypto.js'
import { identityClaims, type Session } from '../session/session.js'
import type { SessionStore } from '../session/store.js'
import type { OidcProvider, RefreshResult } from './oidc.js'

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

/** How long a result is reused for requests still carrying the refresh token it spent. */
const RECENT_TTL_MS = 30_000
/** After a provider failure, requests keep their current token this long before the next attempt. */
const BACKOFF_MS = 5_000

/**
 * Refreshes tokens, once per session at a time.
 *
 * - Single flight: concurrent requests of one session share one refresh.
 * - Recent results are kept for a short while keyed by a hash of the refresh
 *   token that was spent: a request that still carries the old cookie (the
 *   browser has not stored the new one yet) gets the same result instead of
 *   spending a refresh token the provider has already rotated.
 * - A provider failure is remembered for a few seconds, so an outage does not
 *   turn every request into another call to a provider that is down.
 * - Across replicas (stores with withRefreshLock): the refresh runs under the
 *   store's lock on the freshest stored copy; if another replica refreshed
 *   meanwhile, its result is used and the provider is not called.
 */
export class Refresher {
  readonly #inflight = new Map<string, Promise<RefreshOutcome>>()
  readonly #recent = new LRUCache<string, RefreshOutcome>({ max: 10_000, ttl: RECENT_TTL_MS })
  readonly #failed = new LRUCache<string, RefreshOutcome>({ max: 10_000, ttl: BACKOFF_MS })
  readonly #metrics: Metrics
  readonly #store: SessionStore | undefined

  constructor (metrics: Metrics, store?: SessionStore) {
    this.#metrics = metrics
    this.#store = store
  }

  refresh (session: Session, provider: OidcProvider, now: number): Promise<RefreshOutcome> {
    const rt = session.refreshToken
    if (rt === undefined) return Promise.resolve({ kind: 'ended', reason: 'no_refresh_token' })
    const key = sha256(rt)
    const done = this.#recent.get(key) ?? this.#failed.get(key)
    if (done !== undefined) return Promise.resolve(done)
    let p = this.#inflight.get(key)
    if (p === undefined) {
      const run = this.#store?.withRefreshLock !== undefined ? this.#coordinated(session, rt, provider, now) : this.#run(session, rt, provider, now)
      p = run.then((outcome) => {
        if (outcome.kind === 'unavailable') this.#failed.set(key, outcome)
        else this.#recent.set(key, outcome)
        return outcome
      }).finally(() => { this.#inflight.delete(key) })
      this.#inflight.set(key, p)
    }
    return p
  }

  async #coordinated (session: Session, rt: string, provider: OidcProvider, now: number): Promise<RefreshOutcome> {
    const store = this.#store!
    try {
      return await store.withRefreshLock!(session, async (current) => {
        if (current === null) return { kind: 'ended', reason: 'session_ended' }
        if (current.refreshToken !== rt || current.accessToken !== session.accessToken) {
          // Another replica refreshed while we waited for the lock.
          this.#metrics.refresh('shared')
          return { kind: 'refreshed', session: current }
        }
        const outcome = await this.#run(current, rt, provider, now)
        // Persist before the lock is released, so the next holder sees it.
        if (outcome.kind === 'refreshed') await store.save(outcome.session, now, false)
        else if (outcome.kind === 'ended') await store.destroy(current)
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
