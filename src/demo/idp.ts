import type { AddressInfo } from 'node:net'
import type { Server } from 'node:http'
import type { ProviderConfig, ResponseType } from '../config/types.js'

/**
 * A development OpenID Provider: panva's certified oidc-provider with its
 * built-in login and consent pages (any password is accepted). Used by the
 * demo (`npm start`) and by the tests; never part of a production run —
 * oidc-provider is a development dependency and is imported only here.
 */

export interface DevUser {
  readonly email?: string
  readonly name?: string
  readonly groups?: readonly string[]
  readonly [claim: string]: unknown
}

export interface DevProviderOptions {
  readonly port?: number
  readonly host?: string
  /** Static clients (oidc-provider client metadata). */
  readonly clients: readonly Record<string, unknown>[]
  /** Known users; any other login name gets generated claims. */
  readonly users?: Readonly<Record<string, DevUser>>
  /** Token lifetimes in seconds. */
  readonly ttl?: { readonly AccessToken?: number, readonly IdToken?: number, readonly RefreshToken?: number }
  /** Issue a refresh token whenever the client may use the grant (default true). */
  readonly alwaysIssueRefreshToken?: boolean
  /** Extra oidc-provider configuration, merged over the defaults. */
  readonly configure?: (config: Record<string, any>) => void
}

export interface DevProvider {
  readonly issuer: string
  readonly port: number
  /** The oidc-provider instance (for event hooks in tests). */
  readonly provider: any
  /** Successful grants by grant_type, counted at the provider. */
  readonly grants: Map<string, number>
  /** Every request the provider served, by path (e.g. '/token'). */
  readonly requests: Map<string, number>
  /** Adds a Koa middleware around the provider's own (tests rewrite responses with it). */
  use (middleware: (ctx: any, next: () => Promise<void>) => Promise<void>): void
  close (): Promise<void>
}

export const DEMO_USERS: Readonly<Record<string, DevUser>> = Object.freeze({
  alice: { email: 'alice@example.com', name: 'Alice Example', groups: ['admins', 'staff'] },
  bob: { email: 'bob@example.com', name: 'Bob Example', groups: ['staff'] },
  mallory: { email: 'mallory@evil.example', name: 'Mallory', groups: [] },
})

/** Every response type of the configuration contract; the development provider offers them all. */
export const ALL_RESPONSE_TYPES: readonly ResponseType[] = ['code', 'id_token', 'id_token token', 'code id_token', 'code token', 'code id_token token']

/** The grant types a client needs for a response type: a code is redeemed, tokens from the authorization endpoint are "implicit". */
export function grantTypesFor (responseType: ResponseType): string[] {
  const parts = responseType.split(' ')
  const grants: string[] = []
  if (parts.includes('code')) grants.push('authorization_code', 'refresh_token')
  if (parts.includes('id_token') || parts.includes('token')) grants.push('implicit')
  return grants
}

/**
 * The client registration matching a Gatehouse provider config: its response
 * type, the grant types that go with it, its client authentication (with
 * private_key_jwt, the key is read from Gatehouse's /.gatehouse/jwks), and
 * Gatehouse's back-channel logout endpoint.
 */
export function devClientFor (p: ProviderConfig, publicOrigin: string): Record<string, unknown> {
  return {
    client_id: p.clientId,
    ...(p.clientSecret !== undefined ? { client_secret: p.clientSecret } : {}),
    redirect_uris: [`${publicOrigin}/.gatehouse/callback`],
    post_logout_redirect_uris: [`${publicOrigin}/`],
    response_types: [p.responseType],
    grant_types: grantTypesFor(p.responseType),
    token_endpoint_auth_method: p.tokenEndpointAuthMethod,
    ...(p.tokenEndpointAuthMethod === 'private_key_jwt' ? { jwks_uri: `${publicOrigin}/.gatehouse/jwks` } : {}),
    backchannel_logout_uri: `${publicOrigin}/.gatehouse/backchannel-logout`,
    backchannel_logout_session_required: true,
  }
}

/**
 * Makes the provider issue JWT access tokens (RS256, the provider's keys) for
 * `resource`: a token asked for with that resource indicator, or every token
 * when `byDefault`. Others stay opaque. For API clients of acceptBearer routes.
 */
