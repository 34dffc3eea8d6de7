import type { FastifyReply, FastifyRequest } from 'fastify'
import type { Gateway, GatewayRef } from '../context.js'
import { GatewayError } from '../errors.js'
import { sendErrorPage, markGatewayResponse } from '../pages.js'
import { splitCookieHeader } from '../session/cookies.js'
import type { Session } from '../session/session.js'
import { OidcProvider, classifyProviderError } from './oidc.js'
import {
  LOGIN_COOKIE_PATH, loginCookieName, loginCookieOptions, loginCookiesToEvict, sealLoginState, type LoginState,
} from './login-state.js'
import { safeReturnTo } from './return-to.js'
import { bindingUrl, handoffBinding, loginElsewhere, redirectElsewhere, signedInHandoff } from './handoff.js'
import { requestHost } from '../pipeline/facts.js'
import { clientAddress, recordOf } from '../observe.js'
import type { LimitKind } from './rate-limit.js'

/** A gateway-made error page for a failed login step, with a "try again" link. */
export function sendLoginError (gw: Gateway, request: FastifyRequest, reply: FastifyReply, err: unknown, rd = '/'): FastifyReply {
  const e = err instanceof GatewayError ? err : classifyProviderError(err, 'login')
  // The reason goes to the log; the page says only what the user can act on.
  request.log.warn({ code: e.code, status: e.status, err: e.message }, 'login failed')
  gw.metrics.login('failed')
  // Title, and the message of an error whose own is not for users, from the catalog.
  return sendErrorPage(reply, {
    status: e.status,
    ...(e.expose ? { message: e.message } : {}),
    correlationId: request.id,
    retryHref: `/.gatehouse/login?rd=${encodeURIComponent(rd)}`,
    code: e.code,
  })
}

/** 429 for a login step over `limits.loginsPerMinute`, with Retry-After. */
function sendRateLimited (gw: Gateway, request: FastifyRequest, reply: FastifyReply, retryAfter: number, rd: string): FastifyReply {
  gw.metrics.login('rate_limited')
  request.log.info({ remoteAddress: clientAddress(request.raw, gw.config.trustProxy), retryAfter }, 'login rate limit reached')
  return sendErrorPage(reply.header('retry-after', String(retryAfter)), {
    message: `Too many sign-ins were started from your network address. Please wait ${retryAfter} second${retryAfter === 1 ? '' : 's'} and try again.`,
    correlationId: request.id,
    retryHref: `/.gatehouse/login?rd=${encodeURIComponent(rd)}`,
    code: 'GH_RATE_LIMITED',
  })
}

/**
 * `limits.loginsPerMinute` for a browser known to have no session: takes a
 * token for its address, and answers 429 when there is none (undefined: go on).
 */
export function loginRateLimited (gw: Gateway, request: FastifyRequest, reply: FastifyReply, kind: LimitKind, rd: string): FastifyReply | undefined {
  if (gw.limiter.perMinute <= 0) return undefined
  const wait = gw.limiter.take(kind, clientAddress(request.raw, gw.config.trustProxy))
  return wait === 0 ? undefined : sendRateLimited(gw, request, reply, wait, rd)
}

/**
 * The same for the login and callback endpoints, which a signed-in browser
 * may call too: signed-in traffic is never limited (nor counted).
 */
export async function loginRateLimitedUnlessSignedIn (gw: Gateway, request: FastifyRequest, reply: FastifyReply, kind: LimitKind, rd: string): Promise<FastifyReply | undefined> {
  if (gw.limiter.perMinute <= 0) return undefined
  try {
    const { ours } = splitCookieHeader(gw.sessions.names, request.headers.cookie)
    if (ours !== undefined && (await gw.sessions.read(ours, gw.now())).session !== null) return undefined
  } catch {
    // The store is unreachable: judge the request as anonymous.
  }
  const limited = loginRateLimited(gw, request, reply, kind, rd)
  if (limited !== undefined) {
    gw.metrics.decision('deny:rate_limited')
    const rec = recordOf(request.raw)
    if (rec !== undefined) rec.decision = 'deny:rate_limited'
  }
  return limited
}

