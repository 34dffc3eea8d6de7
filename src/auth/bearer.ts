import { decodeJwt, decodeProtectedHeader, errors, jwtVerify, type JWTPayload } from 'jose'
import { LRUCache } from 'lru-cache'
import { GatewayError, ProviderUnavailableError } from '../errors.js'
import type { Claims } from '../policy/evaluate.js'
import type { OidcProvider } from './oidc.js'

/**
 * Bearer tokens of API clients on `acceptBearer` routes (RFC 6750). A JWT is
 * verified here, with jose, against the provider its `iss` names exactly:
 *
 * - asymmetric algorithms only (`none` and HMAC never reach a key lookup, so
 *   neither the client secret nor a public key can serve as an HMAC secret);
 * - keys only from the provider's JWKS (the cache in auth/oidc.ts, whose
 *   refetches on an unknown `kid` are single-flight and rate-limited): keys
 *   or key URLs named in the token's header (`jku`, `x5u`, `jwk`, `x5c`) are
 *   never used, nor fetched;
 * - `iss` exactly, `aud` against the audiences, `exp` required, `nbf`, and
 *   `iat` not in the future, each within `clockSkew`.
 *
 * A verified token is kept (bounded LRU) until its `exp`: a repeat costs a
 * map lookup and no signature work. Opaque tokens, when `introspect` is on,
 * are asked about at the providers' RFC 7662 endpoints; both answers are
 * kept, a negative one briefly. Concurrent checks of one token share one
 * verification. Tokens never appear in a log line or an error message.
 */

/** The outcome of checking a bearer token. */
export type BearerCheck =
  | { readonly ok: true, readonly claims: Claims, readonly sub: string | undefined, readonly token: string }
  | { readonly ok: false, readonly reason: string }

/** Signing algorithms a bearer JWT may use: asymmetric ones only. */
export const BEARER_ALGORITHMS: readonly string[] = Object.freeze(['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519'])
/** Verified tokens kept (each until its exp). */
export const BEARER_CACHE_MAX = 10_000
/** An introspected token is asked about again after at most this long (a revocation shows by then). */
export const INTROSPECTION_TTL_MS = 5 * 60_000
/** A token the introspection endpoint called inactive is refused without asking for this long. */
export const INTROSPECTION_NEGATIVE_TTL_MS = 10_000

/** A genuine but expired token is refused from memory for this long. */
export const EXPIRED_TTL_MS = 10 * 60_000

interface Kept {
  readonly result: BearerCheck
  /** Wall-clock epoch ms until which the result stands. */
  readonly until: number
}

export interface BearerOptions {
  /** Providers whose tokens are accepted (their issuers must differ). */
  readonly providers: readonly OidcProvider[]
  /** `aud` must contain one of these; undefined: the issuing provider's clientId. */
  readonly audiences: readonly string[] | undefined
  readonly introspect: boolean
  /** Tolerated clock difference with the provider, ms. */
  readonly clockSkew: number
  /**
   * The wall clock (epoch ms): a token's time claims are the provider's
   * wall-clock statements (as for ID tokens in auth/oidc.ts).
   */
  readonly wallClock?: () => number
}

const refuse = (reason: string): BearerCheck => ({ ok: false, reason })

/** The token of an `Authorization: Bearer <token>` header, '' when malformed, undefined when the header is not Bearer. */
export function bearerToken (authorization: string | undefined): string | undefined {
  if (authorization === undefined || authorization.length < 7) return undefined
  if (authorization.slice(0, 7).toLowerCase() !== 'bearer ') return undefined
  const token = authorization.slice(7).trim()
  return /^[A-Za-z0-9\-._~+/]+=*$/.test(token) ? token : ''
}

/** Why jose refused a token, as a short reason for the log (never the token). */
function joseReason (err: errors.JOSEError): string {
  if (err instanceof errors.JWTExpired) return 'expired'
  if (err instanceof errors.JWTClaimValidationFailed) return `${err.claim} ${err.reason === 'missing' ? 'missing' : 'not acceptable'}`
  if (err instanceof errors.JWSSignatureVerificationFailed) return 'signature'
  if (err instanceof errors.JOSEAlgNotAllowed) return 'alg not accepted'
  if (err instanceof errors.JWKSNoMatchingKey) return 'no matching key'
  if (err instanceof errors.JWKSMultipleMatchingKeys) return 'no kid, several keys'
  return 'malformed'
}

export class BearerVerifier {
  readonly #opts: BearerOptions
  readonly #wall: () => number
  readonly #kept = new LRUCache<string, Kept>({ max: BEARER_CACHE_MAX })
  /** Introspection's negative answers (short-lived, bounded). */
  readonly #refused = new LRUCache<string, Kept>({ max: BEARER_CACHE_MAX })
  readonly #inFlight = new Map<string, Promise<BearerCheck>>()

  constructor (opts: BearerOptions) {
    this.#opts = opts
    this.#wall = opts.wallClock ?? Date.now
  }

