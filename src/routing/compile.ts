import type { BearerVerifier } from '../auth/bearer.js'
import type { OidcProvider } from '../auth/oidc.js'
import type { UpstreamTokenSource } from '../auth/upstream-token.js'
import type { Config } from '../config/types.js'
import type { CompiledRoute } from '../context.js'
import type { Metrics } from '../metrics.js'
import { compilePolicy, type CompiledPolicy } from '../policy/evaluate.js'
import type { UpstreamPools } from '../proxy/forward.js'
import { buildStripSet, compileIdentityHeaders, type HeaderPlan } from '../proxy/headers.js'

/** What compiled routes are bound to: one generation's providers, upstream pools and metrics. */
export interface RouteParts {
  readonly providers: ReadonlyMap<string, OidcProvider>
  readonly pools: UpstreamPools
  readonly metrics: Metrics
  /** `acceptBearer`: the verifier of the route's settings (routes with the same settings share one). */
  readonly verifierFor?: (r: Config['routes'][number]) => BearerVerifier | undefined
  /** `upstreamToken`: where the route's upstream token comes from (the same grant is shared). */
  readonly upstreamTokensFor?: (r: Config['routes'][number]) => UpstreamTokenSource | undefined
  /** The assertion header: stripped from every incoming request like the identity headers. */
  readonly assertionHeader?: string
}

/**
 * Compiles the configured routes at config load: each gets its header plan
 * (the names every route injects, and the assertion header, are stripped on
 * every route), its policy matcher, its upstream pool, base path and
 * audience, its provider (and those it offers to choose from) and its
 * metrics series, so the request path only reads them. Routes keep their config
 * order; every provider a route names must be in `parts.providers` (the
 * config is validated).
 */
export function compileRoutes (routes: Config['routes'], parts: RouteParts): CompiledRoute[] {
  const names = routes.flatMap((r) => r.headers.map(([name]) => name))
  const strip = buildStripSet(parts.assertionHeader !== undefined ? [...names, parts.assertionHeader] : names)
  return routes.map((r) => {
    const oidc = parts.providers.get(r.provider)!
    const upstream = new URL(r.upstream)
    const plan: HeaderPlan = Object.freeze({
      strip,
      stripAuthorization: r.auth !== 'public' && r.bearer !== 'none',
      identity: compileIdentityHeaders(r.headers),
    })
    return Object.freeze({
      ...r,
      policy: compilePolicy(r.allow, oidc.cfg.groupsClaim),
      policies: otherGroupsClaims(r, oidc, parts.providers),
      plan,
      pool: parts.pools.get(upstream.origin),
      basePath: upstream.pathname === '/' ? '' : upstream.pathname,
      oidc,
      choices: r.providers !== undefined && r.providers.length > 1 ? Object.freeze(r.providers.map((id) => parts.providers.get(id)!)) : undefined,
      audience: upstream.origin,
      metrics: parts.metrics.routeNamed(r.name ?? String(r.index)),
      ...(r.acceptBearer !== undefined ? { verifier: parts.verifierFor?.(r) } : {}),
      ...(r.upstreamToken !== undefined ? { upstreamTokens: parts.upstreamTokensFor?.(r) } : {}),
    })
  })
}

/**
 * The route's policy for sessions of providers whose groupsClaim differs from
 * the route's provider's (a session's groups are read with the claim its own
 * provider names); undefined when no rule reads groups or none differs.
 */
function otherGroupsClaims (r: Config['routes'][number], oidc: OidcProvider, providers: ReadonlyMap<string, OidcProvider>): ReadonlyMap<string, CompiledPolicy | undefined> | undefined {
  if (r.allow?.groups === undefined) return undefined
  const out = new Map<string, CompiledPolicy | undefined>()
  for (const [id, p] of providers) if (p.cfg.groupsClaim !== oidc.cfg.groupsClaim) out.set(id, compilePolicy(r.allow, p.cfg.groupsClaim))
  return out.size > 0 ? out : undefined
}
