import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import { OidcProvider } from '../../src/auth/oidc.js'
import { parseConfig } from '../../src/config/load.js'

// A provider whose discovery URL answers the wrong thing: the log line must
// say what was fetched and what came back, as a provider problem (never as a
// failed login).

interface Test { teardown (fn: () => unknown): void }
interface Logged { obj: Record<string, unknown>, msg?: string }

async function serve (handler: (path: string) => { status: number, type: string, body: string }): Promise<{ url: string, server: Server }> {
  const server = createServer((req, res) => {
    const r = handler(req.url ?? '/')
    res.writeHead(r.status, { 'content-type': r.type })
    res.end(r.body)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server }
}

/** Starts discovery for `issuer` and returns the first failure it logs. */
async function firstFailure (t: Test, issuer: string): Promise<Logged> {
  const config = parseConfig(`publicUrl: http://127.0.0.1:8080
providers: [{ issuer: "${issuer}", clientId: c, clientSecret: provider-issued-secret }]
session: { secret: discovery-test-session-secret-0123456789abcdef }
routes: [{ upstream: "http://127.0.0.1:3000" }]
`, { env: {} })
  let resolve!: (l: Logged) => void
  const logged = new Promise<Logged>((r) => { resolve = r })
  const log = {
    info: () => {},
    debug: () => {},
    warn: (obj: object, msg?: string) => { resolve({ obj: obj as Record<string, unknown>, ...(msg !== undefined ? { msg } : {}) }) },
  }
  const p = new OidcProvider(config.providers[0]!, 'http://127.0.0.1:8080/.gatehouse/callback', log)
  t.teardown(() => { p.stop() })
  void p.start()
  return logged
}

t.test('a discovery document naming another issuer: GH_PROVIDER_ISSUER_MISMATCH with the URL and both issuers', async (t) => {
  const { url, server } = await serve(() => ({ status: 200, type: 'application/json', body: JSON.stringify({ issuer: 'https://other.example.com', authorization_endpoint: 'https://other.example.com/auth', jwks_uri: 'https://other.example.com/jwks' }) }))
  t.teardown(() => { server.close() })
  const issuer = `${url}/realms/main`
  const l = await firstFailure(t, issuer)
  t.equal(l.obj.code, 'GH_PROVIDER_ISSUER_MISMATCH')
  t.match(l.msg, /provider discovery failed/)
  t.equal(l.obj.err, `discovery at ${issuer}/.well-known/openid-configuration names issuer "https://other.example.com", not the configured "${issuer}" (check the issuer URL: it must be exactly the value the provider publishes)`)
})

t.test('an issuer that differs by a trailing slash: the same code, with the fix', async (t) => {
  const { url, server } = await serve(() => ({ status: 200, type: 'application/json', body: JSON.stringify({ issuer: `${url}/`, authorization_endpoint: `${url}/auth`, jwks_uri: `${url}/jwks` }) }))
  t.teardown(() => { server.close() })
  const l = await firstFailure(t, url)
  t.equal(l.obj.code, 'GH_PROVIDER_ISSUER_MISMATCH')
  t.match(l.obj.err, `discovery at ${url}/.well-known/openid-configuration names issuer "${url}/", not the configured "${url}" (they differ only by a trailing slash: configure issuer: ${url}/)`)
})

t.test('an HTML page at the discovery URL: the URL, the HTTP status and the content type', async (t) => {
  const { url, server } = await serve(() => ({ status: 200, type: 'text/html; charset=utf-8', body: '<!doctype html><title>Sign in</title>' }))
  t.teardown(() => { server.close() })
  const l = await firstFailure(t, `${url}/app`)
  t.equal(l.obj.code, 'GH_PROVIDER_DISCOVERY_FAILED')
  t.equal(l.obj.err, `discovery at ${url}/app/.well-known/openid-configuration is not a discovery document (expected JSON): HTTP 200, content-type text/html; charset=utf-8; check the issuer URL`)
})

t.test('an HTTP error at the discovery URL: the URL, the status and the content type', async (t) => {
  const { url, server } = await serve(() => ({ status: 404, type: 'text/html', body: '<h1>Not Found</h1>' }))
  t.teardown(() => { server.close() })
  const l = await firstFailure(t, url)
  t.equal(l.obj.code, 'GH_PROVIDER_DISCOVERY_FAILED')
  t.equal(l.obj.err, `discovery at ${url}/.well-known/openid-configuration failed: HTTP 404, content-type text/html; check the issuer URL`)
})

t.test('an unreachable provider is still GH_PROVIDER_UNAVAILABLE', async (t) => {
  const { url, server } = await serve(() => ({ status: 200, type: 'text/plain', body: '' }))
  await new Promise((resolve) => server.close(resolve))
  const l = await firstFailure(t, url)
  t.equal(l.obj.code, 'GH_PROVIDER_UNAVAILABLE')
  t.match(l.obj.err, /cannot reach the identity provider during discovery: ECONNREFUSED/)
})
