import type { IncomingMessage, ServerResponse } from 'node:http'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { GatewayRef } from '../context.js'
import { loginRateLimited, startLogin } from '../auth/login.js'
import { loginElsewhere, redirectElsewhere } from '../auth/handoff.js'
import { UPSTREAM_FAILURE_CODES } from '../errors.js'
import { markGatewayResponse, sendChooserPage, writeErrorPage } from '../pages.js'
import type { Action } from '../pipeline/decide.js'
import { decideRequest, decideRequestNow, Handoff, recordDecision, sessionEffects, writeLogs, type Decided } from '../pipeline/run.js'
import { attachAssertion } from './assertion.js'
import { forward } from './forward.js'
import { sendRefusal } from '../pipeline/answer.js'

/**
 * The proxy entry: requests on the proxy port that are not Gatehouse's own
 * endpoints. Each is decided once (pipeline/run.ts) and the Action executed:
 *
 * - `forward` is carried out straight from the HTTP server's request
 *   listener: no Fastify request, reply, child logger or hooks per request
 *   (the main cost measured in docs/performance.md);
 * - every other Action needs an answer (a redirect, a 401, a page): the
 *   listener hands the *decided* request to Fastify, whose catch-all route
 *   executes it with a reply. It is never decided again.
 *
 * Fastify alone serves Gatehouse's endpoints, unusual methods, requests
 * while the server closes (503), and, with `log.requests`, every request
 * (so each gets its request log lines); its catch-all route then decides the
 * requests that reach it undecided.
 */

type FastifyHandler = (req: IncomingMessage, res: ServerResponse) => void

/** Decided requests handed to Fastify, until its route picks them up. */
const handoff = new Handoff<Decided>()

/** Methods the listener decides; anything else goes through Fastify's router. */
export const LISTENER_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'])

/**
 * Whether a request goes to Fastify undecided: Gatehouse's endpoints (any
 * first segment starting with '.' or '%', which covers every spelling of
 * /.gatehouse/), and methods Fastify's catch-all route handles itself.
 */
function forFastify (req: IncomingMessage): boolean {
  const url = req.url
  if (url === undefined || url.charCodeAt(0) !== 47) return true
  const c = url.charCodeAt(1)
  return c === 46 /* . */ || c === 37 /* % */ || !LISTENER_METHODS.has(req.method ?? '')
}

/**
 * Starts forwarding a decided `forward` Action; answers the upstream's
 * failures with the catalog's page (502/504), marked with the failure kind.
 */
function startForward (d: Decided, raw: IncomingMessage, res: ServerResponse, setCookies: string[] | undefined, requestId: string | undefined, log: FastifyRequest['log']): void {
  const { gw, action } = d
  if (action.kind !== 'forward') return
  const headers = action.headers
  if (requestId !== undefined) headers['x-request-id'] = requestId
  if (action.assertion) attachAssertion(gw, action, headers, d.now)
  forward(raw, res, {
    pool: action.route.pool,
    method: d.facts.method,
    path: action.path,
    headers,
    setCookies,
    timing: d.rec,
    requestId,
    onError: (failure, err) => {
      gw.metrics.upstreamError(failure)
      if (failure === 'aborted' || res.destroyed) { res.destroy(); return }
      const id = requestId ?? gw.newRequestId()
      const code = UPSTREAM_FAILURE_CODES[failure]!
      log.warn({ reqId: id, upstream: action.route.upstream, failure: code, err: (err as Error)?.message, code: (err as { code?: string })?.code }, 'upstream failed')
      writeErrorPage(res, { code, mark: failure, correlationId: id, setCookies })
    },
  })
}

/**
 * Executes a decided request with Fastify's reply: every Action kind.
 * Throws what the session store throws (the error handler answers 503).
 */
