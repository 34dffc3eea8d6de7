import type { IncomingMessage, ServerResponse } from 'node:http'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { CompiledRoute, Gateway, GatewayRef } from '../context.js'
import type { Decision } from '../metrics.js'
import { startLogin } from '../auth/login.js'
import { isTokenExpired, needsRefresh, needsRenewal } from '../auth/refresh.js'
import { safeReturnTo } from '../auth/return-to.js'
import { ERROR_CODES, UPSTREAM_FAILURE_CODES } from '../errors.js'
import { markGatewayResponse, sendErrorPage } from '../pages.js'
import { evaluatePolicy } from '../policy/evaluate.js'
import { matchRoute } from '../routing/match.js'
import { normalisePath } from '../routing/normalise.js'
import { isCorsPreflight } from '../routing/preflight.js'
import { splitCookieHeader } from '../session/cookies.js'
import { needsTouch, type Session } from '../session/session.js'
import { forward } from './forward.js'
import { recordOf, type RequestRecord } from '../observe.js'
import { loginRateLimited } from '../auth/login.js'
import { buildUpstreamHeaders, identityHeaders } from './headers.js'

/** Host the client asked for: lower-case, without port. */
export function requestHost (headers: FastifyRequest['headers'], trustProxy: boolean): string {
  let h = (trustProxy ? headers['x-forwarded-host'] : undefined) ?? headers.host ?? ''
  if (Array.isArray(h)) h = h[0] ?? ''
  const comma = h.indexOf(',')
  if (comma !== -1) h = h.slice(0, comma).trim()
  if (h.charCodeAt(0) === 91 /* [ */) {
    const end = h.indexOf(']')
    return (end === -1 ? h : h.slice(0, end + 1)).toLowerCase()
  }
  const colon = h.indexOf(':')
  return (colon === -1 ? h : h.slice(0, colon)).toLowerCase()
}

/** Whether a path is one of Gatehouse's own endpoints (`/.gatehouse` or below). */
function isGatewayPath (path: string): boolean {
  return path.startsWith('/.gatehouse') && (path.length === 11 || path.charCodeAt(11) === 47)
}

/**
 * `path` without as many leading segments as the route prefix has (the
 * prefix matched the decoded path, so the raw spelling's length may differ).
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

/**
 * Browser navigations are sent to log in; everything else gets 401. A request
 * that will not navigate (XHR, fetch, non-GET) must not start a login: that
 * would mint login-state cookies nobody completes.
 */
export function wantsLoginRedirect (request: FastifyRequest, mode: CompiledRoute['unauthenticated']): boolean {
  if (mode === 'deny') return false
  if (request.method !== 'GET' && request.method !== 'HEAD') return false
  if (mode === 'redirect') return true
  const h = request.headers
  if (h['x-requested-with'] !== undefined) return false
  const fetchMode = h['sec-fetch-mode']
  if (fetchMode !== undefined) return fetchMode === 'navigate'
  const accept = h.accept
  return typeof accept === 'string' && accept.includes('text/html')
}

function sendUnauthenticated (gw: Gateway, request: FastifyRequest, reply: FastifyReply, route: CompiledRoute, pathAndQuery: string, setCookies: string[] | undefined, rec: RequestRecord | undefined): FastifyReply | Promise<FastifyReply> {
  if (setCookies !== undefined) reply.header('set-cookie', setCookies)
  if (wantsLoginRedirect(request, route.unauthenticated)) {
    const rd = safeReturnTo(pathAndQuery)
    if (gw.config.loginRedirect === 'gateway') {
      // Counted (and limited) at /.gatehouse/login, where this redirect leads.
      note(gw, rec, 'login:redirect')
      gw.metrics.outcome('login_redirect')
      return markGatewayResponse(reply, 'login-redirect').redirect(`/.gatehouse/login?rd=${encodeURIComponent(rd)}`, 302)
    }
    // This browser has no session (this path runs only then): a login it starts counts against its address.
    const limited = loginRateLimited(gw, request, reply, 'start', rd)
    if (limited !== undefined) {
      note(gw, rec, 'deny:rate_limited')
      gw.metrics.outcome('rate_limited')
      return limited
    }
    note(gw, rec, 'login:redirect')
    gw.metrics.outcome('login_redirect')
    return startLogin(gw, request, reply, route.oidc, rd)
  }
  note(gw, rec, 'deny:unauthenticated')
  gw.metrics.outcome('unauthenticated')
  return markGatewayResponse(reply, 'unauthenticated')
    .code(401)
    .header('www-authenticate', 'Bearer realm="gatehouse"')
    .send({ error: 'unauthenticated', message: 'sign in required', login: '/.gatehouse/login' })
}

