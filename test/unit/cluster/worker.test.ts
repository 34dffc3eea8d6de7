import t from 'tap'
import { ClusterRevocations } from '../../../src/cluster/worker.js'
import { MemoryRevocations } from '../../../src/session/revocations.js'

t.test('revocations in a worker: applied here, told to the siblings, and taken from them', async (t) => {
  const sent: unknown[] = []
  const original = process.send
  process.send = ((m: unknown) => { sent.push(m); return true }) as typeof process.send
  t.teardown(() => { process.send = original })
  const local = new MemoryRevocations()
  const shared = new ClusterRevocations(local)
  await shared.revoke('id\nsession-1', 1000, 60_000)
  t.equal(local.revokedAt(['id\nsession-1']), 1000, 'recorded in this worker')
  t.same(sent, [{ type: 'gatehouse:revoke', key: 'id\nsession-1', at: 1000, ttl: 60_000 }], 'and sent to the primary for the others')
  // What the primary relays from a sibling.
  ;(process.emit as (event: string, m: unknown) => boolean)('message', { type: 'gatehouse:revoke', key: 'sub\np\nbob', at: 2000, ttl: 60_000 })
  t.equal(await shared.revokedAt(['sub\np\nbob']), 2000, 'a sibling\'s logout applies here')
  t.equal(sent.length, 1, 'without echoing it back')
  ;(process.emit as (event: string, m: unknown) => boolean)('message', { type: 'other', key: 'x' })
  t.equal(await shared.revokedAt(['x']), undefined, 'other messages are ignored')
})
