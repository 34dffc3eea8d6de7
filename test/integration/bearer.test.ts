import { createPublicKey, type JsonWebKey } from 'node:crypto'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { exportJWK, generateKeyPair, SignJWT, UnsecuredJWT, type JWTPayload } from 'jose'
import t, { type Test } from 'tap'
import { JWKS_REFETCH_BURST } from '../../src/auth/jwks.js'
import { request, type Response } from '../fixtures/browser.js'
import { API_CLIENT, apiProviderConfig, clientCredentialsToken, RESOURCE } from '../fixtures/bearer.js'
import { loginCookie, providerSigningKey, signJwt } from '../fixtures/gateway.js'
import { CLIENT_ID, CLIENT_SECRET, gatewayYaml, startStack } from '../fixtures/stack.js'

/**
 * API clients on acceptBearer routes, against the real oidc-provider: its
 * JWT access tokens are accepted, and every attack a JWT validator is known
 * for gets 401 invalid_token without reaching the upstream. Forged tokens
 * are signed here (with the provider's own key where the attack needs a
 * valid signature, with a foreign key otherwise).
 */

const ROUTES = `
  - path: /api
    upstream: {{UPSTREAM}}
    acceptBearer:
      audiences: [${RESOURCE}]
  - path: /admin-api
    upstream: {{UPSTREAM}}
    acceptBearer: { audiences: [${RESOURCE}] }
    allow: { groups: [admins] }
  - path: /client
    upstream: {{UPSTREAM}}
    acceptBearer: {}
  - path: /opaque
    upstream: {{UPSTREAM}}
    acceptBearer: { introspect: true }
  - path: /
    upstream: {{UPSTREAM}}
`

const key = await providerSigningKey()
const stack = await startStack(t, {
  yaml: gatewayYaml({ admin: true, session: '  clockSkew: 5s\n', routes: ROUTES }),
  client: API_CLIENT,
  idp: { configure: apiProviderConfig(key) },
})
const { idp, upstream, url } = stack
const metrics = stack.gh.gateway.metrics

/** An attacker's server: a JWKS and a certificate URL, counting every request. */
const foreign = await generateKeyPair('RS256', { extractable: true })
const foreignJwk = { ...await exportJWK(foreign.publicKey), kid: 'attacker', alg: 'RS256', use: 'sig' }
let attackerHits = 0
const attacker: Server = createServer((_req, res) => {
  attackerHits++
  res.writeHead(200, { 'content-type': 'application/json' })
  res.end(JSON.stringify({ keys: [foreignJwk] }))
})
await new Promise<void>((resolve) => { attacker.listen(0, '127.0.0.1', resolve) })
t.teardown(async () => new Promise<void>((resolve) => { attacker.close(() => { resolve() }) }))
const attackerUrl = `http://127.0.0.1:${(attacker.address() as AddressInfo).port}`

const nowS = (): number => Math.floor(Date.now() / 1000)
function claims (o: JWTPayload = {}): JWTPayload {
  return { iss: idp.issuer, aud: RESOURCE, sub: 'alice', email: 'alice@example.com', groups: ['admins'], iat: nowS() - 10, exp: nowS() + 600, ...o }
}
/** A token signed with the provider's own key. */
const real = async (o: JWTPayload = {}, header: Record<string, unknown> = {}): Promise<string> => signJwt(key, claims(o), { typ: 'at+jwt', ...header })
/** A token signed with the attacker's key. */
const forged = async (o: JWTPayload = {}, header: Record<string, unknown> = {}): Promise<string> =>
  new SignJWT(claims(o)).setProtectedHeader({ alg: 'RS256', typ: 'at+jwt', kid: 'attacker', ...header }).sign(foreign.privateKey)

async function call (path: string, token: string, extra: Record<string, string> = {}): Promise<Response> {
  return request(`${url}${path}`, { headers: { accept: 'application/json', authorization: `Bearer ${token}`, ...extra } })
}

async function refused (t: Test, path: string, token: string, what: string, extra: Record<string, string> = {}): Promise<void> {
  const before = upstream.received.length
  const res = await call(path, token, extra)
  t.equal(res.status, 401, `${what}: 401`)
  t.equal(res.headers['www-authenticate'], 'Bearer error="invalid_token"', `${what}: WWW-Authenticate invalid_token`)
  t.equal(res.headers.location, undefined, `${what}: never a redirect`)
  t.equal(upstream.received.length, before, `${what}: the upstream saw nothing`)
}

