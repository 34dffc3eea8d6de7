import t from 'tap'
import type { Test } from 'tap'
import { splitCookieHeader } from '../../src/session/cookies.js'
import type { Session } from '../../src/session/session.js'
import type { Browser, Response } from '../fixtures/browser.js'
import { installTamper, makeKey, reSign, type Forgery, type Tamper } from '../fixtures/rogue.js'
import { flowClient, flowYaml, startStack, type Stack } from '../fixtures/stack.js'

/**
 * Sessions without a refresh token: when the token is about to expire, a
 * browser navigation goes back to the provider with prompt=none; an API
 * client gets 401 once it has expired. Tokens live 60 s at the provider; the
 * gateway's clock is moved forward instead of waiting.
 */

const TTL_S = 60

async function renewalStack (t: Test, responseType: 'id_token' | 'id_token token' | 'code', responseMode: string, clock: { offset: number }): Promise<Stack> {
  return startStack(t, {
    yaml: flowYaml({
      responseType,
      responseMode,
      // Without offline_access: no refresh token in the code flow either.
      scopes: '[openid, email, profile]',
      session: '  refreshBefore: 5s\n  clockSkew: 1s\n',
    }),
    client: flowClient(responseType),
    idp: { ttl: { IdToken: TTL_S, AccessToken: TTL_S }, alwaysIssueRefreshToken: false },
    deps: { now: () => Date.now() + clock.offset },
  })
}

async function session (s: Stack, b: Browser): Promise<Session | null> {
  const { ours } = splitCookieHeader(s.gh.gateway.sessions.names, await b.cookieHeader(`${s.url}/`))
  return (await s.gh.gateway.sessions.read(ours, s.gh.gateway.now())).session
}

const authorizeHops = (s: Stack, hops: Response[]): URL[] => hops
  .filter((h) => h.headers.location?.startsWith(`${s.idp.issuer}/auth?`) === true)
  .map((h) => new URL(h.headers.location!))

for (const [responseType, responseMode] of [['id_token', 'fragment'], ['id_token token', 'form_post'], ['code', 'query']] as const) {
  t.test(`${responseType} / ${responseMode}: silent renewal with prompt=none, 401 for API clients`, async (t) => {
    const clock = { offset: 0 }
    const s = await renewalStack(t, responseType, responseMode, clock)
    const b = s.browser()
    t.equal((await b.login(`${s.url}/page`)).status, 200)
    const first = (await session(s, b))!
    t.equal(first.refreshToken, undefined, 'no refresh token in this flow')
    const firstToken = first.idToken

    // Well before expiry: served as is, nobody goes to the provider.
    clock.offset = 30_000
    const early = await b.navigate(`${s.url}/page`)
    t.equal(early.hops.length, 1, 'served directly')
    t.equal(early.res.status, 200)

    // Within refreshBefore of expiry: a navigation renews at the provider and comes back.
    clock.offset = (TTL_S - 3) * 1000
    const before = s.upstream.received.length
    const renew = await b.navigate(`${s.url}/page?again=1`)
    const [silent] = authorizeHops(s, renew.hops)
    t.equal(silent?.searchParams.get('prompt'), 'none', 'back to the provider with prompt=none')
    t.equal(renew.hops[0]!.headers['x-gatehouse-response'], 'login-renew')
    t.equal(renew.res.status, 200)
    t.equal(renew.res.url, `${s.url}/page?again=1`, 'back to the same page')
    t.equal(s.upstream.received.length, before + 1, 'the upstream saw the page once, after the renewal')
    t.notOk(renew.hops.some((h) => h.text.includes('name="login"')), 'no login form was shown')
    const renewed = (await session(s, b))!
    t.not(renewed.idToken, firstToken, 'new tokens')
    t.not(renewed.id, first.id, 'a new session id')
    t.equal(renewed.iat, first.iat, 'the original login time is kept (absoluteTimeout)')

    // Just renewed, even with a short token: no renewal loop.
    const after = await b.navigate(`${s.url}/page`)
    t.equal(after.hops.length, 1, 'the next page is served directly')

    // Once the token has expired: API clients get 401, the session is kept for
    // the next navigation, which renews. (Only its first step: with the clock
    // moved past the provider's tokens, their renewal would look expired too.)
    clock.offset += (TTL_S + 5) * 1000
    const api = await b.fetch(`${s.url}/api/x`, { headers: { accept: 'application/json', 'sec-fetch-mode': 'cors' } })
    t.equal(api.status, 401, 'an API client cannot follow a redirect: 401')
    t.equal(api.headers['set-cookie'], undefined, 'and the session cookie is left alone')
    const nav = await b.fetch(`${s.url}/page`)
    t.equal(nav.status, 302)
    t.equal(new URL(nav.headers.location!).searchParams.get('prompt'), 'none', 'a navigation renews with prompt=none')
  })
}

