import t from 'tap'
import { NAVIGATE, request } from '../fixtures/browser.js'
import { startStack } from '../fixtures/stack.js'

t.test('code flow with PKCE: browser logs in and the upstream sees Bearer and identity headers', async (t) => {
  const s = await startStack(t)
  const b = s.browser()
  const first = await b.fetch(`${s.url}/hello?x=1`)
  t.equal(first.status, 302, 'unauthenticated navigation is redirected')
  const loc = new URL(first.headers.location!)
  t.equal(loc.origin + loc.pathname, `${s.idp.issuer}/auth`, 'straight to the provider authorize endpoint')
  t.equal(loc.searchParams.get('code_challenge_method'), 'S256')
  t.match(loc.searchParams.get('state'), /^[A-Za-z0-9]{32}$/, 'state: 32 alphanumerics')
  t.ok((loc.searchParams.get('nonce') ?? '').length >= 22, 'nonce of at least 128 bits')
  t.equal(loc.searchParams.get('redirect_uri'), `${s.url}/.gatehouse/callback`)

  const res = await b.login(`${s.url}/hello?x=1`, 'alice')
  t.equal(res.status, 200)
  t.equal(res.url, `${s.url}/hello?x=1`, 'lands back on the original path and query')
  const seen = s.upstream.received.at(-1)!
  t.equal(seen.url, '/hello?x=1')
  t.match(seen.headers.authorization, /^Bearer .+/)
  t.equal(seen.headers['x-forwarded-user'], 'alice')
  t.equal(seen.headers['x-forwarded-email'], 'alice@example.com')
  t.equal(seen.headers['x-forwarded-groups'], 'admins,staff')
  t.equal(seen.headers['x-forwarded-preferred-username'], 'alice')
  t.notMatch(String(seen.headers.cookie ?? ''), /gatehouse/, 'session cookie not forwarded upstream')
  // the access token is one the provider accepts
  const token = String(seen.headers.authorization).slice(7)
  const me = await request(`${s.idp.issuer}/me`, { headers: { authorization: `Bearer ${token}` } })
  t.equal(me.status, 200)
  t.equal(me.json().sub, 'alice')
  t.equal(s.idp.grants.get('authorization_code'), 1, 'exactly one code exchange')

  const ui = await b.fetch(`${s.url}/.gatehouse/userinfo`, { headers: { accept: 'application/json' } })
  t.equal(ui.status, 200)
  t.equal(ui.json().sub, 'alice')
  t.equal(ui.json().email, 'alice@example.com')
  t.notMatch(ui.text, /eyJ/, 'userinfo never contains a token')
})

t.test('API clients get 401 with WWW-Authenticate and no login cookie', async (t) => {
  const s = await startStack(t)
  const cases: Record<string, string>[] = [{ accept: 'application/json' }, { accept: 'text/html', 'x-requested-with': 'XMLHttpRequest' }, { accept: '*/*', 'sec-fetch-mode': 'cors' }]
  for (const headers of cases) {
    const r = await request(`${s.url}/api/things`, { headers })
    t.equal(r.status, 401, JSON.stringify(headers))
    t.match(r.headers['www-authenticate'], /^Bearer realm=/)
    t.equal(r.headers['set-cookie'], undefined, 'no login-state cookie minted')
    t.equal(r.json().error, 'unauthenticated')
  }
  const post = await request(`${s.url}/form`, { method: 'POST', headers: { ...NAVIGATE }, body: 'a=1' })
  t.equal(post.status, 401, 'a POST cannot be replayed after login: 401')
  t.equal(s.upstream.received.length, 0, 'nothing reached the upstream')
})
