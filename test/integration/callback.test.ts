import t from 'tap'
import { Browser, NAVIGATE, request, type Response } from '../fixtures/browser.js'
import { CLIENT_ID, CLIENT_SECRET, DEFAULT_YAML, SESSION_SECRET, startGateway, startStack } from '../fixtures/stack.js'

const isCallback = (base: string) => (r: Response): boolean =>
  r.status >= 300 && r.status < 400 && String(r.headers.location).startsWith(`${base}/.gatehouse/callback`)

/** Runs a login up to the provider's redirect back to us; returns the callback URL (not yet visited). */
async function toCallback (b: Browser, base: string, start: string, user = 'alice'): Promise<string> {
  const { res } = await b.navigate(start, { user, stopAt: isCallback(base) })
  if (!isCallback(base)(res)) throw new Error(`login did not reach the callback: ${res.status} ${res.url}`)
  return res.headers.location!
}

const loginCookies = async (b: Browser, base: string): Promise<string[]> =>
  (await b.jar.getCookies(`${base}/.gatehouse/callback`)).map((c) => c.key).filter((k) => k.includes('.login.'))

t.test('a replayed callback fails, even with the login cookie replayed too', async (t) => {
  const s = await startStack(t)
  const b = s.browser()
  const cb = await toCallback(b, s.url, `${s.url}/page`)
  const stolenCookie = await b.cookieHeader(cb)
  t.match(stolenCookie, /gatehouse\.login\./, 'login state travels to the callback')
  const first = await b.fetch(cb)
  t.equal(first.status, 303, 'callback answers 303 See Other')
  t.equal(first.headers.location, '/page')
  t.same(await loginCookies(b, s.url), [], 'login-state cookie consumed')
  const again = await b.fetch(cb)
  t.equal(again.status, 400, 'replay without the login cookie')
  t.match(again.text, /correlation id/)
  t.match(again.text, /Try again/)
  const replay = await request(cb, { headers: { ...NAVIGATE, cookie: stolenCookie } })
  t.equal(replay.status, 400, 'replay with the old login cookie')
  t.equal(replay.headers['x-gatehouse-response'], 'GH_LOGIN_STATE_REPLAYED')
  t.notMatch(String(replay.headers['set-cookie']), /gatehouse=[^;]/, 'no session minted')
  t.equal(s.idp.grants.get('authorization_code'), 1, 'the code was exchanged once')
})

t.test('state mismatch, missing state, provider errors', async (t) => {
  const s = await startStack(t)
  const b = s.browser()
  const cb = new URL(await toCallback(b, s.url, `${s.url}/`))
  const state = cb.searchParams.get('state')!
  const swapped = new URL(cb); swapped.searchParams.set('state', 'A'.repeat(32))
  const r1 = await b.fetch(swapped.href)
  t.equal(r1.status, 400, 'unknown state')
  t.equal(r1.headers['x-gatehouse-response'], 'GH_LOGIN_STATE_MISSING')
  const none = new URL(cb); none.searchParams.delete('state')
  const r2 = await b.fetch(none.href)
  t.equal(r2.status, 400)
  t.equal(r2.headers['x-gatehouse-response'], 'GH_LOGIN_NO_STATE')
  // the login cookie for the real state, presented under another state's name
  const cookies = await b.jar.getCookies(cb.href)
  const login = cookies.find((c) => c.key.includes('.login.'))!
  const other = await request(swapped.href, { headers: { cookie: `${login.key.replace(/\.login\..*/, '')}.login.${'x'.repeat(16)}=${login.value}` } })
  t.equal(other.status, 400)
  // the provider says no
  const denied = new URL(cb); denied.search = new URLSearchParams({ error: 'access_denied', error_description: 'user said no', state, iss: s.idp.issuer }).toString()
  const r3 = await b.fetch(denied.href)
  t.equal(r3.status, 403, 'access_denied is a 403 page')
  t.match(r3.text, /access_denied/)
  t.match(r3.text, /correlation id <code>[0-9a-f]{8}-/)
  t.match(r3.headers['content-security-policy'], /default-src 'none'/)
  // a tampered code
  const b2 = s.browser()
  const cb2 = new URL(await toCallback(b2, s.url, `${s.url}/`))
  cb2.searchParams.set('code', 'not-a-real-code')
  const r4 = await b2.fetch(cb2.href)
  t.equal(r4.status, 400, 'invalid_grant at the token endpoint is a client fault')
  t.equal(r4.headers['x-gatehouse-response'], 'GH_LOGIN_INVALID_GRANT')
  t.notMatch(r4.text, /not-a-real-code/, 'the code is not echoed')
})

