/**
 * The validated, normalised configuration. Everything here is plain data,
 * deep-frozen once at load; durations are milliseconds, names are canonical.
 * The YAML shape users write is described in docs/config-contract.md.
 */

export type ResponseType =
  | 'code'
  | 'id_token'
  | 'id_token token'
  | 'code id_token'
  | 'code token'
  | 'code id_token token'

export type ResponseMode = 'query' | 'fragment' | 'form_post'
export type TokenEndpointAuthMethod = 'client_secret_basic' | 'client_secret_post' | 'private_key_jwt' | 'none'
export type StoreKind = 'cookie' | 'memory' | 'redis'
export type AuthMode = 'required' | 'optional' | 'public'
export type UnauthenticatedMode = 'auto' | 'redirect' | 'deny'
export type BearerMode = 'access_token' | 'id_token' | 'none'

export interface ListenAddress {
  readonly host: string
  readonly port: number
}

export interface ProviderConfig {
  readonly id: string
  readonly issuer: string
  readonly clientId: string
  readonly clientSecret?: string
  readonly tokenEndpointAuthMethod: TokenEndpointAuthMethod
  /** PEM or JSON (JWK) text of the private key for private_key_jwt. */
  readonly privateKey?: string
  readonly privateKeyId?: string
  readonly responseType: ResponseType
  readonly responseMode: ResponseMode
  readonly pkce: boolean
  readonly scopes: readonly string[]
  readonly authorizationParams: Readonly<Record<string, string>>
  readonly loginUrl?: string
  /** Fetch the userinfo endpoint at login and merge its claims (sub must match). */
  readonly fetchUserinfo: boolean
  /** Claim holding the user's groups, for `allow.groups` and the groups header. */
  readonly groupsClaim: string
  /** Allow an http:// issuer that is not on loopback (never needed in production). */
  readonly allowInsecureHttp: boolean
  /** Where the provider sends the user back after RP-initiated logout (default: publicUrl + rd). */
  readonly postLogoutRedirectUri?: string
}

export interface SessionConfig {
  /** First encrypts, all decrypt. */
  readonly secrets: readonly string[]
  readonly cookieName: string
  readonly cookieDomain?: string
  readonly store: StoreKind
  readonly redis?: { readonly url: string, readonly keyPrefix: string }
  readonly memory: { readonly maxSessions: number }
  readonly idleTimeout: number
  readonly absoluteTimeout: number
  readonly refreshBefore: number
  readonly clockSkew: number
}

export interface AllowConfig {
  readonly emails?: readonly string[]
  readonly domains?: readonly string[]
  readonly groups?: readonly string[]
  readonly claims?: Readonly<Record<string, readonly (string | number | boolean)[]>>
}

export interface RouteConfig {
  /** Position in the file, for error messages and tie-breaking. */
  readonly index: number
  /** Optional label for metrics and logs (the index when absent). */
  readonly name?: string
  /** Normalised path prefix: starts with '/', no trailing '/' except the root. */
  readonly path: string
  /** Lower-cased host, `*.example.com` wildcard, or undefined for any host. */
  readonly host?: string
  readonly upstream: string
  readonly provider: string
  readonly auth: AuthMode
  readonly unauthenticated: UnauthenticatedMode
  readonly allow?: AllowConfig
  readonly bearer: BearerMode
  /** Identity headers: [Header-Name, claim name], in the order given. */
  readonly headers: readonly (readonly [string, string])[]
  readonly stripPrefix: boolean
  /** WebSocket upgrades are tunnelled (after the same decision as any request); false: refused. */
  readonly websocket: boolean
}

export interface UpstreamOptions {
  /** Keep-alive connections per upstream origin. */
  readonly connections: number
  readonly connectTimeout: number
  /** Time to wait for the upstream's response headers (504 after). */
  readonly timeout: number
}

export interface Config {
  readonly listen: ListenAddress
  readonly publicUrl: string
  /** Origin of publicUrl, e.g. https://app.example.com */
  readonly publicOrigin: string
  readonly secure: boolean
  readonly trustProxy: boolean
  readonly admin?: { readonly listen: ListenAddress }
  readonly log: {
    readonly level: string
    readonly requests: boolean
    /** One access-log line per request (on by default). */
    readonly access: boolean
    /** Query parameters redacted in log lines, on top of the built-in list. */
    readonly redactQueryParams: readonly string[]
  }
  /** Per client address; 0 = no limit. */
  readonly limits: { readonly loginsPerMinute: number }
  /**
   * Where an unauthenticated browser is sent: `provider` (straight to the
   * provider's login, one redirect) or `gateway` (to /.gatehouse/login?rd=...).
   */
  readonly loginRedirect: 'provider' | 'gateway'
  readonly upstream: UpstreamOptions
  /**
   * Processes serving the proxy port (node:cluster). 1 = one process, the
   * sidecar default; more for a shared gateway on a multi-core machine.
   */
  readonly workers: number
  readonly providers: readonly ProviderConfig[]
  readonly session: SessionConfig
  readonly routes: readonly RouteConfig[]
  /** SIGTERM/SIGINT: how long the proxy keeps serving (in-flight and new requests) before it exits, ms. */
  readonly shutdownGrace: number
  /** `reload.watch`: reload when the file (or a secret file it names) changes, as SIGHUP does. */
  readonly reload: { readonly watch: boolean }
}