async function execute (d: Decided, request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | undefined> {
  const { gw, action } = d
  writeLogs(request.log, action.logs)
  const setCookies = await sessionEffects(d)
  if (setCookies !== undefined) reply.header('set-cookie', setCookies)
  switch (action.kind) {
    case 'forward': {
      recordDecision(d)
      reply.hijack()
      startForward(d, request.raw, reply.raw, setCookies, d.rec !== undefined ? gw.observer.id(d.rec) : request.id, request.log)
      return undefined
    }
    case 'login': {
      if (action.choices !== undefined) {
        // Several providers: the browser chooses; each link starts its login at /.gatehouse/login.
        recordDecision(d)
        return sendChooserPage(reply, action.choices.map((p) => ({ id: p.id, label: p.cfg.name ?? p.id })), action.rd)
      }
      // Asked for on another host than publicUrl's: the login runs there (auth/handoff.ts).
      const elsewhere = loginElsewhere(gw, action.host, action.rd, d.facts.headers.cookie, action.provider.id)
      if (elsewhere !== undefined) {
        recordDecision(d)
        return redirectElsewhere(reply, elsewhere)
      }
      if (action.via === 'gateway') {
        // Counted (and limited) at /.gatehouse/login, where this redirect leads.
        recordDecision(d)
        const provider = action.provider === gw.defaultProvider ? '' : `provider=${encodeURIComponent(action.provider.id)}&`
        return markGatewayResponse(reply, 'login-redirect').redirect(`/.gatehouse/login?${provider}rd=${encodeURIComponent(action.rd)}`, 302)
      }
      // This browser has no session: a login it starts counts against its address.
      const limited = loginRateLimited(gw, request, reply, 'start', action.rd)
      if (limited !== undefined) {
        recordDecision(d, { outcome: 'rate_limited', decision: 'deny:rate_limited' })
        return limited
      }
      recordDecision(d)
      return startLogin(gw, request, reply, action.provider, action.rd)
    }
    case 'renew': {
      recordDecision(d)
      // On another host, a normal login at publicUrl (quiet while the provider's session lives).
      const elsewhere = loginElsewhere(gw, action.host, action.rd, d.facts.headers.cookie, action.provider.id)
      if (elsewhere !== undefined) return redirectElsewhere(reply, elsewhere)
      return startLogin(gw, request, reply, action.provider, action.rd, { renewing: action.session })
    }
    case 'unauthenticated':
      recordDecision(d)
      if (action.bearerError !== undefined) {
        // RFC 6750 3.1: an API client's token was refused; it is never sent to log in.
        return markGatewayResponse(reply, 'unauthenticated')
          .code(401)
          .header('www-authenticate', `Bearer error="${action.bearerError}"`)
          .send({ error: action.bearerError, message: 'the bearer token is not valid here' })
      }
      return markGatewayResponse(reply, 'unauthenticated')
        .code(401)
        .header('www-authenticate', 'Bearer realm="gatehouse"')
        .send({ error: 'unauthenticated', message: 'sign in required', login: '/.gatehouse/login' })
    case 'forbidden':
    case 'page':
      return sendRefusal(d, action, request, reply)
    case 'refresh':
      // decideRequest() always completes a refresh.
      throw new Error('a refresh Action reached the proxy entry')
  }
}

/** Fastify's request-lifecycle hooks: where one applies, requests must go through Fastify. */
const REQUEST_HOOKS = ['onRequest', 'preParsing', 'preValidation', 'preHandler', 'preSerialization', 'onRequestAbort', 'onTimeout', 'onResponse', 'onSend', 'onError']
const HOOK_LINE = new RegExp(`• \\((${REQUEST_HOOKS.join('|')})\\) (.*)$`, 'gm')

/**
 * Whether a request-lifecycle hook is registered anywhere on `app` (read once
 * it is ready, from its public route listing with hooks). Gatehouse registers
 * none; an application embedding buildApp() may, and its hooks must run for
 * every request, so the listener then hands every request to Fastify.
 * Fastify's own HEAD handler (on GET routes) does not count.
 */
export function hasRequestHooks (app: FastifyInstance): boolean {
  const listing = app.printRoutes({ includeHooks: true, commonPrefix: false })
  for (const m of listing.matchAll(HOOK_LINE)) {
    if (m[1] === 'onSend' && m[2] === '["headRouteOnSendHandler()"]') continue
    return true
  }
  return false
}

/**
 * The HTTP server's request listener for the proxy port: decides requests
 * and forwards what may be forwarded; hands everything else to `fastify`
 * (Fastify's own handler), decided or not. `ready()` is false until Fastify is
 * ready and again once it closes (Fastify then answers 503); `direct` is
 * false when every request must pass through Fastify (request logging,
 * request hooks).
 */
export function proxyListener (ref: GatewayRef, opts: { readonly ready: () => boolean, readonly direct: () => boolean }): (req: IncomingMessage, res: ServerResponse, fastify: FastifyHandler) => void {
  return (req, res, fastify) => {
    if (!opts.ready() || forFastify(req)) { fastify(req, res); return }
    // The context in force when the request arrived (a reload swaps ref.current).
    const gw = ref.current
    handoff.onListener(req, res, fastify, decideRequestNow(gw, req),
      // Only a forward needs no reply; request logging and hooks want Fastify for every request.
      (d) => d.action.kind !== 'forward' || !opts.direct() ? d : undefined,
      (d, settled) => { startForward(d, req, res, settled.setCookies, settled.requestId, gw.log) })
  }
}

/**
 * Registers the catch-all proxy route in its own encapsulated context, whose
 * only content-type parser leaves the body untouched so it streams upstream.
 * It executes the Action of a request the listener decided, or decides the
 * request itself when it arrives undecided.
 */
export async function proxyPlugin (app: FastifyInstance, opts: { ref: GatewayRef }): Promise<void> {
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('*', (_req, _payload, done) => { done(null) })
  const handler = async (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | undefined> => {
    return execute(handoff.take(request.raw) ?? await decideRequest(opts.ref.current, request.raw), request, reply)
  }
  app.all('/', handler)
  app.all('/*', handler)
}
