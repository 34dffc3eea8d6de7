import { createServer, type IncomingMessage } from 'node:http'
import type { AddressInfo } from 'node:net'
import t, { type Test } from 'tap'
import { decodeJwt } from 'jose'
import { flowClient, SESSION_SECRET, startStack } from '../fixtures/stack.js'

/**
 * A Togo-style provider: the browser is sent to a login page that wraps the
 * authorize URL in its ReturnUrl parameter. Here that page is a tiny loopback
 * server that checks the parameters and redirects to the decoded ReturnUrl;
 * the real oidc-provider behind it does the rest.
 */

/** A client id with characters that must be URL-encoded, to see that it is encoded exactly once. */
const CLIENT_ID = 'togo app/1&co'

async function startLoginPage (t: Test): Promise<{ url: string, seen: IncomingMessage[] }> {
  const seen: IncomingMessage[] = []
  const server = createServer((req, res) => {
    seen.push(req)
    const u = new URL(req.url ?? '/', 'http://x')
    const returnUrl = u.searchParams.get('ReturnUrl')
    if (u.pathname !== '/login' || returnUrl === null) { res.writeHead(404).end(); return }
    res.writeHead(302, { location: returnUrl }).end()
  })
  await new Promise<void>((resolve) => { server.listen(0, '127.0.0.1', () => { resolve() }) })
  t.teardown(async () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => { resolve() }) }))
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen }
}

for (const [responseType, responseMode] of [['id_token', 'fragment'], ['code id_token', 'form_post']] as const) {
  t.test(`login through a Togo-style login URL: ${responseType} / ${responseMode}`, async (t) => {
    const page = await startLoginPage(t)
    const clock = { offset: 0 }
    const s = await startStack(t, {
      yaml: `
listen: 127.0.0.1:{{PORT}}
publicUrl: {{PUBLIC}}
providers:
  - id: togo
    issuer: {{ISSUER}}
    clientId: "${CLIENT_ID}"
    clientSecret: togo-secret-0123456789abcdef0123456789
    responseType: ${responseType}
    responseMode: ${responseMode}
    scopes: [openid, email, profile]
    authorizationParams:
      profile: togo
      behaviourProfile: togo
    loginUrl: "${page.url}/login?profile=togo&behaviourProfile=togo&client_id={clientId}&ReturnUrl={authorizeUrl}"
session:
  secret: ${SESSION_SECRET}
  refreshBefore: 5s
routes:
  - path: /
    upstream: {{UPSTREAM}}
    bearer: id_token
`,
      client: flowClient(responseType, { client_id: CLIENT_ID, client_secret: 'togo-secret-0123456789abcdef0123456789' }),
      idp: { alwaysIssueRefreshToken: false },
      deps: { now: () => Date.now() + clock.offset },
    })
    const b = s.browser()
    const first = await b.fetch(`${s.url}/orders?id=7`)
    t.equal(first.status, 302)
    const location = first.headers.location!
    t.ok(location.startsWith(`${page.url}/login?profile=togo&behaviourProfile=togo&client_id=${encodeURIComponent(CLIENT_ID)}&ReturnUrl=`), 'the template, {clientId} encoded once')
    const rawReturn = location.slice(location.indexOf('&ReturnUrl=') + '&ReturnUrl='.length)
    t.notMatch(rawReturn, /[?&=/:]/, 'the authorize URL is fully URL-encoded inside ReturnUrl')
    // One decoding gives the authorize URL back, whose own parameters decode once more as usual.
    const authorize = new URL(decodeURIComponent(rawReturn))
    t.equal(authorize.origin + authorize.pathname, `${s.idp.issuer}/auth`, 'ReturnUrl is the provider\'s authorize URL')
    const q = authorize.searchParams
    t.equal(q.get('client_id'), CLIENT_ID)
    t.equal(q.get('response_type'), responseType)
    t.equal(q.get('scope'), 'openid email profile')
    t.equal(q.get('redirect_uri'), `${s.url}/.gatehouse/callback`)
    t.match(q.get('state'), /^[A-Za-z0-9]{32}$/, 'state: 32 alphanumerics (Togo ID accepts 16 to 32)')
    t.ok((q.get('nonce') ?? '').length >= 43, 'a nonce')
    t.equal(q.get('profile'), 'togo', 'authorizationParams on the authorize request')
    t.equal(q.get('behaviourProfile'), 'togo')

    const { res } = await b.navigate(`${s.url}/orders?id=7`, { user: 'alice' })
    t.equal(res.status, 200)
    t.equal(page.seen.length, 1, 'the login went through the login page')
    const seen = s.upstream.received.at(-1)!
    t.equal(seen.url, '/orders?id=7')
    t.equal(decodeJwt(String(seen.headers.authorization).slice(7)).sub, 'alice', 'the ID token as Bearer, as Togo ID tells API callers')
    t.equal(seen.headers['x-forwarded-email'], 'alice@example.com')

    // A silent renewal asks the authorize endpoint directly: the login page would show UI.
    clock.offset = 3_580_000
    const renew = await b.fetch(`${s.url}/orders`)
    const renewUrl = new URL(renew.headers.location!)
    t.equal(renewUrl.origin + renewUrl.pathname, `${s.idp.issuer}/auth`, 'renewal skips the login page')
    t.equal(renewUrl.searchParams.get('prompt'), 'none')
    t.equal(renewUrl.searchParams.get('profile'), 'togo', 'with the authorizationParams all the same')
  })
}
