import { generateKeyPairSync } from 'node:crypto'
import { calculateJwkThumbprint, decodeProtectedHeader, importJWK, jwtVerify } from 'jose'
import t from 'tap'
import { AssertionSigner, claimAt, exportAssertionKey, generateAssertionKey, loadAssertionKey } from '../../../src/auth/assertion.js'
import type { Session } from '../../../src/session/session.js'

const NOW = 1_800_000_000_000
const TTL = 60_000

function session (o: Partial<Session> = {}): Session {
  return { v: 1, id: 'sid-1', provider: 'p', iat: NOW, seen: NOW, sub: 'alice', claims: { sub: 'alice', email: 'alice@example.com', groups: ['admins', 'ops'] }, ...o }
}

const signer = (key = generateAssertionKey()): AssertionSigner => new AssertionSigner(key, { issuer: 'https://gw.example', ttl: TTL, header: 'X-Gatehouse-Assertion' })

t.test('an ES256 JWT with the claims, verifiable with the published key; kid is the RFC 7638 thumbprint', async (t) => {
  const s = signer()
  const token = s.token(session(), 'http://127.0.0.1:3000', 'groups', NOW)
  t.same(decodeProtectedHeader(token), { alg: 'ES256', typ: 'JWT', kid: s.key.kid })
  t.equal(s.key.kid, await calculateJwkThumbprint({ kty: 'EC', crv: 'P-256', x: s.key.publicJwk.x!, y: s.key.publicJwk.y! }), 'kid = thumbprint')
  const { payload } = await jwtVerify(token, await importJWK({ ...s.key.publicJwk }, 'ES256'), { issuer: 'https://gw.example', audience: 'http://127.0.0.1:3000', currentDate: new Date(NOW) })
  t.match(payload, { iss: 'https://gw.example', aud: 'http://127.0.0.1:3000', sub: 'alice', email: 'alice@example.com', groups: ['admins', 'ops'], iat: NOW / 1000, exp: NOW / 1000 + 60 })
  t.match(payload.jti, /^[A-Za-z0-9_-]{22}$/, 'a random jti')
  t.equal(s.header, 'x-gatehouse-assertion', 'the header name as forwarded headers are keyed')
})

t.test('reused per session and audience until a third of the ttl is left', async (t) => {
  const s = signer()
  const a = s.token(session(), 'http://a', 'groups', NOW)
  t.equal(s.token(session(), 'http://a', 'groups', NOW + 1_000), a, 'the next request: the same assertion')
  t.equal(s.token(session(), 'http://a', 'groups', NOW + 39_999), a, 'just before two thirds of the ttl')
  t.equal(s.signed, 1, 'signed once')
  const b = s.token(session(), 'http://a', 'groups', NOW + 40_000)
  t.not(b, a, 'at two thirds: a new one')
  t.equal(s.signed, 2)
  t.not(s.token(session(), 'http://b', 'groups', NOW + 40_000), b, 'another audience: its own')
  t.not(s.token(session({ id: 'sid-2' }), 'http://a', 'groups', NOW + 40_000), b, 'another session: its own')
  t.equal(s.signed, 4)
  t.not(s.token(session(), 'http://a', 'groups', NOW - 5_000), b, 'a clock that went back: a new one')
})

t.test('a session whose claims changed (a refresh) gets a new assertion at once', async (t) => {
  const s = signer()
  const a = s.token(session(), 'http://a', 'groups', NOW)
  t.equal(s.token(session({ claims: { sub: 'alice', email: 'alice@example.com', groups: ['admins', 'ops'] } }), 'http://a', 'groups', NOW), a, 'equal claims, another object: reused')
  const b = s.token(session({ claims: { sub: 'alice', email: 'alice@example.com', groups: ['admins'] } }), 'http://a', 'groups', NOW)
  t.not(b, a, 'groups changed: a new one')
  t.same(JSON.parse(Buffer.from(b.split('.')[1]!, 'base64url').toString()).groups, ['admins'])
})

t.test('groups by the provider\'s groupsClaim: a whole name first, then a dotted path; always a list', async (t) => {
  const s = signer()
  const claims = { 'https://example.com/roles': ['r1'], realm_access: { roles: ['r2', 3] }, team: 'blue', sub: 'alice' }
  const groups = (claim: string): unknown => JSON.parse(Buffer.from(s.token(session({ id: claim, claims }), 'http://a', claim, NOW).split('.')[1]!, 'base64url').toString()).groups
  t.same(groups('https://example.com/roles'), ['r1'])
  t.same(groups('realm_access.roles'), ['r2', '3'])
  t.same(groups('team'), ['blue'])
  t.same(groups('missing'), [])
  t.equal(claimAt({ 'a.b': 1, a: { b: 2 } }, 'a.b'), 1, 'the whole name wins')
  t.equal(claimAt({ a: { b: 2 } }, 'a.b.c'), undefined)
  t.equal(claimAt({ a: ['x'] }, 'a.0'), undefined, 'no walking into lists')
})

t.test('keys: PEM and JWK give the same kid; anything but a P-256 private key is refused', async (t) => {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  const fromPem = loadAssertionKey(privateKey.export({ format: 'pem', type: 'pkcs8' }).toString())
  const fromJwk = loadAssertionKey(JSON.stringify(privateKey.export({ format: 'jwk' })))
  t.equal(fromPem.kid, fromJwk.kid)
  t.equal(loadAssertionKey(exportAssertionKey(fromPem)).kid, fromPem.kid, 'a key handed to workers is the same key')
  t.not(generateAssertionKey().kid, generateAssertionKey().kid, 'generated keys differ')
  t.throws(() => loadAssertionKey('not a key'), /not a private key/)
  t.throws(() => loadAssertionKey(generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' }).toString()), /got a ed25519 key/)
  t.throws(() => loadAssertionKey(generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'pem', type: 'spki' }).toString()), /not a private key/)
})

t.test('bounded: the least recently used assertion is dropped first', async (t) => {
  const s = new AssertionSigner(generateAssertionKey(), { issuer: 'https://gw.example', ttl: TTL, header: 'X-Gatehouse-Assertion', maxEntries: 2 })
  const a = s.token(session({ id: 'a' }), 'http://u', 'groups', NOW)
  s.token(session({ id: 'b' }), 'http://u', 'groups', NOW)
  t.equal(s.token(session({ id: 'a' }), 'http://u', 'groups', NOW), a, 'a is used again')
  s.token(session({ id: 'c' }), 'http://u', 'groups', NOW)
  t.equal(s.signed, 3)
  t.equal(s.token(session({ id: 'a' }), 'http://u', 'groups', NOW), a, 'a, used last, stayed')
  s.token(session({ id: 'b' }), 'http://u', 'groups', NOW)
  t.equal(s.signed, 4, 'b was dropped and is signed again')
})
