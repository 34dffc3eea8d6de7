import type { FastifyBaseLogger } from 'fastify'
import type { JWK } from 'jose'
import type { LRUCache } from 'lru-cache'
import type { Pool } from 'undici'
import { BearerVerifier } from './auth/bearer.js'
import { AssertionSigner, generateAssertionKey, loadAssertionKey, type AssertionKey } from './auth/assertion.js'
import { loadClientKey } from './auth/client-key.js'
import { OidcProvider } from './auth/oidc.js'
import { ClientCredentialsToken, StaticToken, type UpstreamTokenSource } from './auth/upstream-token.js'
import type { Refresher } from './auth/refresh.js'
import type { Config, UpstreamOptions } from './config/types.js'
import type { Gateway } from './context.js'
import { LoginLimiter } from './auth/rate-limit.js'
import type { Metrics } from './metrics.js'
import type { Observer } from './observe.js'
import { UpstreamPools } from './proxy/forward.js'
import { returnOrigin } from './auth/return-to.js'
import { compileRoutes } from './routing/compile.js'
import { buildRouteTable, namesHost } from './routing/match.js'
import type { SerializeCookie } from './session/cookies.js'
import { SessionManager } from './session/manager.js'
import type { Revocations } from './session/revocations.js'
import type { SessionStore } from './session/store.js'

/**
 * One generation of the gateway context: what a config compiles to. A
 * reload builds the next generation from the previous one, reusing the
 * upstream pools and providers whose config did not change, and the request
 * path swaps to it in one assignment (see GatewayRef in context.ts).
 */

/** What lives as long as the process, whatever the config says. */
export interface SharedParts {
  readonly log: FastifyBaseLogger
  readonly now: () => number
  readonly metrics: Metrics
  readonly store: SessionStore
  readonly revocations: Revocations
  readonly serialize: SerializeCookie
  readonly refresher: Refresher
  readonly consumedStates: LRUCache<string, true>
  readonly newRequestId: () => string
  readonly callbackPath: string
  readonly observer: Observer
  /**
   * The assertion key used when the config gives none: made once per process
   * (on first use) and kept across reloads; cluster workers get the primary's.
   * Without it, each generation generates its own.
   */
  readonly assertionKey?: () => AssertionKey
}

export interface Generation {
  readonly gateway: Gateway
  readonly pools: UpstreamPools
  /** The JWK Set body of `/.gatehouse/jwks` (private_key_jwt and assertion public keys), when there is one. */
  readonly jwks: string | undefined
  /** Provider id -> the identity of its config (see providerIdentity). */
  readonly providerKeys: ReadonlyMap<string, string>
  /** Upstream origin -> the identity of its pool's options. */
  readonly originKeys: ReadonlyMap<string, string>
}

/** What a reload took out of service: closed once requests on the old generation had their time. */
export interface Retired {
  readonly providers: readonly OidcProvider[]
  readonly pools: readonly Pool[]
  /** The whole old pool set, when the pool options changed. */
  readonly poolSet: UpstreamPools | undefined
}

/** A provider instance can be reused when this string is the same: its config, the redirect URI and the clock skew. */
export function providerIdentity (cfg: Config['providers'][number], redirectUri: string, clockSkew: number): string {
  return JSON.stringify([cfg, redirectUri, clockSkew])
}

export function poolIdentity (opts: UpstreamOptions): string {
  return JSON.stringify([opts.connections, opts.connectTimeout, opts.timeout])
}

export interface Reconciled {
  /** Same name, same identity: the running instance serves on. */
  readonly reuse: readonly string[]
  /** New names, and names whose identity changed: a new instance. */
  readonly create: readonly string[]
  /** Names gone, and names whose identity changed: the old instance is closed. */
  readonly remove: readonly string[]
}

/** Pure: which named resources a new config reuses, creates and removes (a changed one is both created and removed). */
export function reconcile (prev: ReadonlyMap<string, string>, next: ReadonlyMap<string, string>): Reconciled {
  const reuse: string[] = []
  const create: string[] = []
  const remove: string[] = []
  for (const [name, identity] of next) {
    const old = prev.get(name)
    if (old === identity) reuse.push(name)
    else {
      create.push(name)
      if (old !== undefined) remove.push(name)
    }
  }
  for (const name of prev.keys()) if (!next.has(name)) remove.push(name)
  return { reuse, create, remove }
}

/**
 * Builds a generation from a validated config. With `previous`, providers and
 * pools whose identity is unchanged are taken over; nothing of `previous` is
 * changed here (a build that fails leaves the running generation intact):
 * `retire` says afterwards what the new one no longer uses.
 */
