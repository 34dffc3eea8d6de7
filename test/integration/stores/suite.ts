import t from 'tap'
import type { StoreKind } from '../../../src/config/types.js'
import { request } from '../../fixtures/browser.js'
import {
  api, jwtClaims, loginCookie, navigate, sessionOf, setCookieHeader, signJwt, startSessionStack,
  type SessionStack,
} from '../../fixtures/gateway.js'
import { CLIENT_ID, CLIENT_SECRET } from '../../fixtures/stack.js'

/**
 * Session behaviours every store must have. Each store's test file runs this
 * same suite (cookie.test.ts, memory.test.ts, redis.test.ts).
 */

const MIN = 60_000
const EVENT = { 'http://schemas.openid.net/event/backchannel-logout': {} }

/** What the upstream saw on its last request. */
function lastSeen (s: SessionStack): { token: string, user: string, groups: string } {
  const h = s.upstream.received.at(-1)!.headers
  return { token: String(h.authorization ?? '').replace(/^Bearer /, ''), user: String(h['x-forwarded-user']), groups: String(h['x-forwarded-groups'] ?? '') }
}

/** sid and sub of the session behind `cookie`, read from the ID token the /idt route forwards. */
async function idTokenClaims (s: SessionStack, cookie: string): Promise<Record<string, unknown>> {
  const r = await api(`${s.url}/idt`, cookie)
  if (r.status !== 200) throw new Error(`/idt answered ${r.status}`)
  return jwtClaims(lastSeen(s).token)
}

async function postLogoutToken (s: SessionStack, token: string | undefined, contentType = 'application/x-www-form-urlencoded'): Promise<{ status: number, body: string }> {
  const body = token === undefined ? '' : new URLSearchParams({ logout_token: token }).toString()
  const r = await request(`${s.url}/.gatehouse/backchannel-logout`, { method: 'POST', headers: { 'content-type': contentType }, body })
  return { status: r.status, body: r.text }
}

