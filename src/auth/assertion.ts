import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, type JsonWebKey, type KeyObject } from 'node:crypto'
import { LRUCache } from 'lru-cache'
import type { Claims } from '../policy/evaluate.js'
import { randomToken } from '../session/crypto.js'
import type { Session } from '../session/session.js'

/**
 * The signed identity assertion: a short-lived ES256 JWT that tells an
 * upstream who the user is, verifiable with the public key at
 * `/.gatehouse/jwks` (unlike plain identity headers, which the upstream must
 * trust to come from the gateway). Claims: iss (publicUrl), aud (the route's
 * upstream origin), sub, email, groups, iat, exp, jti.
 *
 * Signing is not done per request: an assertion is reused for the same
 * session and audience until less than a third of its lifetime is left.
 */

/** The gateway's assertion signing key: P-256, with its RFC 7638 thumbprint as kid. */
export interface AssertionKey {
  readonly privateKey: KeyObject
  readonly kid: string
  /** The public JWK as published in /.gatehouse/jwks (kid, alg, use). */
  readonly publicJwk: Readonly<Record<string, string>>
}

/** Reads a private key given as PEM or as a JWK (JSON); throws with the reason when it is not an EC P-256 private key. */
function parsePrivateKey (text: string): KeyObject {
  const t = text.trim()
  let key: KeyObject
  try {
    key = t.startsWith('{') ? createPrivateKey({ key: JSON.parse(t) as JsonWebKey, format: 'jwk' }) : createPrivateKey(t)
  } catch {
    throw new Error('not a private key (expected PEM, e.g. -----BEGIN PRIVATE KEY-----, or a private JWK as JSON)')
  }
  if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    throw new Error(`assertions are signed with ES256: the key must be an EC P-256 key (got ${key.asymmetricKeyType === 'ec' ? `curve ${String(key.asymmetricKeyDetails?.namedCurve)}` : `a ${String(key.asymmetricKeyType)} key`})`)
  }
  return key
}

/** Why `text` cannot be the assertion key, or undefined when it can (for config validation). */
export function assertionKeyProblem (text: string): string | undefined {
  try { parsePrivateKey(text) } catch (err) { return (err as Error).message }
  return undefined
}

function keyOf (privateKey: KeyObject): AssertionKey {
  const jwk = createPublicKey(privateKey).export({ format: 'jwk' })
  // RFC 7638: the required members in lexicographic order, no whitespace.
  const canonical = JSON.stringify({ crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y })
  const kid = createHash('sha256').update(canonical).digest('base64url')
  return Object.freeze({
    privateKey,
    kid,
    publicJwk: Object.freeze({ kty: 'EC', crv: 'P-256', x: jwk.x!, y: jwk.y!, kid, alg: 'ES256', use: 'sig' }),
  })
}

/** The key in `text` (PEM or private JWK); throws when it is not an EC P-256 private key. */
export function loadAssertionKey (text: string): AssertionKey {
  return keyOf(parsePrivateKey(text))
}

/** A new P-256 key from the CSPRNG. */
export function generateAssertionKey (): AssertionKey {
  return keyOf(generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey)
}

/** The private key as JWK text (to hand a generated key to worker processes). */
export function exportAssertionKey (key: AssertionKey): string {
  return JSON.stringify(key.privateKey.export({ format: 'jwk' }))
}

/** A claim by its whole name first, then as a dotted path into nested objects. */
export function claimAt (claims: Claims, name: string): unknown {
  if (Object.hasOwn(claims, name)) return claims[name]
  if (!name.includes('.')) return undefined
  let v: unknown = claims
  for (const part of name.split('.')) {
    if (v === null || typeof v !== 'object' || Array.isArray(v) || !Object.hasOwn(v, part)) return undefined
    v = (v as Record<string, unknown>)[part]
  }
  return v
}

/** The groups claim as a list of strings (a single string is a list of one; a comma-separated one is split). */
function groupList (v: unknown): string[] {
  if (Array.isArray(v)) return v.filter((g): g is string | number => typeof g === 'string' || typeof g === 'number').map(String)
  if (typeof v === 'string') return v.includes(',') ? v.split(',').map((s) => s.trim()).filter(Boolean) : [v]
  return []
}

interface Cached {
  readonly token: string
  /** Epoch ms: signed at, and re-signed from this moment on. */
  readonly iat: number
  readonly renewAt: number
  /** What the assertion says of the user: a refresh that changes it is not served the old one. */
  readonly claims: Claims
  readonly sub: string
  readonly email: unknown
  readonly groups: unknown
}

export interface AssertionOptions {
  /** `iss`: the gateway's publicUrl. */
  readonly issuer: string
  /** Lifetime, ms. */
  readonly ttl: number
  /** The request header that carries it. */
  readonly header: string
  /** Sessions x audiences kept signed (least recently used dropped first; default 10 000, about 10 MB). */
  readonly maxEntries?: number
}

const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64url')

/** Signs assertions with one key and keeps them per session and audience. */
export class AssertionSigner {
  readonly key: AssertionKey
  /** The request header, lower-cased (as the forwarded headers are keyed). */
  readonly header: string
  readonly #issuer: string
  readonly #ttl: number
  readonly #jwtHeader: string
  readonly #cache: LRUCache<string, Cached>
  /** Assertions signed so far (tests and metrics read it). */
  signed = 0

  constructor (key: AssertionKey, opts: AssertionOptions) {
    this.key = key
    this.header = opts.header.toLowerCase()
    this.#issuer = opts.issuer
    this.#ttl = opts.ttl
    this.#jwtHeader = b64(JSON.stringify({ alg: 'ES256', typ: 'JWT', kid: key.kid }))
    this.#cache = new LRUCache({ max: opts.maxEntries ?? 10_000 })
  }

  /**
   * The assertion for `session` towards `audience` at `now`: the one signed
   * before while it has more than a third of its lifetime left and says the
   * same of the user, else a new one.
   */
  token (session: Session, audience: string, groupsClaim: string, now: number): string {
    const cacheKey = `${session.id}\n${audience}`
    const claims = session.claims
    const hit = this.#cache.get(cacheKey)
    if (hit !== undefined && now < hit.renewAt && now >= hit.iat &&
      (hit.claims === claims || (hit.sub === session.sub && hit.email === claims.email && sameGroups(hit.groups, claimAt(claims, groupsClaim))))) {
      return hit.token
    }
    const groups = claimAt(claims, groupsClaim)
    const iat = Math.floor(now / 1000)
    const payload: Record<string, unknown> = { iss: this.#issuer, aud: audience, sub: session.sub }
    if (typeof claims.email === 'string') payload.email = claims.email
    payload.groups = groupList(groups)
    payload.iat = iat
    payload.exp = iat + Math.floor(this.#ttl / 1000)
    payload.jti = randomToken(16)
    const input = `${this.#jwtHeader}.${b64(JSON.stringify(payload))}`
    const signature = sign('sha256', Buffer.from(input, 'ascii'), { key: this.key.privateKey, dsaEncoding: 'ieee-p1363' })
    const token = `${input}.${signature.toString('base64url')}`
    this.signed++
    // Reused while more than a third of the lifetime is left.
    const renewAt = iat * 1000 + Math.floor((this.#ttl * 2) / 3)
    this.#cache.set(cacheKey, { token, iat: iat * 1000, renewAt, claims, sub: session.sub, email: claims.email, groups }, { ttl: Math.max(1, renewAt - now) })
    return token
  }
}

function sameGroups (a: unknown, b: unknown): boolean {
  if (a === b) return true
  if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}
