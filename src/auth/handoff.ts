import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { Gateway, GatewayRef } from '../context.js'
import { markGatewayResponse, sendErrorPage } from '../pages.js'
import { requestHost } from '../pipeline/facts.js'
import { domainCovers, splitCookieHeader, type CookieOptions } from '../session/cookies.js'
import { randomToken, safeEqual, type Sealer } from '../session/crypto.js'
import { LOGIN_TTL_MS } from './login-state.js'
import { needsRefresh } from './refresh.js'
import { absoluteOn, type ReturnOrigin } from './return-to.js'

/**
 * Many hosts behind one gateway. The callback, and with it every login,
 * lives on the publicUrl host. A host under `session.cookieDomain` shares the
 * session cookie set there; any other host a route names gets its own cookie
 * for the same session through a handoff: the browser is sent to
 * `https://<host>/.gatehouse/handoff?token=...` with a token that is
 *
 * - sealed with the session secrets (AES-GCM, a purpose of its own, so no
 *   session or login-state value opens as one, nor the reverse);
 * - bound to that host, valid for HANDOFF_TTL_MS, and used once (its random
 *   `jti` is recorded where revocations live: in Redis when configured, so
 *   every replica refuses a replay; else per process);
 * - carrying the session's ticket, so the host's cookie names the same
 *   session: a logout anywhere ends it on every host.
 *
 * The token's query parameter is `token`, which the access log redacts.
 */

export const HANDOFF_PATH = '/.gatehouse/handoff'
export const HANDOFF_TTL_MS = 60_000
const PURPOSE = 'handoff'
/** Tokens carry a whole session with the cookie store: bounded like a sealed cookie. */
const MAX_TOKEN_LENGTH = 65_536

/** What a handoff token carries. */
export interface Handoff {
  /** The host it may be used on (lower-case, no port). */
  readonly host: string
  /** The session's ticket, as its cookie carries it. */
  readonly ticket: unknown
  /** The absolute URL on `host` the browser asked for. */
  readonly rd: string
  /** Epoch ms after which it is refused. */
  readonly exp: number
  /** Random id: each token is accepted once. */
  readonly jti: string
  /** The browser binding: the secret of the cookie the browser holds on `host`. */
  readonly bind: string
}

export type HandoffCode = 'GH_HANDOFF_INVALID' | 'GH_HANDOFF_WRONG_HOST' | 'GH_HANDOFF_EXPIRED' | 'GH_HANDOFF_WRONG_BROWSER'

/** Seals a handoff of the session behind `ticket` to the host of `rd` (an absolute URL). */
export function sealHandoff (sealer: Sealer, ticket: unknown, rd: string, now: number, bind: string): string {
  const h: Handoff = { host: new URL(rd).hostname, ticket, rd, exp: now + HANDOFF_TTL_MS, jti: randomToken(16), bind }
  return sealer.seal(PURPOSE, JSON.stringify(h))
}

/**
 * Opens a handoff token presented on `host` at `now` by a browser holding
 * the binding secret `held`: anything this gateway did not seal as a handoff
 * is invalid; then the host, the expiry and the binding. The one-time check
 * is the caller's (it needs the shared record). Never throws.
 */
export function openHandoff (sealer: Sealer, token: unknown, host: string, now: number, held: string | undefined): { readonly ok: true, readonly handoff: Handoff } | { readonly ok: false, readonly code: HandoffCode } {
  if (typeof token !== 'string' || token.length > MAX_TOKEN_LENGTH) return { ok: false, code: 'GH_HANDOFF_INVALID' }
  const r = sealer.unseal(PURPOSE, token)
  if (!r.ok) return { ok: false, code: 'GH_HANDOFF_INVALID' }
  let h: Handoff
  try { h = JSON.parse(r.value.toString('utf8')) as Handoff } catch { return { ok: false, code: 'GH_HANDOFF_INVALID' } }
  if (h === null || typeof h !== 'object' || typeof h.host !== 'string' || typeof h.rd !== 'string' || typeof h.exp !== 'number' || typeof h.jti !== 'string' || typeof h.bind !== 'string') {
    return { ok: false, code: 'GH_HANDOFF_INVALID' }
  }
  if (h.host !== host) return { ok: false, code: 'GH_HANDOFF_WRONG_HOST' }
  if (now > h.exp) return { ok: false, code: 'GH_HANDOFF_EXPIRED' }
  if (held === undefined || !safeEqual(held, h.bind)) return { ok: false, code: 'GH_HANDOFF_WRONG_BROWSER' }
  return { ok: true, handoff: h }
}

