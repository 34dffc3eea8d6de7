import { createHash } from 'node:crypto'
import t from 'tap'
import { LOGIN_COOKIE_PATH } from '../../src/auth/login-state.js'
import { parseForm, request, type Response } from '../fixtures/browser.js'
import { DEFAULT_YAML, flowClient, flowYaml, startStack } from '../fixtures/stack.js'

/** Set-Cookie values of a response, by cookie name. */
function setCookies (res: Response): Map<string, string> {
  return new Map(([] as string[]).concat(res.headers['set-cookie'] ?? []).map((c) => [c.slice(0, c.indexOf('=')), c]))
}

t.test('fragment page: static, strict CSP allowing exactly its own script, no referrer', async (t) => {
  const s = await startStack(t, { yaml: flowYaml({ responseType: 'id_token' }), client: flowClient('id_token') })
  const res = await request(`${s.url}/.gatehouse/callback`, { headers: { accept: 'text/html', referer: 'https://evil.example/<script>' } })
  t.equal(res.status, 200)
  t.equal(res.headers['x-gatehouse-response'], 'callback-fragment')
  t.equal(res.headers['referrer-policy'], 'no-referrer')
  t.equal(res.headers['cache-control'], 'no-store')
  t.equal(res.headers['x-content-type-options'], 'nosniff')
  const csp = String(res.headers['content-security-policy'])
  t.match(csp, /^default-src 'none';/, 'nothing is allowed unless named')
  t.notMatch(csp, /unsafe|\*|https?:/, 'no unsafe-inline, no wildcard, no other origin')
  const scripts = [...res.text.matchAll(/<script>([\s\S]*?)<\/script>/g)].map((m) => m[1]!)
  t.equal(scripts.length, 1, 'one inline script')
  const hash = createHash('sha256').update(scripts[0]!).digest('base64')
  t.match(csp, `script-src 'sha256-${hash}'`, 'the CSP allows exactly that script, by hash')
  t.notMatch(res.text, /\son[a-z]+=/i, 'no inline event handlers')
  t.notMatch(res.text, /\s(src|href)=/i, 'no external resources')
  t.notMatch(res.text, /evil/, 'nothing from the request is reflected')
  const again = await request(`${s.url}/.gatehouse/callback`, { headers: { 'user-agent': '"><img>' } })
  t.equal(again.text, res.text, 'the page is the same for every request')
})

t.test('without a fragment provider, a bare GET callback is a 400 (no page to serve)', async (t) => {
  const s = await startStack(t)
  const res = await request(`${s.url}/.gatehouse/callback`, { headers: { accept: 'text/html' } })
  t.equal(res.status, 400)
  t.equal(res.headers['x-gatehouse-response'], 'GH_LOGIN_NO_STATE')
})

t.test('a response arriving by another response mode than configured is refused', async (t) => {
  // query provider, response POSTed
  const q = await startStack(t)
  const b1 = q.browser()
  const { res: toCallback } = await b1.navigate(`${q.url}/page`, { stopAt: (r) => r.headers.location?.startsWith(`${q.url}/.gatehouse/callback?`) === true })
  const params = new URL(toCallback.headers.location!).searchParams
  const posted = await b1.fetch(`${q.url}/.gatehouse/callback`, { method: 'POST', body: params.toString() })
  t.equal(posted.status, 400)
  t.equal(posted.headers['x-gatehouse-response'], 'GH_LOGIN_RESPONSE_MODE')
  t.equal(q.idp.grants.get('authorization_code') ?? 0, 0, 'the code was not redeemed')

  // form_post provider, response sent as a query string
  const f = await startStack(t, { yaml: flowYaml({ responseType: 'code id_token', responseMode: 'form_post' }), client: flowClient('code id_token') })
  const b2 = f.browser()
  const { res: formPage } = await b2.navigate(`${f.url}/page`, { stopAt: (r) => r.text.includes('action="' + f.url + '/.gatehouse/callback"') })
  const form = parseForm(formPage.text, formPage.url)!
  const viaGet = await b2.fetch(`${f.url}/.gatehouse/callback?${new URLSearchParams(form.fields).toString()}`)
  t.equal(viaGet.status, 400)
  t.equal(viaGet.headers['x-gatehouse-response'], 'GH_LOGIN_RESPONSE_MODE')
  t.notOk((await b2.cookieHeader(`${f.url}/`)).includes('gatehouse='), 'no session')
})

t.test('a callback is usable once: a replay fails even with the login cookie copied', async (t) => {
  const s = await startStack(t, { yaml: flowYaml({ responseType: 'id_token', responseMode: 'form_post' }), client: flowClient('id_token') })
  const b = s.browser()
  const { res: formPage } = await b.navigate(`${s.url}/page`, { stopAt: (r) => r.text.includes('action="' + s.url + '/.gatehouse/callback"') })
  const body = new URLSearchParams(parseForm(formPage.text, formPage.url)!.fields).toString()
  const loginCookies = await b.cookieHeader(`${s.url}/.gatehouse/callback`)
  const first = await b.fetch(`${s.url}/.gatehouse/callback`, { method: 'POST', body })
  t.equal(first.status, 303)
  t.equal(first.headers.location, '/page')
  const replayNoCookie = await request(`${s.url}/.gatehouse/callback`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body })
  t.equal(replayNoCookie.headers['x-gatehouse-response'], 'GH_LOGIN_STATE_MISSING')
  const replay = await request(`${s.url}/.gatehouse/callback`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: loginCookies }, body })
  t.equal(replay.status, 400)
  t.equal(replay.headers['x-gatehouse-response'], 'GH_LOGIN_STATE_REPLAYED')
  t.equal(setCookies(replay).size, 1, 'only the login cookie deletion; no session')
})

t.test('login-state cookie: SameSite=None; Secure only for a form_post provider, the session cookie stays Lax', async (t) => {
  const f = await startStack(t, { yaml: flowYaml({ responseType: 'code id_token', responseMode: 'form_post' }), client: flowClient('code id_token') })
  const b = f.browser()
  const start = await b.fetch(`${f.url}/page`)
  const [name, loginCookie] = [...setCookies(start)][0]!
  t.match(name, /^gatehouse\.login\./)
  t.match(loginCookie, /; SameSite=None/i, 'reaches the cross-site POST')
  t.match(loginCookie, /; Secure/i, 'browsers accept None only with Secure (loopback http counts as trustworthy)')
  t.match(loginCookie, `; Path=${LOGIN_COOKIE_PATH};`)
  t.match(loginCookie, /; HttpOnly/i)
  const { hops } = await b.navigate(`${f.url}/page`)
  const done = hops.find((h) => h.headers['x-gatehouse-response'] === 'callback')!
  const session = setCookies(done).get('gatehouse')!
  t.match(session, /; SameSite=Lax/i, 'the session cookie is Lax')

  const q = await startStack(t, { yaml: DEFAULT_YAML })
  const qStart = await q.browser().fetch(`${q.url}/page`)
  const [, qCookie] = [...setCookies(qStart)][0]!
  t.match(qCookie, /; SameSite=Lax/i, 'a query provider keeps the Lax login cookie')
  t.notMatch(qCookie, /; Secure/i)
})
