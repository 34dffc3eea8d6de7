import t, { type Test } from 'tap'
import type { Revocations } from '../../../src/session/revocations.js'
import { MemoryRevocations, RedisRevocations, matchKey, revocationKeys } from '../../../src/session/revocations.js'
import { RedisConnection } from '../../../src/session/redis.js'
import type { Session } from '../../../src/session/session.js'
import { startRedis } from '../../fixtures/redis.js'

const quiet = { info: () => {}, warn: () => {} }
const s: Session = { v: 1, id: 'abcdefghijklmnopqrstuv', provider: 'p', iat: 1000, seen: 1000, sub: 'alice', sid: 'sid-1', claims: {} }

async function behaves (t: Test, r: Revocations): Promise<void> {
  const keys = revocationKeys(s)
  t.equal(await r.revokedAt(keys), undefined, 'nothing recorded')
  await r.revoke(matchKey({ provider: 'p', sub: 'alice' }), 5000, 60_000)
  t.equal(await r.revokedAt(keys), 5000, 'a logout by sub covers the session')
  await r.revoke(keys[0]!, 7000, 60_000)
  t.equal(await r.revokedAt(keys), 7000, 'the latest record wins')
  t.equal(await r.revokedAt(revocationKeys({ ...s, id: 'zyxwvutsrqponmlkjihgfe', sub: 'bob', sid: 'other' })), undefined, 'another user: not covered')
  t.equal(await r.once('jti-1', 60_000), true, 'first sight')
  t.equal(await r.once('jti-1', 60_000), false, 'replay')
  t.equal(await r.once('jti-2', 60_000), true)
}

t.test('memory revocations', async (t) => { await behaves(t, new MemoryRevocations()) })

t.test('redis revocations (real Redis); keys are hashed', async (t) => {
  const redis = await startRedis(t)
  const conn = new RedisConnection({ url: redis.url }, quiet)
  t.teardown(async () => conn.close())
  while (!conn.ready()) await new Promise((resolve) => setTimeout(resolve, 20))
  await behaves(t, new RedisRevocations(conn, 'pre:'))
  const keys = await conn.client.keys('*')
  t.ok(keys.length >= 4 && keys.every((k) => /^pre:[rj]:[A-Za-z0-9_-]{43}$/.test(k)), 'only hashed keys under the prefix')
  t.notOk(keys.some((k) => k.includes('alice')), 'no subject in a key name')
})