/**
 * The host of `rd` when a browser arriving there needs a handoff: an
 * absolute URL on another host than publicUrl's, outside the cookie domain.
 */
export function handoffHost (origin: ReturnOrigin, cookieDomain: string | undefined, rd: string): string | undefined {
  if (rd.charCodeAt(0) === 47 /* / */) return undefined
  const host = new URL(rd).hostname
  return host === origin.publicHost || domainCovers(cookieDomain, host) ? undefined : host
}

/**
 * Where the browser goes once a session is set on the publicUrl host for a
 * login that asked for `rd` (safeReturnTo's result): `rd` itself when the
 * session cookie reaches it, else the handoff on its host.
 */
export function returnTarget (gw: Gateway, rd: string, ticket: unknown, now: number, bind: string | undefined): string {
  if (handoffHost(gw.returnOrigin, gw.config.session.cookieDomain, rd) === undefined) return rd
  // No binding (a login that did not start on that host): get one there; the browser, now signed in, comes back for its handoff.
  if (bind === undefined) return bindingUrl(rd)
  return `${new URL(rd).origin}${HANDOFF_PATH}?token=${sealHandoff(gw.sessions.sealer, ticket, rd, now, bind)}`
}

/**
 * The browser binding of a handoff. A handoff token alone would let anyone
 * who gets one made for *their* session plant it in another browser (a link
 * to `/.gatehouse/handoff?token=…`): that browser would then use the
 * attacker's account on that host (login CSRF). So a login for a host that
 * needs a handoff starts on that host, which gives the browser a random
 * secret in a host-only cookie there and passes it along, in the login URL,
 * then in the login state, into the token; the handoff accepts the token
 * only from a browser that holds the same secret.
 *
 * The query parameter ends in `secret`: the access log redacts it.
 */
export const BIND_PARAM = 'handoff_secret'
const BINDING = /^[A-Za-z0-9_-]{22}$/

function bindingCookieOptions (gw: Gateway): CookieOptions {
  // Path=/ so that every way a login starts on the host (the proxy path,
  // /.gatehouse/login) sees it and reuses it: logins in several tabs then
  // share one binding.
  return { path: '/', httpOnly: true, secure: gw.config.secure, sameSite: 'lax', maxAge: LOGIN_TTL_MS / 1000 }
}

/**
 * For a login asked for on `host`: the publicUrl's login URL, with `rd` made
 * absolute on `host` (the login state must live where the callback is), and
 * when `rd` needs a handoff, the browser binding: its cookie on this host and
 * its secret in the URL. Undefined on the publicUrl host (the login runs here).
 */
export function loginElsewhere (gw: Gateway, host: string, rd: string, cookieHeader: string | undefined, provider?: string): { readonly url: string, readonly cookies: string[] } | undefined {
  const origin = gw.returnOrigin
  if (host === origin.publicHost) return undefined
  const abs = rd.charCodeAt(0) === 47 ? absoluteOn(origin, host, rd) : rd
  let url = `${gw.config.publicOrigin}/.gatehouse/login?rd=${encodeURIComponent(abs)}${provider !== undefined ? `&provider=${encodeURIComponent(provider)}` : ''}`
  const cookies: string[] = []
  if (handoffHost(origin, gw.config.session.cookieDomain, abs) !== undefined) {
    const names = gw.sessions.names
    const held = splitCookieHeader(names, cookieHeader).ours?.get(names.handoff)
    const secret = held !== undefined && BINDING.test(held) ? held : randomToken(16)
    cookies.push(gw.sessions.serialize(names.handoff, secret, bindingCookieOptions(gw)))
    url += `&${BIND_PARAM}=${secret}`
  }
  return { url, cookies }
}

/** Sends the browser to the login elsewhere (loginElsewhere's result), with the binding cookie. */
export function redirectElsewhere (reply: FastifyReply, e: { readonly url: string, readonly cookies: readonly string[] }): FastifyReply {
  if (e.cookies.length > 0) reply.header('set-cookie', e.cookies)
  return markGatewayResponse(reply, 'login-redirect').redirect(e.url, 302)
}

