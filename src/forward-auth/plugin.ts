import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { Gateway, GatewayRef } from '../context.js'
import { safeReturnTo } from '../auth/return-to.js'
import { markGatewayResponse, sendErrorPage } from '../pages.js'
import { requestHost, type RequestFacts } from '../pipeline/facts.js'
import type { Action } from '../pipeline/decide.js'
import { decideFacts, decideNow, Handoff, recordDecision, sessionEffects, writeLogs, type Decided } from '../pipeline/run.js'
import { attachAssertion } from '../proxy/assertion.js'
import { LISTENER_METHODS } from '../proxy/plugin.js'
import { recordOf } from '../observe.js'
import { sendRefusal } from '../pipeline/answer.js'
import { readOriginal, type OriginalRequest, type OriginalResult } from './original.js'

/**
 * The forward-auth entry, `/.gatehouse/auth`: a proxy in front (nginx
 * auth_request, Traefik ForwardAuth, Caddy forward_auth, Envoy ext_authz)
 * asks whether a request it holds may go on. The original request is read
 * from the headers the proxy sends (original.ts), decided once like any
 * request on the proxy port (pipeline/run.ts), and the Action answered:
 *
 * - `forward`: 200 with the route's identity headers and Authorization
 *   (built from the route's plan and the session, never copied from the call);
 * - no valid session: 401, or with `?redirect=true` a 302 to the login with
 *   `rd` set to the original URL (browser navigations only);
 * - the policy denies: 403;
 * - a path that cannot be accepted, no route: the page's own status.
 *
 * Whatever the answer, it carries the Set-Cookie of a session refreshed,
 * touched or ended during the check: the proxy relays it to the browser.
 *
 * Like the proxy entry (proxy/plugin.ts), the HTTP server's listener
 * decides the call and answers an allowed one (200, the common case) itself,
 * without a Fastify request; every other answer, and every call while
 * Fastify must see each request, goes to the Fastify route, with the call
 * already decided.
 */

export const AUTH_PATH = '/.gatehouse/auth'

/** Only what the decision reads of the original request's headers: nothing else of the call can reach an answer. */
const KEPT = ['cookie', 'accept', 'sec-fetch-mode', 'x-requested-with', 'authorization'] as const

/** The facts of the original request a forward-auth call names. */
export function originalFacts (o: OriginalRequest, call: IncomingMessage): RequestFacts {
  const headers: Record<string, string | string[]> = { host: o.host }
  for (const k of KEPT) {
    const v = call.headers[k]
    if (v !== undefined) headers[k] = v
  }
  const q = o.target.indexOf('?')
  return {
    method: o.method,
    url: o.target,
    path: q === -1 ? o.target : o.target.slice(0, q),
    query: q === -1 ? '' : o.target.slice(q),
    host: requestHost(headers, false),
    headers,
    remoteAddress: call.socket.remoteAddress ?? '',
    secure: o.proto === 'https',
  }
}

/** `?redirect=true` (or `1`) on the call itself. */
function wantsRedirect (query: string): boolean {
  const v = new URLSearchParams(query).get('redirect')
  return v === 'true' || v === '1'
}

/**
 * Where the login returns to: the original path when it was on the
 * publicUrl origin, else the original absolute URL (a routed host).
 */
export function returnTo (publicOrigin: string, o: Pick<OriginalRequest, 'proto' | 'host' | 'target'>): string {
  let origin: string
  try { origin = new URL(`${o.proto}://${o.host}`).origin } catch { return '/' }
  if (origin === publicOrigin) return safeReturnTo(o.target)
  return origin + o.target
}

/** The login URL for a decided request without a valid session. */
function loginUrl (gw: Gateway, d: Decided, o: OriginalRequest): string {
  const action = d.action
  const provider = action.kind === 'login' || action.kind === 'renew' ? action.provider : undefined
  const named = provider !== undefined && provider !== gw.defaultProvider ? `&provider=${encodeURIComponent(provider.id)}` : ''
  return `${gw.config.publicOrigin}/.gatehouse/login?rd=${encodeURIComponent(returnTo(gw.config.publicOrigin, o))}${named}`
}

function unauthenticated (reply: FastifyReply, login: string): FastifyReply {
  return markGatewayResponse(reply, 'unauthenticated')
    .code(401)
    .header('www-authenticate', 'Bearer realm="gatehouse"')
    .send({ error: 'unauthenticated', message: 'sign in required', login })
}

/**
 * The headers of a 200: the route's identity headers and the Authorization
 * the route decides (the session's token per `bearer`, an acceptBearer
 * client's verified token, or the gateway's own upstreamToken), and the
 * signed assertion where the route sends one. Taken from the decided
 * forward, never from the call: nothing the client sent is echoed.
 */
function allowedHeaders (gw: Gateway, action: Extract<Action, { kind: 'forward' }>, now: number): readonly (readonly [string, string])[] {
  const { route, headers } = action
  const out: [string, string][] = []
  for (const { name } of route.plan.identity) {
    const v = headers[name]
    if (typeof v === 'string') out.push([name, v])
  }
  const decided = (action.session !== null && route.bearer !== 'none') || action.decision === 'allow:bearer' || route.upstreamToken !== undefined
  if (decided && typeof headers.authorization === 'string') out.push(['authorization', headers.authorization])
  if (action.assertion) {
    const signed: Record<string, string | string[]> = {}
    attachAssertion(gw, action, signed, now)
    for (const [name, v] of Object.entries(signed)) if (typeof v === 'string') out.push([name, v])
  }
  return out
}