t.test('the provider session has ended: prompt=none gets login_required, then a normal login', async (t) => {
  const clock = { offset: 0 }
  const s = await renewalStack(t, 'id_token', 'fragment', clock)
  const signedIn = s.browser()
  await signedIn.login(`${s.url}/page`, 'alice')
  const first = (await session(s, signedIn))!
  // The same browser without the provider's cookies: no longer signed in there.
  // (Provider and gateway share the host 127.0.0.1; cookies do not look at ports.)
  const b = s.browser()
  for (const c of await signedIn.jar.getCookies(`${s.url}/`)) {
    if (c.key.startsWith('gatehouse')) await b.jar.setCookie(c, `${s.url}/`)
  }
  t.equal((await session(s, b))?.id, first.id, 'the gateway session came along')

  clock.offset = (TTL_S - 3) * 1000
  const { res, hops } = await b.navigate(`${s.url}/page?next=1`, { user: 'alice' })
  const [silent, normal] = authorizeHops(s, hops)
  t.equal(silent?.searchParams.get('prompt'), 'none', 'first a silent renewal')
  const errorBack = hops.find((h) => h.url.startsWith(`${s.url}/.gatehouse/callback#`))
  t.match(errorBack?.url, /error=login_required/, 'the provider answers login_required')
  t.equal(normal?.searchParams.get('prompt'), null, 'then a normal login')
  t.ok(hops.some((h) => h.text.includes('name="login"')), 'the login form is shown')
  t.equal(res.status, 200)
  t.equal(res.url, `${s.url}/page?next=1`, 'and the user lands where they were going')
  const next = (await session(s, b))!
  t.not(next.iat, first.iat, 'a fresh session: login time restarts')
})

t.test('with a refresh token: refreshed, and the refreshed ID token is verified too', async (t) => {
  const key = await makeKey('k1')
  const forgeries: (Forgery | undefined)[] = [undefined, { claims: (c) => { c.sub = 'bob' } }, { sign: 'bad-signature' }]
  for (const forgery of forgeries) {
    const clock = { offset: 0 }
    let tamper: Tamper | undefined
    const s = await startStack(t, {
      yaml: flowYaml({ responseType: 'code id_token', session: '  refreshBefore: 5s\n  clockSkew: 1s\n' }),
      client: flowClient('code id_token'),
      idp: { ttl: { IdToken: TTL_S, AccessToken: TTL_S }, configure: (c) => { c.jwks = { keys: [key.privateJwk] } } },
      onIdp: (idp, publicUrl) => { installTamper(idp, `${publicUrl}/.gatehouse/callback`, () => tamper) },
      deps: { now: () => Date.now() + clock.offset },
    })
    const b = s.browser()
    t.equal((await b.login(`${s.url}/page`)).status, 200)
    const first = (await session(s, b))!
    t.ok(first.refreshToken, 'a refresh token')
    // The provider's refreshed ID token names another user, or is not signed by it.
    if (forgery !== undefined) tamper = { token: async (body) => { body.id_token = await reSign(body.id_token as string, forgery, key) } }
    clock.offset = (TTL_S - 3) * 1000
    const api = await b.fetch(`${s.url}/api/x`, { headers: { accept: 'application/json', 'sec-fetch-mode': 'cors' } })
    t.equal(s.idp.grants.get('refresh_token'), 1, 'one refresh')
    if (forgery === undefined) {
      t.equal(api.status, 200, 'an API call near expiry is served after a refresh, no redirect')
      const refreshed = (await session(s, b))!
      t.not(refreshed.accessToken, first.accessToken, 'a new access token')
      t.equal(refreshed.id, first.id, 'the same session')
    } else {
      t.equal(api.status, 401, 'a refreshed ID token that fails verification ends the session')
      t.match(String(api.headers['set-cookie']), /gatehouse=;/, 'the session cookie is cleared')
    }
  }
})
