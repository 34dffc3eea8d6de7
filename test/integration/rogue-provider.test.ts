import t from 'tap'
import type { ResponseType } from '../../src/config/types.js'
import { CLIENT_ID, startStack } from '../fixtures/stack.js'
import { accepted, attempt, makeKey, reSign, refused, rogueStack, type Forgery, type Tamper, type TestKey } from '../fixtures/rogue.js'
import { JWKS_KID_COOLDOWN_MS, JWKS_REFETCH_BURST } from '../../src/auth/jwks.js'

/**
 * The OpenID Foundation RP test plans' checks (Basic, Implicit, Hybrid, Form
 * Post, Config), each with the provider sending the bad value: Gatehouse
 * must refuse the login (4xx page with the check's code, no session cookie,
 * nothing reaches the upstream) or accept where the plan says accept.
 */

/** Rewrites the authorization response's ID token. */
const front = (f: Forgery, key: TestKey): Tamper => ({
  authorization: async (p) => { p.set('id_token', await reSign(p.get('id_token')!, f, key)) },
})
/** Rewrites the token endpoint's ID token. */
const back = (f: Forgery, key: TestKey): Tamper => ({
  token: async (b) => { b.id_token = await reSign(b.id_token as string, f, key) },
})

const K1 = await makeKey('k1')
const GHOST = await makeKey('ghost')

/**
 * ID token checks that apply to every ID token, wherever it comes from:
 * [name, forgery, expected code or 'accept', code at the token endpoint when
 * different]. A token endpoint ID token meets openid-client's own checks
 * before Gatehouse's verifier: where those fire first without naming the
 * claim, the code is the generic GH_LOGIN_INVALID_RESPONSE.
 */
const ID_TOKEN_CASES: [string, Forgery, string, string?][] = [
  ['re-signed, nothing changed (control)', {}, 'accept'],
  ['bad signature', { sign: 'bad-signature' }, 'GH_LOGIN_ID_TOKEN_SIGNATURE'],
  ['alg none', { sign: 'none' }, 'GH_LOGIN_ID_TOKEN_ALG', 'GH_LOGIN_INVALID_RESPONSE'],
  ['signed by a key the provider does not publish', { sign: GHOST }, 'GH_LOGIN_ID_TOKEN_KEY'],
  ['wrong iss', { claims: (c) => { c.iss = 'https://evil.example' } }, 'GH_LOGIN_ID_TOKEN_ISS'],
  ['wrong aud', { claims: (c) => { c.aud = 'another-client' } }, 'GH_LOGIN_ID_TOKEN_AUD'],
  ['several audiences without azp', { claims: (c) => { c.aud = [CLIENT_ID, 'another-client']; delete c.azp } }, 'GH_LOGIN_ID_TOKEN_AZP', 'GH_LOGIN_ID_TOKEN_AUD'],
  ['azp names another client', { claims: (c) => { c.azp = 'another-client' } }, 'GH_LOGIN_ID_TOKEN_AZP'],
  ['several audiences with azp = this client', { claims: (c) => { c.aud = [CLIENT_ID, 'another-client']; c.azp = CLIENT_ID } }, 'accept'],
  ['missing sub', { claims: (c) => { delete c.sub } }, 'GH_LOGIN_ID_TOKEN_SUB', 'GH_LOGIN_INVALID_RESPONSE'],
  ['missing iat', { claims: (c) => { delete c.iat } }, 'GH_LOGIN_ID_TOKEN_IAT', 'GH_LOGIN_INVALID_RESPONSE'],
  ['iat in the future', { claims: (c) => { c.iat = Math.floor(Date.now() / 1000) + 3600 } }, 'GH_LOGIN_ID_TOKEN_IAT'],
  ['expired', { claims: (c) => { c.iat = Math.floor(Date.now() / 1000) - 7200; c.exp = Math.floor(Date.now() / 1000) - 3600 } }, 'GH_LOGIN_ID_TOKEN_EXPIRED'],
  ['nonce of another login', { claims: (c) => { c.nonce = 'x'.repeat(43) } }, 'GH_LOGIN_ID_TOKEN_NONCE'],
  ['missing nonce', { claims: (c) => { delete c.nonce } }, 'GH_LOGIN_ID_TOKEN_NONCE', 'GH_LOGIN_INVALID_RESPONSE'],
  ['no kid, the JWKS has one matching key', { header: (h) => { delete h.kid } }, 'accept'],
]

