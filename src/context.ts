import type { LRUCache } from 'lru-cache'
import type { Pool } from 'undici'
import type { Config, RouteConfig } from './config/types.js'
import type { OidcProvider } from './auth/oidc.js'
import type { Metrics, RouteMetrics } from './metrics.js'
import type { Observer } from './observe.js'
import type { LoginLimiter } from './auth/rate-limit.js'
import type { CompiledPolicy } from './policy/evaluate.js'
import type { HeaderPlan } from './proxy/headers.js'
import type { RouteTable } from './routing/match.js'
import type { SessionManager } from './session/manager.js'
import type { Refresher } from './auth/refresh.js'
import type { ReturnOrigin } from './auth/return-to.js'
import type { FastifyBaseLogger } from 'fastify'
import type { BearerVerifier } from './auth/bearer.js'
import type { UpstreamTokenSource } from './auth/upstream-token.js'
import type { AssertionSigner } from './auth/assertion.js'

/** A route with everything the hot path needs computed at config load. */
export interface CompiledRoute extends RouteConfig {
  readonly policy: CompiledPolicy | undefined
  /** The policy for sessions of providers with another groupsClaim than the route's provider, by provider id. */
  readonly policies: ReadonlyMap<string, CompiledPolicy | undefined> | undefined
  readonly plan: HeaderPlan
  readonly pool: Pool
  /** Upstream base path ('' or '/base'). */
  readonly basePath: string
  readonly oidc: OidcProvider
  /** `providers:` with two or more: the providers an unauthenticated browser chooses among; else undefined. */
  readonly choices: readonly OidcProvider[] | undefined
  /** The upstream's origin: the `aud` of the assertions sent to it. */
  readonly audience: string
  /** This route's series, created at start-up. */
  readonly metrics: RouteMetrics
  /** `acceptBearer`: verifies API clients' tokens (shared by routes with the same settings). */
  readonly verifier?: BearerVerifier
  /** `upstreamToken`: the token sent upstream instead of the user's. */
  readonly upstreamTokens?: UpstreamTokenSource
}

/** Everything the request path shares, built once by buildApp. */
export interface Gateway {
  readonly config: Config
  readonly sessions: SessionManager
  readonly providers: ReadonlyMap<string, OidcProvider>
  readonly defaultProvider: OidcProvider
  readonly routes: RouteTable<CompiledRoute>
  /** Where an absolute return URL (`rd`) may lead: the publicUrl host and the hosts routes name. */
  readonly returnOrigin: ReturnOrigin
  readonly metrics: Metrics
  readonly refresher: Refresher
  readonly log: FastifyBaseLogger
  /** Injectable clock (epoch ms): tests move time instead of sleeping. */
  readonly now: () => number
  /** States already used by a callback: a replayed callback fails. */
  readonly consumedStates: LRUCache<string, true>
  readonly redirectUri: string
  /** A new correlation id, in the same series as Fastify's request ids. */
  readonly newRequestId: () => string
  /** Per-request records: metrics and the access log. */
  readonly observer: Observer
  /** limits.loginsPerMinute, per client address. */
  readonly limiter: LoginLimiter
  /** Signs the identity assertions of routes with `assertion: true` (undefined when no route has it). */
  readonly assertion: AssertionSigner | undefined
}

/**
 * The gateway context in force. A reload replaces `current` whole, in one
 * assignment; a request reads it once at its start and keeps that context to
 * its end, so it never sees half of one config and half of the next.
 */
export interface GatewayRef {
  readonly current: Gateway
}
