import { mkdir } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import t, { type Test } from 'tap'
import { decodeJwt } from 'jose'
import { chromium, type Page, type Request } from 'playwright-core'
import { flowClient, flowYaml, startStack, type Stack } from '../fixtures/stack.js'

/**
 * The flows in a real browser (headless Chromium): the code flow, the
 * implicit flow with response_mode=fragment (Gatehouse's fragment page must
 * really run), and a hybrid flow with form_post from a provider on another
 * site. The user signs in on oidc-provider's own login and consent pages.
 */

const ARTIFACTS = fileURLToPath(new URL('../../test-artifacts/', import.meta.url))

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
})
t.teardown(async () => browser.close())

interface Visit {
  readonly page: Page
  /** Requests the page made, in order. */
  readonly requests: Request[]
  /** Content-Security-Policy violations reported on the console. */
  readonly cspViolations: string[]
}

/** Opens `url` in a fresh browser profile and signs in as `user` on the provider's pages. */
async function signIn (t: Test, s: Stack, url: string, user: string): Promise<Visit> {
  const context = await browser.newContext()
  t.teardown(async () => context.close())
  const page = await context.newPage()
  const requests: Request[] = []
  const cspViolations: string[] = []
  page.on('request', (r) => { requests.push(r) })
  // (The provider's own pages load web fonts that cannot be fetched here: only CSP reports count.)
  page.on('console', (m) => { if (/Content Security Policy/i.test(m.text())) cspViolations.push(m.text()) })
  await page.goto(url)
  await page.waitForURL((u) => u.href.startsWith(s.idp.issuer))
  await page.fill('input[name=login]', user)
  await page.fill('input[name=password]', 'any password')
  await page.click('button[type=submit]')
  // The consent page: its form says prompt=consent.
  await page.waitForSelector('input[name=prompt][value=consent]', { state: 'attached' })
  await page.click('button[type=submit]')
  await page.waitForURL(url, { timeout: 15_000 })
  await page.waitForLoadState('load')
  return { page, requests, cspViolations }
}

/** The upstream page shows what it received: check the identity headers arrived. */
async function landedWithIdentity (t: Test, s: Stack, v: Visit, path: string): Promise<void> {
  t.equal(new URL(v.page.url()).pathname + new URL(v.page.url()).search, path, 'back on the page the login started from')
  t.equal(new URL(v.page.url()).hash, '', 'no fragment left in the address bar')
  const text = await v.page.textContent('body')
  t.match(text, /x-forwarded-user\s*alice/, 'the upstream page shows X-Forwarded-User: alice')
  t.match(text, /x-forwarded-email\s*alice@example\.com/)
  t.match(text, /x-forwarded-groups\s*admins,staff/)
  const seen = s.upstream.received.find((r) => r.url === path)
  t.ok(seen, 'the upstream received the page request')
  t.equal(seen!.headers['x-forwarded-user'], 'alice')
  t.equal(decodeJwt(String(seen!.headers.authorization).replace(/^Bearer /, '')).sub, 'alice', 'the ID token went upstream as Bearer')
  const cookies = await v.page.context().cookies(s.url)
  t.ok(cookies.some((c) => c.name === 'gatehouse' && c.httpOnly && c.sameSite === 'Lax'), 'an HttpOnly, SameSite=Lax session cookie')
  t.same(v.cspViolations, [], 'no Content-Security-Policy violation')
}

t.test('code flow (query), with a screenshot of the upstream page', async (t) => {
  // The provider on localhost keeps its cookies off the gateway's host (cookies ignore ports).
  const s = await startStack(t, { yaml: flowYaml({ responseType: 'code' }), client: flowClient('code'), idp: { host: 'localhost' } })
  const v = await signIn(t, s, `${s.url}/demo?from=browser`, 'alice')
  await landedWithIdentity(t, s, v, '/demo?from=browser')
  t.equal(s.upstream.received.find((r) => r.url === '/demo?from=browser')!.headers.cookie, undefined, 'no cookie reached the upstream: Gatehouse\'s are removed')
  t.equal(s.idp.grants.get('authorization_code'), 1)
  await mkdir(ARTIFACTS, { recursive: true })
  const shot = await v.page.screenshot({ path: `${ARTIFACTS}demo-upstream.png`, fullPage: true })
  t.ok(shot.length > 10_000, 'screenshot saved to test-artifacts/demo-upstream.png')
})

t.test('implicit flow (id_token) with response_mode=fragment: the fragment page runs', async (t) => {
  const s = await startStack(t, { yaml: flowYaml({ responseType: 'id_token', responseMode: 'fragment' }), client: flowClient('id_token') })
  const v = await signIn(t, s, `${s.url}/app?tab=2`, 'alice')
  const callbacks = v.requests.filter((r) => r.url().startsWith(`${s.url}/.gatehouse/callback`))
  t.same(callbacks.map((r) => r.method()), ['GET', 'POST'], 'the browser loaded the fragment page, whose script POSTed the response')
  t.equal(new URL(callbacks[0]!.url()).search, '', 'the server saw no token in the GET')
  const body = new URLSearchParams(callbacks[1]!.postData() ?? '')
  t.ok(body.get('id_token')?.startsWith('eyJ'), 'the POST carries the ID token from the fragment')
  t.match(body.get('state'), /^[A-Za-z0-9]{32}$/)
  const headers = await callbacks[1]!.allHeaders()
  t.equal(headers['sec-fetch-site'], 'same-origin', 'a same-origin POST')
  t.equal(headers.referer, undefined, 'no Referer (Referrer-Policy: no-referrer)')
  await landedWithIdentity(t, s, v, '/app?tab=2')
})

t.test('hybrid flow (code id_token) with form_post from a provider on another site', async (t) => {
  // The provider on http://localhost, the gateway on http://127.0.0.1: two sites,
  // so the provider's auto-submitted form is a cross-site POST.
  const s = await startStack(t, {
    yaml: flowYaml({ responseType: 'code id_token', responseMode: 'form_post' }),
    client: flowClient('code id_token'),
    idp: { host: 'localhost' },
  })
  t.match(s.idp.issuer, /^http:\/\/localhost:/)
  const v = await signIn(t, s, `${s.url}/reports`, 'alice')
  const post = v.requests.find((r) => r.url() === `${s.url}/.gatehouse/callback`)!
  t.equal(post.method(), 'POST')
  const headers = await post.allHeaders()
  t.equal(headers['sec-fetch-site'], 'cross-site', 'the callback POST came from another site')
  t.match(headers.cookie, /gatehouse\.login\./, 'the SameSite=None; Secure login-state cookie came with it')
  t.ok(new URLSearchParams(post.postData() ?? '').get('code'), 'with the code')
  await landedWithIdentity(t, s, v, '/reports')
  t.equal(s.idp.grants.get('authorization_code'), 1, 'the code was redeemed')
})