/** Counts an auth decision and keeps it for the access log. */
function note (gw: Gateway, rec: RequestRecord | undefined, d: Decision): void {
  gw.metrics.decision(d)
  if (rec !== undefined) rec.decision = d
}

/** What the request path needs from Fastify for anything but forwarding. */
interface Via {
  readonly request: FastifyRequest
  readonly reply: FastifyReply
}

/** handle() stepped aside: Fastify serves this request (it runs handle() again, with `via`). */
export const TO_FASTIFY = Symbol('gatehouse.to-fastify')

/**
 * The request path: route -> session -> refresh -> policy -> headers -> upstream.
 * Everything the route needs was compiled at load; the provider is contacted
 * only when a token is about to expire.
 *
 * Two ways in, one implementation. From Fastify's route (`via` given) it
 * can answer anything. Straight from the HTTP server (`via` undefined: the
 * fast path, no Fastify request, reply, child logger or hooks per request)
 * it only forwards; at the first step that needs more (an error page, a
 * redirect, a 401, a refresh, a cookie to write, a log line) it returns
 * TO_FASTIFY before touching the request, and Fastify takes over.
 */
async function handle (gw: Gateway, raw: IncomingMessage, res: ServerResponse, via: Via | undefined): Promise<FastifyReply | undefined | typeof TO_FASTIFY> {
  const url = raw.url ?? '/'
  const q = url.indexOf('?')
  const path = q === -1 ? url : url.slice(0, q)
  const reqHeaders = raw.headers
  const host = requestHost(reqHeaders, gw.config.trustProxy)
  // Every decision is made on the path the upstream will resolve (routing/normalise.ts).
  const norm = normalisePath(path, (p) => matchRoute(gw.routes, host, p, raw.method ?? 'GET'))
  if (!norm.ok || (norm.changed && isGatewayPath(norm.path))) {
    if (via === undefined) return TO_FASTIFY
    gw.metrics.outcome('bad_request')
    via.request.log.info({ reason: norm.ok ? 'resolves to a gateway endpoint' : norm.reason }, 'request path refused')
    return sendErrorPage(via.reply, { message: `The request path cannot be accepted: ${norm.ok ? 'it resolves to a Gatehouse endpoint' : norm.reason}.`, correlationId: via.request.id, code: 'GH_BAD_PATH' })
  }
  const route = norm.route
  if (route === undefined) {
    if (via === undefined) return TO_FASTIFY
    gw.metrics.outcome('no_route')
    return sendErrorPage(via.reply, { correlationId: via.request.id, code: 'GH_NO_ROUTE' })
  }
  // Set again when Fastify runs a request the fast path stepped aside for: same values.
  const rec = recordOf(raw)
  if (rec !== undefined) {
    rec.route = route.metrics
    rec.host = host
  }
  const names = gw.sessions.names
  const split = splitCookieHeader(names, reqHeaders.cookie)
  let session: Session | null = null
  let setCookies: string[] | undefined
  // allowPreflight: a CORS preflight carries no credentials; it is forwarded as on a public route.
  const preflight = route.allowPreflight && isCorsPreflight(raw.method, reqHeaders)
  if (route.auth !== 'public' && !preflight) {
    const now = gw.now()
    const read = await gw.sessions.read(split.ours, now)
    session = read.session
    let dirty = read.reseal
    if (read.outcome !== 'ok' && read.outcome !== 'none') {
      if (via === undefined) return TO_FASTIFY
      via.request.log.debug({ outcome: read.outcome }, 'session cookie not accepted')
      setCookies = gw.sessions.clear(split.ours)
    }
    const { refreshBefore, clockSkew } = gw.config.session
    if (session !== null && session.refreshToken === undefined && needsRefresh(session, now, refreshBefore, clockSkew)) {
      if (via === undefined) return TO_FASTIFY
      const { request, reply } = via
      // No refresh token (implicit flows, or no offline_access): a browser
      // navigation renews the session at the provider with prompt=none and
      // comes back to this page. Anything else is served while the token is
      // valid, then gets 401 (or goes on anonymously): the session cookie is
      // kept, so the next navigation can still renew it.
      if (needsRenewal(session, now, refreshBefore, clockSkew) && wantsLoginRedirect(request, route.unauthenticated)) {
        note(gw, rec, 'login:renew')
        gw.metrics.outcome('renew_redirect')
        if (setCookies !== undefined) reply.header('set-cookie', setCookies)
        return startLogin(gw, request, reply, gw.providers.get(session.provider) ?? route.oidc, safeReturnTo(q === -1 ? path : url), { renewing: session })
      }
      if (isTokenExpired(session, now)) session = null
    } else if (session !== null && needsRefresh(session, now, refreshBefore, clockSkew)) {
      if (via === undefined) return TO_FASTIFY
      const { request, reply } = via
      const provider = gw.providers.get(session.provider) ?? route.oidc
      const outcome = await gw.refresher.refresh(session, provider, now)
      if (outcome.kind === 'refreshed') {
        session = outcome.session
        dirty = true
      } else if (outcome.kind === 'ended' || isTokenExpired(session, now)) {
        // No way to a valid token: the user signs in again (or the API client gets 401).
        if (outcome.kind === 'ended') {
          request.log.info({ sub: session.sub, reason: outcome.reason }, 'session ended by refresh failure')
          await gw.sessions.end(session, now)
        } else if (outcome.kind === 'unavailable') {
          request.log.warn({ code: outcome.error.code }, 'token refresh failed; provider unavailable')
          note(gw, rec, 'error:provider_unavailable')
          gw.metrics.outcome('provider_unavailable')
          return sendErrorPage(reply.header('retry-after', '5'), { status: 503, message: 'Your session needs renewing and the identity provider cannot be reached. Please retry shortly.', correlationId: request.id, code: outcome.error.code })
        }
        session = null
        setCookies = gw.sessions.clear(split.ours)
      }
      // 'unavailable' with a still-valid token: keep serving with it.
    }
    if (session === null) {
      if (route.auth === 'required') {
        if (via === undefined) return TO_FASTIFY
        return sendUnauthenticated(gw, via.request, via.reply, route, q === -1 ? path : url, setCookies, rec)
      }
    } else {
      if (rec !== undefined) rec.user = session.sub
      const decision = evaluatePolicy(route.policy, session.claims)
      if (!decision.allow) {
        if (via === undefined) return TO_FASTIFY
        via.request.log.info({ sub: session.sub, reason: decision.reason, route: route.index }, 'access denied by policy')
        note(gw, rec, 'deny:policy')
        if (rec !== undefined) rec.detail = decision.reason
        gw.metrics.outcome('forbidden')
        if (dirty) via.reply.header('set-cookie', await gw.sessions.write(session, split.ours, now))
        return sendErrorPage(via.reply, { correlationId: via.request.id, code: 'GH_FORBIDDEN' })
      }
      if (dirty || needsTouch(session, now, gw.config.session)) {
        if (via === undefined) return TO_FASTIFY
        // A new object: the session read may be shared with later requests of the same cookie.
        session = { ...session, seen: now }
        setCookies = await gw.sessions.write(session, split.ours, now)
      }
    }
  }

  // The upstream gets the dot-resolved path (still spelled as the client
  // spelled it) when normalising changed it, else the request's own.
  const sent = norm.changed ? norm.upstream : path
  let upstreamPath = route.stripPrefix && route.path !== '/' ? dropSegments(sent, route.path) : sent
  if (upstreamPath === '' || upstreamPath.charCodeAt(0) !== 47) upstreamPath = '/' + upstreamPath
  if (q !== -1) upstreamPath += url.slice(q)
  if (route.basePath !== '') upstreamPath = route.basePath + upstreamPath
  const bearer = session === null || route.bearer === 'none'
    ? undefined
    : route.bearer === 'id_token' ? session.idToken : session.accessToken
  const headers = buildUpstreamHeaders(reqHeaders, route.plan, {
    remoteAddress: raw.socket.remoteAddress ?? '',
    trustProxy: gw.config.trustProxy,
    proto: gw.config.trustProxy && typeof reqHeaders['x-forwarded-proto'] === 'string' ? reqHeaders['x-forwarded-proto'] : gw.config.tls !== undefined ? 'https' : 'http',
    host: typeof reqHeaders.host === 'string' ? reqHeaders.host : host,
    cookie: split.rest,
    bearer,
    identity: session === null ? [] : identityHeaders(route.plan, session.claims),
  })
  // The same id upstream, in the access log and back to the client.
  const requestId = rec !== undefined ? gw.observer.id(rec) : via?.request.id
  if (requestId !== undefined) headers['x-request-id'] = requestId
  via?.reply.hijack()
  forward(raw, res, {
    pool: route.pool,
    method: raw.method ?? 'GET',
    path: upstreamPath,
    headers,
    setCookies,
    timing: rec,
    requestId,
    onError: (failure, err) => {
      gw.metrics.upstreamError(failure)
      if (failure === 'aborted' || res.destroyed) { res.destroy(); return }
      const id = requestId ?? gw.newRequestId()
      const code = UPSTREAM_FAILURE_CODES[failure]
      ;(via?.request.log ?? gw.log).warn({ reqId: id, upstream: route.upstream, failure: code, err: (err as Error)?.message, code: (err as { code?: string })?.code }, 'upstream failed')
      const { status, message: body } = ERROR_CODES[code]!
      const page = `<!doctype html><title>${status}</title><p>${body}</p><p>correlation id <code>${id}</code></p>`
      res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store', 'x-gatehouse-response': failure, 'x-request-id': id, 'content-length': Buffer.byteLength(page), ...(setCookies !== undefined ? { 'set-cookie': setCookies } : {}) })
      res.end(page)
    },
  })
  gw.metrics.outcome(session === null ? 'proxied_anonymous' : 'proxied')
  note(gw, rec, session !== null ? 'allow:session' : route.auth === 'public' ? 'allow:public' : 'allow:anonymous')
  return undefined
}

