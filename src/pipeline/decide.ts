import type { BearerCheck } from '../auth/bearer.js'
import type { OidcProvider } from '../auth/oidc.js'
import { isTokenExpired, needsRefresh, needsRenewal, type RefreshOutcome } from '../auth/refresh.js'
import { safeReturnTo } from '../auth/return-to.js'
import type { Config } from '../config/types.js'
import type { CompiledRoute } from '../context.js'
import type { Decision, Outcome } from '../metrics.js'
import { evaluatePolicy } from '../policy/evaluate.js'
import { buildUpstreamHeaders, identityHeaders } from '../proxy/headers.js'
import { matchRoute, type RouteTable } from '../routing/match.js'
import { normalisePath } from '../routing/normalise.js'
import { isCorsPreflight } from '../routing/preflight.js'
import type { ReadResult } from '../session/manager.js'
import { needsTouch, type Session } from '../session/session.js'
import { wantsLoginRedirect, type RequestFacts } from './facts.js'

/**
 * The decision core: who is this, may they, and what goes upstream. Pure:
 * it takes plain facts (the request, the session read, the clock) and
 * returns an Action; reading the session, refreshing tokens, writing cookies,
 * logging and answering are the entries' work (proxy/entry.ts). Every way
 * into the gateway (the proxy port, forward-auth, WebSocket upgrades) asks
 * the same questions here, once per request.
 *
 *   resolve(routes, facts)           -> a route, or a page (bad path, no route)
 *   decide(ctx, facts, target, read) -> an Action; 'refresh' when the token
 *                                        must be refreshed first, then
 *   afterRefresh(..., outcome)       -> the Action, with the refreshed session
 */

/** A line the entry logs for the decision (with its own request logger). */
export interface LogLine {
  readonly level: 'debug' | 'info' | 'warn'
  readonly fields: Readonly<Record<string, unknown>>
  readonly msg: string
}

/** What every Action carries for metrics, the access log and the entry's side effects. */
interface ActionBase {
  /** `gatehouse_requests_total{outcome}`. */
  readonly outcome: Outcome
  /** `gatehouse_auth_decisions_total`; undefined when no auth decision was made (bad path, no route). */
  readonly decision: Decision | undefined
  readonly logs: readonly LogLine[]
  /** The signed-in user, for the access log. */
  readonly user?: string | undefined
  /** A reason beside the decision in the access log (a policy's). */
  readonly detail?: string | undefined
  /** Delete the session cookie and its chunks in the response (the cookie was not accepted, or the session ended). */
  readonly clear: boolean
  /** Persist this session and set its cookie in the response (refreshed, resealed or touched). */
  readonly write?: Session | undefined
  /** End this session everywhere before answering (its refresh token was refused). */
  readonly end?: Session | undefined
}

export type Action =
  /** Forward to the route's upstream with these headers; `assertion`: with the signed identity assertion too (the entry signs it). */
  | ActionBase & { readonly kind: 'forward', readonly route: CompiledRoute, readonly path: string, readonly headers: Record<string, string | string[]>, readonly session: Session | null, readonly assertion: boolean }
  /**
   * Send the browser to sign in (to /.gatehouse/login first with `loginRedirect: gateway`).
   * `host`: the request's, where `rd` is (a login asked for on another host than publicUrl's runs there).
   * With `choices`, the browser first chooses among those providers (`provider` is the route's first).
   */
  | ActionBase & { readonly kind: 'login', readonly provider: OidcProvider, readonly rd: string, readonly host: string, readonly via: Config['loginRedirect'], readonly choices?: readonly OidcProvider[] | undefined }
  /** Renew a session without refresh token at the provider with prompt=none (`host` as for login). */
  | ActionBase & { readonly kind: 'renew', readonly provider: OidcProvider, readonly rd: string, readonly host: string, readonly session: Session }
  /** Refresh the session's tokens first, then call afterRefresh(). */
  | ActionBase & { readonly kind: 'refresh', readonly provider: OidcProvider, readonly session: Session, readonly dirty: boolean }
  /** 401: no valid session, and this request does not navigate (or the route says deny); or (`bearerError`) a refused bearer token. */
  | ActionBase & { readonly kind: 'unauthenticated', readonly bearerError?: 'invalid_token' }
  /** 403: signed in, refused by the route's policy. */
  | ActionBase & { readonly kind: 'forbidden', readonly reason: string }
  /** One of Gatehouse's error pages: a catalog code, with the message the user may see. */
  | ActionBase & { readonly kind: 'page', readonly code: string, readonly status?: number | undefined, readonly message?: string | undefined, readonly retryAfter?: number | undefined }