/**
 * Starts a login: fresh state, nonce and PKCE verifier from the CSPRNG, kept
 * in a sealed login-state cookie of their own, then a redirect to the
 * provider. Used by /.gatehouse/login and by the proxy path for browsers.
 * `renewing`: renew this session, whose tokens expire and which has no
 * refresh token, by asking the provider with prompt=none (no page is shown
 * while the user's session at the provider is alive).
 */
export async function startLogin (gw: Gateway, request: FastifyRequest, reply: FastifyReply, provider: OidcProvider, rd: string, opts: { renewing?: Session, bind?: string } = {}): Promise<FastifyReply> {
  const checks = OidcProvider.newChecks(provider.cfg.pkce)
  let url: string
  try {
    url = await provider.authorizationUrl(checks, opts.renewing !== undefined ? { prompt: 'none' } : {})
  } catch (err) {
    return sendLoginError(gw, request, reply, err, rd)
  }
  const names = gw.sessions.names
  const login: LoginState = {
    state: checks.state,
    nonce: checks.nonce,
    ...(checks.codeVerifier !== undefined ? { codeVerifier: checks.codeVerifier } : {}),
    rd,
    provider: provider.id,
    iat: gw.now(),
    ...(opts.renewing !== undefined ? { renewing: { sub: opts.renewing.sub, iat: opts.renewing.iat } } : {}),
    ...(opts.bind !== undefined ? { bind: opts.bind } : {}),
  }
  const name = loginCookieName(names, checks.state)
  const cookieOpts = loginCookieOptions(gw.config, provider.cfg.responseMode)
  const { ours } = splitCookieHeader(names, request.headers.cookie)
  const cookies = loginCookiesToEvict(gw.sessions.sealer, names, ours)
    .map((n) => gw.sessions.serialize(n, '', { ...cookieOpts, maxAge: 0 }))
  cookies.push(gw.sessions.serialize(name, sealLoginState(gw.sessions.sealer, name, login), cookieOpts))
  return markGatewayResponse(reply, opts.renewing !== undefined ? 'login-renew' : 'login')
    .header('set-cookie', cookies)
    .redirect(url, 302)
}

/** The provider a login request names (`?provider=id`), or the default one. */
export function pickProvider (gw: Gateway, id: unknown): OidcProvider | undefined {
  if (id === undefined || id === '') return gw.defaultProvider
  return typeof id === 'string' ? gw.providers.get(id) : undefined
}

export function registerLogin (ref: GatewayRef, app: import('fastify').FastifyInstance): void {
  app.get('/.gatehouse/login', async (request, reply) => {
    const gw = ref.current
    const q = request.query as Record<string, unknown>
    const rd = safeReturnTo(q.rd, '/', gw.returnOrigin)
    const providerId = typeof q.provider === 'string' && q.provider !== '' ? q.provider : undefined
    // Asked for on another host: the login runs where the callback is.
    const elsewhere = loginElsewhere(gw, requestHost(request.headers, gw.config.trustProxy), rd, request.headers.cookie, providerId)
    if (elsewhere !== undefined) return redirectElsewhere(reply, elsewhere)
    // For a host that needs a handoff, the browser must carry that host's binding: fetch it there first.
    const bind = handoffBinding(gw, rd, q.handoff_secret)
    if (bind === false) return markGatewayResponse(reply, 'login-redirect').redirect(bindingUrl(rd, providerId), 302)
    const provider = pickProvider(gw, q.provider)
    if (provider === undefined) {
      return sendErrorPage(reply, { correlationId: request.id, code: 'GH_UNKNOWN_PROVIDER', retryHref: `/.gatehouse/login?rd=${encodeURIComponent(rd)}` })
    }
    const handed = await signedInHandoff(gw, request, rd, provider.id, bind)
    if (handed !== undefined) return markGatewayResponse(reply, 'login-handoff').header('set-cookie', handed.cookies).redirect(handed.target, 302)
    const limited = await loginRateLimitedUnlessSignedIn(gw, request, reply, 'start', rd)
    if (limited !== undefined) return limited
    return startLogin(gw, request, reply, provider, rd, bind !== undefined ? { bind } : {})
  })
}

export { LOGIN_COOKIE_PATH }
