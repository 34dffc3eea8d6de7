import t from 'tap'
import { api, loginCookie, navigate, setCookieHeader, startSessionStack } from '../fixtures/gateway.js'

/**
 * Every request is decided once: one session read from the store, whatever
 * the answer (forwarded, refused, sent to log in, refreshed, cookie
 * rewritten). Counted at a real memory store.
 */
t.test('one session read per request, for every kind of answer', async (t) => {
  const s = await startSessionStack(t, 'memory', { idpTtl: { AccessToken: 3600 } })
  const store = s.gh.gateway.sessions.store
  let loads = 0
  const load = store.load.bind(store)
  store.load = (ticket: unknown) => { loads++; return load(ticket) }
  const reads = async (what: string, status: number, send: () => Promise<{ status: number }>, times = 1): Promise<void> => {
    const before = loads
    const res = await send()
    t.equal(res.status, status, `${what}: ${status}`)
    t.equal(loads - before, times, `${what}: the session was read ${times} time(s)`)
  }

  const alice = await loginCookie(s.browser(), `${s.url}/`, 'alice')
  const bob = await loginCookie(s.browser(), `${s.url}/`, 'bob')
  await reads('forwarded', 200, async () => api(`${s.url}/x`, alice))
  await reads('refused by the policy', 403, async () => navigate(`${s.url}/admin`, bob))
  await reads('public route', 200, async () => api(`${s.url}/public/x`, alice), 0)

  // Two minutes later the session is touched: its cookie is written again.
  s.clock.advance(2 * 60_000)
  let touched = ''
  await reads('touched (new cookie)', 200, async () => {
    const res = await api(`${s.url}/x`, alice)
    touched = setCookieHeader(res)
    return res
  })
  t.not(touched, '', 'the touched session comes back in a cookie')

  // Near the access token's expiry the request refreshes first, then forwards.
  s.clock.advance(3600_000 - 2 * 60_000 - 30_000)
  let refreshed = ''
  await reads('refreshed at the provider, then forwarded', 200, async () => {
    const res = await api(`${s.url}/x`, alice)
    refreshed = setCookieHeader(res)
    return res
  })
  t.not(refreshed, '', 'the refreshed session comes back in a cookie')
  t.match(String(s.upstream.received.at(-1)?.headers.authorization), /^Bearer /)
})

t.test('one session read when the session is gone and the browser is sent to log in', async (t) => {
  const s = await startSessionStack(t, 'memory')
  const store = s.gh.gateway.sessions.store
  let loads = 0
  const load = store.load.bind(store)
  store.load = (ticket: unknown) => { loads++; return load(ticket) }
  const alice = await loginCookie(s.browser(), `${s.url}/`, 'alice')
  // The session ends at the store (a back-channel logout): the cookie now names nothing.
  t.equal(await s.gh.gateway.sessions.endMatching({ provider: s.gh.gateway.defaultProvider.id, sub: 'alice' }, s.clock.now), 1)
  const before = loads
  const nav = await navigate(`${s.url}/page`, alice)
  t.equal(nav.status, 302, 'sent to log in')
  t.match(String(nav.headers['set-cookie']), /gatehouse=; Max-Age=0/, 'the dead cookie is deleted')
  t.equal(loads - before, 1, 'the session was read once')
  const before2 = loads
  const json = await api(`${s.url}/page`, alice)
  t.equal(json.status, 401)
  t.equal(loads - before2, 1, '401: the session was read once')
})
