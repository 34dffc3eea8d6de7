import type { Config, ResponseMode } from '../config/types.js'
import { isLoopbackHost } from '../net/loopback.js'
import type { CookieNames, CookieOptions } from '../session/cookies.js'
import { safeEqual, sha256, type Sealer } from '../session/crypto.js'

/**
 * What a login remembers between the redirect to the provider and the
 * callback. Kept in its own short-lived sealed cookie per login, named after
 * a hash of the state, so logins started in several tabs all complete.
 */
export interface LoginState {
  readonly state: string
  readonly nonce: string
  readonly codeVerifier?: string
  readonly rd: string
  readonly provider: string
  /** Epoch ms when the login started. */
  readonly iat: number
  /**
   * Set for a silent renewal (prompt=none) of the session of `sub`, created
   * at `iat`: "interaction required" then leads to a normal login, not an
   * error page, and a renewal for the same user keeps the session's login time.
   */
  readonly renewing?: { readonly sub: string, readonly iat: number }
  /** The browser binding of the handoff to `rd`'s host (auth/handoff.ts), when it needs one. */
  readonly bind?: string
}

export const LOGIN_TTL_MS = 10 * 60_000
/** At most this many pending logins per browser; the oldest are evicted. */
export const MAX_PENDING_LOGINS = 5
/**
 * Path=/ (as mod_auth_openidc does): the proxy path that starts a login must
 * see the pending ones to evict the oldest. Requests to the application strip
 * them before forwarding, and they live only until the callback or 10 minutes.
 */
export const LOGIN_COOKIE_PATH = '/'

export function loginCookieName (names: CookieNames, state: string): string {
  return names.login + sha256(state).slice(0, 16)
}

/**
 * Whether a provider's login-state cookie must reach a cross-site POST. With
 * form_post the provider's page POSTs the response to the callback from its
 * own site, and browsers send SameSite=Lax cookies only on cross-site GET
 * navigations. So that provider's login cookie (and only it; the session
 * cookie stays Lax) is SameSite=None, which browsers accept only with Secure:
 * fine on https, and on http://localhost or http://127.0.0.1, which browsers
 * count as potentially trustworthy origins. On any other http origin it stays
 * Lax: form_post then works only from a same-site provider (start-up warns).
 */
export function crossSiteLoginCookie (config: Pick<Config, 'secure' | 'publicOrigin'>, responseMode: ResponseMode): boolean {
  return responseMode === 'form_post' && (config.secure || isLoopbackHost(new URL(config.publicOrigin).hostname))
}

/** Cookie options of a login-state cookie for a provider using `responseMode`. */
export function loginCookieOptions (config: Pick<Config, 'secure' | 'publicOrigin'>, responseMode: ResponseMode): CookieOptions {
  const base: CookieOptions = { path: LOGIN_COOKIE_PATH, httpOnly: true, secure: config.secure, sameSite: 'lax', maxAge: LOGIN_TTL_MS / 1000 }
  return crossSiteLoginCookie(config, responseMode) ? { ...base, sameSite: 'none', secure: true } : base
}

export function sealLoginState (sealer: Sealer, cookieName: string, s: LoginState): string {
  return sealer.seal(`login:${cookieName}`, JSON.stringify(s))
}

export type OpenLoginResult =
  | { readonly ok: true, readonly login: LoginState }
  | { readonly ok: false, readonly reason: 'missing' | 'invalid' | 'expired' | 'state-mismatch' }

/** Opens the login-state cookie for `state` and checks it belongs to this state and is fresh. */
export function openLoginState (sealer: Sealer, names: CookieNames, ours: Map<string, string> | undefined, state: string, now: number): OpenLoginResult {
  const name = loginCookieName(names, state)
  const sealed = ours?.get(name)
  if (sealed === undefined || sealed === '') return { ok: false, reason: 'missing' }
  const r = sealer.unseal(`login:${name}`, sealed)
  if (!r.ok) return { ok: false, reason: 'invalid' }
  let login: LoginState
  try { login = JSON.parse(r.value.toString('utf8')) as LoginState } catch { return { ok: false, reason: 'invalid' } }
  if (typeof login.state !== 'string' || !safeEqual(login.state, state)) return { ok: false, reason: 'state-mismatch' }
  if (typeof login.iat !== 'number' || now - login.iat > LOGIN_TTL_MS || login.iat > now + 60_000) return { ok: false, reason: 'expired' }
  return { ok: true, login }
}

/**
 * Login-state cookies to delete before adding a new one, so that at most
 * MAX_PENDING_LOGINS remain: unreadable ones first, then the oldest.
 */
export function loginCookiesToEvict (sealer: Sealer, names: CookieNames, ours: Map<string, string> | undefined): string[] {
  if (ours === undefined) return []
  const pending: { name: string, iat: number }[] = []
  for (const [name, value] of ours) {
    if (!name.startsWith(names.login)) continue
    const r = sealer.unseal(`login:${name}`, value)
    let iat = -1
    if (r.ok) {
      try { iat = (JSON.parse(r.value.toString('utf8')) as LoginState).iat } catch { iat = -1 }
    }
    pending.push({ name, iat })
  }
  const excess = pending.length - (MAX_PENDING_LOGINS - 1)
  if (excess <= 0) return pending.filter((p) => p.iat < 0).map((p) => p.name)
  pending.sort((a, b) => a.iat - b.iat)
  return pending.slice(0, Math.max(excess, pending.filter((p) => p.iat < 0).length)).map((p) => p.name)
}
