import { createLocalJWKSet, errors, type JSONWebKeySet, type JWTVerifyGetKey } from 'jose'
import { GatewayError } from '../errors.js'

/** Where provider modules log (a pino logger fits). */
export interface Logger {
  info (obj: object, msg?: string): void
  warn (obj: object, msg?: string): void
  debug (obj: object, msg?: string): void
}

/** How long a JWKS fetch may take (as long as discovery). */
const JWKS_FETCH_TIMEOUT_MS = 10_000

/** A front-channel token's unknown `kid` triggers a refetch at most once in this window (per kid). */
export const JWKS_KID_COOLDOWN_MS = 30_000
/** Refetches front-channel tokens may cause: a bucket of this many, ... */
export const JWKS_REFETCH_BURST = 5
/** ... refilled by one every this many ms. */
export const JWKS_REFETCH_REFILL_MS = 6_000
/** Keys older than this are refetched before the next verification (a removed key stops verifying). */
export const JWKS_MAX_AGE_MS = 10 * 60_000

/**
 * Where a token to verify came from. `trusted`: the token endpoint (TLS and
 * client authentication say it is the provider's), so an unknown `kid` is a
 * key rotation and always gets a refetch. `front`: the authorization
 * response or a back-channel POST, which anyone can send, so refetches are
 * rate-limited.
 */
export type KeyChannel = 'trusted' | 'front'

/**
 * The provider's signing keys. One cache for every token Gatehouse checks; an
 * unknown `kid` triggers a refetch, so a key rotation at the provider works at
 * any moment. Refetches are single-flight. For front-channel tokens they are
 * also limited per `kid` (one per JWKS_KID_COOLDOWN_MS) and by a token bucket
 * over all kids, so forged tokens naming keys that do not exist cannot make
 * Gatehouse hammer the provider, nor stop a real rotation from being seen.
 */
export class ProviderKeys {
  readonly #uri: string
  readonly #now: () => number
  readonly #log: Logger
  readonly #provider: string
  #set: JWTVerifyGetKey | undefined
  #fetchedAt = 0
  #loading: Promise<void> | undefined
  /** kid -> when it last caused a refetch (insertion-ordered; bounded below). */
  readonly #kidTried = new Map<string, number>()
  #tokens = JWKS_REFETCH_BURST
  #refilledAt = 0

  constructor (uri: string, provider: string, now: () => number, log: Logger) {
    this.#uri = uri
    this.#provider = provider
    this.#now = now
    this.#log = log
  }

  /** Fetches the JWKS (one fetch at a time however many callers wait). */
  load (): Promise<void> {
    this.#loading ??= this.#fetch().finally(() => { this.#loading = undefined })
    return this.#loading
  }

  async #fetch (): Promise<void> {
    const res = await fetch(this.#uri, { signal: AbortSignal.timeout(JWKS_FETCH_TIMEOUT_MS), headers: { accept: 'application/json' } })
    if (!res.ok) throw new GatewayError('GH_PROVIDER_NO_JWKS', 502, `the provider's JWKS answered HTTP ${res.status}`)
    let set: JWTVerifyGetKey
    try {
      set = createLocalJWKSet(await res.json() as JSONWebKeySet)
    } catch (err) {
      throw new GatewayError('GH_PROVIDER_NO_JWKS', 502, 'the provider\'s JWKS is not a JSON Web Key Set', { cause: err })
    }
    this.#set = set
    this.#fetchedAt = this.#now()
    this.#log.debug({ provider: this.#provider }, 'provider keys loaded')
  }

  /** Whether a front-channel token naming `kid` may cause a refetch now (and counts it). */
  #mayRefetch (kid: string): boolean {
    const now = this.#now()
    // The clock may be moved by tests (or NTP): never refill by a negative span.
    const refill = Math.floor(Math.max(0, now - this.#refilledAt) / JWKS_REFETCH_REFILL_MS)
    if (refill > 0) {
      this.#tokens = Math.min(JWKS_REFETCH_BURST, this.#tokens + refill)
      this.#refilledAt = now
    }
    const tried = this.#kidTried.get(kid)
    if ((tried !== undefined && now - tried < JWKS_KID_COOLDOWN_MS) || this.#tokens === 0) return false
    this.#tokens--
    this.#kidTried.delete(kid)
    this.#kidTried.set(kid, now)
    if (this.#kidTried.size > 1_000) this.#kidTried.delete(this.#kidTried.keys().next().value!)
    return true
  }

  #lookup (channel: KeyChannel): JWTVerifyGetKey {
    return async (header, token) => {
      if (this.#set === undefined || this.#now() - this.#fetchedAt > JWKS_MAX_AGE_MS) {
        try {
          await this.load()
        } catch (err) {
          if (this.#set === undefined) throw err
          this.#log.warn({ provider: this.#provider, err: (err as Error).message }, 'refreshing provider keys failed; using the cached ones')
        }
      }
      try {
        return await this.#set!(header, token)
      } catch (err) {
        if (!(err instanceof errors.JWKSNoMatchingKey)) throw err
        if (channel === 'front' && !this.#mayRefetch(String(header.kid ?? ''))) throw err
        this.#log.info({ provider: this.#provider, kid: header.kid, channel }, 'unknown signing key; refetching the provider keys')
        await this.load()
        return this.#set!(header, token)
      }
    }
  }

  /** Key lookup for front-channel tokens (rate-limited refetches). */
  readonly getKey: JWTVerifyGetKey = this.#lookup('front')
  /** Key lookup for token-endpoint tokens (an unknown kid always refetches once). */
  readonly getKeyTrusted: JWTVerifyGetKey = this.#lookup('trusted')
}
