import { createPrivateKey } from 'node:crypto'
import { calculateJwkThumbprint, importJWK, type JWK } from 'jose'
import type { ProviderConfig } from '../config/types.js'

/** The private_key_jwt client key: the private key, and its public half with the `kid` the client assertions carry. */
export interface ClientKey {
  /** The private key that signs client assertions. */
  readonly key: CryptoKey
  readonly kid: string
  readonly alg: string
  /** The public key as a JWK (kid, alg and use set), for /.gatehouse/jwks. */
  readonly publicJwk: JWK
}

/** The JWS algorithm a private key signs client assertions with, from its type and curve. */
function signingAlg (jwk: JWK): string {
  if (jwk.alg !== undefined) return jwk.alg
  if (jwk.kty === 'EC') return jwk.crv === 'P-384' ? 'ES384' : jwk.crv === 'P-521' ? 'ES512' : 'ES256'
  if (jwk.kty === 'OKP') return 'EdDSA'
  return 'RS256'
}

const PRIVATE_JWK_MEMBERS = new Set(['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'])

/**
 * Loads the private_key_jwt key (PEM or JWK text). The `kid` is, in order:
 * `privateKeyId`, the JWK's own `kid`, or the RFC 7638 thumbprint of the
 * public key — always set, because providers pick the registered key by it.
 */
export async function loadClientKey (cfg: ProviderConfig): Promise<ClientKey> {
  const text = cfg.privateKey!.trim()
  const jwk: JWK = text.startsWith('{')
    ? JSON.parse(text) as JWK
    : createPrivateKey(text).export({ format: 'jwk' }) as JWK
  const alg = signingAlg(jwk)
  const pub: JWK = Object.fromEntries(Object.entries(jwk).filter(([k]) => !PRIVATE_JWK_MEMBERS.has(k) && k !== 'key_ops' && k !== 'ext'))
  const kid = cfg.privateKeyId ?? jwk.kid ?? await calculateJwkThumbprint(pub)
  const key = await importJWK({ ...jwk, alg }, alg) as CryptoKey
  return { key, kid, alg, publicJwk: { ...pub, kid, alg, use: 'sig' } }
}