t.test('a JWT access token from the provider is accepted and forwarded as is', async (t) => {
  const token = await clientCredentialsToken(idp.issuer, { resource: RESOURCE })
  t.equal(token.split('.').length, 3, 'the provider issued a JWT')
  const res = await call('/api/things', token)
  t.equal(res.status, 200)
  const echo = res.json<{ headers: Record<string, string> }>()
  t.equal(echo.headers.authorization, `Bearer ${token}`, 'the client\'s own token goes upstream')
  t.equal(echo.headers['x-forwarded-user'], CLIENT_ID, 'identity headers come from its claims (sub)')
  t.ok(await metrics.get('gatehouse_auth_decisions_total{decision="allow",reason="bearer"}') >= 1, 'counted as allow:bearer')
})

t.test('policy and identity headers apply to a token\'s claims as to a session', async (t) => {
  const alice = await call('/admin-api/x', await real())
  t.equal(alice.status, 200)
  const h = alice.json<{ headers: Record<string, string> }>().headers
  t.equal(h['x-forwarded-email'], 'alice@example.com')
  t.equal(h['x-forwarded-groups'], 'admins')
  const bob = await call('/admin-api/x', await real({ sub: 'bob', email: 'bob@example.com', groups: ['staff'] }))
  t.equal(bob.status, 403, 'a valid token refused by the policy: 403, not 401')
  t.equal(bob.headers['www-authenticate'], undefined)
})

t.test('aud defaults to the provider\'s clientId', async (t) => {
  t.equal((await call('/client/x', await real({ aud: CLIENT_ID }))).status, 200)
  await refused(t, '/client/x', await real(), 'aud is the API, not the clientId')
})

t.test('attacks on the JWT validator get 401 invalid_token', async (t) => {
  const pub = createPublicKey({ key: key.jwk as JsonWebKey, format: 'jwk' }).export({ type: 'spki', format: 'pem' }) as string
  const hmac = async (secret: string): Promise<string> => new SignJWT(claims()).setProtectedHeader({ alg: 'HS256', kid: key.kid }).sign(new TextEncoder().encode(secret))
  const cases: [string, () => Promise<string>][] = [
    ['alg none', async () => new UnsecuredJWT(claims()).encode()],
    ['alg none with the provider\'s kid', async () => {
      const [, body] = (new UnsecuredJWT(claims()).encode()).split('.')
      return `${Buffer.from(JSON.stringify({ alg: 'none', kid: key.kid })).toString('base64url')}.${body}.`
    }],
    ['HS256 signed with the client secret', async () => hmac(CLIENT_SECRET)],
    ['HS256 signed with the provider\'s public key (PEM)', async () => hmac(pub)],
    ['HS256 signed with the provider\'s public key (JWK JSON)', async () => hmac(JSON.stringify(key.jwk))],
    ['unknown kid', async () => forged({}, { kid: 'no-such-key' })],
    ['foreign key under the provider\'s kid', async () => forged({}, { kid: key.kid })],
    ['jku pointing at the attacker\'s JWKS', async () => forged({}, { jku: `${attackerUrl}/jwks` })],
    ['x5u pointing at the attacker', async () => forged({}, { x5u: `${attackerUrl}/cert.pem` })],
    ['jwk: the attacker\'s key embedded in the header', async () => forged({}, { jwk: { kty: foreignJwk.kty, n: foreignJwk.n, e: foreignJwk.e } })],
    ['x5c: a certificate chain embedded in the header', async () => forged({}, { x5c: [Buffer.from('not the provider').toString('base64')] })],
    ['wrong iss (signed with the provider\'s key)', async () => real({ iss: 'https://evil.example' })],
    ['iss with a trailing slash', async () => real({ iss: `${idp.issuer}/` })],
    ['iss missing', async () => real({ iss: undefined })],
    ['wrong aud', async () => real({ aud: 'https://other-api.example' })],
    ['aud missing', async () => real({ aud: undefined })],
    ['exp missing', async () => real({ exp: undefined })],
    ['expired (beyond clockSkew)', async () => real({ exp: nowS() - 60, iat: nowS() - 600 })],
    ['nbf in the future', async () => real({ nbf: nowS() + 120 })],
    ['iat in the future', async () => real({ iat: nowS() + 120 })],
    ['signature of another token', async () => {
      const [h, p] = (await real({ sub: 'mallory' })).split('.')
      return `${h}.${p}.${(await real()).split('.')[2]}`
    }],
    ['not a JWT on a route without introspection', async () => 'opaque-token-value'],
    ['garbage', async () => 'a.b.c'],
  ]
  for (const [what, make] of cases) await refused(t, '/api/x', await make(), what)
  // A malformed header is refused the same way.
  await refused(t, '/api/x', 'bad token with spaces', 'a token with spaces')
  t.equal(attackerHits, 0, 'no URL named in a token\'s header was ever fetched')
  t.ok(await metrics.get('gatehouse_auth_decisions_total{decision="deny",reason="bearer_invalid"}') >= cases.length, 'counted as deny:bearer_invalid')
})

