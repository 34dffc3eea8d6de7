import t, { type Test } from 'tap'
import { chromium, type BrowserContext, type Page } from 'playwright-core'
import { gatewayYaml, startStack, type Stack } from '../fixtures/stack.js'

/**
 * Many hosts in a real browser: Chromium maps every `.test` name to
 * 127.0.0.1, so its own cookie rules (host-only cookies, SameSite=Lax on a
 * cross-site redirect chain) decide whether the handoff works.
 */

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--host-resolver-rules=MAP *.test 127.0.0.1'],
})
t.teardown(async () => browser.close())

const ROUTES = `
  - host: a.test
    path: /
    upstream: {{UPSTREAM}}
  - host: b.test
    path: /
    upstream: {{UPSTREAM}}
  - path: /
    upstream: {{UPSTREAM}}
`

function on (s: Stack, host: string, path: string): string { return `http://${host}:${new URL(s.url).port}${path}` }

async function newPage (t: Test): Promise<{ context: BrowserContext, page: Page, urls: string[] }> {
  const context = await browser.newContext()
  t.teardown(async () => context.close())
  const page = await context.newPage()
  const urls: string[] = []
  page.on('request', (r) => { if (r.isNavigationRequest()) urls.push(r.url()) })
  return { context, page, urls }
}

t.test('sign in on a host that is not publicUrl, then another, then log out everywhere', async (t) => {
  // The provider on localhost keeps its cookies off the gateway's host (cookies ignore ports).
  const s = await startStack(t, { yaml: gatewayYaml({ routes: ROUTES }), idp: { host: 'localhost' } })
  const { context, page, urls } = await newPage(t)
  const start = on(s, 'b.test', '/app?from=browser')
  await page.goto(start)
  await page.waitForURL((u) => u.href.startsWith(s.idp.issuer))
  await page.fill('input[name=login]', 'alice')
  await page.fill('input[name=password]', 'any password')
  await page.click('button[type=submit]')
  await page.waitForSelector('input[name=prompt][value=consent]', { state: 'attached' })
  await page.click('button[type=submit]')
  await page.waitForURL(start, { timeout: 15_000 })
  t.match(await page.textContent('body'), /x-forwarded-email\s*alice@example\.com/, 'signed in on b.test, on the page asked for')
  t.ok(urls.some((u) => u.startsWith(on(s, 'b.test', '/.gatehouse/handoff?token='))), 'by way of the handoff')
  const onB = await context.cookies(on(s, 'b.test', '/'))
  t.ok(onB.some((c) => c.name === 'gatehouse' && c.httpOnly && c.sameSite === 'Lax' && c.domain === 'b.test'), 'b.test holds its own host-only session cookie')
  t.ok(onB.some((c) => c.name === 'gatehouse.handoff' && c.httpOnly), 'and the browser binding')

  // A second host: no provider page, the session is handed over.
  urls.length = 0
  await page.goto(on(s, 'a.test', '/second'))
  await page.waitForURL(on(s, 'a.test', '/second'))
  t.match(await page.textContent('body'), /x-forwarded-email\s*alice@example\.com/, 'signed in on a.test too')
  t.notOk(urls.some((u) => u.startsWith(s.idp.issuer)), 'without going to the provider')

  // Logout on a.test ends the session on b.test.
  await page.goto(on(s, 'a.test', '/.gatehouse/logout'))
  urls.length = 0
  await page.goto(on(s, 'b.test', '/after-logout'))
  t.ok(urls.some((u) => u.startsWith(`${s.url}/.gatehouse/login?rd=`)), 'b.test\'s next navigation is sent to sign in again')
})
