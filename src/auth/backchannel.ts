import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { Gateway, GatewayRef } from '../context.js'
import { markGatewayResponse } from '../pages.js'
import { LOGOUT_TOKEN_MAX_AGE_MS, peekIssuer, verifyLogoutToken } from './logout-token.js'
import type { OidcProvider } from './oidc.js'

export const BACKCHANNEL_LOGOUT_PATH = '/.gatehouse/backchannel-logout'

/** Logout tokens are small JWTs; anything larger is not one. */
const MAX_TOKEN_LENGTH = 16 * 1024

function reject (request: FastifyRequest, reply: FastifyReply, code: string, description: string): FastifyReply {
  request.log.info({ code }, 'back-channel logout refused')
  return markGatewayResponse(reply, 'backchannel-logout').code(400).send({ error: 'invalid_request', error_description: description })
}

/** The configured provider whose issuer and client id the (unverified) token names. */
function providerFor (gw: Gateway, iss: string, aud: readonly string[]): OidcProvider | undefined {
  for (const p of gw.providers.values()) {
    if ((p.issuer === iss || p.cfg.issuer === iss) && aud.includes(p.cfg.clientId)) return p
  }
  return undefined
}

/**
 * POST /.gatehouse/backchannel-logout — OpenID Connect Back-Channel Logout 1.0.
 * The provider posts `logout_token`; a token that fails any check gets 400 and
 * ends nothing. A valid one ends the sessions it names (by `sid`, else every
 * session of `sub`) in whatever store is configured, once: its `jti` is
 * remembered, and a replay gets 400.
 */
async function backchannelLogout (gw: Gateway, request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
  reply.header('cache-control', 'no-store')
  const type = String(request.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase()
  if (type !== 'application/x-www-form-urlencoded') return reject(request, reply, 'GH_BACKCHANNEL_BAD_CONTENT_TYPE', 'expected an application/x-www-form-urlencoded body')
  const token = (request.body as Record<string, unknown> | undefined)?.logout_token
  if (typeof token !== 'string' || token === '' || token.length > MAX_TOKEN_LENGTH) return reject(request, reply, 'GH_BACKCHANNEL_MISSING_TOKEN', 'logout_token is required')
  const peek = peekIssuer(token)
  if (peek === undefined) return reject(request, reply, 'GH_BACKCHANNEL_MALFORMED', 'logout_token is not a JWT')
  const provider = peek.iss !== undefined ? providerFor(gw, peek.iss, peek.aud) : undefined
  if (provider === undefined) return reject(request, reply, 'GH_BACKCHANNEL_UNKNOWN_ISSUER', 'the logout token is not from a provider and client this gateway knows')
  const keys = provider.signingKeys
  const issuer = provider.issuer
  if (keys === undefined || issuer === undefined) {
    return markGatewayResponse(reply, 'backchannel-logout').code(503).header('retry-after', '5').send({ error: 'temporarily_unavailable', error_description: 'the provider keys are not loaded yet' })
  }
  const now = gw.now()
  const v = await verifyLogoutToken(token, { issuer, clientId: provider.cfg.clientId, keys, now, clockSkew: gw.config.session.clockSkew })
  if (!v.ok) {
    if (v.unavailable === true) {
      request.log.warn({ provider: provider.id, code: v.code }, 'back-channel logout: provider keys unavailable')
      return markGatewayResponse(reply, 'backchannel-logout').code(503).header('retry-after', '5').send({ error: 'temporarily_unavailable', error_description: v.reason })
    }
    return reject(request, reply, v.code, v.reason)
  }
  // Replay: a jti is accepted once per issuer for as long as a token could be valid.
  const fresh = await gw.sessions.revocations.once(`jti\n${issuer}\n${v.claims.jti}`, LOGOUT_TOKEN_MAX_AGE_MS + 2 * gw.config.session.clockSkew)
  if (!fresh) return reject(request, reply, 'GH_BACKCHANNEL_REPLAYED', 'this logout token has already been used')
  const ended = await gw.sessions.endMatching({ provider: provider.id, ...(v.claims.sid !== undefined ? { sid: v.claims.sid } : {}), ...(v.claims.sub !== undefined ? { sub: v.claims.sub } : {}) }, now)
  gw.metrics.backchannelLogout()
  request.log.info({ provider: provider.id, sub: v.claims.sub, bySid: v.claims.sid !== undefined, ended }, 'back-channel logout')
  return markGatewayResponse(reply, 'backchannel-logout').code(200).send()
}

export function registerBackchannelLogout (ref: GatewayRef, app: FastifyInstance): void {
  app.post(BACKCHANNEL_LOGOUT_PATH, async (request, reply) => backchannelLogout(ref.current, request, reply))
}