t.test('within clockSkew: just expired, and iat slightly ahead, are accepted', async (t) => {
  t.equal((await call('/api/x', await real({ exp: nowS() - 2 }))).status, 200)
  t.equal((await call('/api/x', await real({ iat: nowS() + 2 }))).status, 200)
})

t.test('a bearer token is judged alone: a session cookie beside it is ignored', async (t) => {
  const cookie = await loginCookie(stack.browser(), `${url}/`, 'bob')
  const api = await request(`${url}/api/x`, { headers: { accept: 'application/json', cookie } })
  t.equal(api.status, 200, 'without a bearer token, the session serves as usual')
  t.equal(api.json<{ headers: Record<string, string> }>().headers['x-forwarded-user'], 'bob')
  await refused(t, '/api/x', await forged(), 'a forged token beside a valid session', { cookie })
  const res = await call('/api/x', await real({ sub: 'alice' }), { cookie })
  t.equal(res.status, 200)
  const h = res.json<{ headers: Record<string, string> }>().headers
  t.equal(h['x-forwarded-user'], 'alice', 'the token\'s identity, not the session\'s')
  t.notMatch(h.cookie ?? '', /gatehouse/, 'the session cookie is not forwarded')
  const nav = await request(`${url}/api/x`, { headers: { accept: 'text/html', 'sec-fetch-mode': 'navigate', authorization: 'Bearer x.y.z' } })
  t.equal(nav.status, 401, 'a browser navigation with a bad token gets 401, not a login')
})

t.test('verified tokens are cached: repeats do no signature work', async (t) => {
  const token = await real({ sub: 'cache-test' })
  const subtle = globalThis.crypto.subtle
  const verify = subtle.verify.bind(subtle)
  let verifies = 0
  subtle.verify = (async (...args: Parameters<typeof verify>) => { verifies++; return verify(...args) }) as typeof subtle.verify
  t.teardown(() => { subtle.verify = verify })
  t.equal((await call('/api/x', token)).status, 200)
  const first = verifies
  t.ok(first >= 1, 'the first request verified the signature')
  const all = await Promise.all(Array.from({ length: 20 }, async () => call('/api/x', token)))
  t.same(all.map((r) => r.status), Array(20).fill(200))
  t.equal(verifies, first, 'no signature verification for the 20 repeats')
})

t.test('a burst of unknown kids causes a bounded number of JWKS fetches', async (t) => {
  const before = idp.requests.get('/jwks') ?? 0
  const tokens = await Promise.all(Array.from({ length: 200 }, async (_, i) => forged({}, { kid: `burst-${i}` })))
  const all = await Promise.all(tokens.map(async (tok) => call('/api/x', tok)))
  t.same(new Set(all.map((r) => r.status)), new Set([401]), 'all 200 refused')
  const fetches = (idp.requests.get('/jwks') ?? 0) - before
  t.ok(fetches >= 1, `unknown kids did make the gateway look for a rotated key (${fetches} fetches)`)
  t.ok(fetches <= JWKS_REFETCH_BURST, `${fetches} JWKS fetches for 200 unknown kids (at most ${JWKS_REFETCH_BURST})`)
  t.equal((await call('/api/x', await real())).status, 200, 'real tokens are still accepted')
})

