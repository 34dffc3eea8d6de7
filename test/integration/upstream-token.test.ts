import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { RENEW_BEFORE_MS } from '../../src/auth/upstream-token.js'
import { parseConfig } from '../../src/config/load.js'
import { request } from '../fixtures/browser.js'
import { API_CLIENT, apiProviderConfig } from '../fixtures/bearer.js'
import { loginCookie, providerSigningKey } from '../fixtures/gateway.js'
import { CLIENT_SECRET, gatewayYaml, startStack } from '../fixtures/stack.js'

/**
 * upstreamToken against the real oidc-provider: the gateway's own
 * client_credentials token replaces the Bearer sent upstream (one grant
 * however many requests want it, one more per expiry), a static token comes
 * from a file and follows reloads, and a failing grant is an error page.
 */

const TTL_S = 600
const dir = mkdtempSync(join(tmpdir(), 'gh-upstream-token-'))
t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
const tokenFile = join(dir, 'token')
writeFileSync(tokenFile, 'static-token-one\n')

const routes = (file: string): string => `
  - path: /svc
    upstream: {{UPSTREAM}}
    auth: public
    upstreamToken:
      clientCredentials: {}
  - path: /user-svc
    upstream: {{UPSTREAM}}
    upstreamToken:
      clientCredentials: { scopes: [] }
  - path: /static
    upstream: {{UPSTREAM}}
    auth: optional
    upstreamToken:
      tokenFile: ${file}
  - path: /refused
    upstream: {{UPSTREAM}}
    auth: public
    upstreamToken:
      clientCredentials: { provider: nocc }
  - path: /
    upstream: {{UPSTREAM}}
`

/** A second client at the same provider, not allowed the client_credentials grant. */
const NOCC = { client_id: 'no-cc', client_secret: 'no-cc-secret-0123456789abcdef', grant_types: ['authorization_code'], response_types: ['code'], redirect_uris: ['http://127.0.0.1/unused'] }
const yamlFor = (file: string): string => gatewayYaml({
  provider: `    clientSecret: ${CLIENT_SECRET}
    scopes: [openid, email, profile, offline_access]
  - id: nocc
    issuer: {{ISSUER}}
    clientId: ${NOCC.client_id}
    clientSecret: ${NOCC.client_secret}
`,
  routes: routes(file),
})

const key = await providerSigningKey()
const clock = { now: Date.now() }
const lines: string[] = []
const stack = await startStack(t, {
  yaml: yamlFor(tokenFile),
  client: API_CLIENT,
  idp: {
    configure: (c) => { apiProviderConfig(key)(c); c.clients = [...c.clients, NOCC] },
    ttl: { AccessToken: TTL_S },
  },
  deps: { now: () => clock.now, logStream: { write: (l: string) => { lines.push(l) } } },
})
const { idp, upstream, url } = stack
const grants = (): number => idp.grants.get('client_credentials') ?? 0
const api = async (path: string, headers: Record<string, string> = {}): Promise<{ status: number, auth: string | undefined, headers: Record<string, string>, code: string | undefined }> => {
  const res = await request(`${url}${path}`, { headers: { accept: 'application/json', ...headers } })
  const body = res.status === 200 ? res.json<{ headers: Record<string, string> }>() : undefined
  return { status: res.status, auth: body?.headers.authorization, headers: body?.headers ?? {}, code: res.headers['x-gatehouse-response'] as string | undefined }
}

