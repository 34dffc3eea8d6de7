import type { IncomingMessage } from 'node:http'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { Gateway, GatewayRef } from '../context.js'
import { safeReturnTo } from '../auth/return-to.js'
import { markGatewayResponse, sendErrorPage } from '../pages.js'
import { requestHost, type RequestFacts } from '../pipeline/facts.js'
import { decideFacts, recordDecision, sessionEffects, writeLogs, type Decided } from '../pipeline/run.js'
import { identityHeaders } from '../proxy/headers.js'
import { recordOf } from '../observe.js'
import { readOriginal, type OriginalRequest } from './original.js'

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

/** Answers a decided forward-auth call. Throws what the session store throws (503). */
async function answer (d: Decided, o: OriginalRequest, redirect: boolean, request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
  const { gw, action } = d
  writeLogs(request.log, action.logs)
  const setCookies = await sessionEffects(d)
  if (setCookies !== undefined) reply.header('set-cookie', setCookies)
  switch (action.kind) {
    case 'forward': {
      recordDecision(d)
      const { session, route } = action
      if (session !== null) {
        for (const [name, value] of identityHeaders(route.plan, session.claims)) reply.header(name, value)
        const token = route.bearer === 'none' ? undefined : route.bearer === 'id_token' ? session.idToken : session.accessToken
        if (token !== undefined) reply.header('authorization', `Bearer ${token}`)
      }
      return markGatewayResponse(reply, 'auth-ok').code(200).send()
    }
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
      recordDecision(d)
      return sendErrorPage(reply, { correlationId: request.id, code: 'GH_FORBIDDEN' })
    case 'page':
      recordDecision(d)
      if (action.retryAfter !== undefined) reply.header('retry-after', String(action.retryAfter))
      return sendErrorPage(reply, { code: action.code, status: action.status, message: action.message, correlationId: request.id })
    case 'refresh':
      // decideFacts() always completes a refresh.
      throw new Error('a refresh Action reached the forward-auth entry')
  }
}

/**
 * Registers `/.gatehouse/auth` (and `/.gatehouse/auth/*`, Envoy's shape) in
 * its own context: any method, and a body, if one comes, is never read.
 */
export async function forwardAuthPlugin (app: FastifyInstance, opts: { ref: GatewayRef }): Promise<void> {
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('*', (_req, _payload, done) => { done(null) })
  const handler = async (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> => {
    const gw = opts.ref.current
    const raw = request.raw
    const url = raw.url ?? ''
    // The router decoded the path; the suffix is read from the raw spelling only.
    if (!url.startsWith(AUTH_PATH)) {
      return sendErrorPage(reply, { code: 'GH_AUTH_BAD_ORIGINAL', message: `Call ${AUTH_PATH} by that spelling.`, correlationId: request.id })
    }
    const rest = url.slice(AUTH_PATH.length)
    const own = rest === '' || rest.charCodeAt(0) === 63 /* ? */
    const parsed = readOriginal(raw.rawHeaders, {
      method: raw.method ?? 'GET',
      suffix: own ? undefined : rest,
      defaultProto: gw.config.secure ? 'https' : 'http',
    })
    if (!parsed.ok) {
      request.log.info({ code: parsed.code, reason: parsed.reason }, 'forward-auth call refused')
      return sendErrorPage(reply, { code: parsed.code, message: `The forward-auth call cannot be accepted: ${parsed.reason}.`, correlationId: request.id })
    }
    const o = parsed.original
    const d = await decideFacts(gw, originalFacts(o, raw), recordOf(raw))
    return answer(d, o, own && wantsRedirect(rest), request, reply)
  }
  app.all(AUTH_PATH, handler)
  app.all(`${AUTH_PATH}/*`, handler)
}
