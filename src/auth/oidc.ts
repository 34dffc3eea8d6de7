import { createPrivateKey } from 'node:crypto'
import { createRemoteJWKSet, importJWK, importPKCS8, type JWK, type JWTVerifyGetKey } from 'jose'
import * as client from 'openid-client'
import type { ProviderConfig } from '../config/types.js'
import { isLoopbackHost } from '../config/validate.js'
import { randomAlphanumeric } from '../session/crypto.js'
import { LoginError, ProviderUnavailableError, GatewayError } from '../errors.js'
import type { Claims } from '../policy/evaluate.js'

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

/** Maps anything openid-client or fetch throws to a GatewayError with a stable code. */
export function classifyProviderError (err: unknown, during: string): GatewayError {
  if (err instanceof GatewayError) return err
  if (err instanceof client.AuthorizationResponseError) {
    // The provider redirected back with ?error=... (e.g. the user denied consent).
    const status = err.error === 'access_denied' ? 403 : 400
    return new LoginError(`GH_LOGIN_PROVIDER_${err.error.toUpperCase()}`, status, `the identity provider refused the login: ${err.error}${err.error_description !== undefined ? ` (${err.error_description})` : ''}`, { cause: err })
  }
  if (err instanceof client.ResponseBodyError) {
    if (err.status >= 500) return new GatewayError('GH_PROVIDER_ERROR', 502, `the identity provider failed during ${during} (HTTP ${err.status} ${err.error})`, { cause: err })
    return new LoginError(`GH_LOGIN_${err.error.toUpperCase()}`, 400, `the identity provider rejected the ${during}: ${err.error}${err.error_description !== undefined ? ` (${err.error_description})` : ''}`, { cause: err })
  }
  if (err instanceof client.WWWAuthenticateChallengeError) {
    // The provider refused our own client credentials: a gateway misconfiguration, not the user's fault.
    return new GatewayError('GH_PROVIDER_REJECTED_CLIENT', 502, `the identity provider rejected the client credentials during ${during} (HTTP ${err.status}); check clientId, clientSecret and tokenEndpointAuthMethod`, { cause: err })
  }
  if (err instanceof client.ClientError) {
    switch (err.code) {
      case 'OAUTH_TIMEOUT':
      case 'OAUTH_ABORT':
        return new ProviderUnavailableError(`the identity provider did not answer in time during ${during}`, { cause: err })
      case 'OAUTH_RESPONSE_IS_NOT_CONFORM':
      case 'OAUTH_RESPONSE_IS_NOT_JSON':
        return new GatewayError('GH_PROVIDER_ERROR', 502, `the identity provider sent an unexpected response during ${during}`, { cause: err })
      default:
        // A check failed: state, nonce, iss, aud, exp, signature, ...
        return new LoginError('GH_LOGIN_INVALID_RESPONSE', 400, `the login response failed verification: ${err.message}${err.cause instanceof Error ? `: ${err.cause.message}` : ''}`, { cause: err })
    }
  }
  if (err instanceof TypeError || (err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError'))) {
    return new ProviderUnavailableError(`cannot reach the identity provider during ${during}: ${describeNetworkError(err)}`, { cause: err })
  }
  return new GatewayError('GH_PROVIDER_ERROR', 502, `unexpected failure during ${during}: ${(err as Error)?.message ?? String(err)}`, { cause: err })
}

function describeNetworkError (err: Error): string {
  const cause = (err as { cause?: { code?: string, message?: string } }).cause
  return cause?.code ?? cause?.message ?? err.message
}

async function privateKeyAuth (cfg: ProviderConfig): Promise<client.ClientAuth> {
  const text = cfg.privateKey!.trim()
  let key: client.CryptoKey
  let kid = cfg.privateKeyId
  if (text.startsWith('{')) {
    const jwk = JSON.parse(text) as JWK
    const alg = jwk.alg ?? (jwk.kty === 'EC' ? 'ES256' : jwk.kty === 'OKP' ? 'EdDSA' : 'RS256')
    key = await importJWK(jwk, alg) as client.CryptoKey
    kid ??= jwk.kid
  } else {
    const ko = createPrivateKey(text)
    const alg = ko.asymmetricKeyType === 'ec' ? 'ES256' : ko.asymmetricKeyType === 'ed25519' ? 'EdDSA' : 'RS256'
    key = await importPKCS8(ko.export({ format: 'pem', type: 'pkcs8' }).toString(), alg) as client.CryptoKey
  }
  return client.PrivateKeyJwt(kid !== undefined ? { key, kid } : key)
}

function clientAuth (cfg: ProviderConfig): client.ClientAuth | Promise<client.ClientAuth> {
  switch (cfg.tokenEndpointAuthMethod) {
    case 'client_secret_basic': return client.ClientSecretBasic(cfg.clientSecret)
    case 'client_secret_post': return client.ClientSecretPost(cfg.clientSecret)
    case 'none': return client.None()
    case 'private_key_jwt': return privateKeyAuth(cfg)
  }
}

export class OidcProvider {
  readonly id: string
  readonly cfg: ProviderConfig
  readonly redirectUri: string
  #config: client.Configuration | undefined
  #log: Logger
  #discovering: Promise<void> | undefined
  #stopped = false
  #retryTimer: NodeJS.Timeout | undefined
  #signingKeys: JWTVerifyGetKey | undefined

  constructor (cfg: ProviderConfig, redirectUri: string, log: Logger) {
    this.id = cfg.id
    this.cfg = cfg
    this.redirectUri = redirectUri
    this.#log = log
  }

  /** Discovery and keys are loaded: logins can start. */
  get ready (): boolean { return this.#config !== undefined }

  get hasEndSession (): boolean { return this.#config?.serverMetadata().end_session_endpoint !== undefined }

  /** The issuer exactly as discovered (what the provider's tokens carry in `iss`), once discovery is done. */
  get issuer (): string | undefined { return this.#config?.serverMetadata().issuer }

  /**
   * The provider's signing keys, for verifying tokens openid-client does not
   * handle (back-channel logout tokens). jose fetches them on demand and
   * again when a token names an unknown key id (key rotation).
   */
  get signingKeys (): JWTVerifyGetKey | undefined {
    if (this.#signingKeys === undefined && this.#config !== undefined) {
      const uri = this.#config.serverMetadata().jwks_uri
      if (uri !== undefined) this.#signingKeys = createRemoteJWKSet(new URL(uri), { timeoutDuration: DISCOVERY_TIMEOUT_S * 1000 })
    }
    return this.#signingKeys
  }

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
        await this.#discover()
        this.#log.info({ provider: this.id, issuer: this.cfg.issuer }, 'provider discovery complete')
      } catch (err) {
        const e = classifyProviderError(err, 'discovery')
        this.#log.warn({ provider: this.id, issuer: this.cfg.issuer, code: e.code, err: e.message }, `provider discovery failed; retrying in ${delay / 1000}s`)
        if (this.#stopped) return
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
    const execute: ((c: client.Configuration) => void)[] = [
      // Verify ID token signatures even from the token endpoint: a gateway
      // should not depend on TLS alone for the identity it vouches for.
      client.enableNonRepudiationChecks,
    ]
    if (issuer.protocol === 'http:' && (isLoopbackHost(issuer.hostname) || this.cfg.allowInsecureHttp)) execute.push(client.allowInsecureRequests)
    const metadata: Partial<client.ClientMetadata> = { redirect_uris: [this.redirectUri] }
    const config = await client.discovery(issuer, this.cfg.clientId, metadata, await clientAuth(this.cfg), { execute, timeout: DISCOVERY_TIMEOUT_S })
    // The discovery document's issuer must be exactly the configured one
    // (openid-client compares too; this also catches trailing-slash drift).
    const found = config.serverMetadata().issuer
    if (found !== this.cfg.issuer && found !== issuer.href) {
      throw new GatewayError('GH_PROVIDER_ISSUER_MISMATCH', 502, `discovery issuer ${JSON.stringify(found)} differs from the configured ${JSON.stringify(this.cfg.issuer)}`)
    }
    const jwksUri = config.serverMetadata().jwks_uri
    if (jwksUri === undefined) throw new GatewayError('GH_PROVIDER_NO_JWKS', 502, 'the provider publishes no jwks_uri')
    const res = await fetch(jwksUri, { signal: AbortSignal.timeout(DISCOVERY_TIMEOUT_S * 1000), headers: { accept: 'application/json' } })
    if (!res.ok) throw new GatewayError('GH_PROVIDER_NO_JWKS', 502, `the provider's JWKS answered HTTP ${res.status}`)
    const jwks = await res.json() as { keys?: unknown[] }
    if (!Array.isArray(jwks.keys)) throw new GatewayError('GH_PROVIDER_NO_JWKS', 502, 'the provider\'s JWKS has no keys')
    // Hand the keys to openid-client so the first login does not fetch them again.
    client.setJwksCache(config, { jwks: jwks as client.JWKS, uat: Math.floor(Date.now() / 1000) })
    this.#config = config
  }

  #require (): client.Configuration {
    if (this.#config === undefined) throw new ProviderUnavailableError(`identity provider ${this.id} is not available yet (discovery pending)`)
    return this.#config
  }

  /** The URL the browser is sent to for login (the provider's, or the loginUrl template's). */
  async authorizationUrl (checks: LoginChecks): Promise<string> {
    const config = this.#require()
    const params: Record<string, string> = {
      ...this.cfg.authorizationParams,
      redirect_uri: this.redirectUri,
      response_type: this.cfg.responseType,
      scope: this.cfg.scopes.join(' '),
      state: checks.state,
      nonce: checks.nonce,
    }
    if (this.cfg.responseMode !== 'query' || this.cfg.responseType !== 'code') params.response_mode = this.cfg.responseMode
    if (checks.codeVerifier !== undefined) {
      params.code_challenge = await client.calculatePKCECodeChallenge(checks.codeVerifier)
      params.code_challenge_method = 'S256'
    }
    const url = client.buildAuthorizationUrl(config, params).href
    if (this.cfg.loginUrl === undefined) return url
    return this.cfg.loginUrl
      .replaceAll('{authorizeUrl}', encodeURIComponent(url))
      .replaceAll('{clientId}', encodeURIComponent(this.cfg.clientId))
  }

  /**
   * Completes an authorization-code login from the callback URL: checks state,
   * iss, exchanges the code (with the PKCE verifier), and verifies the ID token
   * (signature, iss, aud, azp, exp, iat, nonce). Fetches userinfo when
   * configured, requiring its `sub` to equal the ID token's.
   */
  async completeCodeLogin (callbackUrl: URL, checks: LoginChecks, now: number): Promise<LoginResult> {
    const config = this.#require()
    let tokens: Awaited<ReturnType<typeof client.authorizationCodeGrant>>
    try {
      tokens = await client.authorizationCodeGrant(config, callbackUrl, {
        expectedState: checks.state,
        expectedNonce: checks.nonce,
        idTokenExpected: true,
        ...(checks.codeVerifier !== undefined ? { pkceCodeVerifier: checks.codeVerifier } : {}),
      })
    } catch (err) {
      throw classifyProviderError(err, 'login')
    }
    const idClaims = tokens.claims()
    if (idClaims === undefined || tokens.id_token === undefined) throw new LoginError('GH_LOGIN_NO_ID_TOKEN', 400, 'the provider returned no ID token')
    let userinfo: Claims | undefined
    if (this.cfg.fetchUserinfo && tokens.access_token !== undefined && config.serverMetadata().userinfo_endpoint !== undefined) {
      try {
        userinfo = await client.fetchUserInfo(config, tokens.access_token, idClaims.sub)
      } catch (err) {
        throw classifyProviderError(err, 'userinfo')
      }
    }
    const expiresIn = tokens.expiresIn()
    return {
      sub: idClaims.sub,
      ...(typeof idClaims.sid === 'string' ? { sid: idClaims.sid } : {}),
      idClaims: idClaims as Claims,
      ...(userinfo !== undefined ? { userinfo } : {}),
      idToken: tokens.id_token,
      ...(tokens.access_token !== undefined ? { accessToken: tokens.access_token } : {}),
      ...(tokens.refresh_token !== undefined ? { refreshToken: tokens.refresh_token } : {}),
      expiresAt: expiresIn !== undefined ? now + expiresIn * 1000 : idClaims.exp * 1000,
    }
  }

  /**
   * Spends a refresh token. `ended`: the provider refused it (`invalid_grant`
   * and other 4xx OAuth errors, read from the `error` field, never from
   * message text) or a new ID token names another subject; `unavailable`:
   * network failure or provider 5xx, the session may go on while its token is valid.
   * openid-client checks that a refreshed ID token has the same `iss` (and
   * signature, aud, exp); `sub` is compared here. `now` (epoch ms) anchors
   * the new expiry on the gateway's clock.
   */
  async refresh (refreshToken: string, expectedSub: string, now: number): Promise<RefreshResult> {
    const config = this.#config
    if (config === undefined) return { kind: 'unavailable', error: new ProviderUnavailableError(`identity provider ${this.id} is not available yet`) }
    let tokens: Awaited<ReturnType<typeof client.refreshTokenGrant>>
    try {
      tokens = await client.refreshTokenGrant(config, refreshToken)
    } catch (err) {
      if (err instanceof client.ResponseBodyError && err.status < 500) {
        // Read from the OAuth `error` field. A provider asking us to come back
        // later has not ended anything; every other refusal (invalid_grant
        // above all: expired, revoked or already-rotated token) has.
        if (err.error === 'temporarily_unavailable' || err.status === 429) return { kind: 'unavailable', error: new ProviderUnavailableError(`the identity provider asked to retry the refresh later (${err.error})`, { cause: err }) }
        return { kind: 'ended', reason: err.error }
      }
      const e = classifyProviderError(err, 'refresh')
      return e.status >= 500 ? { kind: 'unavailable', error: e } : { kind: 'ended', reason: e.code }
    }
    const idClaims = tokens.claims()
    if (idClaims !== undefined && idClaims.sub !== expectedSub) return { kind: 'ended', reason: 'sub_mismatch' }
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
