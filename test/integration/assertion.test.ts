import { generateKeyPairSync } from 'node:crypto'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { calculateJwkThumbprint, createRemoteJWKSet, decodeProtectedHeader, jwtVerify, type JWK } from 'jose'
import t from 'tap'
import { parseConfig } from '../../src/config/load.js'
import { request } from '../fixtures/browser.js'
import { api, loginCookie, type Clock } from '../fixtures/gateway.js'
import { CLIENT_SECRET, CLIENT_ID, startGateway, startStack, type Stack } from '../fixtures/stack.js'

/**
 * The signed identity assertion end to end: a real provider login, a real
 * upstream that receives the header and verifies it with the key it fetches
 * from the gateway's /.gatehouse/jwks, as an application would.
 */

const HEADER = 'x-gatehouse-assertion'

function yaml (assertion: string): string {
  return `
listen: 127.0.0.1:{{PORT}}
publicUrl: {{PUBLIC}}
providers:
  - id: test
    issuer: {{ISSUER}}
    clientId: ${CLIENT_ID}
    clientSecret: ${CLIENT_SECRET}
    scopes: [openid, email, profile, offline_access]
session:
  secret: assertion-test-session-secret-0123456789abcdef
assertion:
${assertion}
routes:
  - path: /signed
    upstream: {{UPSTREAM}}/base
    assertion: true
  - path: /public
    upstream: {{UPSTREAM}}
    auth: public
    assertion: true
  - path: /
    upstream: {{UPSTREAM}}
`
}

async function stack (t: Parameters<typeof startStack>[0], assertion = '  ttl: 60s'): Promise<Stack & { clock: Clock }> {
  const clock: Clock = { now: Date.now(), advance (ms) { this.now += ms } }
  const s = await startStack(t, { yaml: yaml(assertion), deps: { now: () => clock.now } })
  return { ...s, clock }
}

/** The assertion the upstream received on its last request (undefined: none). */
const lastAssertion = (s: Stack): string | undefined => s.upstream.received.at(-1)?.headers[HEADER] as string | undefined

const claimsOf = (jwt: string): Record<string, unknown> => JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString('utf8')) as Record<string, unknown>

t.test('the upstream gets an assertion it verifies with the gateway\'s JWKS: iss, aud, the user, exp - iat <= ttl', async (t) => {
  const s = await stack(t)
  const cookie = await loginCookie(s.browser(), `${s.url}/signed/home`)
  const res = await api(`${s.url}/signed/api`, cookie)
  t.equal(res.status, 200)
  const jwt = lastAssertion(s)
  if (jwt === undefined) throw new Error('no assertion upstream')
  // What an upstream does: fetch the keys from the gateway, verify issuer and audience.
  const jwks = createRemoteJWKSet(new URL(`${s.url}/.gatehouse/jwks`))
  const { payload, protectedHeader } = await jwtVerify(jwt, jwks, { issuer: s.url, audience: new URL(s.upstream.url).origin, algorithms: ['ES256'], currentDate: new Date(s.clock.now) })
  t.equal(protectedHeader.alg, 'ES256')
  const me = (await api(`${s.url}/.gatehouse/userinfo`, cookie)).json<{ sub: string }>()
  t.equal(payload.sub, me.sub, 'sub is the user\'s')
  t.equal(payload.email, 'alice@example.com')
  t.same(payload.groups, ['admins', 'staff'], 'groups from the provider\'s groups claim')
  t.equal(payload.aud, new URL(s.upstream.url).origin, 'aud is the upstream origin, without the base path')
  t.ok(payload.exp! - payload.iat! <= 60 && payload.exp! > payload.iat!, `exp - iat = ${payload.exp! - payload.iat!}s <= ttl`)
  t.match(payload.jti, /^[A-Za-z0-9_-]{16,}$/)
  t.equal(Math.abs(payload.iat! * 1000 - s.clock.now) < 1_000, true, 'iat is now')

  // Forward-auth answers with the same assertion for a proxy in front to send on.
  const fa = await request(`${s.url}/.gatehouse/auth`, { headers: { cookie, accept: 'application/json', 'x-forwarded-method': 'GET', 'x-forwarded-proto': 'http', 'x-forwarded-host': new URL(s.url).host, 'x-forwarded-uri': '/signed/api' } })
  t.equal(fa.status, 200)
  t.equal(fa.headers[HEADER], jwt, 'forward-auth\'s 200 carries the session\'s assertion for this upstream')

  const keys = (await request(`${s.url}/.gatehouse/jwks`)).json<{ keys: JWK[] }>().keys
  t.equal(keys.length, 1)
  t.equal(keys[0]!.kid, await calculateJwkThumbprint(keys[0]!), 'the kid is the key\'s RFC 7638 thumbprint')
  t.equal(keys[0]!.d, undefined, 'no private part is published')
  t.equal(decodeProtectedHeader(jwt).kid, keys[0]!.kid)

  await api(`${s.url}/other`, cookie)
  t.equal(lastAssertion(s), undefined, 'a route without assertion: true sends none')
})

