import t from 'tap'
import { Sealer } from '../../../src/session/crypto.js'
import { SessionParseCache } from '../../../src/session/parse-cache.js'
import { SessionManager } from '../../../src/session/manager.js'
import { CookieStore } from '../../../src/session/store.js'
import type { SessionConfig } from '../../../src/config/types.js'
import type { Session } from '../../../src/session/session.js'

const SECRET = 'parse-cache-test-secret-0123456789abcdef-0123'
const PURPOSE = 'session:gatehouse'

/** A Sealer that counts how often it really decrypts. */
class CountingSealer extends Sealer {
  unseals = 0
  override unseal (purpose: string, sealed: string): ReturnType<Sealer['unseal']> {
    this.unseals++
    return super.unseal(purpose, sealed)
  }
}

const ticket = { v: 1, id: 'abc', claims: { sub: 'alice', groups: ['a', 'b'] } }

/** Flips one character of `v` at `i` to another base64url character. */
function flip (v: string, i: number): string {
  return v.slice(0, i) + (v[i] === 'A' ? 'B' : 'A') + v.slice(i + 1)
}

t.test('the same sealed value is decrypted once, and gives the same ticket', async (t) => {
  const sealer = new CountingSealer([SECRET])
  const cache = new SessionParseCache(sealer, PURPOSE)
  const sealed = sealer.seal(PURPOSE, JSON.stringify(ticket))
  const a = cache.open(sealed)
  const b = cache.open(sealed)
  const c = cache.open(sealed.slice(0, 10) + sealed.slice(10)) // equal content, another string object
  t.same(a, { ok: true, ticket, rotated: false })
  t.same(b, a)
  t.same(c, a)
  t.equal(sealer.unseals, 1, 'one decrypt for three reads')
  t.equal(cache.size, 1)
})

t.test('a tampered copy of a cached value is refused, not served from the cache', async (t) => {
  const sealer = new CountingSealer([SECRET])
  const cache = new SessionParseCache(sealer, PURPOSE)
  const sealed = sealer.seal(PURPOSE, JSON.stringify(ticket))
  t.equal(cache.open(sealed).ok, true)
  // Same GCM tag (the cache key), different ciphertext: must go through the full unseal.
  const tampered = flip(sealed, Math.floor(sealed.length / 2))
  t.equal(tampered.slice(-22), sealed.slice(-22), 'the tampered value shares the key')
  t.same(cache.open(tampered), { ok: false, reason: 'tampered' })
  t.same(cache.open(flip(sealed, sealed.length - 3)), { ok: false, reason: 'tampered' }, 'a changed tag too')
  t.equal(cache.open(sealed).ok, true, 'the genuine value still opens')
  t.equal(cache.size, 1, 'nothing unauthenticated was stored')
})

t.test('failures are never cached', async (t) => {
  const sealer = new CountingSealer([SECRET])
  const cache = new SessionParseCache(sealer, PURPOSE)
  const notJson = sealer.seal(PURPOSE, '{not json')
  t.same(cache.open(notJson), { ok: false, reason: 'malformed' })
  t.same(cache.open(notJson), { ok: false, reason: 'malformed' })
  t.equal(sealer.unseals, 2)
  const otherPurpose = sealer.seal('login:x', JSON.stringify(ticket))
  t.same(cache.open(otherPurpose), { ok: false, reason: 'tampered' }, 'a value sealed for another cookie')
  t.same(new SessionParseCache(new Sealer(['another-secret-0123456789abcdef-0123456789']), PURPOSE).open(sealer.seal(PURPOSE, '{}')), { ok: false, reason: 'unknown-key' })
  t.equal(cache.size, 0)
})

t.test('a caller changing what it got does not change the cached ticket', async (t) => {
  const sealer = new Sealer([SECRET])
  const cache = new SessionParseCache(sealer, PURPOSE)
  const sealed = sealer.seal(PURPOSE, JSON.stringify(ticket))
  const first = cache.open(sealed)
  if (!first.ok) throw new Error('should open')
  const s = first.ticket as { id: string, claims: { sub: string, groups: string[] } }
  s.id = 'changed'
  t.throws(() => { s.claims.sub = 'mallory' }, TypeError, 'nested values are frozen')
  t.throws(() => { s.claims.groups.push('admins') }, TypeError)
  const again = cache.open(sealed)
  t.same(again, { ok: true, ticket, rotated: false })
})

t.test('bounded by entries and by size', async (t) => {
  const sealer = new Sealer([SECRET])
  const byCount = new SessionParseCache(sealer, PURPOSE, { maxEntries: 3 })
  for (let i = 0; i < 10; i++) t.equal(byCount.open(sealer.seal(PURPOSE, JSON.stringify({ i }))).ok, true)
  t.equal(byCount.size, 3)
  const bySize = new SessionParseCache(sealer, PURPOSE, { maxBytes: 1000 })
  for (let i = 0; i < 10; i++) bySize.open(sealer.seal(PURPOSE, JSON.stringify({ i, pad: 'x'.repeat(100) })))
  t.ok(bySize.size >= 1 && bySize.size <= 3, `about 1000 bytes kept (${bySize.size} entries)`)
})

t.test('a value sealed with an older secret still says so when cached', async (t) => {
  const old = new Sealer(['old-secret-0123456789abcdef-0123456789abcdef'])
  const rotated = new Sealer(['new-secret-0123456789abcdef-0123456789abcdef', 'old-secret-0123456789abcdef-0123456789abcdef'])
  const cache = new SessionParseCache(rotated, PURPOSE)
  const sealed = old.seal(PURPOSE, JSON.stringify(ticket))
  t.same(cache.open(sealed), { ok: true, ticket, rotated: true })
  t.same(cache.open(sealed), { ok: true, ticket, rotated: true })
})

const CFG: SessionConfig = {
  secrets: [SECRET], cookieName: 'gatehouse', store: 'cookie', memory: { maxSessions: 10 },
  idleTimeout: 3_600_000, absoluteTimeout: 12 * 3_600_000, refreshBefore: 60_000, clockSkew: 30_000,
}

async function cookieFor (sm: SessionManager, session: Session, now: number): Promise<Map<string, string>> {
  const set = await sm.write(session, undefined, now)
  return new Map(set.map((c) => { const kv = c.split(';')[0]!; const e = kv.indexOf('='); return [kv.slice(0, e), kv.slice(e + 1)] }))
}

t.test('SessionManager: timeouts and revocation still apply to a cached cookie', async (t) => {
  const sm = new SessionManager(CFG, false, new CookieStore(), (n, v) => `${n}=${v}`)
  const now = 1_700_000_000_000
  const session: Session = { v: 1, id: 'sid-1', provider: 'p', iat: now, seen: now, sub: 'alice', claims: { sub: 'alice' }, accessToken: 'at' }
  const ours = await cookieFor(sm, session, now)
  const first = await sm.read(ours, now + 1000)
  t.equal(first.outcome, 'ok')
  first.session!.seen = now + 1000
  const second = await sm.read(ours, now + 2000)
  t.equal(second.session?.seen, now, 'what the cookie says, not what a caller set')
  t.not(second.session, first.session, 'each read gets its own object')
  t.equal((await sm.read(ours, now + CFG.idleTimeout + 1)).outcome, 'idle', 'idle timeout from the cookie')
  t.equal((await sm.read(ours, now + CFG.absoluteTimeout)).outcome, 'expired')
  await sm.end(second.session!, now + 2500)
  t.equal((await sm.read(ours, now + 3000)).outcome, 'revoked', 'logout ends the cached cookie too')
})
