import { createPrivateKey } from 'node:crypto'
import {
  calculateJwkThumbprint, createLocalJWKSet, errors, importJWK,
  type JSONWebKeySet, type JWK, type JWTVerifyGetKey,
} from 'jose'
import * as client from 'openid-client'
import type { ProviderConfig } from '../config/types.js'
import { isLoopbackHost } from '../net/loopback.js'
import { randomAlphanumeric, safeEqual } from '../session/crypto.js'
import { LoginError, ProviderUnavailableError, GatewayError } from '../errors.js'
import type { Claims } from '../policy/evaluate.js'
import { acceptedAlgorithms, verifyIdToken, type IdTokenExpectations, type VerifiedIdToken } from './id-token.js'

/**
 * The one module that talks to identity providers (the only importer of
 * openid-client). The rest of Gatehouse sees "a verified login result" and
 * typed errors, never openid-client's types.
 */

export interface LoginChecks {
  readonly state: string
  readonly nonce: string
  readonly codeVerifier?: string
}

/** What a completed, fully verified login yields. */
export interface LoginResult {
  readonly sub: string
  readonly sid?: string
  /** ID token claims. */
  readonly idClaims: Claims
  /** Userinfo claims, when fetched. */
  readonly userinfo?: Claims
  readonly idToken: string
  readonly accessToken?: string
  readonly refreshToken?: string
  /** Epoch ms when the access token (or, without one, the ID token) expires. */
  readonly expiresAt?: number
}

export type RefreshResult =
  | {
    readonly kind: 'refreshed'
    readonly idClaims?: Claims
    readonly userinfo?: Claims
    readonly idToken?: string
    readonly accessToken: string
    readonly refreshToken?: string
    readonly expiresAt?: number
  }
  | { readonly kind: 'ended', readonly reason: string }
  | { readonly kind: 'unavailable', readonly error: GatewayError }

export interface Logger {
  info (obj: object, msg?: string): void
  warn (obj: object, msg?: string): void
  debug (obj: object, msg?: string): void
}

const DISCOVERY_TIMEOUT_S = 10
/** How long a login (or refresh) waits for a discovery attempt in flight before answering 503. */
export const DISCOVERY_WAIT_MS = 5_000