export async function buildGeneration (config: Config, shared: SharedParts, previous?: Generation): Promise<Generation> {
  const redirectUri = config.publicOrigin + shared.callbackPath
  const { log, now } = shared
  const providerKeys = new Map(config.providers.map((p) => [p.id, providerIdentity(p, redirectUri, config.session.clockSkew)]))
  const keep = new Set(previous !== undefined ? reconcile(previous.providerKeys, providerKeys).reuse : [])
  const providers = new Map<string, OidcProvider>()
  for (const p of config.providers) {
    providers.set(p.id, keep.has(p.id) ? previous!.gateway.providers.get(p.id)! : new OidcProvider(p, redirectUri, log, { now, clockSkew: config.session.clockSkew }))
  }
  // private_key_jwt: the public halves of the client keys, with the kid the
  // client assertions carry, for providers that read the client's jwks_uri.
  const clientKeys = new Map<string, JWK>()
  for (const p of config.providers) {
    if (p.tokenEndpointAuthMethod !== 'private_key_jwt') continue
    const k = await loadClientKey(p)
    clientKeys.set(k.kid, k.publicJwk)
  }
  // The identity assertion's key, published beside them while a route sends assertions.
  let assertion: AssertionSigner | undefined
  if (config.routes.some((r) => r.assertion)) {
    const key = config.assertion.key !== undefined ? loadAssertionKey(config.assertion.key) : shared.assertionKey?.() ?? generateAssertionKey()
    assertion = new AssertionSigner(key, { issuer: config.publicUrl, ttl: config.assertion.ttl, header: config.assertion.header })
    clientKeys.set(key.kid, key.publicJwk)
  }

  const optionsKey = poolIdentity(config.upstream)
  const samePools = previous !== undefined && [...previous.originKeys.values()].every((k) => k === optionsKey)
  const pools = samePools ? previous.pools : new UpstreamPools(config.upstream)
  const originKeys = new Map(config.routes.map((r) => [new URL(r.upstream).origin, optionsKey]))
  // Header plans, policies and pools exist once, not per request.
  // Routes with the same bearer settings share a verifier (and its cache); the same grant, its token.
  const verifiers = new Map<string, BearerVerifier>()
  const grants = new Map<string, UpstreamTokenSource>()
  const verifierFor = (r: Config['routes'][number]): BearerVerifier | undefined => {
    const b = r.acceptBearer
    if (b === undefined) return undefined
    const key = JSON.stringify(b)
    let v = verifiers.get(key)
    if (v === undefined) {
      v = new BearerVerifier({ providers: b.providers.map((id) => providers.get(id)!), audiences: b.audiences, introspect: b.introspect, clockSkew: config.session.clockSkew })
      verifiers.set(key, v)
    }
    return v
  }
  const upstreamTokensFor = (r: Config['routes'][number]): UpstreamTokenSource | undefined => {
    const u = r.upstreamToken
    if (u === undefined) return undefined
    if (u.kind === 'static') return new StaticToken(u.token)
    const key = JSON.stringify([u.provider, u.scopes])
    let g = grants.get(key)
    if (g === undefined) {
      g = new ClientCredentialsToken(providers.get(u.provider)!, u.scopes, log)
      grants.set(key, g)
    }
    return g
  }
  const compiled = compileRoutes(config.routes, { providers, pools, metrics: shared.metrics, verifierFor, upstreamTokensFor, assertionHeader: config.assertion.header })

  const routes = buildRouteTable(compiled)
  const gateway: Gateway = Object.freeze({
    config,
    sessions: new SessionManager(config.session, config.secure, shared.store, shared.serialize, shared.revocations),
    providers,
    defaultProvider: providers.get(config.providers[0]!.id)!,
    routes,
    returnOrigin: returnOrigin(config.publicUrl, (host: string) => namesHost(routes, host)),
    metrics: shared.metrics,
    refresher: shared.refresher,
    log,
    now,
    consumedStates: shared.consumedStates,
    redirectUri,
    newRequestId: shared.newRequestId,
    observer: shared.observer,
    limiter: new LoginLimiter(config.limits.loginsPerMinute, now),
    assertion,
  })
  return {
    gateway,
    pools,
    jwks: clientKeys.size > 0 ? JSON.stringify({ keys: [...clientKeys.values()] }) : undefined,
    providerKeys,
    originKeys,
  }
}

/**
 * What `next` no longer uses of `prev`, taken out of `prev`'s pool set
 * (detached, so an origin that comes back later gets a fresh pool). Call it
 * once `next` serves.
 */
export function retire (prev: Generation, next: Generation): Retired {
  const inUse = new Set(next.gateway.providers.values())
  const providers = [...prev.gateway.providers.values()].filter((p) => !inUse.has(p))
  if (next.pools !== prev.pools) return { providers, pools: [], poolSet: prev.pools }
  const pools: Pool[] = []
  for (const origin of reconcile(prev.originKeys, next.originKeys).remove) {
    const p = prev.pools.detach(origin)
    if (p !== undefined) pools.push(p)
  }
  return { providers, pools, poolSet: undefined }
}

/** Closes what a reload retired: providers stop their background work; pools finish the requests they carry, then close. */
export async function closeRetired (r: Retired): Promise<void> {
  for (const p of r.providers) p.stop()
  await Promise.allSettled([...r.pools.map(async (p) => p.close()), r.poolSet?.close()])
}