/** Where an ID token is checked: the flow, and which response carries the token under test. */
const POSITIONS: { responseType: ResponseType, where: 'authorization' | 'token' }[] = [
  { responseType: 'id_token', where: 'authorization' },
  { responseType: 'id_token token', where: 'authorization' },
  { responseType: 'code id_token', where: 'authorization' },
  { responseType: 'code id_token token', where: 'authorization' },
  { responseType: 'code', where: 'token' },
  { responseType: 'code id_token', where: 'token' },
  { responseType: 'code token', where: 'token' },
]

for (const pos of POSITIONS) {
  t.test(`ID token checks: ${pos.responseType}, ID token from the ${pos.where} endpoint`, async (t) => {
    const r = await rogueStack(t, pos.responseType, [K1])
    for (const [name, forgery, code, codeAtToken] of ID_TOKEN_CASES) {
      const a = await attempt(r, (pos.where === 'authorization' ? front : back)(forgery, K1))
      const expected = pos.where === 'token' ? codeAtToken ?? code : code
      t.test(name, async (t) => { expected === 'accept' ? accepted(t, a) : refused(t, a, expected) })
    }
  })
}

t.test('at_hash: required and checked when an access token comes with the ID token', async (t) => {
  for (const responseType of ['id_token token', 'code id_token token'] as const) {
    const r = await rogueStack(t, responseType, [K1])
    refused(t, await attempt(r, front({ claims: (c) => { delete c.at_hash } }, K1)), 'GH_LOGIN_ID_TOKEN_AT_HASH')
    refused(t, await attempt(r, front({ claims: (c) => { c.at_hash = 'w1n4bMr7Uu2dS7h2xMxu2A' } }, K1)), 'GH_LOGIN_ID_TOKEN_AT_HASH')
    // A valid at_hash of another access token: the access token was swapped.
    refused(t, await attempt(r, { authorization: (p) => { p.set('access_token', p.get('access_token')!.slice(0, -1) + 'x') } }), 'GH_LOGIN_ID_TOKEN_AT_HASH')
  }
})

t.test('c_hash: required and checked when a code comes with the ID token', async (t) => {
  for (const responseType of ['code id_token', 'code id_token token'] as const) {
    const r = await rogueStack(t, responseType, [K1])
    refused(t, await attempt(r, front({ claims: (c) => { delete c.c_hash } }, K1)), 'GH_LOGIN_ID_TOKEN_C_HASH')
    refused(t, await attempt(r, front({ claims: (c) => { c.c_hash = 'w1n4bMr7Uu2dS7h2xMxu2A' } }, K1)), 'GH_LOGIN_ID_TOKEN_C_HASH')
    refused(t, await attempt(r, { authorization: (p) => { p.set('code', p.get('code')!.slice(0, -1) + 'x') } }), 'GH_LOGIN_ID_TOKEN_C_HASH')
    t.equal(r.s.idp.grants.get('authorization_code') ?? 0, 0, 'no code was redeemed after a failed c_hash')
  }
})

t.test('hybrid: the token endpoint\'s ID token must name the same user as the first one', async (t) => {
  for (const responseType of ['code id_token', 'code id_token token'] as const) {
    const r = await rogueStack(t, responseType, [K1])
    // Validly signed, right nonce and audience: only the subject differs.
    refused(t, await attempt(r, back({ claims: (c) => { c.sub = 'bob' } }, K1)), 'GH_LOGIN_ID_TOKEN_SUB')
    refused(t, await attempt(r, back({ claims: (c) => { c.iss = `${r.s.idp.issuer}/other` } }, K1)), 'GH_LOGIN_ID_TOKEN_ISS')
    accepted(t, await attempt(r, back({}, K1)))
  }
})