t.test('introspect: opaque tokens are checked at the provider, answers cached', async (t) => {
  const opaque = await clientCredentialsToken(idp.issuer)
  t.not(opaque.split('.').length, 3, 'the provider issued an opaque token')
  const count = (): number => idp.requests.get('/token/introspection') ?? 0
  const start = count()
  const ok = await call('/opaque/x', opaque)
  t.equal(ok.status, 200)
  t.equal(ok.json<{ headers: Record<string, string> }>().headers.authorization, `Bearer ${opaque}`)
  t.equal((await call('/opaque/x', opaque)).status, 200)
  t.equal(count() - start, 1, 'one introspection for two requests')
  await refused(t, '/opaque/x', 'not-a-token-the-provider-issued', 'an unknown opaque token')
  await refused(t, '/opaque/x', 'not-a-token-the-provider-issued', 'the same again')
  t.equal(count() - start, 2, 'the negative answer is cached too')
  await refused(t, '/api/x', opaque, 'an opaque token where introspect is off')
  t.equal((await call('/opaque/x', await real({ aud: CLIENT_ID }))).status, 200, 'JWTs are still verified locally on an introspect route')
})

t.test('forward-auth judges an API client\'s token the same way', async (t) => {
  const check = async (token: string): Promise<Response> => request(`${url}/.gatehouse/auth`, {
    headers: { authorization: `Bearer ${token}`, accept: 'application/json', 'x-forwarded-method': 'GET', 'x-forwarded-proto': 'http', 'x-forwarded-host': new URL(url).host, 'x-forwarded-uri': '/admin-api/things' },
  })
  const token = await real()
  const ok = await check(token)
  t.equal(ok.status, 200, 'a valid token: 200')
  t.equal(ok.headers['x-forwarded-user'], 'alice', 'identity headers from the token\'s claims')
  t.equal(ok.headers['x-forwarded-groups'], 'admins')
  t.equal(ok.headers.authorization, `Bearer ${token}`, 'the verified token, for the proxy to send on')
  const bob = await check(await real({ sub: 'bob', email: 'bob@example.com', groups: ['staff'] }))
  t.equal(bob.status, 403, 'refused by the policy: 403')
  const forged = await check(await signJwt({ ...key, kid: key.kid }, { iss: 'https://evil.test', sub: 'alice', aud: RESOURCE, exp: Math.floor(Date.now() / 1000) + 60 }, { typ: 'JWT' }))
  t.equal(forged.status, 401, 'a token from another issuer: 401')
  t.equal(forged.headers['x-forwarded-user'], undefined, 'and no identity')
})

t.test('without a bearer token an acceptBearer route behaves as any route', async (t) => {
  const res = await request(`${url}/api/x`, { headers: { accept: 'application/json' } })
  t.equal(res.status, 401)
  t.equal(res.headers['www-authenticate'], 'Bearer realm="gatehouse"')
  const nav = await request(`${url}/api/x`, { headers: { accept: 'text/html', 'sec-fetch-mode': 'navigate' } })
  t.equal(nav.status, 302, 'a browser is sent to log in')
  const basic = await request(`${url}/api/x`, { headers: { accept: 'application/json', authorization: 'Basic YTpi' } })
  t.equal(basic.status, 401, 'another scheme is not a bearer token')
  t.equal(basic.headers['www-authenticate'], 'Bearer realm="gatehouse"')
})

t.test('the provider down: cached tokens go on, nothing is a 500', async (t) => {
  const token = await real({ sub: 'before-outage' })
  t.equal((await call('/api/x', token)).status, 200)
  await idp.close()
  t.equal((await call('/api/x', token)).status, 200, 'a verified token needs no provider')
  const unknown = await call('/api/x', await forged({}, { kid: 'during-outage' }))
  t.ok([401, 503].includes(unknown.status), `an unknown kid: 401, or 503 when the keys cannot be fetched (got ${unknown.status})`)
  const opaque = await call('/opaque/x', 'opaque-during-outage')
  t.equal(opaque.status, 503, 'introspection unreachable: 503, the token was not judged')
  t.equal(opaque.headers['x-gatehouse-response'], 'GH_PROVIDER_UNAVAILABLE')
})