export type ActionKind = Action['kind']

/** The route a request resolved to, and the path the upstream gets (before prefix stripping). */
export interface RouteTarget {
  readonly kind: 'route'
  readonly route: CompiledRoute
  /** The dot-resolved path, still spelled as the client spelled it, when normalising changed it; else the request's own. */
  readonly sent: string
}

/** What decide() reads of the gateway: configuration and providers, nothing that changes. */
export interface DecideContext {
  readonly config: Config
  readonly providers: ReadonlyMap<string, OidcProvider>
}

/** The session as read from the request's cookies, and the Cookie header without Gatehouse's cookies. */
export interface SessionInput {
  readonly read: ReadResult
  readonly cookieRest: string
  /** `acceptBearer` routes: the request's bearer token, checked (the session was not read). */
  readonly bearer?: BearerCheck
}

type VerifiedBearer = Extract<BearerCheck, { ok: true }>

const NO_LOGS: readonly LogLine[] = Object.freeze([])

/** Whether a path is one of Gatehouse's own endpoints (`/.gatehouse` or below). */
export function isGatewayPath (path: string): boolean {
  return path.startsWith('/.gatehouse') && (path.length === 11 || path.charCodeAt(11) === 47)
}

/**
 * The route for a request, decided on the path the upstream will resolve
 * (routing/normalise.ts), or the page for a path that cannot be accepted or
 * that no route serves.
 */
export function resolve (routes: RouteTable<CompiledRoute>, facts: RequestFacts): RouteTarget | Extract<Action, { kind: 'page' }> {
  const norm = normalisePath(facts.path, (p) => matchRoute(routes, facts.host, p, facts.method))
  if (!norm.ok || (norm.changed && isGatewayPath(norm.path))) {
    const reason = norm.ok ? 'resolves to a gateway endpoint' : norm.reason
    return page('GH_BAD_PATH', 'bad_request', {
      message: `The request path cannot be accepted: ${norm.ok ? 'it resolves to a Gatehouse endpoint' : norm.reason}.`,
      logs: [{ level: 'info', fields: { reason }, msg: 'request path refused' }],
    })
  }
  if (norm.route === undefined) return page('GH_NO_ROUTE', 'no_route', {})
  return { kind: 'route', route: norm.route, sent: norm.changed ? norm.upstream : facts.path }
}

function page (code: string, outcome: Outcome, o: { message?: string, status?: number, retryAfter?: number, logs?: readonly LogLine[], decision?: Decision }): Extract<Action, { kind: 'page' }> {
  return { kind: 'page', code, outcome, decision: o.decision, message: o.message, status: o.status, retryAfter: o.retryAfter, logs: o.logs ?? NO_LOGS, clear: false }
}

/**
 * `allowPreflight`: a CORS preflight carries no credentials; it is forwarded
 * as on a public route (no session read, no identity, no Bearer).
 */
function isPreflightFor (route: CompiledRoute, facts: RequestFacts): boolean {
  return route.allowPreflight && isCorsPreflight(facts.method, facts.headers)
}

/** Whether the route lets this request through without a session: a public route, or an allowed preflight. */
export function needsNoSession (route: CompiledRoute, facts: RequestFacts): boolean {
  return route.auth === 'public' || isPreflightFor(route, facts)
}

/** The provider that issued a session (the route's when it is no longer configured). */
function sessionProvider (ctx: DecideContext, session: Session, route: CompiledRoute): OidcProvider {
  return ctx.providers.get(session.provider) ?? route.oidc
}

/**
 * Decides a request on a route: public routes forward; otherwise the session
 * read decides, through refresh or renewal when its token is about to
 * expire, then the policy. Returns 'refresh' when the tokens must be
 * refreshed at the provider first: the entry does that, once, and calls
 * afterRefresh() with the outcome.
 */
