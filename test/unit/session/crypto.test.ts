import t from 'tap'
import { Sealer, randomAlphanumeric, randomToken, safeEqual } from '../../../src/session/crypto.js'

const A = 'a-secret-of-at-least-thirty-two-characters-1'
const B = 'b-secret-of-at-least-thirty-two-characters-2'

t.test('seal and unseal round trip, fresh IV per seal', async (t) => {
  const s = new Sealer([A])
  const one = s.seal('session:gh', 'hello')
  const two = s.seal('session:gh', 'hello')
  t.not(one, two, 'same plaintext seals differently')
  const r = s.unseal('session:gh', one)
  t.ok(r.ok)
  if (r.ok) { t.equal(r.value.toString(), 'hello'); t.equal(r.rotated, false) }
})

t.test('failures are typed, never thrown', async (t) => {
  const s = new Sealer([A])
  const sealed = s.seal('session:gh', 'payload')
  const buf = Buffer.from(sealed, 'base64url')
  const flipped = Buffer.from(buf); flipped[buf.length - 20]! ^= 1
  const cases: [string, string, string][] = [
    ['tampered ciphertext', flipped.toString('base64url'), 'tampered'],
    ['truncated', sealed.slice(0, sealed.length - 10), 'tampered'],
    ['too short', 'abc', 'malformed'],
    ['garbage', '!!!!'.repeat(20), 'malformed'],
    ['other purpose (cookie name)', sealed, 'tampered'],
    ['foreign key', new Sealer([B]).seal('session:gh', 'payload'), 'unknown-key'],
  ]
  for (const [name, value, reason] of cases) {
    const r = s.unseal(name === 'other purpose (cookie name)' ? 'session:other' : 'session:gh', value)
    t.equal(r.ok, false, name)
    if (!r.ok) t.equal(r.reason, reason, name)
  }
  const wrongVersion = Buffer.from(buf); wrongVersion[0] = 9
  const r = s.unseal('session:gh', wrongVersion.toString('base64url'))
  t.equal(r.ok ? 'ok' : r.reason, 'malformed', 'unknown format version')
})

t.test('key rotation: the first secret seals, all unseal', async (t) => {
  const old = new Sealer([A])
  const rotated = new Sealer([B, A])
  const sealedOld = old.seal('p', 'x')
  const r = rotated.unseal('p', sealedOld)
  t.ok(r.ok && r.rotated, 'old cookie opens and is flagged for re-sealing')
  const sealedNew = rotated.seal('p', 'y')
  t.equal(old.unseal('p', sealedNew).ok, false, 'new key unknown to the old config')
  const again = rotated.unseal('p', sealedNew)
  t.ok(again.ok && !again.rotated)
})

t.test('random values', async (t) => {
  const seen = new Set<string>()
  for (let i = 0; i < 200; i++) {
    const s = randomAlphanumeric(32)
    t.match(s, /^[A-Za-z0-9]{32}$/)
    seen.add(s)
  }
  t.equal(seen.size, 200)
  t.equal(randomToken(16).length, 22, '128 bits in base64url')
  t.ok(safeEqual('abc', 'abc'))
  t.notOk(safeEqual('abc', 'abd'))
  t.notOk(safeEqual('abc', 'abcd'))
})
