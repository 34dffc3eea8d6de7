import t, { type Test } from 'tap'
import { startDevProvider, type DevProvider } from '../../src/demo/idp.js'
import { startEchoUpstream, type EchoUpstream } from '../../src/demo/upstream.js'
import { Browser, NAVIGATE, request, type Response } from '../fixtures/browser.js'
import { api, navigate, providerSigningKey, sessionCookieOnly, signJwt, type Clock } from '../fixtures/gateway.js'
import { CLIENT_ID, CLIENT_SECRET, reservePort, startGateway } from '../fixtures/stack.js'

/**
 * Routes with several providers, against two real oidc-provider instances:
 * the chooser page, a login through each, a session from a provider a route
 * does not list, the mix-up defence (a callback for a login started at one
 * provider carrying the other's issuer or code), and refresh and logout at
 * the session's own provider.
 */

interface Two {
  readonly a: DevProvider
  readonly b: DevProvider
  readonly upstream: EchoUpstream
  readonly url: string
  readonly clock: Clock
}

async function startTwo (t: Test, top = ''): Promise<Two> {
  const reserved = await reservePort()
  const url = `http://127.0.0.1:${reserved.port}`
  const client = {
    client_id: CLIENT_ID,
    client_secret: CLIENT_SECRET,
    redirect_uris: [`${url}/.gatehouse/callback`],
    post_logout_redirect_uris: [`${url}/`],
    response_types: ['code'],
    grant_types: ['authorization_code', 'refresh_token'],
    token_endpoint_auth_method: 'client_secret_basic',
  }
  const a = await startDevProvider({ clients: [client], ttl: { AccessToken: 600 } })
  t.teardown(async () => a.close())
  // The partner knows alice under another address: which provider signed her in shows upstream.
  // b signs with a key the test holds too, to send its back-channel logouts.
  const key = await providerSigningKey()
  const b = await startDevProvider({ clients: [client], ttl: { AccessToken: 600 }, users: { alice: { email: 'alice@partner.example', groups: ['partners'] } }, configure: (c) => { c.jwks = { keys: [key.jwk] } } })
  t.teardown(async () => b.close())
  const upstream = await startEchoUpstream()
  t.teardown(async () => upstream.close())
  const clock: Clock = { now: Date.now(), advance (ms) { this.now += ms } }
  const yaml = `
listen: 127.0.0.1:{{PORT}}
publicUrl: {{PUBLIC}}
${top}
providers:
  - id: a
    name: "Staff <b>&</b> co"
    issuer: ${a.issuer}
    clientId: ${CLIENT_ID}
    clientSecret: ${CLIENT_SECRET}
    scopes: [openid, email, profile, offline_access]
  - id: b
    issuer: ${b.issuer}
    clientId: ${CLIENT_ID}
    clientSecret: ${CLIENT_SECRET}
    scopes: [openid, email, profile, offline_access]
session:
  secret: providers-test-session-secret-0123456789abcdef
routes:
  - path: /multi
    upstream: {{UPSTREAM}}
    providers: [a, b]
  - path: /partner
    upstream: {{UPSTREAM}}
    providers: [b]
  - path: /
    upstream: {{UPSTREAM}}
`
  await startGateway(t, yaml, { issuer: a.issuer, upstream: upstream.url, reserved, deps: { now: () => clock.now } })
  return { a, b, upstream, url, clock }
}

/** Signs alice in through `provider` with the chooser's link for `rd`; returns the session cookie. */
async function loginVia (two: Two, provider: string, rd = '/multi/home'): Promise<{ cookie: string, res: Response }> {
  const b = new Browser()
  const { res } = await b.navigate(`${two.url}/.gatehouse/login?provider=${provider}&rd=${encodeURIComponent(rd)}`)
  return { cookie: sessionCookieOnly(await b.cookieHeader(two.url)), res }
}

/** The session cookie(s) in a Cookie header, without pending logins' cookies. */
const sessionOnly = (cookie: string): string => cookie.split('; ').filter((c) => /^gatehouse(\.\d+)?=/.test(c)).join('; ')