export function decide (ctx: DecideContext, facts: RequestFacts, target: RouteTarget, input: SessionInput, now: number): Action {
  const { route } = target
  if (needsNoSession(route, facts)) return forwardTo(ctx, facts, target, input.cookieRest, null, {})
  if (input.bearer !== undefined) return decideBearer(ctx, facts, target, input.cookieRest, input.bearer)
  const { read } = input
  let session = read.session
  let logs = NO_LOGS
  let clear = false
  if (read.outcome !== 'ok' && read.outcome !== 'none') {
    logs = [{ level: 'debug', fields: { outcome: read.outcome }, msg: 'session cookie not accepted' }]
    clear = true
  }
  if (session !== null && route.providers !== undefined && !route.providers.includes(session.provider)) {
    // A route that lists its providers takes no session from another one:
    // the request goes on as not signed in (the cookie stays, for the routes
    // that accept it, until a sign-in here replaces it).
    logs = [...logs, { level: 'debug', fields: { provider: session.provider, route: route.index }, msg: 'session from a provider this route does not accept' }]
    session = null
  }
  const { refreshBefore, clockSkew } = ctx.config.session
  if (session !== null && needsRefresh(session, now, refreshBefore, clockSkew)) {
    if (session.refreshToken !== undefined) {
      return { kind: 'refresh', provider: sessionProvider(ctx, session, route), session, dirty: read.reseal, outcome: 'proxied', decision: undefined, logs, clear, user: session.sub }
    }
    // No refresh token (implicit flows, or no offline_access): a browser
    // navigation renews the session at the provider with prompt=none and
    // comes back to this page. Anything else is served while the token is
    // valid, then gets 401 (or goes on anonymously): the session cookie is
    // kept, so the next navigation can still renew it.
    if (needsRenewal(session, now, refreshBefore, clockSkew) && wantsLoginRedirect(facts.method, facts.headers, route.unauthenticated)) {
      return { kind: 'renew', provider: sessionProvider(ctx, session, route), rd: safeReturnTo(facts.url), host: facts.host, session, outcome: 'renew_redirect', decision: 'login:renew', logs, clear, user: session.sub }
    }
    if (isTokenExpired(session, now)) session = null
  }
  return authorize(ctx, facts, target, input.cookieRest, session, { dirty: read.reseal, clear, logs, now })
}

/**
 * `acceptBearer`: a request with a bearer token is judged on that token
 * alone. Refused: 401 with `invalid_token`, never a login. Verified: the
 * route's policy on its claims, identity headers from them, and the
 * client's own token forwarded.
 */
function decideBearer (ctx: DecideContext, facts: RequestFacts, target: RouteTarget, cookieRest: string, bearer: BearerCheck): Action {
  const { route } = target
  if (!bearer.ok) {
    const logs = [{ level: 'debug', fields: { reason: bearer.reason, route: route.index }, msg: 'bearer token refused' } as const]
    return { kind: 'unauthenticated', bearerError: 'invalid_token', outcome: 'unauthenticated', decision: 'deny:bearer_invalid', detail: bearer.reason, logs, clear: false }
  }
  const verdict = evaluatePolicy(route.policy, bearer.claims)
  if (!verdict.allow) {
    const logs = [{ level: 'info', fields: { sub: bearer.sub, reason: verdict.reason, route: route.index }, msg: 'access denied by policy' } as const]
    return { kind: 'forbidden', reason: verdict.reason, outcome: 'forbidden', decision: 'deny:policy', user: bearer.sub, detail: verdict.reason, logs, clear: false }
  }
  return forwardTo(ctx, facts, target, cookieRest, null, {}, bearer)
}

/**
 * The decision once a refresh has run: the refreshed session goes on; a
 * refused refresh token ends the session (the user signs in again); an
 * unreachable provider is waited out while the token is still valid, and
 * answered with 503 once it is not.
 */
export function afterRefresh (ctx: DecideContext, facts: RequestFacts, target: RouteTarget, input: SessionInput, refreshing: Extract<Action, { kind: 'refresh' }>, outcome: RefreshOutcome, now: number): Action {
  const prior = refreshing.session
  if (outcome.kind === 'refreshed') {
    return authorize(ctx, facts, target, input.cookieRest, outcome.session, { dirty: true, clear: refreshing.clear, logs: refreshing.logs, now })
  }
  if (outcome.kind === 'unavailable') {
    const logs = [...refreshing.logs, { level: 'warn', fields: { code: outcome.error.code }, msg: 'token refresh failed; provider unavailable' } as const]
    if (!isTokenExpired(prior, now)) {
      // Still valid: keep serving with it; the next request tries again.
      return authorize(ctx, facts, target, input.cookieRest, prior, { dirty: refreshing.dirty, clear: refreshing.clear, logs, now })
    }
    return page(outcome.error.code, 'provider_unavailable', {
      status: 503,
      message: 'Your session needs renewing and the identity provider cannot be reached. Please retry shortly.',
      retryAfter: 5,
      decision: 'error:provider_unavailable',
      logs,
    })
  }
  // No way to a valid token: the user signs in again (or the API client gets 401).
  const logs = [...refreshing.logs, { level: 'info', fields: { sub: prior.sub, reason: outcome.reason }, msg: 'session ended by refresh failure' } as const]
  return authorize(ctx, facts, target, input.cookieRest, null, { dirty: false, clear: true, logs, now, end: prior })
}