t.test('userinfo must name the ID token\'s subject', async (t) => {
  for (const responseType of ['code', 'id_token token', 'code id_token token'] as const) {
    const r = await rogueStack(t, responseType, [K1])
    refused(t, await attempt(r, { userinfo: (b) => { b.sub = 'bob' } }), 'GH_LOGIN_USERINFO_SUB')
    accepted(t, await attempt(r, { userinfo: (b) => { b.email = 'alice@changed.example' } }))
  }
})

t.test('authorization response parameters', async (t) => {
  const code = await rogueStack(t, 'code', [K1])
  refused(t, await attempt(code, { authorization: (p) => { p.set('state', 'A'.repeat(32)) } }), 'GH_LOGIN_STATE_MISSING')
  refused(t, await attempt(code, { authorization: (p) => { p.delete('state') } }), 'GH_LOGIN_NO_STATE')
  // RFC 9207: a response naming another issuer is a mix-up attempt.
  refused(t, await attempt(code, { authorization: (p) => { p.set('iss', 'https://evil.example') } }), 'GH_LOGIN_ISS_MISMATCH')
  refused(t, await attempt(code, { authorization: (p) => { p.delete('iss') } }), 'GH_LOGIN_INVALID_RESPONSE')
  refused(t, await attempt(code, { authorization: (p) => { for (const k of [...p.keys()]) if (k !== 'state') p.delete(k); p.set('error', 'access_denied') } }), 'GH_LOGIN_PROVIDER_ACCESS_DENIED', 403)
  refused(t, await attempt(code, { authorization: (p) => { p.delete('code'); p.set('error', '<script>') } }), 'GH_LOGIN_PROVIDER_UNKNOWN')

  const implicit = await rogueStack(t, 'id_token token', [K1])
  refused(t, await attempt(implicit, { authorization: (p) => { p.set('token_type', 'MAC') } }), 'GH_LOGIN_TOKEN_TYPE')
  refused(t, await attempt(implicit, { authorization: (p) => { p.delete('id_token') } }), 'GH_LOGIN_INCOMPLETE_RESPONSE')
  refused(t, await attempt(implicit, { authorization: (p) => { p.delete('access_token') } }), 'GH_LOGIN_INCOMPLETE_RESPONSE')
  refused(t, await attempt(implicit, { authorization: (p) => { p.set('iss', 'https://evil.example') } }), 'GH_LOGIN_ISS_MISMATCH')
})

t.test('an HMAC-signed ID token is refused (a public value must never serve as a key)', async (t) => {
  const r = await rogueStack(t, 'id_token', [K1])
  const hmac = { kid: 'k1', alg: 'HS256', privateKey: new TextEncoder().encode('gatehouse-test-secret-0123456789abcdef') } as unknown as TestKey
  refused(t, await attempt(r, front({ sign: hmac }, K1)), 'GH_LOGIN_ID_TOKEN_ALG')
})

t.test('no kid and several keys the token could match: refused as ambiguous', async (t) => {
  const k2 = await makeKey('k2')
  const r = await rogueStack(t, 'id_token', [K1, k2])
  refused(t, await attempt(r, front({ header: (h) => { delete h.kid } }, K1)), 'GH_LOGIN_ID_TOKEN_KEY')
  accepted(t, await attempt(r, front({}, K1)))
  accepted(t, await attempt(r, front({ sign: k2 }, K1)))
})

