import { decodeJwt, errors as joseErrors, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose'

/**
 * OpenID Connect Back-Channel Logout 1.0: verification of a logout token
 * (section 2.6), one small check per requirement. openid-client does not
 * handle logout tokens; jose verifies the JWT against the provider's keys.
 */

export const BACKCHANNEL_LOGOUT_EVENT = 'http://schemas.openid.net/event/backchannel-logout'

/** Signature algorithms a provider signs with; never `none`, never a shared-secret MAC. */
const ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519']

/** A logout token is sent the moment the provider session ends: older ones are refused. */
export const LOGOUT_TOKEN_MAX_AGE_MS = 5 * 60_000

export interface LogoutTokenExpectations {
  /** The provider's issuer exactly as discovered. */
  readonly issuer: string
  /** Our client id: must be in `aud`. */
  readonly clientId: string
  readonly keys: JWTVerifyGetKey
  /** Epoch ms (the gateway's clock). */
  readonly now: number
  /** Clock skew tolerance in ms. */
  readonly clockSkew: number
}

export interface LogoutClaims {
  readonly jti: string
  readonly sid?: string
  readonly sub?: string
}

export type LogoutTokenResult =
  | { readonly ok: true, readonly claims: LogoutClaims }
  /** `code`: a GH_BACKCHANNEL_* catalog code. `unavailable`: the keys could not be fetched (our problem, not the token's). */
  | { readonly ok: false, readonly code: string, readonly reason: string, readonly unavailable?: boolean }

const fail = (code: string, reason: string): LogoutTokenResult => ({ ok: false, code, reason })

/** The payload's `iss` and `aud` before verification, only to pick which provider verifies it. */
export function peekIssuer (token: string): { iss?: string, aud: string[] } | undefined {
  let p: JWTPayload
  try { p = decodeJwt(token) } catch { return undefined }
  const aud = typeof p.aud === 'string' ? [p.aud] : Array.isArray(p.aud) ? p.aud.filter((a): a is string => typeof a === 'string') : []
  return { ...(typeof p.iss === 'string' ? { iss: p.iss } : {}), aud }
}

/** Checks on the verified payload, in the order section 2.6 lists them. */
const CLAIM_CHECKS: readonly ((p: JWTPayload) => LogoutTokenResult | undefined)[] = [
  (p) => typeof p.jti === 'string' && p.jti !== '' ? undefined : fail('GH_BACKCHANNEL_MISSING_JTI', 'the logout token has no jti'),
  (p) => {
    const ev = p.events
    const ok = ev !== null && typeof ev === 'object' && !Array.isArray(ev) &&
      Object.hasOwn(ev, BACKCHANNEL_LOGOUT_EVENT) && typeof (ev as Record<string, unknown>)[BACKCHANNEL_LOGOUT_EVENT] === 'object' &&
      (ev as Record<string, unknown>)[BACKCHANNEL_LOGOUT_EVENT] !== null
    return ok ? undefined : fail('GH_BACKCHANNEL_BAD_EVENTS', 'the logout token has no back-channel logout event')
  },
  // A nonce would make it indistinguishable from an ID token: forbidden.
  (p) => p.nonce === undefined ? undefined : fail('GH_BACKCHANNEL_HAS_NONCE', 'a logout token must not contain a nonce'),
  (p) => (typeof p.sid === 'string' && p.sid !== '') || (typeof p.sub === 'string' && p.sub !== '')
    ? undefined
    : fail('GH_BACKCHANNEL_MISSING_SID_AND_SUB', 'the logout token names neither a session (sid) nor a subject (sub)'),
  (p) => p.sid === undefined || typeof p.sid === 'string' ? undefined : fail('GH_BACKCHANNEL_BAD_SID', 'sid must be a string'),
  (p) => p.sub === undefined || typeof p.sub === 'string' ? undefined : fail('GH_BACKCHANNEL_BAD_SUB', 'sub must be a string'),
]

function joseFailure (err: unknown): LogoutTokenResult {
  if (err instanceof joseErrors.JWTClaimValidationFailed) {
    const claim = err.claim
    return fail(`GH_BACKCHANNEL_BAD_${/^[a-z0-9_]{1,64}$/i.test(claim) ? claim.toUpperCase() : 'CLAIM'}`, `the logout token's ${claim} claim is not acceptable (${err.reason})`)
  }
  if (err instanceof joseErrors.JWTExpired) return fail('GH_BACKCHANNEL_EXPIRED', `the logout token has expired (${err.claim})`)
  if (err instanceof joseErrors.JWSSignatureVerificationFailed) return fail('GH_BACKCHANNEL_BAD_SIGNATURE', 'the logout token signature does not verify')
  if (err instanceof joseErrors.JWKSNoMatchingKey) return fail('GH_BACKCHANNEL_UNKNOWN_KEY', 'no key of the provider matches the logout token')
  if (err instanceof joseErrors.JOSEAlgNotAllowed) return fail('GH_BACKCHANNEL_BAD_ALG', 'the logout token is signed with an algorithm that is not accepted')
  if (err instanceof joseErrors.JWKSTimeout || err instanceof TypeError || err instanceof joseErrors.JWKSInvalid) {
    return { ok: false, code: 'GH_BACKCHANNEL_KEYS_UNAVAILABLE', reason: 'the provider keys could not be fetched', unavailable: true }
  }
  if (err instanceof joseErrors.JOSEError) return fail('GH_BACKCHANNEL_MALFORMED', `the logout token is not a valid JWT (${err.code})`)
  return fail('GH_BACKCHANNEL_MALFORMED', 'the logout token is not a valid JWT')
}

/**
 * Verifies a logout token: signature against the provider's keys, `iss`,
 * `aud` (our client id), `iat` (present, not in the future, at most
 * LOGOUT_TOKEN_MAX_AGE_MS old), `exp` when present, `jti`, the back-channel
 * `events` member, no `nonce`, and `sid` or `sub`. The replay check of
 * `jti` is the caller's (it needs shared state). Never throws.
 */
export async function verifyLogoutToken (token: string, x: LogoutTokenExpectations): Promise<LogoutTokenResult> {
  let payload: JWTPayload
  try {
    ({ payload } = await jwtVerify(token, x.keys, {
      issuer: x.issuer,
      audience: x.clientId,
      algorithms: ALGORITHMS,
      currentDate: new Date(x.now),
      clockTolerance: Math.floor(x.clockSkew / 1000),
      maxTokenAge: Math.floor(LOGOUT_TOKEN_MAX_AGE_MS / 1000),
      requiredClaims: ['iat', 'jti'],
    }))
  } catch (err) {
    return joseFailure(err)
  }
  for (const check of CLAIM_CHECKS) {
    const r = check(payload)
    if (r !== undefined) return r
  }
  return {
    ok: true,
    claims: {
      jti: payload.jti!,
      ...(typeof payload.sid === 'string' && payload.sid !== '' ? { sid: payload.sid } : {}),
      ...(typeof payload.sub === 'string' && payload.sub !== '' ? { sub: payload.sub } : {}),
    },
  }
}