  /** Tokens currently kept as verified (for tests and diagnostics). */
  get size (): number { return this.#kept.size }

  /**
   * Checks a token: synchronously when it was verified before and has not
   * expired. Throws a GatewayError only when the provider cannot be asked
   * (keys or introspection unreachable): that is not the token's fault.
   */
  check (token: string): BearerCheck | Promise<BearerCheck> {
    const now = this.#wall()
    const kept = this.#kept.get(token) ?? this.#refused.get(token)
    if (kept !== undefined) {
      if (now < kept.until) return kept.result
      this.#kept.delete(token)
      this.#refused.delete(token)
    }
    let p = this.#inFlight.get(token)
    if (p === undefined) {
      p = this.#verify(token).finally(() => { this.#inFlight.delete(token) })
      this.#inFlight.set(token, p)
    }
    return p
  }

  async #verify (token: string): Promise<BearerCheck> {
    const dots = token.split('.').length - 1
    if (dots === 2) return this.#verifyJwt(token)
    if (!this.#opts.introspect) return refuse('not a JWT')
    return this.#introspect(token)
  }

  async #verifyJwt (token: string): Promise<BearerCheck> {
    let iss: unknown
    let alg: unknown
    try {
      alg = decodeProtectedHeader(token).alg
      iss = decodeJwt(token).iss
    } catch {
      return refuse('malformed')
    }
    // Checked before anything else: `none` and HMAC never reach a key lookup.
    if (typeof alg !== 'string' || !BEARER_ALGORITHMS.includes(alg)) return refuse('alg not accepted')
    // The issuer picks the keys; a token naming no configured issuer fetches nothing.
    const provider = this.#opts.providers.find((p) => p.cfg.issuer === iss)
    if (provider === undefined) return refuse('iss not accepted')
    const getKey = provider.signingKeys
    if (getKey === undefined) throw new ProviderUnavailableError(`identity provider ${provider.id} is not available yet (discovery pending)`)
    const now = this.#wall()
    const skew = this.#opts.clockSkew
    let claims: JWTPayload
    try {
      ({ payload: claims } = await jwtVerify(token, getKey, {
        issuer: provider.cfg.issuer,
        audience: [...(this.#opts.audiences ?? [provider.cfg.clientId])],
        algorithms: [...BEARER_ALGORITHMS],
        currentDate: new Date(now),
        clockTolerance: Math.floor(skew / 1000),
        requiredClaims: ['exp'],
      }))
    } catch (err) {
      if (err instanceof errors.JOSEError) {
        const result = refuse(joseReason(err))
        // Claims are checked after the signature: a genuine token that expired stays refused, without signature work.
        if (err instanceof errors.JWTExpired) this.#refused.set(token, { result, until: now + EXPIRED_TTL_MS })
        return result
      }
      // The provider's keys could not be fetched: not the token's fault.
      if (err instanceof GatewayError) throw err
      throw new ProviderUnavailableError(`cannot fetch the keys of identity provider ${provider.id}: ${(err as Error)?.message ?? String(err)}`, { cause: err })
    }
    if (typeof claims.iat === 'number' && claims.iat * 1000 > now + skew) return refuse('iat in the future')
    const result: BearerCheck = { ok: true, claims: Object.freeze({ ...claims }) as Claims, sub: typeof claims.sub === 'string' ? claims.sub : undefined, token }
    this.#kept.set(token, { result, until: claims.exp! * 1000 })
    return result
  }

  async #introspect (token: string): Promise<BearerCheck> {
    const now = this.#wall()
    let reason = 'no introspection endpoint'
    for (const provider of this.#opts.providers) {
      // Not discovered yet: the token cannot be judged (503), not refused.
      if (!provider.ready) throw new ProviderUnavailableError(`identity provider ${provider.id} is not available yet (discovery pending)`)
      if (!provider.canIntrospect) continue
      const answer = await provider.introspect(token)
      reason = this.#introspectionProblem(answer, provider, now) ?? ''
      if (reason !== '') continue
      const exp = typeof answer.exp === 'number' ? answer.exp * 1000 : Infinity
      const { active: _active, ...rest } = answer
      const claims = Object.freeze(rest) as Claims
      const result: BearerCheck = { ok: true, claims, sub: typeof answer.sub === 'string' ? answer.sub : undefined, token }
      this.#kept.set(token, { result, until: Math.min(exp, now + INTROSPECTION_TTL_MS) })
      return result
    }
    const result = refuse(reason)
    this.#refused.set(token, { result, until: now + INTROSPECTION_NEGATIVE_TTL_MS })
    return result
  }

  /** Why an introspection answer does not admit the token here, or undefined when it does. */
  #introspectionProblem (a: Readonly<Record<string, unknown>>, provider: OidcProvider, now: number): string | undefined {
    const skew = this.#opts.clockSkew
    if (a.active !== true) return 'inactive'
    if (typeof a.exp === 'number' && a.exp * 1000 <= now - skew) return 'expired'
    if (typeof a.nbf === 'number' && a.nbf * 1000 > now + skew) return 'nbf not acceptable'
    if (typeof a.iat === 'number' && a.iat * 1000 > now + skew) return 'iat in the future'
    if (a.iss !== undefined && a.iss !== provider.cfg.issuer) return 'iss not acceptable'
    const audiences = this.#opts.audiences ?? [provider.cfg.clientId]
    // Without `aud`, the token is the client's own (client_id) and must be meant for one of the audiences.
    const aud = a.aud ?? a.client_id
    const auds = Array.isArray(aud) ? aud : [aud]
    if (!auds.some((x) => typeof x === 'string' && audiences.includes(x))) return 'aud not acceptable'
    return undefined
  }
}
