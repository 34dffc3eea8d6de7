import type { JWTVerifyGetKey } from 'jose'
import * as client from 'openid-client'
import type { ProviderConfig } from '../config/types.js'
import { isLoopbackHost } from '../net/loopback.js'
import { randomAlphanumeric, safeEqual } from '../session/crypto.js'
import { LoginError, ProviderUnavailableError, GatewayError } from '../errors.js'
import type { Claims } from '../policy/evaluate.js'
import { acceptedAlgorithms, verifyIdToken, type IdTokenExpectations, type VerifiedIdToken } from './id-token.js'
import { loadClientKey } from './client-key.js'
import { ProviderKeys, type KeyChannel, type Logger } from './jwks.js'
import { codePart, discoveryError, issuerMismatch, providerError, type ProviderFailure } from './provider-errors.js'
import { firstFailure, RESPONSE_CHECKS, type ResponseChannel } from './authorization-response.js'

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

const DISCOVERY_TIMEOUT_S = 10
/** How long a login (or refresh) waits for a discovery attempt in flight before answering 503. */
export const DISCOVERY_WAIT_MS = 5_000

/** What of `err` is an openid-client error, as plain data for the mapping in provider-errors.ts. */
function failureOf (err: unknown): ProviderFailure | undefined {
  if (err instanceof client.AuthorizationResponseError) return { kind: 'refusal', error: err.error, description: err.error_description }
  if (err instanceof client.ResponseBodyError) return { kind: 'body', status: err.status, error: err.error, description: err.error_description }
  if (err instanceof client.WWWAuthenticateChallengeError) return { kind: 'challenge', status: err.status }
  if (err instanceof client.ClientError) return { kind: 'client', code: err.code, cause: err.cause }
  return undefined
}

/** Maps anything openid-client or fetch throws to a GatewayError with a stable code. */
export function classifyProviderError (err: unknown, during: string): GatewayError {
  return providerError(err, failureOf(err), during)
}

function clientAuth (cfg: ProviderConfig): client.ClientAuth | Promise<client.ClientAuth> {
  switch (cfg.tokenEndpointAuthMethod) {
    case 'client_secret_basic': return client.ClientSecretBasic(cfg.clientSecret)
    case 'client_secret_post': return client.ClientSecretPost(cfg.clientSecret)
    case 'none': return client.None()
    case 'private_key_jwt': return loadClientKey(cfg).then((k) => client.PrivateKeyJwt({ key: k.key, kid: k.kid }))
  }
}

export interface ProviderOptions {
  /** Epoch-ms clock (the gateway's, injectable in tests). */
  readonly now: () => number
  /** Tolerated clock difference with the provider, ms. */
  readonly clockSkew: number
}

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
      throw discoveryError(err, failureOf(err), this.cfg.issuer)
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
    const failure = firstFailure(RESPONSE_CHECKS, { params, channel, state: checks.state, issuer: meta.issuer, responseType: this.cfg.responseType, responseMode: this.cfg.responseMode })
    if (failure !== undefined) throw failure
    // RESPONSE_CHECKS passed: what the response type needs is present.
    const state = params.get('state')!
    const iss = params.get('iss')
    const type = new Set(this.cfg.responseType.split(' '))
    const code = type.has('code') ? params.get('code')! : undefined
    let front: VerifiedIdToken | undefined
    let frontIdToken: string | undefined
    let frontAccess: { token: string, expiresIn?: number } | undefined
    if (type.has('id_token')) {
      frontIdToken = params.get('id_token')!
      if (type.has('token')) {
        const expiresIn = params.get('expires_in')
        frontAccess = { token: params.get('access_token')!, ...(expiresIn !== null && /^\d{1,9}$/.test(expiresIn) ? { expiresIn: Number(expiresIn) } : {}) }
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