export function storeSuite (kind: StoreKind): void {
  t.test(`${kind}: the cookie carries the session or only its sealed id; a copy taken before logout fails after it; tokens are revoked`, async (t) => {
    const s = await startSessionStack(t, kind)
    const b = s.browser()
    const cookie = await loginCookie(b, `${s.url}/hello`)
    const value = cookie.slice(cookie.indexOf('=') + 1)
    if (kind === 'cookie') t.ok(value.length > 500, 'cookie store: the whole session is in the cookie')
    else t.ok(value.length < 120, `${kind} store: the cookie holds only a sealed id (${value.length} chars)`)
    const held = (await sessionOf(s.nodes[0]!, cookie, s.clock.now))!
    for (const token of [held.accessToken!, held.refreshToken!, held.idToken!.split('.')[1]!]) {
      t.notOk(cookie.includes(token), 'no token readable in the cookie')
    }

    const ok = await api(`${s.url}/copy`, cookie)
    t.equal(ok.status, 200, 'the copied cookie works before logout')
    const token = lastSeen(s).token
    t.equal((await request(`${s.idp.issuer}/me`, { headers: { authorization: `Bearer ${token}` } })).status, 200, 'access token valid at the provider')

    const out = await b.navigate(`${s.url}/.gatehouse/logout?rd=/bye`, { stopAt: (r) => r.url.startsWith(s.idp.issuer) })
    t.equal(out.hops[0]!.status, 302, 'logout redirects')
    t.ok((s.idp.requests.get('/token/revocation') ?? 0) >= 1, 'tokens revoked at the provider (RFC 7009)')
    t.equal((await request(`${s.idp.issuer}/me`, { headers: { authorization: `Bearer ${token}` } })).status, 401, 'the revoked access token no longer works at the provider')

    const after = await api(`${s.url}/copy`, cookie)
    t.equal(after.status, 401, 'the copy of the cookie no longer authenticates')
    t.equal((await api(`${s.url}/.gatehouse/userinfo`, cookie)).status, 401, 'nor on userinfo')
  })

  t.test(`${kind}: idle timeout slides (seen rewritten at most once a minute), absolute timeout ends the session`, async (t) => {
    const s = await startSessionStack(t, kind, { session: '  idleTimeout: 10m\n  absoluteTimeout: 30m\n' })
    let cookie = await loginCookie(s.browser(), `${s.url}/`)
    const step = async (ms: number): Promise<number> => {
      s.clock.advance(ms)
      const r = await api(`${s.url}/x`, cookie)
      const next = setCookieHeader(r)
      if (next !== '') cookie = next
      return r.status
    }
    const before = await api(`${s.url}/x`, cookie)
    t.equal(before.status, 200)
    t.equal(setCookieHeader(before), '', 'no cookie rewrite within the first minute')
    t.equal(await step(9 * MIN), 200, '9 min idle: still signed in')
    t.equal(await step(9 * MIN), 200, 'another 9 min: the idle window slid')
    t.equal(await step(9 * MIN), 200, '27 min after login: still within the absolute timeout')
    t.equal(await step(4 * MIN), 401, '31 min after login: absolute timeout')

    const fresh = await loginCookie(s.browser(), `${s.url}/`)
    t.equal((await api(`${s.url}/y`, fresh)).status, 200)
    s.clock.advance(10 * MIN + 1)
    t.equal((await api(`${s.url}/y`, fresh)).status, 401, 'idle timeout: 10 min without a request')
  })

  t.test(`${kind}: after expiry the upstream gets a new token; claims of the refreshed ID token replace the old and the policy sees them`, async (t) => {
    const s = await startSessionStack(t, kind, { session: '  idleTimeout: 3h\n' })
    const cookie = await loginCookie(s.browser(), `${s.url}/`)
    t.equal((await api(`${s.url}/admin/x`, cookie)).status, 200, 'alice is an admin')
    const old = lastSeen(s).token
    s.users.alice = { ...s.users.alice!, groups: ['staff'], email: 'alice@new.example' }
    s.clock.advance(3600_000 + MIN)
    const r = await api(`${s.url}/who`, cookie)
    t.equal(r.status, 200, 'request after expiry succeeds')
    const seen = lastSeen(s)
    t.not(seen.token, old, 'the upstream got a new access token')
    t.equal((await request(`${s.idp.issuer}/me`, { headers: { authorization: `Bearer ${seen.token}` } })).status, 200, 'the new token is valid at the provider')
    t.equal(seen.groups, 'staff', 'the groups of the refreshed ID token replace the old ones')
    t.equal(s.upstream.received.at(-1)!.headers['x-forwarded-email'], 'alice@new.example')
    t.equal(s.idp.grants.get('refresh_token'), 1, 'one refresh grant')
    const next = setCookieHeader(r) || cookie
    t.equal((await api(`${s.url}/admin/x`, next)).status, 403, 'the policy is evaluated on the refreshed claims')
    t.equal(s.idp.grants.get('refresh_token'), 1, 'no further refresh')
  })

  t.test(`${kind}: invalid_grant ends the session: browser to login with the return path, API 401`, async (t) => {
    const s = await startSessionStack(t, kind, { session: '  idleTimeout: 3h\n' })
    const cookie = await loginCookie(s.browser(), `${s.url}/`)
    const session = await sessionOf(s.nodes[0]!, cookie, s.clock.now)
    t.ok(session?.refreshToken, 'the session holds a refresh token')
    t.ok(await s.gh.gateway.defaultProvider.revoke(session!.refreshToken!, 'refresh_token'), 'revoked at the provider')
    s.clock.advance(3600_000 + MIN)
    const browser = await navigate(`${s.url}/deep/path?q=1`, cookie)
    t.equal(browser.status, 302, 'browser is sent to sign in again')
    t.equal(new URL(browser.headers.location!).origin, s.idp.issuer, 'to the provider')
    t.match(String(browser.headers['set-cookie']), /gatehouse=;/, 'the session cookie is cleared')
    const login = await s.browser().fetch(`${s.url}/.gatehouse/login?rd=${encodeURIComponent('/deep/path?q=1')}`)
    t.equal(login.status, 302)
    // The return path travels in the sealed login state; completing the login lands there.
    const b2 = s.browser()
    for (const c of ([] as string[]).concat(browser.headers['set-cookie'] ?? [])) await b2.jar.setCookie(c, s.url, { ignoreError: true })
    const { res } = await b2.navigate(browser.headers.location!, { user: 'alice' })
    t.equal(res.url, `${s.url}/deep/path?q=1`, 'after signing in again the browser lands on the original path')
    const apiRes = await api(`${s.url}/api/x`, cookie)
    t.equal(apiRes.status, 401, 'API client: 401')
    t.equal(apiRes.json().error, 'unauthenticated')
  })

  t.test(`${kind}: a refreshed ID token naming another subject ends the session`, async (t) => {
    const s = await startSessionStack(t, kind, { session: '  idleTimeout: 3h\n' })
    const cookie = await loginCookie(s.browser(), `${s.url}/`)
    s.users.alice = { ...s.users.alice!, sub: 'eve' }
    s.clock.advance(3600_000 + MIN)
    const before = s.upstream.received.length
    t.equal((await api(`${s.url}/x`, cookie)).status, 401, 'session ended')
    t.equal(s.idp.grants.get('refresh_token'), 1, 'the provider did answer the refresh')
    t.equal(s.upstream.received.length, before, 'nothing reached the upstream')
    t.equal(await sessionOf(s.nodes[0]!, cookie, s.clock.now), null, 'the session is gone for good')
  })

  t.test(`${kind}: provider down: a still-valid token keeps serving, an expired one gets 503 with Retry-After`, async (t) => {
    const s = await startSessionStack(t, kind, { session: '  idleTimeout: 3h\n' })
    const cookie = await loginCookie(s.browser(), `${s.url}/`)
    t.equal((await api(`${s.url}/x`, cookie)).status, 200)
    const token = lastSeen(s).token
    await s.idp.close()
    s.clock.advance(3600_000 - 30_000)
    const valid = await api(`${s.url}/x`, cookie)
    t.equal(valid.status, 200, 'token still valid: served')
    t.equal(lastSeen(s).token, token, 'with the current token')
    s.clock.advance(2 * MIN)
    const expired = await api(`${s.url}/x`, cookie)
    t.equal(expired.status, 503, 'token expired and no way to refresh: 503')
    t.equal(expired.headers['retry-after'], '5')
    t.equal(expired.headers['x-gatehouse-response'], 'GH_PROVIDER_UNAVAILABLE')
  })

  t.test(`${kind}: back-channel logout: a valid token ends the session, faulty ones get 400 and end nothing`, async (t) => {
    const s = await startSessionStack(t, kind)
    const cookie = await loginCookie(s.browser(), `${s.url}/`)
    const id = await idTokenClaims(s, cookie)
    t.type(id.sid, 'string', 'the ID token carries sid')
    const now = (): number => Math.floor(s.clock.now / 1000)
    const good = (over: Record<string, unknown> = {}): Record<string, unknown> => ({ iss: s.idp.issuer, aud: CLIENT_ID, iat: now(), jti: `jti-${Math.random()}`, events: EVENT, sid: id.sid, sub: id.sub, ...over })
    const { generateKeyPair, SignJWT, UnsecuredJWT } = await import('jose')
    const other = await generateKeyPair('RS256')
    const without = (k: string): Record<string, unknown> => { const c = good(); delete c[k]; return c }
    const variants: [string, () => Promise<string | undefined>, string?][] = [
      ['bad signature (another key, same kid)', async () => new SignJWT(good()).setProtectedHeader({ alg: 'RS256', kid: s.key.kid }).sign(other.privateKey)],
      ['unknown kid', async () => new SignJWT(good()).setProtectedHeader({ alg: 'RS256', kid: 'nope' }).sign(other.privateKey)],
      ['unsigned (alg none)', async () => new UnsecuredJWT(good()).encode()],
      ['HS256 with the client secret', async () => new SignJWT(good()).setProtectedHeader({ alg: 'HS256' }).sign(new TextEncoder().encode(CLIENT_SECRET))],
      ['wrong iss', async () => signJwt(s.key, good({ iss: 'https://evil.example' }))],
      ['wrong aud', async () => signJwt(s.key, good({ aud: 'another-client' }))],
      ['missing events', async () => signJwt(s.key, without('events'))],
      ['events without the back-channel logout member', async () => signJwt(s.key, good({ events: { 'http://schemas.openid.net/event/other': {} } }))],
      ['with nonce', async () => signJwt(s.key, good({ nonce: 'n-0S6_WzA2Mj' }))],
      ['missing sid and sub', async () => { const c = without('sid'); delete c.sub; return signJwt(s.key, c) }],
      ['missing jti', async () => signJwt(s.key, without('jti'))],
      ['missing iat', async () => signJwt(s.key, without('iat'))],
      ['expired (exp in the past)', async () => signJwt(s.key, good({ iat: now() - 120, exp: now() - 60 }))],
      ['iat far in the future', async () => signJwt(s.key, good({ iat: now() + 3600 }))],
      ['iat too old', async () => signJwt(s.key, good({ iat: now() - 3600 }))],
      ['not a JWT', async () => 'not-a-jwt'],
      ['no logout_token', async () => undefined],
      ['JSON body instead of a form', async () => signJwt(s.key, good()), 'application/json'],
    ]
    for (const [name, make, type] of variants) {
      const r = await postLogoutToken(s, await make(), type)
      t.equal(r.status, 400, `${name}: 400`)
      t.equal((await api(`${s.url}/x`, cookie)).status, 200, `${name}: the session still works`)
    }

    const valid = await signJwt(s.key, good())
    const ok = await postLogoutToken(s, valid)
    t.equal(ok.status, 200, 'a valid logout token is accepted')
    t.equal((await api(`${s.url}/x`, cookie)).status, 401, 'and ends the session')

    // Sign in again (the provider session, and so the sid, is the same): a replay must not end it.
    s.clock.advance(1000)
    const again = await loginCookie(s.browser(), `${s.url}/`)
    t.equal((await api(`${s.url}/x`, again)).status, 200, 'signed in again')
    const replay = await postLogoutToken(s, valid)
    t.equal(replay.status, 400, 'replayed jti: 400')
    t.equal((await api(`${s.url}/x`, again)).status, 200, 'the replay ended nothing')

    // By subject only: every session of alice ends; bob's does not.
    const bob = await loginCookie(s.browser(), `${s.url}/`, 'bob')
    s.clock.advance(1000)
    const bySub = await postLogoutToken(s, await signJwt(s.key, without('sid')))
    t.equal(bySub.status, 200, 'a logout token with only sub is accepted')
    t.equal((await api(`${s.url}/x`, again)).status, 401, 'alice\'s session ended')
    t.equal((await api(`${s.url}/x`, bob)).status, 200, 'bob\'s session goes on')
    s.clock.advance(1000)
    t.equal((await api(`${s.url}/x`, await loginCookie(s.browser(), `${s.url}/`))).status, 200, 'alice can sign in again afterwards')
  })

  t.test(`${kind}: signing out at the provider ends the gateway session through the provider's own back-channel logout`, async (t) => {
    const s = await startSessionStack(t, kind)
    const b = s.browser()
    const cookie = await loginCookie(b, `${s.url}/`)
    t.equal((await api(`${s.url}/x`, cookie)).status, 200)
    s.clock.advance(1000)
    // RP-independent logout at the provider: its end-session page, confirmed.
    await b.navigate(`${s.idp.issuer}/session/end`)
    t.equal(await s.gh.gateway.metrics.get('gatehouse_backchannel_logouts_total'), 1, 'the provider sent a logout token and it was accepted')
    t.equal((await api(`${s.url}/x`, cookie)).status, 401, 'the gateway session has ended')
  })

  t.test(`${kind}: a tampered cookie is no session, never a 500`, async (t) => {
    const s = await startSessionStack(t, kind)
    const cookie = await loginCookie(s.browser(), `${s.url}/`)
    const eq = cookie.indexOf('=')
    const v = cookie.slice(eq + 1)
    const flipped = cookie.slice(0, eq + 1) + v.slice(0, 30) + (v[30] === 'A' ? 'B' : 'A') + v.slice(31)
    const r = await api(`${s.url}/x`, flipped)
    t.equal(r.status, 401)
    t.match(String(r.headers['set-cookie']), /gatehouse=;/, 'the bad cookie is cleared')
  })
}
