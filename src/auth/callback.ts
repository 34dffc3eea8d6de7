import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { Gateway } from '../context.js'
import { LoginError } from '../errors.js'
import { markGatewayResponse } from '../pages.js'
import { splitCookieHeader } from '../session/cookies.js'
import { randomToken, sha256 } from '../session/crypto.js'
import { identityClaims, type Session } from '../session/session.js'
import { loginCookieName, loginCookieOptions, openLoginState } from './login-state.js'
import { sendLoginError } from './login.js'

const STATE_FAILURES: Record<string, string> = {
  missing: 'this sign-in was not started in this browser, has already been used, or took too long',
  invalid: 'the sign-in state could not be read',
  expired: 'the sign-in took too long',
  'state-mismatch': 'the sign-in state does not match',
}

/**
 * The redirect_uri. Checks the login-state cookie for this `state`, consumes
 * it (a replayed callback fails), has the provider module verify the
 * response and tokens, then creates a brand-new session and sends the
 * browser back (303, so the code never stays in history).
 */
async function callback (gw: Gateway, request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
  const rawUrl = request.raw.url ?? ''
  const params = request.method === 'POST'
    ? new URLSearchParams((request.body ?? {}) as Record<string, string>)
    : new URLSearchParams(rawUrl.includes('?') ? rawUrl.slice(rawUrl.indexOf('?') + 1) : '')
  const state = params.get('state')
  const names = gw.sessions.names
  const { ours } = splitCookieHeader(names, request.headers.cookie)
  const now = gw.now()
  if (state === null || state === '' || state.length > 512) {
    return sendLoginError(gw, request, reply, new LoginError('GH_LOGIN_NO_STATE', 400, 'the sign-in response carries no state'))
  }
  const cookieName = loginCookieName(names, state)
  const opts = loginCookieOptions(gw.config.secure)
  // Whatever happens next, this login-state cookie is spent.
  reply.header('set-cookie', gw.sessions.serialize(cookieName, '', { ...opts, maxAge: 0 }))
  const opened = openLoginState(gw.sessions.sealer, names, ours, state, now)
  if (!opened.ok) {
    return sendLoginError(gw, request, reply, new LoginError(`GH_LOGIN_STATE_${opened.reason.toUpperCase().replace('-', '_')}`, 400, `Sign-in could not be completed: ${STATE_FAILURES[opened.reason]}.`))
  }
  const login = opened.login
  const stateKey = sha256(state)
  if (gw.consumedStates.has(stateKey)) {
    return sendLoginError(gw, request, reply, new LoginError('GH_LOGIN_STATE_REPLAYED', 400, 'Sign-in could not be completed: this sign-in response has already been used.'), login.rd)
  }
  gw.consumedStates.set(stateKey, true)
  const provider = gw.providers.get(login.provider)
  if (provider === undefined) {
    return sendLoginError(gw, request, reply, new LoginError('GH_UNKNOWN_PROVIDER', 400, 'Sign-in could not be completed: the identity provider is no longer configured.'), login.rd)
  }
  let result
  try {
    const callbackUrl = new URL(gw.redirectUri)
    callbackUrl.search = params.toString()
    result = await provider.completeCodeLogin(callbackUrl, {
      state: login.state,
      nonce: login.nonce,
      ...(login.codeVerifier !== undefined ? { codeVerifier: login.codeVerifier } : {}),
    }, now)
  } catch (err) {
    return sendLoginError(gw, request, reply, err, login.rd)
  }
  // A brand-new session: new id, never one the browser had before (session
  // fixation); any session it carried is ended.
  const session: Session = {
    v: 1,
    id: randomToken(16),
    provider: provider.id,
    iat: now,
    seen: now,
    sub: result.sub,
    ...(result.sid !== undefined ? { sid: result.sid } : {}),
    claims: identityClaims(result.idClaims, result.userinfo),
    idToken: result.idToken,
    ...(result.accessToken !== undefined ? { accessToken: result.accessToken } : {}),
    ...(result.refreshToken !== undefined ? { refreshToken: result.refreshToken } : {}),
    ...(result.expiresAt !== undefined ? { expiresAt: result.expiresAt } : {}),
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
  gw.metrics.inc('gatehouse_logins_total{result="ok"}')
  request.log.info({ sub: session.sub, provider: provider.id }, 'login complete')
  return markGatewayResponse(reply, 'callback')
    .header('set-cookie', cookies)
    .redirect(login.rd, 303)
}

export function registerCallback (gw: Gateway, app: FastifyInstance): void {
  app.get('/.gatehouse/callback', async (request, reply) => callback(gw, request, reply))
  app.post('/.gatehouse/callback', async (request, reply) => callback(gw, request, reply))
}