t.test('100 concurrent requests: one grant; after expiry: one more', async (t) => {
  const before = grants()
  const first = await Promise.all(Array.from({ length: 100 }, async () => api('/svc/x', { authorization: 'Bearer client-token' })))
  t.same(new Set(first.map((r) => r.status)), new Set([200]))
  t.equal(grants() - before, 1, 'one client_credentials grant for 100 requests')
  const tokens = new Set(first.map((r) => r.auth))
  t.equal(tokens.size, 1, 'every request carried the same token')
  const token = [...tokens][0]!
  t.match(token, /^Bearer .{20,}$/)
  t.not(token, 'Bearer client-token', 'the client\'s Authorization is replaced')

  clock.now += TTL_S * 1000 + 1_000
  const second = await Promise.all(Array.from({ length: 100 }, async () => api('/svc/x')))
  t.same(new Set(second.map((r) => r.status)), new Set([200]))
  t.equal(grants() - before, 2, 'one more grant after the token expired')
  const renewed = new Set(second.map((r) => r.auth))
  t.equal(renewed.size, 1)
  t.not([...renewed][0], token, 'a new token')

  // Within RENEW_BEFORE_MS of expiry: renewed in the background, requests go on meanwhile.
  clock.now += TTL_S * 1000 - RENEW_BEFORE_MS + 1_000
  const during = await Promise.all(Array.from({ length: 20 }, async () => api('/svc/x')))
  t.same(new Set(during.map((r) => r.status)), new Set([200]))
  t.equal(new Set(during.map((r) => r.auth)).size <= 2, true, 'the held token (or the renewed one)')
  await new Promise((resolve) => setTimeout(resolve, 200))
  t.equal(grants() - before, 3, 'one renewal before expiry')
  const after = await api('/svc/x')
  t.not(after.auth, [...renewed][0], 'the renewed token is used from then on')
  t.equal(grants() - before, 3)
})

t.test('a signed-in user\'s identity headers are still sent beside the gateway\'s token', async (t) => {
  const cookie = await loginCookie(stack.browser(), `${url}/`, 'alice')
  const own = await api('/x', { cookie })
  const svc = await api('/user-svc/x', { cookie })
  t.equal(svc.status, 200)
  t.equal(svc.headers['x-forwarded-user'], 'alice')
  t.equal(svc.headers['x-forwarded-email'], 'alice@example.com')
  t.ok(svc.auth !== undefined && svc.auth !== own.auth, 'the gateway\'s token, not the user\'s')
  t.equal(svc.auth, (await api('/svc/x')).auth, 'the same grant serves both routes')
})

t.test('tokenFile: read at start, again on reload', async (t) => {
  t.equal((await api('/static/x', { authorization: 'Bearer client' })).auth, 'Bearer static-token-one')
  writeFileSync(tokenFile, 'static-token-two\n')
  t.equal((await api('/static/x')).auth, 'Bearer static-token-one', 'not re-read on its own')
  // What SIGHUP does: read the file (and every …File) again, then swap.
  const yaml = yamlFor(tokenFile)
    .replaceAll('{{PORT}}', String(stack.config.listen.port)).replaceAll('{{PUBLIC}}', stack.config.publicUrl)
    .replaceAll('{{ISSUER}}', idp.issuer).replaceAll('{{UPSTREAM}}', upstream.url)
  const r = await stack.gh.reload(parseConfig(yaml, { env: {} }))
  t.equal(r.ok, true)
  t.equal((await api('/static/x')).auth, 'Bearer static-token-two')
})

t.test('a grant the provider refuses: 502 with a catalog code, then held briefly', async (t) => {
  const before = grants()
  const res = await api('/refused/x')
  t.equal(res.status, 502)
  t.equal(res.code, 'GH_UPSTREAM_TOKEN_REFUSED')
  const again = await api('/refused/x')
  t.equal(again.status, 502, 'the failure is held: no new grant for a moment')
  t.equal(grants(), before)
  t.equal((await api('/svc/x')).status, 200, 'other routes are unaffected')
})

t.test('no token appears in the logs', async (t) => {
  const granted = (await api('/svc/x')).auth!.slice(7)
  const all = lines.join('')
  t.ok(lines.length > 0, 'something was logged')
  t.notOk(all.includes(granted), 'not the granted token')
  t.notOk(all.includes('static-token-'), 'not the static token')
})

t.test('a provider that cannot be reached: 503, the process goes on', async (t) => {
  clock.now += 2 * TTL_S * 1000
  await idp.close()
  const res = await api('/svc/x')
  t.equal(res.status, 503)
  t.equal(res.code, 'GH_PROVIDER_UNAVAILABLE')
  t.equal((await api('/static/x')).status, 200, 'a static token needs no provider')
})
