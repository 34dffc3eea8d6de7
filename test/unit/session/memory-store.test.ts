import t from 'tap'
import { MemoryStore } from '../../../src/session/memory-store.js'
import type { Session } from '../../../src/session/session.js'
import { randomToken } from '../../../src/session/crypto.js'

const H = 3_600_000
function session (over: Partial<Session> = {}): Session {
  return { v: 1, id: randomToken(16), provider: 'p', iat: 1_000_000, seen: 1_000_000, sub: 'alice', sid: 'sid-1', claims: {}, accessToken: 'at', ...over }
}

t.test('save and load by the sealed id; only ids that look like ours', async (t) => {
  const store = new MemoryStore({ maxSessions: 10, idleTimeout: H, absoluteTimeout: 12 * H })
  const s = session()
  t.equal(store.save(s, s.iat, true), s.id, 'the ticket is the session id')
  t.equal(store.load(s.id), s)
  t.equal(store.load('x'), null)
  t.equal(store.load({ id: s.id }), null)
  t.equal(store.load(randomToken(16)), null)
})

t.test('maxSessions: the least recently used session is dropped', async (t) => {
  const store = new MemoryStore({ maxSessions: 2, idleTimeout: H, absoluteTimeout: 12 * H })
  const [a, b, c] = [session(), session(), session()]
  store.save(a, a.iat, true)
  store.save(b, b.iat, true)
  store.load(a.id)
  store.save(c, c.iat, true)
  t.equal(store.size, 2)
  t.not(store.load(a.id), null, 'recently used: kept')
  t.equal(store.load(b.id), null, 'least recently used: dropped')
})

t.test('an update never brings back a destroyed session; a past deadline deletes', async (t) => {
  const store = new MemoryStore({ maxSessions: 10, idleTimeout: H, absoluteTimeout: 12 * H })
  const s = session()
  store.save(s, s.iat, true)
  store.destroy(s)
  store.save(s, s.iat + 1000, false)
  t.equal(store.load(s.id), null, 'not resurrected by a concurrent update')
  store.save(s, s.iat, true)
  store.save(s, s.iat + 2 * H, false)
  t.equal(store.load(s.id), null, 'saved past its idle deadline: deleted')
})

t.test('endMatching by sid, by sub, and only at the same provider', async (t) => {
  const store = new MemoryStore({ maxSessions: 10, idleTimeout: H, absoluteTimeout: 12 * H })
  const a1 = session({ sid: 's1' })
  const a2 = session({ sid: 's2' })
  const bob = session({ sub: 'bob', sid: 's3' })
  const other = session({ provider: 'q', sid: 's1' })
  for (const s of [a1, a2, bob, other]) store.save(s, s.iat, true)
  t.equal(store.endMatching({ provider: 'p', sid: 's1' }), 1, 'by sid: one session')
  t.equal(store.load(a1.id), null)
  t.not(store.load(other.id), null, 'same sid at another provider: untouched')
  t.equal(store.endMatching({ provider: 'p', sid: 's2', sub: 'bob' }), 0, 'sid with a different sub: nothing')
  t.equal(store.endMatching({ provider: 'p', sub: 'alice' }), 1, 'by sub: the rest of alice\'s sessions')
  t.equal(store.load(a2.id), null)
  t.not(store.load(bob.id), null)
  t.equal(store.endMatching({ provider: 'p', sub: 'nobody' }), 0)
})