t.test('a spoofed assertion header never reaches an upstream, on any route, in any spelling', async (t) => {
  const s = await stack(t)
  const forged = { 'X-Gatehouse-Assertion': 'forged.jwt.value', x_gatehouse_assertion: 'forged' }
  t.equal((await api(`${s.url}/public/x`, '', forged)).status, 200)
  const pub = s.upstream.received.at(-1)!.headers
  t.same(Object.keys(pub).filter((h) => h.replaceAll('_', '-') === HEADER), [], 'public route, no session: stripped, none added')
  const cookie = await loginCookie(s.browser(), `${s.url}/`)
  await api(`${s.url}/other`, cookie, forged)
  t.same(Object.keys(s.upstream.received.at(-1)!.headers).filter((h) => h.replaceAll('_', '-') === HEADER), [], 'a signed-in route without assertion: stripped')
  await api(`${s.url}/signed/x`, cookie, forged)
  const got = lastAssertion(s)
  t.not(got, 'forged.jwt.value', 'an assertion route: the gateway\'s own replaces it')
  t.equal(claimsOf(got!).iss, s.url)
  t.same(Object.keys(s.upstream.received.at(-1)!.headers).filter((h) => h.replaceAll('_', '-') === HEADER), [HEADER], 'exactly one copy')
})

t.test('signed once per session and upstream while fresh; a new one once a third of the ttl is left', async (t) => {
  const s = await stack(t)
  const cookie = await loginCookie(s.browser(), `${s.url}/signed/`)
  await api(`${s.url}/signed/a`, cookie)
  const first = lastAssertion(s)!
  await api(`${s.url}/signed/b`, cookie)
  t.equal(lastAssertion(s), first, 'the next request carries the same assertion')
  s.clock.advance(30_000)
  await api(`${s.url}/signed/c`, cookie)
  t.equal(lastAssertion(s), first, 'half the ttl later: still the same')
  s.clock.advance(11_000)
  await api(`${s.url}/signed/d`, cookie)
  const second = lastAssertion(s)!
  t.not(second, first, 'past two thirds of the ttl: a new one')
  t.not(claimsOf(second).jti, claimsOf(first).jti)
  t.equal((claimsOf(second).iat as number) - (claimsOf(first).iat as number), 41, 'signed at the new time')
  await api(`${s.url}/signed/e`, cookie)
  t.equal(lastAssertion(s), second, 'and that one is reused in turn')
  const other = await loginCookie(s.browser(), `${s.url}/signed/`, 'bob')
  await api(`${s.url}/signed/f`, other)
  t.equal(claimsOf(lastAssertion(s)!).email, 'bob@example.com', 'another session: its own assertion')
})

t.test('a keyFile gives the same kid across restarts; a generated key is new on every start', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-assertion-'))
  const keyFile = join(dir, 'assertion.pem')
  writeFileSync(keyFile, generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'pem', type: 'pkcs8' }))
  const s = await stack(t, `  ttl: 30s\n  keyFile: ${keyFile}`)
  const kid = async (url: string): Promise<string> => (await request(`${url}/.gatehouse/jwks`)).json<{ keys: JWK[] }>().keys[0]!.kid!
  const first = await kid(s.url)
  // A restart on the same address (the provider knows its redirect URI): the new gateway reads the same file.
  await s.gh.close()
  const port = Number(new URL(s.url).port)
  const again = await startGateway(t, yaml(`  ttl: 30s\n  keyFile: ${keyFile}`), { issuer: s.idp.issuer, upstream: s.upstream.url, reserved: { port, release: async () => {} } })
  t.equal(await kid(again.url), first, 'same key file, same kid')
  const cookie = await loginCookie(s.browser(), `${again.url}/signed/`)
  await api(`${again.url}/signed/x`, cookie)
  t.equal(decodeProtectedHeader(lastAssertion(s)!).kid, first, 'and assertions name it')
  t.equal(claimsOf(lastAssertion(s)!).exp as number - (claimsOf(lastAssertion(s)!).iat as number), 30, 'ttl: 30s')

  const a = await startGateway(t, yaml('  ttl: 60s'), { issuer: s.idp.issuer, upstream: s.upstream.url })
  const b = await startGateway(t, yaml('  ttl: 60s'), { issuer: s.idp.issuer, upstream: s.upstream.url })
  t.not(await kid(a.url), await kid(b.url), 'without a key file, each start has its own key')
})

t.test('a reload keeps the generated key, and takes a new key file', async (t) => {
  const kid = async (url: string): Promise<string> => (await request(`${url}/.gatehouse/jwks`)).json<{ keys: JWK[] }>().keys[0]!.kid!
  const s = await stack(t)
  const generated = await kid(s.url)
  const same = await s.gh.reload(s.config)
  t.equal(same.ok, true)
  t.equal(await kid(s.url), generated, 'the generated key outlives a reload')

  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-assertion-'))
  const keyFile = join(dir, 'assertion.pem')
  const newKey = (): void => { writeFileSync(keyFile, generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'pem', type: 'pkcs8' })) }
  newKey()
  const text = yaml(`  keyFile: ${keyFile}`).replaceAll('{{PORT}}', new URL(s.url).port).replaceAll('{{PUBLIC}}', s.url).replaceAll('{{ISSUER}}', s.idp.issuer).replaceAll('{{UPSTREAM}}', s.upstream.url)
  t.equal((await s.gh.reload(parseConfig(text, { env: {} }))).ok, true)
  const first = await kid(s.url)
  t.not(first, generated, 'a key file replaces the generated key')
  const cookie = await loginCookie(s.browser(), `${s.url}/signed/`)
  await api(`${s.url}/signed/x`, cookie)
  const before = lastAssertion(s)!
  newKey()
  t.equal((await s.gh.reload(parseConfig(text, { env: {} }))).ok, true)
  const second = await kid(s.url)
  t.not(second, first, 'a rotated key file: the new key is published')
  await api(`${s.url}/signed/x`, cookie)
  t.equal(decodeProtectedHeader(lastAssertion(s)!).kid, second, 'and signs at once (nothing signed with the old key is reused)')
  t.not(lastAssertion(s), before)
})
