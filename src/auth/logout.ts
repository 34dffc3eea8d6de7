import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { Gateway } from '../context.js'
import { markGatewayResponse } from '../pages.js'
import { clearCookies, splitCookieHeader } from '../session/cookies.js'
import { LOGIN_COOKIE_PATH } from './login-state.js'
import { safeReturnTo } from './return-to.js'

/**
 * Ends the local session (revoked, so a copy of the cookie no longer works),
 * clears every Gatehouse cookie, then goes to the provider's end-session
 * endpoint where it has one, else straight to the safe return path.
 */
async function logout (gw: Gateway, request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
  const q = request.query as Record<string, unknown>
  const body = (request.method === 'POST' ? request.body ?? {} : {}) as Record<string, unknown>
  const rd = safeReturnTo(body.rd ?? q.rd)
  const names = gw.sessions.names
  const { ours } = splitCookieHeader(names, request.headers.cookie)
  const { session } = await gw.sessions.read(ours, gw.now())
  const cookies = gw.sessions.clear(ours)
  if (ours !== undefined) {
    const loginCookies = [...ours.keys()].filter((n) => n.startsWith(names.login))
    cookies.push(...clearCookies(loginCookies, { path: LOGIN_COOKIE_PATH, httpOnly: true, secure: gw.config.secure, sameSite: 'lax' }, gw.sessions.serialize.bind(gw.sessions)))
  }
  let target = rd
  if (session !== null) {
    await gw.sessions.end(session)
    request.log.info({ sub: session.sub }, 'logout')
    const provider = gw.providers.get(session.provider)
    const back = provider?.cfg.postLogoutRedirectUri ?? gw.config.publicOrigin + rd
    target = provider?.endSessionUrl(session.idToken, back) ?? rd
  }
  if (cookies.length > 0) reply.header('set-cookie', cookies)
  return markGatewayResponse(reply, 'logout').redirect(target, 302)
}

/** The signed-in user's claims as JSON; never a token. */
async function userinfo (gw: Gateway, request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
  const { ours } = splitCookieHeader(gw.sessions.names, request.headers.cookie)
  const { session } = await gw.sessions.read(ours, gw.now())
  markGatewayResponse(reply, 'userinfo')
  if (session === null) return reply.code(401).header('www-authenticate', 'Bearer realm="gatehouse"').send({ error: 'unauthenticated', message: 'no valid session' })
  return reply.send({ ...session.claims, sub: session.sub })
}

export function registerLogout (gw: Gateway, app: FastifyInstance): void {
  app.get('/.gatehouse/logout', async (request, reply) => logout(gw, request, reply))
  app.post('/.gatehouse/logout', async (request, reply) => logout(gw, request, reply))
  app.get('/.gatehouse/userinfo', async (request, reply) => userinfo(gw, request, reply))
}
