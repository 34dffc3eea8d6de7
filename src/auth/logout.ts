import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { Gateway, GatewayRef } from '../context.js'
import { markGatewayResponse } from '../pages.js'
import { clearCookies, splitCookieHeader } from '../session/cookies.js'
import type { Session } from '../session/session.js'
import { LOGIN_COOKIE_PATH } from './login-state.js'
import type { OidcProvider } from './oidc.js'
import { safeReturnTo } from './return-to.js'
import { requestHost } from '../pipeline/facts.js'

/** Logout waits at most this long for the provider to revoke the tokens. */
const REVOKE_WAIT_MS = 3_000

/**
 * Revokes the session's refresh and access tokens at the provider (RFC 7009)
 * where it has a revocation endpoint, so a token copied out of the session
 * (or sent upstream earlier) stops working too. Bounded: a slow provider
 * delays logout by at most REVOKE_WAIT_MS and never fails it.
 */
export async function revokeTokens (provider: OidcProvider | undefined, session: Session): Promise<void> {
  if (provider === undefined) return
  const pending: Promise<boolean>[] = []
  if (session.refreshToken !== undefined) pending.push(provider.revoke(session.refreshToken, 'refresh_token'))
  if (session.accessToken !== undefined) pending.push(provider.revoke(session.accessToken, 'access_token'))
  if (pending.length === 0) return
  let timer: NodeJS.Timeout | undefined
  await Promise.race([
    Promise.allSettled(pending),
    new Promise((resolve) => { timer = setTimeout(resolve, REVOKE_WAIT_MS) }),
  ])
  clearTimeout(timer)
}

/**
 * Ends the local session (deleted from the store, or revoked with the cookie
 * store, so a copy of the cookie no longer works), revokes its tokens at the
 * provider, clears every Gatehouse cookie, then goes to the provider's
 * end-session endpoint where it has one, else straight to the safe return path.
 */
async function logout (gw: Gateway, request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
  const q = request.query as Record<string, unknown>
  const body = (request.method === 'POST' ? request.body ?? {} : {}) as Record<string, unknown>
  const rd = safeReturnTo(body.rd ?? q.rd, '/', gw.returnOrigin)
  const names = gw.sessions.names
  const { ours } = splitCookieHeader(names, request.headers.cookie)
  const { session } = await gw.sessions.read(ours, gw.now())
  const cookies = gw.sessions.clear(ours, requestHost(request.headers, gw.config.trustProxy))
  if (ours !== undefined) {
    const loginCookies = [...ours.keys()].filter((n) => n.startsWith(names.login))
    cookies.push(...clearCookies(loginCookies, { path: LOGIN_COOKIE_PATH, httpOnly: true, secure: gw.config.secure, sameSite: 'lax' }, gw.sessions.serialize.bind(gw.sessions)))
  }
  let target = rd
  if (session !== null) {
    await gw.sessions.end(session, gw.now())
    request.log.info({ sub: session.sub }, 'logout')
    const provider = gw.providers.get(session.provider)
    await revokeTokens(provider, session)
    const back = provider?.cfg.postLogoutRedirectUri ?? (rd.charCodeAt(0) === 47 ? gw.config.publicOrigin + rd : rd)
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

export function registerLogout (ref: GatewayRef, app: FastifyInstance): void {
  app.get('/.gatehouse/logout', async (request, reply) => logout(ref.current, request, reply))
  app.post('/.gatehouse/logout', async (request, reply) => logout(ref.current, request, reply))
  app.get('/.gatehouse/userinfo', async (request, reply) => userinfo(ref.current, request, reply))
}