t.test('logins started in two tabs both succeed; pending logins are bounded', async (t) => {
  const s = await startStack(t)
  const b = s.browser()
  const cb1 = await toCallback(b, s.url, `${s.url}/tab1`)
  const cb2 = await toCallback(b, s.url, `${s.url}/tab2`)
  t.equal((await loginCookies(b, s.url)).length, 2, 'two pending logins')
  const r2 = await b.fetch(cb2)
  t.equal(r2.status, 303)
  t.equal(r2.headers.location, '/tab2')
  const r1 = await b.fetch(cb1)
  t.equal(r1.status, 303, 'the older tab completes too')
  t.equal(r1.headers.location, '/tab1')

  const c = s.browser()
  for (let i = 0; i < 8; i++) await c.fetch(`${s.url}/p${i}`)
  const pending = await loginCookies(c, s.url)
  t.equal(pending.length, 5, 'at most five pending login cookies')
})

t.test('open redirect inputs at the login endpoint end on /', async (t) => {
  const s = await startStack(t)
  for (const rd of ['//evil.example', '/\\evil.example', '/%09/evil.example', 'https://evil.example', '/%2F%2Fevil.example']) {
    const b = s.browser()
    const res = await b.login(`${s.url}/.gatehouse/login?rd=${encodeURIComponent(rd)}`)
    t.equal(res.url, `${s.url}/`, `rd=${rd}`)
    t.equal(res.status, 200)
  }
  const ok = await s.browser().login(`${s.url}/.gatehouse/login?rd=${encodeURIComponent('/deep/link?a=1')}`)
  t.equal(ok.url, `${s.url}/deep/link?a=1`)
  const unknown = await request(`${s.url}/.gatehouse/login?provider=nope`, { headers: NAVIGATE })
  t.equal(unknown.status, 400)
})

t.test('provider unreachable: readiness 503, login 503 page, never a crash', async (t) => {
  const yaml = DEFAULT_YAML.replace('publicUrl: {{PUBLIC}}', 'publicUrl: {{PUBLIC}}\nadmin:\n  listen: 127.0.0.1:0')
  const { gh, url } = await startGateway(t, yaml, { issuer: 'http://127.0.0.1:1', upstream: 'http://127.0.0.1:2', discover: false })
  await gh.admin!.listen({ host: '127.0.0.1', port: 0 })
  t.teardown(async () => gh.admin!.close())
  void gh.startProviders()
  const adminUrl = `http://127.0.0.1:${(gh.admin!.server.address() as { port: number }).port}`
  const ready = await request(`${adminUrl}/readyz`)
  t.equal(ready.status, 503)
  t.equal(ready.json().providers.test, false)
  t.equal((await request(`${adminUrl}/healthz`)).status, 200)
  const r = await request(`${url}/`, { headers: NAVIGATE })
  t.equal(r.status, 503, 'browser gets a 503 page')
  t.match(r.text, /Try again/)
  const api = await request(`${url}/api`, { headers: { accept: 'application/json' } })
  t.equal(api.status, 401, 'API client: still a plain 401, no provider needed')
})

t.test('provider down during the code exchange: 503 page', async (t) => {
  const s = await startStack(t)
  const b = s.browser()
  const cb = await toCallback(b, s.url, `${s.url}/`)
  await s.idp.close()
  const r = await b.fetch(cb)
  t.equal(r.status, 503)
  t.equal(r.headers['x-gatehouse-response'], 'GH_PROVIDER_UNAVAILABLE')
})

t.test('a wrong client secret is a clean login error', async (t) => {
  const s = await startStack(t, { yaml: DEFAULT_YAML.replace(`clientSecret: ${CLIENT_SECRET}`, 'clientSecret: wrong-secret') })
  const { res } = await s.browser().navigate(`${s.url}/`)
  t.equal(res.status, 502, 'our misconfiguration, not the user\'s fault')
  t.equal(res.headers['x-gatehouse-response'], 'GH_PROVIDER_REJECTED_CLIENT')
  t.match(res.text, /could not be completed with the identity provider/)
  t.notMatch(res.text, /clientSecret/, 'configuration details stay in the log')
  t.ok(CLIENT_ID && SESSION_SECRET)
})
