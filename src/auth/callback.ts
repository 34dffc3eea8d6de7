import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { Gateway, GatewayRef } from '../context.js'
import { GatewayError, LoginError } from '../errors.js'
import { markGatewayResponse, sendFragmentPage } from '../pages.js'
import { splitCookieHeader } from '../session/cookies.js'
import { randomToken, safeEqual, sha256 } from '../session/crypto.js'
import { identityClaims, type Session } from '../session/session.js'
import { loginCookieName, loginCookieOptions, openLoginState } from './login-state.js'
import { loginRateLimitedUnlessSignedIn, sendLoginError, startLogin } from './login.js'
import { recordOf } from '../observe.js'
import { firstFailure, formParams, SHAPE_CHECKS, type ResponseChannel } from './authorization-response.js'
import { INTERACTION_REQUIRED } from './provider-errors.js'

const STATE_FAILURES: Record<string, string> = {
  missing: 'this sign-in was not started in this browser, has already been used, or took too long',
  invalid: 'the sign-in state could not be read',
  expired: 'the sign-in took too long',
  'state-mismatch': 'the sign-in state does not match',
}

/**
 * The redirect_uri, for every response mode: GET with a query string
 * (`query`), POST (`form_post`, and the fragment page's own POST), and a GET
 * without one (`fragment`: the browser kept the response in the URL
 * fragment, so a small page reads it and POSTs it back here).
 *
 * Checks the login-state cookie for this `state`, consumes it (a replayed
 * callback fails), has the provider module verify the response and tokens,
 * then creates a brand-new session and sends the browser back (303, so no
 * code or token stays in history).
 */
