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
  /** Entra ID multi-tenant: the tenant ids (`tid`) accepted from the template issuer. */
  readonly tenants?: readonly string[]
  /** Allow an http:// issuer that is not on loopback (never needed in production). */
  readonly allowInsecureHttp: boolean
  /** Where the provider sends the user back after RP-initiated logout (default: publicUrl + rd). */
  readonly postLogoutRedirectUri?: string
  /** The label on the sign-in chooser page (default: the id). */
  readonly name?: string
}

/** Where Redis is: exactly one of `url`, `sentinels` (with `sentinelName`) or `cluster`. */
export interface RedisConfig {
  /** redis:// or rediss:// URL of one server (may carry user and password). */
  readonly url?: string
  /** Sentinels that name the current master of `sentinelName`. */
  readonly sentinels?: readonly RedisAddress[]
  readonly sentinelName?: string
  /** Seed nodes of a Redis Cluster. */
  readonly cluster?: readonly RedisAddress[]
  /** AUTH for the data nodes, when the URL carries none. */
  readonly username?: string
  readonly password?: string
  readonly keyPrefix: string
  /** store: redis: how long (ms) a session read from Redis is served from memory; 0: never. */
  readonly localCacheTtl: number
}

export interface RedisAddress {
  readonly host: string
  readonly port: number
}

export interface SessionConfig {
  /** First encrypts, all decrypt. */
  readonly secrets: readonly string[]
  readonly cookieName: string
  readonly cookieDomain?: string
  readonly store: StoreKind
  readonly redis?: RedisConfig
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
  /** Normalised path prefix: starts with '/', no trailing '/' except the root ('/' when pathRegex is set). */
  readonly path: string
  /** Instead of `path`: a regular expression matched anchored on the whole normalised path (checked safe at load). */
  readonly pathRegex?: string
  /** Upper-case methods the route is limited to; any method when absent. */
  readonly methods?: readonly string[]
  /** A CORS preflight (OPTIONS with Origin and Access-Control-Request-Method) is forwarded without auth. */
  readonly allowPreflight: boolean
  /** Lower-cased host, `*.example.com` wildcard, or undefined for any host. */
  readonly host?: string
  readonly upstream: string
  readonly provider: string
  /**
   * `providers:` as written: a session from one of these is accepted, and an
   * unauthenticated browser chooses among them (with two or more). Undefined:
   * the route logs in at `provider` and accepts a session from any provider.
   */
  readonly providers?: readonly string[]
  readonly auth: AuthMode
  readonly unauthenticated: UnauthenticatedMode
  readonly allow?: AllowConfig
  readonly bearer: BearerMode
  /** Identity headers: [Header-Name, claim name], in the order given. */
  readonly headers: readonly (readonly [string, string])[]
  readonly stripPrefix: boolean
  /** API clients: `Authorization: Bearer` is verified instead of reading a session. */
  readonly acceptBearer?: AcceptBearerConfig
  /** The gateway's own token sent upstream instead of the user's. */
  readonly upstreamToken?: UpstreamTokenConfig
  /** Send the signed identity assertion (the top-level `assertion` section) upstream. */
  readonly assertion: boolean
  /** WebSocket upgrades are tunnelled (after the same decision as any request); false: refused. */
  readonly websocket: boolean
}

/** The signed identity assertion: an ES256 JWT sent upstream on routes with `assertion: true`. */
export interface AssertionConfig {
  /** The request header that carries it (stripped from every incoming request). */
  readonly header: string
  /** Lifetime of one assertion, ms. */
  readonly ttl: number
  /** PEM or private JWK text of the P-256 signing key; absent: a key is generated at start. */
  readonly key?: string
}

export interface AcceptBearerConfig {
  /** Providers whose issuer and keys verify a token (default: the route's). */
  readonly providers: readonly string[]
  /** `aud` must contain one; undefined: each provider's clientId. */
  readonly audiences?: readonly string[]
  /** Opaque (non-JWT) tokens are checked at the providers' RFC 7662 endpoints. */
  readonly introspect: boolean
}

export type UpstreamTokenConfig =
  | { readonly kind: 'clientCredentials', readonly provider: string, readonly scopes: readonly string[] }
  | { readonly kind: 'static', readonly token: string }

export interface UpstreamOptions {
  /** Keep-alive connections per upstream origin. */
  readonly connections: number
  readonly connectTimeout: number
  /** Time to wait for the upstream's response headers (504 after). */
  readonly timeout: number
}

/** `tls`: the proxy listener serves HTTPS with this pair. */
export interface TlsConfig {
  readonly certFile: string
  readonly keyFile: string
  /** PEM text, read at load (and again on every reload). */
  readonly cert: string
  readonly key: string
}

export interface Config {
  readonly listen: ListenAddress
  /** The proxy listener serves HTTPS when set. */
  readonly tls?: TlsConfig
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
    /** Milliseconds between writes of gathered access-log lines (0: each line at once). */
    readonly flushInterval: number
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
  readonly assertion: AssertionConfig
  /** SIGTERM/SIGINT: how long the proxy keeps serving (in-flight and new requests) before it exits, ms. */
  readonly shutdownGrace: number
  /** `reload.watch`: reload when the file (or a secret file it names) changes, as SIGHUP does. */
  readonly reload: { readonly watch: boolean }
}