/** Answers a decided forward-auth call. Throws what the session store throws (503). */
async function answer (d: Decided, o: OriginalRequest, redirect: boolean, request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
  const { gw, action } = d
  writeLogs(request.log, action.logs)
  const setCookies = await sessionEffects(d)
  if (setCookies !== undefined) reply.header('set-cookie', setCookies)
  switch (action.kind) {
    case 'forward':
      recordDecision(d)
      for (const [name, value] of allowedHeaders(gw, action, d.now)) reply.header(name, value)
      return markGatewayResponse(reply, 'auth-ok').code(200).send()
    case 'login':
    case 'renew':
      if (redirect) {
        // Counted (and limited) at /.gatehouse/login, where this leads.
        recordDecision(d)
        return markGatewayResponse(reply, 'login-redirect').redirect(loginUrl(gw, d, o), 302)
      }
      recordDecision(d, { outcome: 'unauthenticated', decision: 'deny:unauthenticated' })
      return unauthenticated(reply, loginUrl(gw, d, o))
    case 'unauthenticated':
      recordDecision(d)
      return unauthenticated(reply, loginUrl(gw, d, o))
    case 'forbidden':
    case 'page':
      return sendRefusal(d, action, request, reply)
    case 'refresh':
      // decideFacts() always completes a refresh.
      throw new Error('a refresh Action reached the forward-auth entry')
  }
}

/** A forward-auth call as read: the original request (or why not) and whether it asks for a redirect. */
interface Call {
  readonly parsed: OriginalResult
  readonly redirect: boolean
}

/** Reads a call whose raw URL starts with AUTH_PATH (undefined: another spelling of the path). */
function readCall (gw: Gateway, raw: IncomingMessage): Call | undefined {
  const url = raw.url ?? ''
  if (!url.startsWith(AUTH_PATH)) return undefined
  const rest = url.slice(AUTH_PATH.length)
  const own = rest === '' || rest.charCodeAt(0) === 63 /* ? */
  const parsed = readOriginal(raw.rawHeaders, {
    method: raw.method ?? 'GET',
    suffix: own ? undefined : rest,
    defaultProto: gw.config.secure ? 'https' : 'http',
  })
  return { parsed, redirect: own && rest.length > 1 && wantsRedirect(rest) }
}

/** Calls the listener decided and handed to the Fastify route, with their answer still to give. */
const handoff = new Handoff<{ readonly d: Decided, readonly o: OriginalRequest, readonly redirect: boolean }>()

/**
 * The HTTP server's listener for forward-auth calls: returns false for any
 * other request (or when Fastify must see every request); otherwise decides
 * the call and answers a 200 itself, or hands the decided call to Fastify.
 */
export function forwardAuthListener (ref: GatewayRef, opts: { readonly ready: () => boolean, readonly direct: () => boolean }): (req: IncomingMessage, res: ServerResponse, fastify: (req: IncomingMessage, res: ServerResponse) => void) => boolean {
  return (req, res, fastify) => {
    const url = req.url
    if (url === undefined || !url.startsWith(AUTH_PATH)) return false
    const c = url.charCodeAt(AUTH_PATH.length)
    if (!(Number.isNaN(c) || c === 63 /* ? */ || c === 47 /* / */)) return false
    if (!opts.ready() || !opts.direct() || !LISTENER_METHODS.has(req.method ?? '')) return false
    const gw = ref.current
    const call = readCall(gw, req)!
    // A malformed call: Fastify's route reads it again and answers the page.
    if (!call.parsed.ok) return false
    const o = call.parsed.original
    handoff.onListener(req, res, fastify, decideNow(gw, originalFacts(o, req), recordOf(req)),
      (d) => d.action.kind !== 'forward' ? { d, o, redirect: call.redirect } : undefined,
      (d, settled) => {
        const headers: OutgoingHttpHeaders = { 'x-gatehouse-response': 'auth-ok', 'cache-control': 'no-store', 'x-request-id': settled.requestId, 'content-length': 0 }
        if (d.action.kind === 'forward') for (const [name, value] of allowedHeaders(d.gw, d.action, d.now)) headers[name] = value
        if (settled.setCookies !== undefined) headers['set-cookie'] = settled.setCookies
        res.writeHead(200, headers)
        res.end()
      })
    return true
  }
}

/**
 * Registers `/.gatehouse/auth` (and `/.gatehouse/auth/*`, Envoy's shape) in
 * its own context: any method, and a body, if one comes, is never read.
 * It answers the calls the listener decided, and decides the others itself.
 */
export async function forwardAuthPlugin (app: FastifyInstance, opts: { ref: GatewayRef }): Promise<void> {
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('*', (_req, _payload, done) => { done(null) })
  const handler = async (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> => {
    const raw = request.raw
    const h = handoff.take(raw)
    if (h !== undefined) return answer(h.d, h.o, h.redirect, request, reply)
    const gw = opts.ref.current
    // The router decoded the path; the original request is read from the raw spelling only.
    const call = readCall(gw, raw)
    if (call === undefined) {
      return sendErrorPage(reply, { code: 'GH_AUTH_BAD_ORIGINAL', message: `Call ${AUTH_PATH} by that spelling.`, correlationId: request.id })
    }
    const parsed = call.parsed
    if (!parsed.ok) {
      request.log.info({ code: parsed.code, reason: parsed.reason }, 'forward-auth call refused')
      return sendErrorPage(reply, { code: parsed.code, message: `The forward-auth call cannot be accepted: ${parsed.reason}.`, correlationId: request.id })
    }
    const d = await decideFacts(gw, originalFacts(parsed.original, raw), recordOf(raw))
    return answer(d, parsed.original, call.redirect, request, reply)
  }
  app.all(AUTH_PATH, handler)
  app.all(`${AUTH_PATH}/*`, handler)
}