const emailUpstream = (two: Two): unknown => two.upstream.received.at(-1)?.headers['x-forwarded-email']

t.test('several providers: a chooser for browsers, 401 for API clients, a login through each', async (t) => {
  const two = await startTwo(t)
  const page = await navigate(`${two.url}/multi/x?q=<1>&r=2`, '')
  t.equal(page.status, 401, 'an unauthenticated browser: the chooser page, 401')
  t.equal(page.headers['x-gatehouse-response'], 'GH_LOGIN_CHOOSE')
  t.match(page.headers['content-type'], /text\/html/)
  t.match(page.headers['content-security-policy'], /default-src 'none'/)
  t.equal(page.headers['cache-control'], 'no-store')
  t.equal(page.headers['set-cookie'], undefined, 'no login is started (no login-state cookie)')
  const links = [...page.text.matchAll(/<a href="([^"]*)">([^<]*)<\/a>/g)].map((m) => [m[1]!.replaceAll('&#38;', '&'), m[2]])
  // The path as the client sent it (its HTTP library percent-encodes < and >).
  const asked = '/multi/x?q=%3C1%3E&r=2'
  t.same(links, [
    [`/.gatehouse/login?provider=a&rd=${encodeURIComponent(asked)}`, 'Staff &#60;b&#62;&#38;&#60;/b&#62; co'],
    [`/.gatehouse/login?provider=b&rd=${encodeURIComponent(asked)}`, 'b'],
  ], 'one link per provider, labelled by name (escaped) or id, returning to the page asked for')
  t.notMatch(page.text, /<b>/, 'nothing from the config or the request is markup')

  const apiRes = await api(`${two.url}/multi/x`, '')
  t.same([apiRes.status, apiRes.headers['x-gatehouse-response']], [401, 'unauthenticated'], 'an API client: 401 as always')

  const viaA = await loginVia(two, 'a')
  t.equal(viaA.res.status, 200, 'signed in through a, back at the page')
  t.equal(new URL(viaA.res.url).pathname, '/multi/home')
  t.equal(emailUpstream(two), 'alice@example.com', 'a\'s claims')
  t.equal(two.a.grants.get('authorization_code'), 1)
  const viaB = await loginVia(two, 'b')
  t.equal(viaB.res.status, 200, 'signed in through b')
  t.equal(emailUpstream(two), 'alice@partner.example', 'b\'s claims')
  t.equal(two.b.grants.get('authorization_code'), 1)
  t.equal((await api(`${two.url}/multi/y`, viaA.cookie)).status, 200, 'a session from a: served')
  t.equal((await api(`${two.url}/multi/y`, viaB.cookie)).status, 200, 'a session from b: served')
  const unknown = await request(`${two.url}/.gatehouse/login?provider=c&rd=/`, { headers: NAVIGATE })
  t.same([unknown.status, unknown.headers['x-gatehouse-response']], [400, 'GH_UNKNOWN_PROVIDER'], 'an unknown provider id: 400')
})

t.test('a session from a provider the route does not list counts as not signed in there', async (t) => {
  const two = await startTwo(t)
  const { cookie } = await loginVia(two, 'a', '/')
  t.equal((await api(`${two.url}/partner/x`, cookie)).status, 401, 'API client with a\'s session on a b-only route: 401')
  const nav = await navigate(`${two.url}/partner/x`, cookie)
  t.equal(nav.status, 302, 'a browser is sent to sign in')
  t.equal(new URL(nav.headers.location!).origin, new URL(two.b.issuer).origin, 'at b, the route\'s provider')
  t.notMatch(String(nav.headers['set-cookie']), /gatehouse=;/, 'the session cookie is kept (other routes accept it)')
  t.equal((await api(`${two.url}/other`, cookie)).status, 200, 'a route without providers: any provider\'s session')
  t.equal((await api(`${two.url}/multi/x`, cookie)).status, 200)
  const fromB = await loginVia(two, 'b', '/partner/x')
  t.equal(fromB.res.status, 200, 'signed in through b: served')
  t.equal(emailUpstream(two), 'alice@partner.example')
})

