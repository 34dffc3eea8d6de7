import { GatewayError } from '../errors.js'
import type { Logger } from './jwks.js'
import type { OidcProvider } from './oidc.js'

/**
 * `upstreamToken`: the gateway's own token, sent upstream as
 * `Authorization: Bearer` instead of the user's. A static one (`tokenFile`,
 * read with the configuration, so at start and on SIGHUP), or one from the
 * provider's client_credentials grant, kept and renewed before it expires:
 * one grant at a time, however many requests want it. Never logged.
 */
export interface UpstreamTokenSource {
  /** The token to send now: a string when one is at hand, else a Promise (rejects with a GatewayError). */
  token (now: number): string | Promise<string>
}

export class StaticToken implements UpstreamTokenSource {
  readonly #value: string
  constructor (value: string) { this.#value = value }
  token (): string { return this.#value }
}

/** A granted token is renewed this long before it expires (at most half its lifetime before). */
export const RENEW_BEFORE_MS = 60_000
/** Lifetime assumed when the provider does not say (no expires_in). */
export const DEFAULT_LIFETIME_MS = 5 * 60_000
/** After a failed grant with no valid token, requests get the failure without a new grant for this long. */
export const FAILURE_HOLD_MS = 2_000

interface Held {
  readonly token: string
  readonly renewAt: number
  readonly expiresAt: number
}

export class ClientCredentialsToken implements UpstreamTokenSource {
  readonly #provider: OidcProvider
  readonly #scopes: readonly string[]
  readonly #log: Logger
  #held: Held | undefined
  #granting: Promise<string> | undefined
  #failed: { readonly error: GatewayError, readonly until: number } | undefined

  constructor (provider: OidcProvider, scopes: readonly string[], log: Logger) {
    this.#provider = provider
    this.#scopes = scopes
    this.#log = log
  }

  token (now: number): string | Promise<string> {
    const held = this.#held
    if (held !== undefined && now < held.expiresAt) {
      // Renewal runs beside the requests, which go on with the token held.
      if (now >= held.renewAt && this.#granting === undefined) this.#grant(now).catch(() => undefined)
      return held.token
    }
    const failed = this.#failed
    if (failed !== undefined && now < failed.until && this.#granting === undefined) return Promise.reject(failed.error)
    return this.#grant(now)
  }

  /** One grant in flight at a time: every caller waits for the same one. */
  #grant (now: number): Promise<string> {
    this.#granting ??= this.#fetch(now).finally(() => { this.#granting = undefined })
    return this.#granting
  }

  async #fetch (now: number): Promise<string> {
    try {
      const got = await this.#provider.clientCredentials(this.#scopes)
      const lifetime = got.expiresIn !== undefined ? got.expiresIn * 1000 : DEFAULT_LIFETIME_MS
      this.#held = { token: got.accessToken, expiresAt: now + lifetime, renewAt: now + lifetime - Math.min(RENEW_BEFORE_MS, lifetime / 2) }
      this.#failed = undefined
      this.#log.debug({ provider: this.#provider.id, expiresIn: Math.round(lifetime / 1000) }, 'upstream token granted')
      return got.accessToken
    } catch (err) {
      const e = err instanceof GatewayError ? err : new GatewayError('GH_PROVIDER_ERROR', 502, String((err as Error)?.message ?? err), { cause: err })
      // A refusal (invalid_client, invalid_scope, unauthorized_client...) is the gateway's misconfiguration, never the user's.
      const error = e.status < 500 ? new GatewayError('GH_UPSTREAM_TOKEN_REFUSED', `the identity provider refused the gateway's client_credentials grant: ${e.message}`, { cause: e }) : e
      this.#failed = { error, until: now + FAILURE_HOLD_MS }
      this.#log.warn({ provider: this.#provider.id, code: error.code, err: error.message }, 'upstream token grant failed')
      throw error
    }
  }
}