/**
 * The binding a login at publicUrl for `rd` carries: undefined when `rd`
 * needs no handoff, the secret from the query, or false when it has none
 * (the browser must fetch one on `rd`'s host first: bindingUrl).
 */
export function handoffBinding (gw: Gateway, rd: string, param: unknown): string | undefined | false {
  if (handoffHost(gw.returnOrigin, gw.config.session.cookieDomain, rd) === undefined) return undefined
  return typeof param === 'string' && BINDING.test(param) ? param : false
}

/** The login on `rd`'s own host, which binds the browser there and comes back. */
export function bindingUrl (rd: string, provider?: string): string {
  return `${new URL(rd).origin}/.gatehouse/login?rd=${encodeURIComponent(rd)}${provider !== undefined ? `&provider=${encodeURIComponent(provider)}` : ''}`
}

function refuse (gw: Gateway, request: FastifyRequest, reply: FastifyReply, code: string, host: string): FastifyReply {
  // The reason, never the token.
  request.log.info({ code, host }, 'handoff refused')
  gw.metrics.login('failed')
  return sendErrorPage(reply, { code, correlationId: request.id, retryHref: '/.gatehouse/login' })
}

/** `/.gatehouse/handoff`: sets this host's session cookie from a one-time token, then goes to the URL the browser asked for. */
async function handoff (gw: Gateway, request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
  const host = requestHost(request.headers, gw.config.trustProxy)
  const now = gw.now()
  const { ours } = splitCookieHeader(gw.sessions.names, request.headers.cookie)
  const opened = openHandoff(gw.sessions.sealer, (request.query as Record<string, unknown>).token, host, now, ours?.get(gw.sessions.names.handoff))
  if (!opened.ok) return refuse(gw, request, reply, opened.code, host)
  const h = opened.handoff
  // Once, across replicas when revocations live in Redis (SET NX).
  const fresh = await gw.sessions.revocations.once(`handoff\n${h.jti}`, HANDOFF_TTL_MS + gw.config.session.clockSkew)
  if (!fresh) return refuse(gw, request, reply, 'GH_HANDOFF_REPLAYED', host)
  const { read, cookies } = await gw.sessions.adopt(h.ticket, ours, now, host)
  if (read.session === null) return refuse(gw, request, reply, 'GH_HANDOFF_SESSION_ENDED', host)
  request.log.info({ sub: read.session.sub, host }, 'session handed over')
  return markGatewayResponse(reply, 'handoff')
    .header('set-cookie', cookies)
    // The token is in this URL: it must not travel on as a Referer.
    .header('referrer-policy', 'no-referrer')
    .redirect(h.rd, 303)
}

export function registerHandoff (ref: GatewayRef, app: FastifyInstance): void {
  app.get(HANDOFF_PATH, async (request, reply) => handoff(ref.current, request, reply))
}

/**
 * A login asked for on the publicUrl host for `rd` on a host that needs a
 * handoff, by a browser already signed in here with `provider` (its first
 * visit to that host): the handoff URL at once, no trip to the provider, and
 * the Set-Cookie values of the session as saved. Undefined when a login must
 * run: no session, another provider, or tokens due for refresh or renewal
 * (a handoff would carry them to a host that would send the browser back).
 */
export async function signedInHandoff (gw: Gateway, request: FastifyRequest, rd: string, provider: string, bind: string | undefined): Promise<{ readonly target: string, readonly cookies: string[] } | undefined> {
  if (handoffHost(gw.returnOrigin, gw.config.session.cookieDomain, rd) === undefined) return undefined
  const { ours } = splitCookieHeader(gw.sessions.names, request.headers.cookie)
  if (ours === undefined) return undefined
  const now = gw.now()
  const s = (await gw.sessions.read(ours, now)).session
  const { refreshBefore, clockSkew } = gw.config.session
  if (s === null || s.provider !== provider || needsRefresh(s, now, refreshBefore, clockSkew)) return undefined
  const { cookies, ticket } = await gw.sessions.save({ ...s, seen: now }, ours, now)
  return { target: returnTarget(gw, rd, ticket, now, bind), cookies }
}
