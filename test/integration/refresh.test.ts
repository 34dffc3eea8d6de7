import t from 'tap'
import { request } from '../fixtures/browser.js'
import { api, loginCookie, setCookieHeader, startSessionStack } from '../fixtures/gateway.js'

/** The Bearer token the upstream received on its last request. */
const bearer = (h: Record<string, unknown>): string => String(h.authorization ?? '').replace(/^Bearer /, '')

t.test('real 5-second access tokens: a request after expiry reaches the upstream with a new token', async (t) => {
  const s = await startSessionStack(t, 'cookie', {
    realClock: true,
    idpTtl: { AccessToken: 5 },
    session: '  refreshBefore: 1s\n  clockSkew: 0s\n',
  })
  const cookie = await loginCookie(s.browser(), `${s.url}/`)
  t.equal((await api(`${s.url}/a`, cookie)).status, 200)
  const first = bearer(s.upstream.received.at(-1)!.headers)
  t.equal(s.idp.grants.get('refresh_token'), undefined, 'no refresh while the token is fresh')
  // Wait for the provider itself to consider the first token expired.
  const deadline = Date.now() + 8_000
  let status = 200
  while (status === 200 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 250))
    status = (await request(`${s.idp.issuer}/me`, { headers: { authorization: `Bearer ${first}` } })).status
  }
  t.equal(status, 401, 'the first token has expired at the provider')
  const r = await api(`${s.url}/b`, cookie)
  t.equal(r.status, 200, 'the request after expiry succeeds')
  const second = bearer(s.upstream.received.at(-1)!.headers)
  t.not(second, first, 'the upstream got a new token')
  t.equal((await request(`${s.idp.issuer}/me`, { headers: { authorization: `Bearer ${second}` } })).status, 200, 'which the provider accepts')
  t.equal(s.idp.grants.get('refresh_token'), 1, 'one refresh_token grant')
  t.not(setCookieHeader(r), '', 'the refreshed session is sent back in the cookie')
})

for (const kind of ['cookie', 'memory'] as const) {
  t.test(`${kind} store, one instance: 100 concurrent requests after expiry cause exactly one refresh; the old cookie gets the new one`, async (t) => {
    const s = await startSessionStack(t, kind, { session: '  idleTimeout: 3h\n' })
    const cookie = await loginCookie(s.browser(), `${s.url}/`)
    t.equal((await api(`${s.url}/warm`, cookie)).status, 200)
    const old = bearer(s.upstream.received.at(-1)!.headers)
    s.clock.advance(3600_000 + 60_000)
    const before = s.upstream.received.length
    const results = await Promise.all(Array.from({ length: 100 }, async (_, i) => api(`${s.url}/burst/${i}`, cookie)))
    t.same(results.map((r) => r.status), Array(100).fill(200), 'all 100 succeed')
    const grants = s.idp.grants.get('refresh_token')
    t.equal(grants, 1, 'exactly one refresh_token grant at the provider')
    t.comment(`measured: 100 concurrent requests -> ${grants} refresh_token grant(s)`)
    const tokens = new Set(s.upstream.received.slice(before).map((r) => bearer(r.headers)))
    t.equal(tokens.size, 1, 'every upstream request carried the same token')
    const fresh = [...tokens][0]!
    t.not(fresh, old, 'a new one')
    if (kind === 'cookie') {
      t.ok(results.every((r) => setCookieHeader(r) !== ''), 'every response sets the refreshed cookie')
      // A request still carrying the old cookie right after the refresh: no
      // second refresh (the old refresh token is spent), and it is handed the new cookie.
      const late = await api(`${s.url}/late`, cookie)
      t.equal(late.status, 200, 'the old cookie still works right after the refresh')
      t.equal(bearer(s.upstream.received.at(-1)!.headers), fresh, 'with the new token')
      const next = setCookieHeader(late)
      t.not(next, '', 'and its response sets the new cookie too')
      t.equal((await api(`${s.url}/next`, next)).status, 200, 'the new cookie works')
    } else {
      t.equal((await api(`${s.url}/late`, cookie)).status, 200, 'the same cookie keeps working (the session changed server-side)')
      t.equal(bearer(s.upstream.received.at(-1)!.headers), fresh, 'with the new token')
    }
    t.equal(s.idp.grants.get('refresh_token'), 1, 'still one refresh grant')
    t.equal((await request(`${s.idp.issuer}/me`, { headers: { authorization: `Bearer ${fresh}` } })).status, 200, 'the grant was never revoked by a reused refresh token')
  })
}