async function callback (gw: Gateway, request: FastifyRequest, reply: FastifyReply, fragmentPage: boolean): Promise<FastifyReply> {
  const rawUrl = request.raw.url ?? ''
  const q = rawUrl.indexOf('?')
  const query = q === -1 ? '' : rawUrl.slice(q + 1)
  const channel: ResponseChannel = request.method === 'POST' ? 'post' : 'query'
  if (channel === 'query' && query === '' && fragmentPage) return sendFragmentPage(reply)
  const limited = await loginRateLimitedUnlessSignedIn(gw, request, reply, 'callback', '/')
  if (limited !== undefined) return limited
  const params = channel === 'post'
    ? formParams(request.body as Record<string, string | string[]> | undefined)
    : new URLSearchParams(query)
  const malformed = firstFailure(SHAPE_CHECKS, params)
  // Refused before the state is looked up: nothing is consumed, no session is made.
  if (malformed !== undefined) return sendLoginError(gw, request, reply, malformed)
  const state = params.get('state')!
  const names = gw.sessions.names
  const { ours } = splitCookieHeader(names, request.headers.cookie)
  const now = gw.now()
  const cookieName = loginCookieName(names, state)
  const opened = openLoginState(gw.sessions.sealer, names, ours, state, now)
  const provider = opened.ok ? gw.providers.get(opened.login.provider) : undefined
  // Whatever happens next, this login-state cookie is spent.
  reply.header('set-cookie', gw.sessions.serialize(cookieName, '', { ...loginCookieOptions(gw.config, provider?.cfg.responseMode ?? 'query'), maxAge: 0 }))
  if (!opened.ok) {
    return sendLoginError(gw, request, reply, new LoginError(`GH_LOGIN_STATE_${opened.reason.toUpperCase().replace('-', '_')}`, 400, `Sign-in could not be completed: ${STATE_FAILURES[opened.reason]}.`))
  }
  const login = opened.login
  const stateKey = sha256(state)
  if (gw.consumedStates.has(stateKey)) {
    return sendLoginError(gw, request, reply, new LoginError('GH_LOGIN_STATE_REPLAYED', 400, 'Sign-in could not be completed: this sign-in response has already been used.'), login.rd)
  }
  gw.consumedStates.set(stateKey, true)
  if (provider === undefined) {
    return sendLoginError(gw, request, reply, new LoginError('GH_UNKNOWN_PROVIDER', 400, 'Sign-in could not be completed: the identity provider is no longer configured.'), login.rd)
  }
  let result
  try {
    result = await provider.completeLogin(params, channel, {
      state: login.state,
      nonce: login.nonce,
      ...(login.codeVerifier !== undefined ? { codeVerifier: login.codeVerifier } : {}),
    }, now)
  } catch (err) {
    if (login.renewing !== undefined && err instanceof GatewayError && INTERACTION_REQUIRED.has(err.code)) {
      // The silent renewal found no live session at the provider: the local
      // session ends with it, and the user signs in again the normal way.
      request.log.info({ provider: provider.id, code: err.code }, 'silent renewal needs interaction; starting a normal login')
      try {
        const previous = await gw.sessions.read(ours, now)
        if (previous.session !== null) await gw.sessions.end(previous.session, now)
      } catch (storeErr) {
        return sendLoginError(gw, request, reply, storeErr, login.rd)
      }
      reply.header('set-cookie', gw.sessions.clear(ours))
      return startLogin(gw, request, reply, provider, login.rd)
    }
    return sendLoginError(gw, request, reply, err, login.rd)
  }
  // A brand-new session: new id, never one the browser had before (session
  // fixation); any session it carried is ended. A silent renewal for the same
  // user keeps the original login time, so absoluteTimeout still counts from
  // the first sign-in (the login state carries it: a cross-site form_post
  // brings no session cookie).
  const renewed = login.renewing !== undefined && safeEqual(login.renewing.sub, result.sub)
  const session: Session = {
    v: 1,
    id: randomToken(16),
    provider: provider.id,
    iat: renewed ? login.renewing!.iat : now,
    seen: now,
    sub: result.sub,
    ...(result.sid !== undefined ? { sid: result.sid } : {}),
    claims: identityClaims(result.idClaims, result.userinfo),
    idToken: result.idToken,
    ...(result.accessToken !== undefined ? { accessToken: result.accessToken } : {}),
    ...(result.refreshToken !== undefined ? { refreshToken: result.refreshToken } : {}),
    ...(result.expiresAt !== undefined ? { expiresAt: result.expiresAt } : {}),
    tokensAt: now,
  }
  let cookies: string[]
  try {
    const previous = await gw.sessions.read(ours, now)
    if (previous.session !== null) await gw.sessions.end(previous.session, now)
    cookies = await gw.sessions.write(session, ours, now, true)
  } catch (err) {
    // The session store is unreachable (503) or the session cannot be stored.
    return sendLoginError(gw, request, reply, err, login.rd)
  }
  gw.metrics.login(renewed ? 'renewed' : 'ok')
  const rec = recordOf(request.raw)
  if (rec !== undefined) rec.user = session.sub
  request.log.info({ sub: session.sub, provider: provider.id, renewed }, 'login complete')
  return markGatewayResponse(reply, 'callback')
    .header('set-cookie', cookies)
    .redirect(login.rd, 303)
}

/** The fragment page is served only when a provider of this config needs it (computed once per context). */
const fragmentPages = new WeakMap<Gateway, boolean>()
function servesFragmentPage (gw: Gateway): boolean {
  let v = fragmentPages.get(gw)
  if (v === undefined) {
    v = [...gw.providers.values()].some((p) => p.cfg.responseMode === 'fragment')
    fragmentPages.set(gw, v)
  }
  return v
}

export function registerCallback (ref: GatewayRef, app: FastifyInstance): void {
  app.get('/.gatehouse/callback', async (request, reply) => { const gw = ref.current; return callback(gw, request, reply, servesFragmentPage(gw)) })
  app.post('/.gatehouse/callback', async (request, reply) => { const gw = ref.current; return callback(gw, request, reply, servesFragmentPage(gw)) })
}
