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

export function loginCookieOptions (secure: boolean): CookieOptions {
  return { path: LOGIN_COOKIE_PATH, httpOnly: true, secure, sameSite: 'lax', maxAge: LOGIN_TTL_MS / 1000 }
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