interface Carry {
  readonly dirty: boolean
  readonly clear: boolean
  readonly logs: readonly LogLine[]
  readonly now: number
  readonly end?: Session
}

/** A route with auth required or optional, and the session (or none) that stands after refresh. */
function authorize (ctx: DecideContext, facts: RequestFacts, target: RouteTarget, cookieRest: string, session: Session | null, c: Carry): Action {
  const { route } = target
  const base = { logs: c.logs, clear: c.clear, end: c.end }
  if (session === null) {
    if (route.auth !== 'required') return forwardTo(ctx, facts, target, cookieRest, null, base)
    if (wantsLoginRedirect(facts.method, facts.headers, route.unauthenticated)) {
      return { kind: 'login', provider: route.oidc, rd: safeReturnTo(facts.url), host: facts.host, via: ctx.config.loginRedirect, choices: route.choices, outcome: 'login_redirect', decision: 'login:redirect', ...base }
    }
    return { kind: 'unauthenticated', outcome: 'unauthenticated', decision: 'deny:unauthenticated', ...base }
  }
  const verdict = evaluatePolicy(route.policies?.get(session.provider) ?? route.policy, session.claims)
  if (!verdict.allow) {
    return {
      kind: 'forbidden',
      reason: verdict.reason,
      outcome: 'forbidden',
      decision: 'deny:policy',
      user: session.sub,
      detail: verdict.reason,
      write: c.dirty ? session : undefined,
      ...base,
      logs: [...c.logs, { level: 'info', fields: { sub: session.sub, reason: verdict.reason, route: route.index }, msg: 'access denied by policy' }],
    }
  }
  let write: Session | undefined
  if (c.dirty || needsTouch(session, c.now, ctx.config.session)) {
    // A new object: the session read may be shared with later requests of the same cookie.
    session = { ...session, seen: c.now }
    write = session
  }
  return forwardTo(ctx, facts, target, cookieRest, session, { ...base, write })
}

/**
 * `path` without as many leading segments as the route prefix has (the
 * prefix matched the decoded path, so the raw spelling's length may differ). Pure.
 */
export function dropSegments (path: string, prefix: string): string {
  let n = 0
  for (let i = 1; i < prefix.length; i++) if (prefix.charCodeAt(i) === 47) n++
  if (prefix.charCodeAt(prefix.length - 1) !== 47) n++
  let at = 0
  for (let k = 0; k < n; k++) {
    const next = path.indexOf('/', at + 1)
    if (next === -1) return ''
    at = next
  }
  return path.slice(at)
}

/** The path and query the upstream gets: prefix stripped when the route says so, under the upstream's base path. Pure. */
export function upstreamPath (route: Pick<CompiledRoute, 'stripPrefix' | 'path' | 'basePath'>, sent: string, query: string): string {
  let p = route.stripPrefix && route.path !== '/' ? dropSegments(sent, route.path) : sent
  if (p === '' || p.charCodeAt(0) !== 47) p = '/' + p
  p += query
  return route.basePath !== '' ? route.basePath + p : p
}

function forwardTo (ctx: DecideContext, facts: RequestFacts, target: RouteTarget, cookieRest: string, session: Session | null, base: Partial<ActionBase>, bearer?: VerifiedBearer): Action {
  const { route } = target
  const trustProxy = ctx.config.trustProxy
  const h = facts.headers
  const headers = buildUpstreamHeaders(h, route.plan, {
    remoteAddress: facts.remoteAddress,
    trustProxy,
    proto: trustProxy && typeof h['x-forwarded-proto'] === 'string' ? h['x-forwarded-proto'] : facts.secure ? 'https' : 'http',
    host: typeof h.host === 'string' ? h.host : facts.host,
    cookie: cookieRest,
    bearer: bearer !== undefined ? bearer.token : session === null || route.bearer === 'none' ? undefined : route.bearer === 'id_token' ? session.idToken : session.accessToken,
    identity: bearer !== undefined ? identityHeaders(route.plan, bearer.claims) : session === null ? [] : identityHeaders(route.plan, session.claims),
  })
  return {
    kind: 'forward',
    route,
    path: upstreamPath(route, target.sent, facts.query),
    headers,
    session,
    assertion: route.assertion && session !== null,
    outcome: session === null && bearer === undefined ? 'proxied_anonymous' : 'proxied',
    decision: bearer !== undefined ? 'allow:bearer' : session !== null ? 'allow:session' : route.auth === 'public' ? 'allow:public' : 'allow:anonymous',
    user: bearer !== undefined ? bearer.sub : session?.sub,
    logs: base.logs ?? NO_LOGS,
    clear: base.clear ?? false,
    write: base.write,
    end: base.end,
  }
}