t.test('key rotation at any moment: an unknown kid right after another one still gets its refetch', async (t) => {
  let offset = 0
  const k2 = await makeKey('k2')
  const k3 = await makeKey('k3')
  for (const responseType of ['id_token', 'code'] as const) {
    const r = await rogueStack(t, responseType, [K1], { now: () => Date.now() + offset })
    const jwksFetches = (): number => r.s.idp.requests.get('/jwks') ?? 0
    const where = responseType === 'code' ? back : front
    const publishing = (...keys: TestKey[]) => (b: { keys: unknown[] }) => { b.keys.push(...keys.map((k) => k.publicJwk)) }
    t.equal(jwksFetches(), 1, 'keys loaded at start')
    // A token naming a key that exists nowhere (for the front channel: what
    // anyone can post to the callback) ...
    refused(t, await attempt(r, where({ sign: GHOST }, K1)), 'GH_LOGIN_ID_TOKEN_KEY')
    t.equal(jwksFetches(), 2, 'an unknown kid: one refetch')
    // ... then, at once, the provider rotates to k2: the next login works.
    accepted(t, await attempt(r, { ...where({ sign: k2 }, K1), jwks: publishing(k2) }))
    t.equal(jwksFetches(), 3, 'the rotated key was fetched')
    accepted(t, await attempt(r, { ...where({ sign: k2 }, K1), jwks: publishing(k2) }))
    t.equal(jwksFetches(), 3, 'k2 is now cached')
    refused(t, await attempt(r, { ...where({ sign: GHOST }, K1), jwks: publishing(k2) }), 'GH_LOGIN_ID_TOKEN_KEY')
    if (responseType === 'id_token') {
      t.equal(jwksFetches(), 3, 'front channel: the same unknown kid again within its cooldown causes no refetch')
      // A storm of front-channel tokens, each naming another unknown key:
      // bounded by the refetch bucket, and a real rotation afterwards works.
      const before = jwksFetches()
      for (let i = 0; i < 8; i++) {
        const forged = await makeKey(`storm-${i}`)
        refused(t, await attempt(r, { ...where({ sign: forged }, K1), jwks: publishing(k2) }), 'GH_LOGIN_ID_TOKEN_KEY')
      }
      const storm = jwksFetches() - before
      t.ok(storm <= JWKS_REFETCH_BURST, `8 forged kids caused ${storm} refetches (at most ${JWKS_REFETCH_BURST})`)
      offset += JWKS_KID_COOLDOWN_MS + 1_000
      accepted(t, await attempt(r, { ...where({ sign: k3 }, K1), jwks: publishing(k2, k3) }))
      t.equal(jwksFetches(), before + storm + 1, 'after the storm, a rotation to k3 is fetched and accepted')
    } else {
      t.equal(jwksFetches(), 4, 'token endpoint: an unknown kid always gets its refetch')
      accepted(t, await attempt(r, { ...where({ sign: k3 }, K1), jwks: publishing(k2, k3) }))
      t.equal(jwksFetches(), 5, 'and a rotation right after it is accepted')
    }
  }
})

t.test('other signing algorithms: at_hash and c_hash use the hash of the token\'s alg', async (t) => {
  for (const alg of ['ES256', 'ES384', 'PS512', 'EdDSA']) {
    const key = await makeKey(`key-${alg}`, alg)
    const r = await rogueStack(t, 'code id_token token', [key], { client: { id_token_signed_response_alg: alg } })
    const a = await attempt(r, undefined)
    t.test(alg, async (t) => { accepted(t, a) })
    refused(t, await attempt(r, front({ sign: 'bad-signature' }, key)), 'GH_LOGIN_ID_TOKEN_SIGNATURE')
  }
})

t.test('discovery: the issuer must be exactly the configured one', async (t) => {
  for (const [name, rewrite] of [['another issuer', () => 'https://evil.example'], ['the same with a trailing slash', (iss: string) => `${iss}/`]] as const) {
    let discovered = 0
    const s = await startStack(t, {
      onIdp: (idp) => { idp.use(async (ctx, next) => { await next(); if (ctx.path === '/.well-known/openid-configuration') { discovered++; ctx.body.issuer = rewrite(ctx.body.issuer) } }) },
      waitForProviders: false,
    })
    while (discovered === 0) await new Promise((resolve) => setTimeout(resolve, 20))
    await new Promise((resolve) => setTimeout(resolve, 100))
    t.notOk(s.gh.gateway.defaultProvider.ready, `${name}: the provider is not used`)
    const b = s.browser()
    const { res } = await b.navigate(`${s.url}/page`)
    t.equal(res.status, 503, `${name}: sign-in unavailable`)
    t.equal(res.headers['x-gatehouse-response'], 'GH_PROVIDER_UNAVAILABLE')
    t.equal(s.idp.requests.get('/auth') ?? 0, 0, 'no browser was sent to it')
    t.equal(s.upstream.received.length, 0)
  }
})