/** Maps anything openid-client or fetch throws to a GatewayError with a stable code. */
export function classifyProviderError (err: unknown, during: string): GatewayError {
  if (err instanceof GatewayError) return err
  if (err instanceof client.AuthorizationResponseError) {
    // The provider redirected back with ?error=... (e.g. the user denied consent).
    const e = providerRefusal(err.error, err.error_description)
    return new LoginError(e.code, e.status, e.message, { cause: err })
  }
  if (err instanceof client.ResponseBodyError) {
    if (err.status >= 500) return new GatewayError('GH_PROVIDER_ERROR', 502, `the identity provider failed during ${during} (HTTP ${err.status} ${err.error})`, { cause: err })
    return new LoginError(`GH_LOGIN_${codePart(err.error)}`, 400, `the identity provider rejected the ${during}: ${err.error}${err.error_description !== undefined ? ` (${err.error_description})` : ''}`, { cause: err })
  }
  if (err instanceof client.WWWAuthenticateChallengeError) {
    // The provider refused our own client credentials: a gateway misconfiguration, not the user's fault.
    return new GatewayError('GH_PROVIDER_REJECTED_CLIENT', 502, `the identity provider rejected the client credentials during ${during} (HTTP ${err.status}); check clientId, clientSecret and tokenEndpointAuthMethod`, { cause: err })
  }
  if (err instanceof client.ClientError) {
    // openid-client wraps oauth4webapi's error, whose `cause` names the claim or attribute compared.
    const cause = (err.cause as { cause?: { claim?: unknown, attribute?: unknown } } | undefined)?.cause
    switch (err.code) {
      case 'OAUTH_TIMEOUT':
      case 'OAUTH_ABORT':
        return new ProviderUnavailableError(`the identity provider did not answer in time during ${during}`, { cause: err })
      case 'OAUTH_RESPONSE_IS_NOT_CONFORM':
      case 'OAUTH_RESPONSE_IS_NOT_JSON':
        return new GatewayError('GH_PROVIDER_ERROR', 502, `the identity provider sent an unexpected response during ${during}`, { cause: err })
      case 'OAUTH_JWT_CLAIM_COMPARISON_FAILED':
      case 'OAUTH_JWT_TIMESTAMP_CHECK_FAILED':
        // The same codes verifyIdToken uses, whichever library saw the bad claim first.
        if (typeof cause?.claim === 'string') {
          const check = cause.claim === 'exp' ? 'EXPIRED' : codePart(cause.claim)
          return new LoginError(`GH_LOGIN_ID_TOKEN_${check}`, 400, `the ID token failed verification: ${err.message}`, { cause: err })
        }
        break
      case 'OAUTH_JSON_ATTRIBUTE_COMPARISON_FAILED':
        if (during === 'userinfo' && cause?.attribute === 'sub') {
          return new LoginError('GH_LOGIN_USERINFO_SUB', 400, 'the userinfo response names another user than the ID token', { cause: err })
        }
        break
    }
    // Another check failed: state, iss parameter, a missing claim, ...
    return new LoginError('GH_LOGIN_INVALID_RESPONSE', 400, `the login response failed verification: ${err.message}${err.cause instanceof Error ? `: ${err.cause.message}` : ''}`, { cause: err })
  }
  if (err instanceof TypeError || (err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError'))) {
    return new ProviderUnavailableError(`cannot reach the identity provider during ${during}: ${describeNetworkError(err)}`, { cause: err })
  }
  return new GatewayError('GH_PROVIDER_ERROR', 502, `unexpected failure during ${during}: ${(err as Error)?.message ?? String(err)}`, { cause: err })
}

/** Where openid-client looks for the discovery document: the issuer's path + /.well-known/openid-configuration. */
function discoveryUrl (issuer: string): string {
  const u = new URL(issuer)
  u.pathname = `${u.pathname.replace(/\/$/, '')}/.well-known/openid-configuration`
  return u.href
}

/** The discovered issuer is not the configured one: a provider configuration problem, named with both values. */
function issuerMismatch (configured: string, found: unknown): GatewayError {
  const f = typeof found === 'string' ? found : String(found)
  const hint = f.replace(/\/$/, '') === configured.replace(/\/$/, '')
    ? `they differ only by a trailing slash: configure issuer: ${f}`
    : 'check the issuer URL: it must be exactly the value the provider publishes'
  return new GatewayError('GH_PROVIDER_ISSUER_MISMATCH', 502, `discovery at ${discoveryUrl(configured)} names issuer ${JSON.stringify(f)}, not the configured ${JSON.stringify(configured)} (${hint})`)
}

/**
 * A failed discovery, described for the operator: the URL fetched, and what
 * came back (HTTP status and content type of a page that is not the discovery
 * document, the issuer it names). Network failures keep their own mapping.
 */
function discoveryError (err: unknown, configured: string): GatewayError {
  if (err instanceof client.ClientError) {
    const cause = err.cause as { attribute?: unknown, body?: { issuer?: unknown } } | Response | undefined
    if (err.code === 'OAUTH_JSON_ATTRIBUTE_COMPARISON_FAILED' && !(cause instanceof Response) && cause?.attribute === 'issuer') {
      return issuerMismatch(configured, cause.body?.issuer)
    }
    if ((err.code === 'OAUTH_RESPONSE_IS_NOT_JSON' || err.code === 'OAUTH_RESPONSE_IS_NOT_CONFORM') && cause instanceof Response) {
      const type = cause.headers.get('content-type') ?? 'none'
      const what = cause.ok ? 'is not a discovery document (expected JSON)' : 'failed'
      return new GatewayError('GH_PROVIDER_DISCOVERY_FAILED', 502, `discovery at ${cause.url || discoveryUrl(configured)} ${what}: HTTP ${cause.status}, content-type ${type}; check the issuer URL`, { cause: err })
    }
  }
  const e = classifyProviderError(err, 'discovery')
  if (e.code !== 'GH_LOGIN_INVALID_RESPONSE') return e
  // A malformed document is the provider's problem, never a login failure.
  return new GatewayError('GH_PROVIDER_DISCOVERY_FAILED', 502, `discovery at ${discoveryUrl(configured)}: ${(err as Error).message}`, { cause: err })
}

/** An OAuth error name or claim name as part of a code; the value comes from the network, so only a safe shape is kept. */
function codePart (name: string): string {
  return /^[a-z0-9_]{1,64}$/i.test(name) ? name.toUpperCase() : 'UNKNOWN'
}

function describeNetworkError (err: Error): string {
  const cause = (err as { cause?: { code?: string, message?: string } }).cause
  return cause?.code ?? cause?.message ?? err.message
}

/** The private_key_jwt client key: how it authenticates, and its public half with the `kid` the client assertions carry. */
export interface ClientKey {
  readonly auth: client.ClientAuth
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
  const key = await importJWK({ ...jwk, alg }, alg) as client.CryptoKey
  return { auth: client.PrivateKeyJwt({ key, kid }), kid, alg, publicJwk: { ...pub, kid, alg, use: 'sig' } }
}

function clientAuth (cfg: ProviderConfig): client.ClientAuth | Promise<client.ClientAuth> {
  switch (cfg.tokenEndpointAuthMethod) {
    case 'client_secret_basic': return client.ClientSecretBasic(cfg.clientSecret)
    case 'client_secret_post': return client.ClientSecretPost(cfg.clientSecret)
    case 'none': return client.None()
    case 'private_key_jwt': return loadClientKey(cfg).then((k) => k.auth)
  }
}

/** A provider refusal (`?error=...`) as a LoginError; the code is built from the OAuth `error` field, never from prose. */
function providerRefusal (error: string, description: string | null | undefined): LoginError {
  const name = codePart(error)
  const status = error === 'access_denied' ? 403 : 400
  const detail = description !== null && description !== undefined ? ` (${description.slice(0, 200)})` : ''
  return new LoginError(`GH_LOGIN_PROVIDER_${name}`, status, `the identity provider refused the login: ${name.toLowerCase()}${detail}`)
}

/** Provider answers to `prompt=none` that mean "the user must interact": fall back to a normal login. */
export const INTERACTION_REQUIRED = new Set(['GH_LOGIN_PROVIDER_LOGIN_REQUIRED', 'GH_LOGIN_PROVIDER_INTERACTION_REQUIRED', 'GH_LOGIN_PROVIDER_CONSENT_REQUIRED', 'GH_LOGIN_PROVIDER_ACCOUNT_SELECTION_REQUIRED'])

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
class ProviderKeys {
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
    const res = await fetch(this.#uri, { signal: AbortSignal.timeout(DISCOVERY_TIMEOUT_S * 1000), headers: { accept: 'application/json' } })
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

export interface ProviderOptions {
  /** Epoch-ms clock (the gateway's, injectable in tests). */
  readonly now: () => number
  /** Tolerated clock difference with the provider, ms. */
  readonly clockSkew: number
}

/** How the authorization response reached the callback. */
export type ResponseChannel = 'query' | 'post'

export class OidcProvider {
  readonly id: string
  readonly cfg: ProviderConfig
  readonly redirectUri: string
  #config: client.Configuration | undefined
  #keys: ProviderKeys | undefined
  #algorithms: readonly string[] = ['RS256']
  readonly #log: Logger
  readonly #now: () => number
  readonly #clockSkew: number
  #discovering: Promise<void> | undefined
  /** The discovery attempt in flight, if any (not set while waiting to retry). */
  #attempt: Promise<void> | undefined
  #stopped = false
  #retryTimer: NodeJS.Timeout | undefined

  constructor (cfg: ProviderConfig, redirectUri: string, log: Logger, opts: ProviderOptions = { now: Date.now, clockSkew: 30_000 }) {
    this.id = cfg.id
    this.cfg = cfg
    this.redirectUri = redirectUri
    this.#log = log
    this.#now = opts.now
    this.#clockSkew = opts.clockSkew
  }

  /** Discovery and keys are loaded: logins can start. */
  get ready (): boolean { return this.#config !== undefined }

  get hasEndSession (): boolean { return this.#config?.serverMetadata().end_session_endpoint !== undefined }

  /** The issuer exactly as discovered (what the provider's tokens carry in `iss`), once discovery is done. */
  get issuer (): string | undefined { return this.#config?.serverMetadata().issuer }

  /**
   * The provider's signing keys, for verifying tokens openid-client does not
   * handle (back-channel logout tokens): the same cache as ID tokens, which
   * refetches when a token names an unknown key id (key rotation).
   */
  get signingKeys (): JWTVerifyGetKey | undefined { return this.#keys?.getKey }

  /**
   * Revokes a token at the provider (RFC 7009) when it has a revocation
   * endpoint. Best effort: logout never waits on, or fails with, the
   * provider; a failure is logged (without the token) and reported as false.
   */
  async revoke (token: string, hint: 'refresh_token' | 'access_token'): Promise<boolean> {
    const config = this.#config
    if (config?.serverMetadata().revocation_endpoint === undefined) return false
    try {
      await client.tokenRevocation(config, token, { token_type_hint: hint })
      return true
    } catch (err) {
      const e = classifyProviderError(err, 'token revocation')
      this.#log.warn({ provider: this.id, code: e.code, err: e.message }, 'token revocation failed')
      return false
    }
  }

  /**
   * Runs discovery and loads the provider's keys. On failure, retries in the
   * background with backoff (readiness stays 503 until it succeeds) instead of
   * crashing: a provider outage at start must not take the gateway down.
   */
  start (): Promise<void> {
    if (this.#discovering !== undefined) return this.#discovering
    let delay = 1000
    const attempt = async (): Promise<void> => {
      try {
        this.#attempt = this.#discover()
        await this.#attempt
        this.#log.info({ provider: this.id, issuer: this.cfg.issuer }, 'provider discovery complete')
      } catch (err) {
        const e = classifyProviderError(err, 'discovery')
        this.#log.warn({ provider: this.id, issuer: this.cfg.issuer, code: e.code, err: e.message }, `provider discovery failed; retrying in ${delay / 1000}s`)
        if (this.#stopped) return
        this.#attempt = undefined
        await new Promise<void>((resolve) => { this.#retryTimer = setTimeout(resolve, delay) })
        delay = Math.min(delay * 2, 30_000)
        if (!this.#stopped) return attempt()
      }
    }
    this.#discovering = attempt()
    return this.#discovering
  }

  stop (): void {
    this.#stopped = true
    if (this.#retryTimer !== undefined) clearTimeout(this.#retryTimer)
  }

  async #discover (): Promise<void> {
    const issuer = new URL(this.cfg.issuer)
    // ID token signatures are checked by verifyIdToken with this module's own
    // key cache, for every flow, so openid-client never fetches keys itself.
    const execute: ((c: client.Configuration) => void)[] = []
    if (issuer.protocol === 'http:' && (isLoopbackHost(issuer.hostname) || this.cfg.allowInsecureHttp)) execute.push(client.allowInsecureRequests)
    const metadata: Partial<client.ClientMetadata> = { redirect_uris: [this.redirectUri] }
    const auth = await clientAuth(this.cfg)
    let config: client.Configuration
    try {
      config = await client.discovery(issuer, this.cfg.clientId, metadata, auth, { execute, timeout: DISCOVERY_TIMEOUT_S })
    } catch (err) {
      throw discoveryError(err, this.cfg.issuer)
    }
    // The discovery document's issuer must be exactly the configured string
    // (OIDC Discovery 4.3): openid-client compares normalised URLs, which lets
    // a trailing slash differ, and every ID token's iss is compared to it.
    const found = config.serverMetadata().issuer
    if (found !== this.cfg.issuer) throw issuerMismatch(this.cfg.issuer, found)
    const jwksUri = config.serverMetadata().jwks_uri
    if (jwksUri === undefined) throw new GatewayError('GH_PROVIDER_NO_JWKS', 502, 'the provider publishes no jwks_uri')
    const keys = new ProviderKeys(jwksUri, this.id, this.#now, this.#log)
    await keys.load()
    const algorithms = acceptedAlgorithms(config.serverMetadata().id_token_signing_alg_values_supported)
    if (algorithms.length === 0) throw new GatewayError('GH_PROVIDER_NO_ALGORITHM', 502, 'the provider signs ID tokens with no asymmetric algorithm Gatehouse accepts')
    this.#algorithms = algorithms
    this.#keys = keys
    this.#config = config
  }

  /**
   * The discovered configuration. A request that arrives while a discovery
   * attempt is in flight (the first visitors right after start) waits for it,
   * at most DISCOVERY_WAIT_MS, instead of failing: only a discovery that has
   * really failed (or not finished in that time) makes it unavailable.
   */
  async #ready (): Promise<client.Configuration> {
    if (this.#config === undefined && this.#attempt !== undefined) {
      let timer: NodeJS.Timeout | undefined
      await Promise.race([
        this.#attempt.catch(() => undefined),
        new Promise<void>((resolve) => { timer = setTimeout(resolve, DISCOVERY_WAIT_MS) }),
      ])
      clearTimeout(timer)
    }
    if (this.#config === undefined) throw new ProviderUnavailableError(`identity provider ${this.id} is not available yet (discovery pending)`)
    return this.#config
  }

  /**
   * The URL the browser is sent to for login: the provider's authorize URL,
   * or the `loginUrl` template wrapping it. A silent renewal (`prompt: 'none'`)
   * always goes to the bare authorize URL: a wrapping login page would show UI.
   */
  async authorizationUrl (checks: LoginChecks, opts: { prompt?: 'none' } = {}): Promise<string> {
    const config = await this.#ready()
    const params: Record<string, string> = {
      ...this.cfg.authorizationParams,
      redirect_uri: this.redirectUri,
      response_type: this.cfg.responseType,
      scope: this.cfg.scopes.join(' '),
      state: checks.state,
      // Sent in every flow, checked in every ID token (the code flow too).
      nonce: checks.nonce,
    }
    // Only when not the response type's default (query for code, fragment
    // otherwise): some providers refuse a response_mode they do not list.
    const defaultMode = this.cfg.responseType === 'code' ? 'query' : 'fragment'
    if (this.cfg.responseMode !== defaultMode) params.response_mode = this.cfg.responseMode
    if (opts.prompt !== undefined) params.prompt = opts.prompt
    if (checks.codeVerifier !== undefined) {
      params.code_challenge = await client.calculatePKCECodeChallenge(checks.codeVerifier)
      params.code_challenge_method = 'S256'
    }
    const url = client.buildAuthorizationUrl(config, params).href
    if (this.cfg.loginUrl === undefined || opts.prompt === 'none') return url
    // Each placeholder is URL-encoded exactly once, as the template's query expects.
    return this.cfg.loginUrl
      .replaceAll('{authorizeUrl}', encodeURIComponent(url))
      .replaceAll('{clientId}', encodeURIComponent(this.cfg.clientId))
  }

  async #verify (jwt: string, channel: KeyChannel, expect: Omit<IdTokenExpectations, 'issuer' | 'clientId' | 'algorithms' | 'now' | 'clockSkew'>): Promise<VerifiedIdToken> {
    return verifyIdToken(jwt, channel === 'trusted' ? this.#keys!.getKeyTrusted : this.#keys!.getKey, {
      issuer: this.cfg.issuer,
      clientId: this.cfg.clientId,
      algorithms: this.#algorithms,
      // A token's exp and iat are the provider's wall-clock statements, judged
      // against the wall clock (as openid-client does for the token endpoint);
      // the gateway's own clock governs its sessions.
      now: Date.now(),
      clockSkew: this.#clockSkew,
      ...expect,
    })
  }

  /**
   * Completes a login from the authorization response, for every response
   * type, and returns the verified result:
   *
   * - the response came by the configured response mode (query string, or a
   *   POST from form_post or the fragment page), names this login's state and,
   *   where it carries `iss` (RFC 9207), this issuer;
   * - an ID token from the authorization endpoint (implicit, hybrid) is fully
   *   verified: signature, iss, aud, azp, exp, iat, sub, nonce, and `at_hash`
   *   / `c_hash`, required when an access token / a code came with it;
   * - a code is exchanged (with the PKCE verifier and client authentication);
   *   the token endpoint's ID token is verified the same way and, in hybrid
   *   flows, must name the same iss and sub as the first one;
   * - userinfo, when fetched, must name the same sub.
   *
   * The access token kept is the token endpoint's whenever a code was
   * exchanged; one from the authorization endpoint is used only in implicit
   * flows, where it is bound to the ID token by `at_hash`.
   */
  async completeLogin (params: URLSearchParams, channel: ResponseChannel, checks: LoginChecks, now: number): Promise<LoginResult> {
    const config = await this.#ready()
    const meta = config.serverMetadata()
    const state = params.get('state')
    if (state === null || !safeEqual(state, checks.state)) throw new LoginError('GH_LOGIN_STATE_MISMATCH', 400, 'the sign-in response names another sign-in (state)')
    const iss = params.get('iss')
    // Mix-up defence: a response that says which issuer sent it must say ours.
    if (iss !== null && iss !== meta.issuer) throw new LoginError('GH_LOGIN_ISS_MISMATCH', 400, 'the sign-in response comes from another issuer (iss)')
    const error = params.get('error')
    if (error !== null) throw providerRefusal(error, params.get('error_description'))
    // A response that arrives by another mode than the one requested was not
    // produced by the provider for this request (mod_auth_openidc checks the same).
    const expected: ResponseChannel = this.cfg.responseMode === 'query' ? 'query' : 'post'
    if (channel !== expected) throw new LoginError('GH_LOGIN_RESPONSE_MODE', 400, `the sign-in response arrived by ${channel === 'query' ? 'query string' : 'POST'}, but this provider uses response_mode ${this.cfg.responseMode}`)

    const type = new Set(this.cfg.responseType.split(' '))
    const need = (name: string): string => {
      const v = params.get(name)
      if (v === null || v === '') throw new LoginError('GH_LOGIN_INCOMPLETE_RESPONSE', 400, `the sign-in response lacks ${name} (response_type ${this.cfg.responseType})`)
      return v
    }
    const code = type.has('code') ? need('code') : undefined
    let front: VerifiedIdToken | undefined
    let frontIdToken: string | undefined
    let frontAccess: { token: string, expiresIn?: number } | undefined
    if (type.has('id_token')) {
      frontIdToken = need('id_token')
      if (type.has('token')) {
        const tokenType = need('token_type')
        if (tokenType.toLowerCase() !== 'bearer') throw new LoginError('GH_LOGIN_TOKEN_TYPE', 400, `the access token is of type ${JSON.stringify(tokenType.slice(0, 40))}, not Bearer`)
        const expiresIn = params.get('expires_in')
        frontAccess = { token: need('access_token'), ...(expiresIn !== null && /^\d{1,9}$/.test(expiresIn) ? { expiresIn: Number(expiresIn) } : {}) }
      }
      try {
        front = await this.#verify(frontIdToken, 'front', {
          nonce: checks.nonce,
          ...(frontAccess !== undefined ? { accessToken: frontAccess.token, requireAtHash: true } : {}),
          ...(code !== undefined ? { code, requireCHash: true } : {}),
        })
      } catch (err) {
        throw classifyProviderError(err, 'login')
      }
    }
    // `code token` brings an access token from the authorization endpoint with
    // nothing that binds it to this login (no ID token, no at_hash): it is not
    // used; the token endpoint's access token is.

    let idToken: string
    let claims: VerifiedIdToken['claims']
    let accessToken: string | undefined
    let refreshToken: string | undefined
    let accessExpiresAt: number | undefined
    if (code !== undefined) {
      const callbackUrl = new URL(this.redirectUri)
      callbackUrl.searchParams.set('code', code)
      callbackUrl.searchParams.set('state', state)
      // With an ID token from the authorization endpoint, its verified iss is
      // the issuer identification (providers leave the iss parameter out then).
      const respIss = iss ?? (front !== undefined ? meta.issuer : null)
      if (respIss !== null) callbackUrl.searchParams.set('iss', respIss)
      let tokens: Awaited<ReturnType<typeof client.authorizationCodeGrant>>
      let back: VerifiedIdToken
      try {
        tokens = await client.authorizationCodeGrant(config, callbackUrl, {
          expectedState: checks.state,
          expectedNonce: checks.nonce,
          idTokenExpected: true,
          ...(checks.codeVerifier !== undefined ? { pkceCodeVerifier: checks.codeVerifier } : {}),
        })
        if (tokens.id_token === undefined) throw new LoginError('GH_LOGIN_NO_ID_TOKEN', 400, 'the provider returned no ID token')
        back = await this.#verify(tokens.id_token, 'trusted', { nonce: checks.nonce, accessToken: tokens.access_token })
      } catch (err) {
        throw classifyProviderError(err, 'login')
      }
      // OIDC Core 3.3.3.6: both ID tokens must describe the same user from the same issuer.
      if (front !== undefined && (back.claims.iss !== front.claims.iss || !safeEqual(back.claims.sub, front.claims.sub))) {
        throw new LoginError('GH_LOGIN_ID_TOKEN_SUB', 400, 'the ID token failed verification: the token endpoint\'s ID token names another user or issuer than the authorization response\'s')
      }
      idToken = tokens.id_token
      claims = back.claims
      accessToken = tokens.access_token
      refreshToken = tokens.refresh_token
      const expiresIn = tokens.expiresIn()
      if (expiresIn !== undefined) accessExpiresAt = now + expiresIn * 1000
    } else {
      idToken = frontIdToken!
      claims = front!.claims
      accessToken = frontAccess?.token
      if (frontAccess?.expiresIn !== undefined) accessExpiresAt = now + frontAccess.expiresIn * 1000
    }

    let userinfo: Claims | undefined
    if (this.cfg.fetchUserinfo && accessToken !== undefined && meta.userinfo_endpoint !== undefined) {
      try {
        userinfo = await client.fetchUserInfo(config, accessToken, claims.sub)
      } catch (err) {
        throw classifyProviderError(err, 'userinfo')
      }
    }
    const idExpiresAt = claims.exp * 1000
    return {
      sub: claims.sub,
      ...(typeof claims.sid === 'string' ? { sid: claims.sid } : {}),
      idClaims: claims as Claims,
      ...(userinfo !== undefined ? { userinfo } : {}),
      idToken,
      ...(accessToken !== undefined ? { accessToken } : {}),
      ...(refreshToken !== undefined ? { refreshToken } : {}),
      // With a refresh token, both tokens are renewed together when the access
      // token runs out. Without one, the session must be renewed (prompt=none)
      // as soon as either token it forwards has expired.
      expiresAt: refreshToken !== undefined ? accessExpiresAt ?? idExpiresAt : Math.min(accessExpiresAt ?? Infinity, idExpiresAt),
    }
  }

  /**
   * Spends a refresh token. `ended`: the provider refused it (`invalid_grant`
   * and other 4xx OAuth errors, read from the `error` field, never from
   * message text) or a new ID token fails verification (verifyIdToken, with
   * this provider's keys) or names another subject; `unavailable`: network
   * failure or provider 5xx, the session may go on while its token is valid.
   * `now` (epoch ms) anchors the new expiry on the gateway's clock.
   */
  async refresh (refreshToken: string, expectedSub: string, now: number): Promise<RefreshResult> {
    let config: client.Configuration
    try {
      config = await this.#ready()
    } catch (err) {
      return { kind: 'unavailable', error: err as GatewayError }
    }
    let tokens: Awaited<ReturnType<typeof client.refreshTokenGrant>>
    let idClaims: VerifiedIdToken['claims'] | undefined
    try {
      tokens = await client.refreshTokenGrant(config, refreshToken)
      if (tokens.id_token !== undefined) idClaims = (await this.#verify(tokens.id_token, 'trusted', { sub: expectedSub, accessToken: tokens.access_token })).claims
    } catch (err) {
      if (err instanceof client.ResponseBodyError && err.status < 500) {
        // Read from the OAuth `error` field. A provider asking us to come back
        // later has not ended anything; every other refusal (invalid_grant
        // above all: expired, revoked or already-rotated token) has.
        if (err.error === 'temporarily_unavailable' || err.status === 429) return { kind: 'unavailable', error: new ProviderUnavailableError(`the identity provider asked to retry the refresh later (${err.error})`, { cause: err }) }
        return { kind: 'ended', reason: `GH_REFRESH_${codePart(err.error)}` }
      }
      const e = classifyProviderError(err, 'refresh')
      return e.status >= 500 ? { kind: 'unavailable', error: e } : { kind: 'ended', reason: e.code }
    }
    let userinfo: Claims | undefined
    if (this.cfg.fetchUserinfo && tokens.access_token !== undefined && config.serverMetadata().userinfo_endpoint !== undefined) {
      try {
        userinfo = await client.fetchUserInfo(config, tokens.access_token, expectedSub)
      } catch (err) {
        const e = classifyProviderError(err, 'userinfo')
        if (e.status >= 500) return { kind: 'unavailable', error: e }
        return { kind: 'ended', reason: e.code }
      }
    }
    const expiresIn = tokens.expiresIn()
    return {
      kind: 'refreshed',
      ...(idClaims !== undefined ? { idClaims: idClaims as Claims } : {}),
      ...(userinfo !== undefined ? { userinfo } : {}),
      ...(tokens.id_token !== undefined ? { idToken: tokens.id_token } : {}),
      accessToken: tokens.access_token,
      ...(tokens.refresh_token !== undefined ? { refreshToken: tokens.refresh_token } : {}),
      ...(expiresIn !== undefined ? { expiresAt: now + expiresIn * 1000 } : idClaims !== undefined ? { expiresAt: idClaims.exp * 1000 } : {}),
    }
  }

  /**
   * The gateway's own access token from the client_credentials grant, with
   * its lifetime in seconds when the provider says it. Throws a
   * GatewayError (ProviderUnavailableError when the provider cannot be reached).
   */
  async clientCredentials (scopes: readonly string[]): Promise<{ readonly accessToken: string, readonly expiresIn?: number }> {
    const config = await this.#ready()
    try {
      const tokens = await client.clientCredentialsGrant(config, scopes.length > 0 ? { scope: scopes.join(' ') } : {})
      const expiresIn = tokens.expiresIn()
      return { accessToken: tokens.access_token, ...(expiresIn !== undefined ? { expiresIn } : {}) }
    } catch (err) {
      throw classifyProviderError(err, 'client credentials grant')
    }
  }

  /** Whether the provider has an RFC 7662 introspection endpoint (false until discovery is done). */
  get canIntrospect (): boolean { return this.#config?.serverMetadata().introspection_endpoint !== undefined }

  /** Asks the provider's RFC 7662 endpoint about a token; throws a GatewayError when it cannot answer. */
  async introspect (token: string): Promise<Readonly<Record<string, unknown>>> {
    const config = await this.#ready()
    try {
      return await client.tokenIntrospection(config, token, { token_type_hint: 'access_token' })
    } catch (err) {
      throw classifyProviderError(err, 'token introspection')
    }
  }

  /** The provider's end-session URL for RP-initiated logout, or undefined when it has none. */
  endSessionUrl (idTokenHint: string | undefined, postLogoutRedirectUri: string): string | undefined {
    if (this.#config === undefined || !this.hasEndSession) return undefined
    const params: Record<string, string> = { post_logout_redirect_uri: postLogoutRedirectUri }
    if (idTokenHint !== undefined) params.id_token_hint = idTokenHint
    return client.buildEndSessionUrl(this.#config, params).href
  }

  /** Fresh CSPRNG values for one login: state 32 alphanumerics (190 bits), nonce and PKCE verifier 256 bits. */
  static newChecks (pkce: boolean): LoginChecks {
    return {
      state: randomAlphanumeric(32),
      nonce: client.randomNonce(),
      ...(pkce ? { codeVerifier: client.randomPKCECodeVerifier() } : {}),
    }
  }
}