export function jwtAccessTokens (config: Record<string, any>, resource: string, o: { byDefault?: boolean, ttl?: number } = {}): void {
  config.features.resourceIndicators = {
    enabled: true,
    defaultResource: async () => (o.byDefault === true ? resource : undefined),
    useGrantedResource: async () => true,
    getResourceServerInfo: async () => ({
      scope: 'api:read api:write',
      audience: resource,
      accessTokenFormat: 'jwt',
      accessTokenTTL: o.ttl ?? 3600,
      jwt: { sign: { alg: 'RS256' } },
    }),
  }
}

export async function startDevProvider (opts: DevProviderOptions): Promise<DevProvider> {
  const { default: Provider } = await import('oidc-provider')
  const { createServer } = await import('node:http')
  const host = opts.host ?? '127.0.0.1'
  // Bind first so the issuer can carry the real port when port 0 is asked for.
  const server: Server = createServer()
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(opts.port ?? 0, host, () => { resolve() })
  })
  const port = (server.address() as AddressInfo).port
  const issuer = `http://${host}:${port}`
  const users = opts.users ?? DEMO_USERS
  const config: Record<string, any> = {
    clients: opts.clients,
    async findAccount (_ctx: unknown, sub: string) {
      const u = users[sub] ?? { email: `${sub}@example.org`, name: sub, groups: [] }
      return {
        accountId: sub,
        async claims () {
          return { sub, email_verified: true, preferred_username: sub, ...u }
        },
      }
    },
    claims: {
      openid: ['sub'],
      email: ['email', 'email_verified'],
      profile: ['name', 'preferred_username', 'groups'],
    },
    scopes: ['openid', 'offline_access', 'email', 'profile'],
    responseTypes: [...ALL_RESPONSE_TYPES],
    // Put profile and email claims in the ID token too, as most providers do.
    conformIdTokenClaims: false,
    features: {
      devInteractions: { enabled: true },
      revocation: { enabled: true },
      // Clients that register a backchannel_logout_uri are told when the user
      // signs out at the provider, and their ID tokens carry `sid`.
      backchannelLogout: { enabled: true },
    },
    cookies: { keys: ['gatehouse-dev-idp-cookie-key-0123456789'] },
    // oidc-provider refuses outgoing requests to loopback and private
    // addresses (an SSRF guard for production). This development provider
    // must reach a gateway on loopback: back-channel logout, and the
    // private_key_jwt keys at /.gatehouse/jwks.
    fetch: async (url: URL | string, options: RequestInit & { dispatcher?: unknown }) => {
      delete options.dispatcher
      return globalThis.fetch(url, options)
    },
    ttl: {
      AccessToken: opts.ttl?.AccessToken ?? 3600,
      IdToken: opts.ttl?.IdToken ?? 3600,
      RefreshToken: opts.ttl?.RefreshToken ?? 86400,
      AuthorizationCode: 60,
      Interaction: 600,
      Session: 86400,
      Grant: 86400,
    },
    ...(opts.alwaysIssueRefreshToken !== false
      ? { issueRefreshToken: async (_ctx: unknown, client: any) => client.grantTypeAllowed('refresh_token') }
      : {}),
  }
  opts.configure?.(config)
  const provider = new Provider(issuer, config)
  // oidc-provider refuses http:// and localhost redirect URIs for clients of
  // the implicit and hybrid flows. This provider only ever runs on loopback
  // for the demo and the tests, where those are exactly what is used
  // (oidc-provider's documented way to allow them).
  const schema = provider.Client.Schema.prototype
  const invalidate = schema.invalidate
  schema.invalidate = function (message: string, code?: string) {
    if (code === 'implicit-force-https' || code === 'implicit-forbid-localhost') return
    invalidate.call(this, message, code)
  }
  const grants = new Map<string, number>()
  const requests = new Map<string, number>()
  provider.on('grant.success', (ctx: any) => {
    const type = String(ctx.oidc.params?.grant_type ?? 'unknown')
    grants.set(type, (grants.get(type) ?? 0) + 1)
  })
  provider.on('server_error', (_ctx: unknown, err: Error) => { process.stderr.write(`dev idp server_error: ${err.stack ?? err.message}\n`) })
  let callback = provider.callback()
  server.on('request', (req, res) => {
    const path = (req.url ?? '/').split('?')[0]!
    requests.set(path, (requests.get(path) ?? 0) + 1)
    callback(req, res)
  })
  return {
    issuer,
    port,
    provider,
    grants,
    requests,
    use: (middleware) => {
      provider.use(middleware)
      // Koa composes its middleware when the handler is made: make it again.
      callback = provider.callback()
    },
    close: async () => {
      server.closeAllConnections()
      await new Promise<void>((resolve) => { server.close(() => { resolve() }) })
    },
  }
}