t.test('loginRedirect: gateway sends the browser to /.gatehouse/login with the route\'s provider', async (t) => {
  const two = await startTwo(t, 'loginRedirect: gateway')
  const partner = await navigate(`${two.url}/partner/x`, '')
  t.equal(partner.headers.location, `/.gatehouse/login?provider=b&rd=${encodeURIComponent('/partner/x')}`, 'a route whose provider is not the default names it')
  const plain = await navigate(`${two.url}/x`, '')
  t.equal(plain.headers.location, `/.gatehouse/login?rd=${encodeURIComponent('/x')}`, 'the default provider: as before')
  const multi = await navigate(`${two.url}/multi/x`, '')
  t.equal(multi.headers['x-gatehouse-response'], 'GH_LOGIN_CHOOSE', 'several providers: the chooser')
})

/** Starts a login at `provider` in `b`: the state the gateway made, read from the redirect to the provider. */
async function startLoginAt (two: Two, b: Browser, provider: string): Promise<string> {
  const res = await b.fetch(`${two.url}/.gatehouse/login?provider=${provider}&rd=/multi/`)
  if (res.status !== 302) throw new Error(`login did not start: ${res.status}`)
  return new URL(res.headers.location!).searchParams.get('state')!
}

/** Runs a login at `provider` up to the provider's redirect to the callback, and returns that response's parameters (not delivered). */
async function providerResponse (two: Two, b: Browser, provider: string): Promise<URLSearchParams> {
  const { res } = await b.navigate(`${two.url}/.gatehouse/login?provider=${provider}&rd=/multi/`, { stopAt: (r) => String(r.headers.location ?? '').startsWith(`${two.url}/.gatehouse/callback`) })
  return new URL(res.headers.location!).searchParams
}

t.test('mix-up defence: a callback for a login started at a that carries b\'s response is refused', async (t) => {
  const two = await startTwo(t)
  const browser = new Browser()
  const fromB = await providerResponse(two, browser, 'b')
  t.equal(fromB.get('iss'), two.b.issuer, 'b names itself in its response (RFC 9207)')
  const codesBefore = two.a.grants.get('authorization_code') ?? 0

  // b's code and iss, with the state of a login started at a.
  const stateA = await startLoginAt(two, browser, 'a')
  const withIss = await browser.fetch(`${two.url}/.gatehouse/callback?code=${encodeURIComponent(fromB.get('code')!)}&state=${stateA}&iss=${encodeURIComponent(two.b.issuer)}`)
  t.same([withIss.status, withIss.headers['x-gatehouse-response']], [400, 'GH_LOGIN_ISS_MISMATCH'], 'b\'s iss on a\'s login: refused')
  t.equal(sessionOnly(await browser.cookieHeader(two.url)), '', 'no session')

  // The same without iss: a says in its metadata that its responses carry
  // iss, so one without it is refused before any code is redeemed.
  const stateA2 = await startLoginAt(two, browser, 'a')
  const noIss = await browser.fetch(`${two.url}/.gatehouse/callback?code=${encodeURIComponent(fromB.get('code')!)}&state=${stateA2}`)
  t.equal(noIss.status, 400, 'b\'s code on a\'s login: refused')
  t.equal(noIss.headers['x-gatehouse-response'], 'GH_LOGIN_INVALID_RESPONSE', 'the response lacks the iss a announces')
  t.equal(sessionOnly(await browser.cookieHeader(two.url)), '', 'no session')
  t.equal(two.a.grants.get('authorization_code') ?? 0, codesBefore, 'a granted nothing')
  t.equal(two.upstream.received.length, 0, 'nothing reached the upstream')

  // And the other way round: a's iss on a login started at b.
  const fromA = await providerResponse(two, new Browser(), 'a')
  const stateB = await startLoginAt(two, browser, 'b')
  const reverse = await browser.fetch(`${two.url}/.gatehouse/callback?code=${encodeURIComponent(fromA.get('code')!)}&state=${stateB}&iss=${encodeURIComponent(fromA.get('iss')!)}`)
  t.same([reverse.status, reverse.headers['x-gatehouse-response']], [400, 'GH_LOGIN_ISS_MISMATCH'], 'a\'s iss on b\'s login: refused')

  // b's own response, delivered as it was meant: accepted.
  const own = await providerResponse(two, browser, 'b')
  const ok = await browser.fetch(`${two.url}/.gatehouse/callback?${own.toString()}`)
  t.equal(ok.status, 303, 'b\'s response on b\'s login: signed in')
})