/** Methods the fast path forwards; anything else goes through Fastify's router, as before. */
const FAST_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'])

/** Fastify request-lifecycle hooks: where one exists, requests must go through Fastify. */
const REQUEST_HOOKS = ['onRequest', 'preParsing', 'preValidation', 'preHandler', 'onRequestAbort', 'onTimeout', 'onResponse', 'onSend', 'onError'] as const

/** Hooks registered on an instance (Fastify keeps them under a private symbol; unknown layout = assume some). */
function hasRequestHooks (app: FastifyInstance): boolean {
  const key = Object.getOwnPropertySymbols(app).find((s) => s.description === 'fastify.hooks')
  const hooks = key === undefined ? undefined : (app as unknown as Record<symbol, Record<string, unknown[]> | undefined>)[key]
  if (hooks === undefined) return true
  return REQUEST_HOOKS.some((h) => !Array.isArray(hooks[h]) || hooks[h].length > 0)
}

/**
 * A request listener for the proxy port that forwards what it can without
 * Fastify and gives everything else to `fastify` (Fastify's own handler):
 * Gatehouse's endpoints (any first segment starting with '.' or '%', which
 * covers every spelling of /.gatehouse/), unusual methods, and every
 * request handle() steps aside for.
 */
export function fastPath (ref: GatewayRef): (req: IncomingMessage, res: ServerResponse, fastify: (req: IncomingMessage, res: ServerResponse) => void) => void {
  return (req, res, fastify) => {
    const url = req.url
    const c = url === undefined ? 0 : url.charCodeAt(1)
    if (url === undefined || url.charCodeAt(0) !== 47 || c === 46 /* . */ || c === 37 /* % */ || !FAST_METHODS.has(req.method ?? '')) {
      fastify(req, res)
      return
    }
    // The context in force when the request arrived (a reload swaps ref.current).
    handle(ref.current, req, res, undefined).then((r) => { if (r === TO_FASTIFY) fastify(req, res) }, () => {
      // A bug on the fast path: Fastify runs the request again and answers (500 page, logged).
      if (!res.headersSent) fastify(req, res)
      else res.destroy()
    })
  }
}

/**
 * Registers the catch-all proxy route in its own encapsulated context, whose
 * only content-type parser leaves the body untouched so it streams upstream.
 * `enableFastPath` is called once Fastify is ready when no request hook
 * applies to the route (a hook must never be skipped).
 */
export async function proxyPlugin (app: FastifyInstance, opts: { ref: GatewayRef, enableFastPath?: (ok: boolean) => void }): Promise<void> {
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('*', (_req, _payload, done) => { done(null) })
  const handler = async (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | undefined> => {
    const r = await handle(opts.ref.current, request.raw, reply.raw, { request, reply })
    return r === TO_FASTIFY ? undefined : r
  }
  app.all('/', handler)
  app.all('/*', handler)
  app.addHook('onReady', async () => { opts.enableFastPath?.(!hasRequestHooks(app)) })
}
