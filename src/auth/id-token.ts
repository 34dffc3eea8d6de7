import { createHash } from 'node:crypto'
import { decodeProtectedHeader, errors, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose'
import { LoginError } from '../errors.js'
import { safeEqual } from '../session/crypto.js'
import { tenantIssuerProblem } from './tenants.js'

/**
 * ID token verification: every check of OpenID Connect Core 3.1.3.7, 3.2.2.11
 * and 3.3.2.12 in one place, for every flow (authorization-endpoint and
 * token-endpoint ID tokens alike). Pure apart from the key lookup it is
 * given; only auth/oidc.ts calls it, with the provider's cached JWKS.
 *
 * Failures are LoginErrors with a code per check (`GH_LOGIN_ID_TOKEN_NONCE`,
 * `GH_LOGIN_ID_TOKEN_AT_HASH`, ...), so logs and tests name the check that fired.
 */

export interface IdTokenExpectations {
  /** The issuer, compared as an exact string; with `tenants`, the template holding `{tenantid}`. */
  readonly issuer: string
  /**
   * Entra ID multi-tenant: `tid` must be one of these and `iss` exactly
   * `issuer` with `{tenantid}` replaced by it (see auth/tenants.ts).
   */
  readonly tenants?: readonly string[] | undefined
  readonly clientId: string
  /** Signing algorithms accepted; never `none` and never an HMAC one. */
  readonly algorithms: readonly string[]
  /** Epoch ms. */
  readonly now: number
  /** Tolerated clock difference with the provider, ms. */
  readonly clockSkew: number
  /** When set, the token must carry exactly this nonce. */
  readonly nonce?: string
  /** The access token that came with this ID token; checked against `at_hash` when present. */
  readonly accessToken?: string
  /** `at_hash` must be present (an access token came from the authorization endpoint). */
  readonly requireAtHash?: boolean
  /** The authorization code that came with this ID token; checked against `c_hash` when present. */
  readonly code?: string
  /** `c_hash` must be present (a code came from the authorization endpoint with this ID token). */
  readonly requireCHash?: boolean
  /** When set, `sub` must equal it (refreshed ID tokens, the token endpoint's in hybrid flows). */
  readonly sub?: string
}

export interface VerifiedIdToken {
  readonly claims: JWTPayload & { readonly sub: string, readonly iat: number, readonly exp: number }
  readonly alg: string
}

/** Algorithms an ID token may be signed with: asymmetric ones only, so a public key can never be used as an HMAC secret. */
const ASYMMETRIC = /^(?:(?:RS|PS|ES)(?:256|384|512)|EdDSA|Ed25519)$/

/** Keeps the algorithms Gatehouse accepts from a provider's advertised list (default RS256, as OIDC Discovery says). */
export function acceptedAlgorithms (advertised: readonly string[] | undefined): string[] {
  return (advertised ?? ['RS256']).filter((a) => ASYMMETRIC.test(a))
}

function fail (check: string, message: string, cause?: unknown): never {
  throw new LoginError(`GH_LOGIN_ID_TOKEN_${check.toUpperCase()}`, 400, `the ID token failed verification: ${message}`, cause !== undefined ? { cause } : undefined)
}

/**
 * The `at_hash` / `c_hash` of a value: the left half of its hash with the SHA-2
 * function of the token's `alg`, base64url (OIDC Core 3.1.3.6, 3.3.2.11).
 * Ed25519 uses SHA-512. Undefined for an algorithm without a defined hash.
 */
export function tokenHash (value: string, alg: string): string | undefined {
  const m = /^(?:RS|PS|ES)(256|384|512)$/.exec(alg)
  const fn = m !== null ? `sha${m[1]}` : alg === 'EdDSA' || alg === 'Ed25519' ? 'sha512' : undefined
  if (fn === undefined) return undefined
  const digest = createHash(fn).update(value, 'ascii').digest()
  return digest.subarray(0, digest.length / 2).toString('base64url')
}

function checkHash (claims: JWTPayload, claim: 'at_hash' | 'c_hash', value: string | undefined, required: boolean, alg: string): void {
  const got = claims[claim]
  if (got === undefined) {
    if (required) fail(claim, `${claim} is missing`)
    return
  }
  if (typeof got !== 'string') fail(claim, `${claim} is not a string`)
  if (value === undefined) return
  const want = tokenHash(value, alg)
  if (want === undefined) fail(claim, `no ${claim} is defined for alg ${alg}`)
  if (!safeEqual(got, want)) fail(claim, `${claim} does not match the ${claim === 'at_hash' ? 'access token' : 'authorization code'}`)
}

/** Maps a jose failure to the check it represents. */
function joseFailure (err: unknown): never {
  if (err instanceof errors.JWTExpired) fail('expired', 'the token has expired', err)
  if (err instanceof errors.JWTClaimValidationFailed) {
    fail(err.claim, `${err.claim} ${err.reason === 'missing' ? 'is missing' : 'is not acceptable'}`, err)
  }
  if (err instanceof errors.JWSSignatureVerificationFailed) fail('signature', 'the signature does not verify', err)
  if (err instanceof errors.JOSEAlgNotAllowed) fail('alg', 'the signing algorithm is not accepted', err)
  if (err instanceof errors.JWKSNoMatchingKey) fail('key', 'no key of the provider matches the token (kid/alg)', err)
  if (err instanceof errors.JWKSMultipleMatchingKeys) fail('key', 'the token names no kid and several of the provider\'s keys could match', err)
  if (err instanceof errors.JWTInvalid || err instanceof errors.JWSInvalid || err instanceof errors.JOSENotSupported) fail('malformed', 'the token is not a well-formed signed JWT', err)
  throw err
}

/**
 * Verifies an ID token: signature with a key from `getKey` (the provider's
 * JWKS), alg, iss, aud, azp, exp, iat, sub, then nonce, `at_hash` and
 * `c_hash` as `expect` asks. Returns its claims or throws a LoginError.
 */
export async function verifyIdToken (jwt: string, getKey: JWTVerifyGetKey, expect: IdTokenExpectations): Promise<VerifiedIdToken> {
  let alg: string
  try {
    alg = String(decodeProtectedHeader(jwt).alg)
  } catch (err) {
    return fail('malformed', 'the token is not a well-formed signed JWT', err)
  }
  // Checked before any key lookup: `none` and HMAC algorithms never reach the
  // JWKS, and an unexpected alg is named as such rather than as a key problem.
  if (!expect.algorithms.includes(alg)) fail('alg', `alg ${JSON.stringify(alg)} is not accepted (accepted: ${expect.algorithms.join(', ') || 'none'})`)
  let claims: JWTPayload
  try {
    ({ payload: claims } = await jwtVerify(jwt, getKey, {
      // With tenants, iss depends on tid: checked below, once the signature holds.
      ...(expect.tenants === undefined ? { issuer: expect.issuer } : {}),
      audience: expect.clientId,
      algorithms: [...expect.algorithms],
      currentDate: new Date(expect.now),
      clockTolerance: Math.floor(expect.clockSkew / 1000),
      requiredClaims: ['iss', 'aud', 'exp', 'iat', 'sub'],
    }))
  } catch (err) {
    return joseFailure(err)
  }
  if (expect.tenants !== undefined) {
    const problem = tenantIssuerProblem(claims.iss, claims.tid, expect.issuer, expect.tenants)
    if (problem !== undefined) fail(problem.claim, problem.message)
  }
  if (typeof claims.sub !== 'string' || claims.sub === '') fail('sub', 'sub is missing or empty')
  if (typeof claims.iat !== 'number' || claims.iat * 1000 > expect.now + expect.clockSkew) fail('iat', 'iat is missing or in the future')
  if (typeof claims.exp !== 'number') fail('exp', 'exp is missing')
  // OIDC Core 2: with several audiences azp is required; when present it must be us.
  if (Array.isArray(claims.aud) && claims.aud.length > 1 && claims.azp === undefined) fail('azp', 'several audiences and no azp')
  if (claims.azp !== undefined && claims.azp !== expect.clientId) fail('azp', 'azp names another client')
  if (expect.nonce !== undefined && (typeof claims.nonce !== 'string' || !safeEqual(claims.nonce, expect.nonce))) {
    fail('nonce', claims.nonce === undefined ? 'nonce is missing' : 'nonce does not match this sign-in')
  }
  if (expect.sub !== undefined && !safeEqual(claims.sub, expect.sub)) fail('sub', 'sub names another user than this sign-in')
  checkHash(claims, 'at_hash', expect.accessToken, expect.requireAtHash === true, alg)
  checkHash(claims, 'c_hash', expect.code, expect.requireCHash === true, alg)
  return { claims: claims as VerifiedIdToken['claims'], alg }
}