t.test('refresh and logout go to the session\'s own provider', async (t) => {
  const two = await startTwo(t)
  const { cookie } = await loginVia(two, 'b', '/multi/')
  t.equal((await api(`${two.url}/multi/x`, cookie)).status, 200)
  const first = two.upstream.received.at(-1)!.headers.authorization
  two.clock.advance(600_000)
  const after = await api(`${two.url}/multi/x`, cookie)
  t.equal(after.status, 200, 'served after the access token expired')
  t.equal(two.b.grants.get('refresh_token'), 1, 'refreshed at b')
  t.equal(two.a.grants.get('refresh_token') ?? 0, 0, 'not at a')
  t.not(two.upstream.received.at(-1)!.headers.authorization, first, 'with a new token')
  const refreshed = after.headers['set-cookie'] !== undefined ? sessionCookieOnly(([] as string[]).concat(after.headers['set-cookie']).map((c) => c.split(';')[0]!).join('; ')) : cookie

  const revokedA = two.a.requests.get('/token/revocation') ?? 0
  const out = await request(`${two.url}/.gatehouse/logout?rd=/`, { headers: { ...NAVIGATE, cookie: refreshed } })
  t.equal(out.status, 302)
  const loc = new URL(out.headers.location!)
  t.equal(loc.origin + loc.pathname, `${two.b.issuer}/session/end`, 'to b\'s end-session endpoint')
  t.ok((two.b.requests.get('/token/revocation') ?? 0) >= 1, 'tokens revoked at b')
  t.equal(two.a.requests.get('/token/revocation') ?? 0, revokedA, 'nothing sent to a')
  t.equal((await api(`${two.url}/multi/x`, refreshed)).status, 401, 'the session has ended')
})

t.test('a back-channel logout from b ends b\'s sessions, not a\'s session of the same subject', async (t) => {
  const two = await startTwo(t)
  const fromA = await loginVia(two, 'a', '/multi/')
  const fromB = await loginVia(two, 'b', '/multi/')
  t.equal((await api(`${two.url}/multi/x`, fromA.cookie)).status, 200)
  t.equal((await api(`${two.url}/multi/x`, fromB.cookie)).status, 200)
  const key = await providerSigningKey()
  const token = await signJwt(key, { iss: two.b.issuer, aud: CLIENT_ID, iat: Math.floor(two.clock.now / 1000), jti: 'providers-1', events: { 'http://schemas.openid.net/event/backchannel-logout': {} }, sub: 'alice' })
  const r = await request(`${two.url}/.gatehouse/backchannel-logout`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `logout_token=${token}` })
  t.equal(r.status, 200, 'b\'s logout token accepted')
  t.equal((await api(`${two.url}/multi/x`, fromB.cookie)).status, 401, 'the session from b has ended')
  t.equal((await api(`${two.url}/multi/x`, fromA.cookie)).status, 200, 'alice\'s session from a goes on')
  const forged = await signJwt(key, { iss: two.a.issuer, aud: CLIENT_ID, iat: Math.floor(two.clock.now / 1000), jti: 'providers-2', events: { 'http://schemas.openid.net/event/backchannel-logout': {} }, sub: 'alice' })
  const refused = await request(`${two.url}/.gatehouse/backchannel-logout`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `logout_token=${forged}` })
  t.equal(refused.status, 400, 'a token naming a but signed with b\'s key is refused (a\'s own keys verify it)')
  t.equal((await api(`${two.url}/multi/x`, fromA.cookie)).status, 200, 'and a\'s session goes on')
})
