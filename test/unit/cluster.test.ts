import t from 'tap'
import { ClusterRevocations, mergeMetrics } from '../../src/cluster.js'
import { MemoryRevocations } from '../../src/session/revocations.js'

t.test('metrics of several workers: one HELP/TYPE per metric, a worker label on every sample', async (t) => {
  const w1 = [
    '# HELP gatehouse_requests_total Requests.',
    '# TYPE gatehouse_requests_total counter',
    'gatehouse_requests_total{outcome="proxied"} 10',
    'gatehouse_requests_total{outcome="unauthenticated"} 2',
    '# HELP gatehouse_providers_ready Providers ready.',
    '# TYPE gatehouse_providers_ready gauge',
    'gatehouse_providers_ready 1',
    '',
  ].join('\n')
  const w2 = [
    '# HELP gatehouse_requests_total Requests.',
    '# TYPE gatehouse_requests_total counter',
    'gatehouse_requests_total{outcome="proxied"} 7',
    '# HELP gatehouse_providers_ready Providers ready.',
    '# TYPE gatehouse_providers_ready gauge',
    'gatehouse_providers_ready 0',
    '',
  ].join('\n')
  const merged = mergeMetrics(new Map([['1', w1], ['2', w2]]))
  t.equal(merged, [
    '# HELP gatehouse_requests_total Requests.',
    '# TYPE gatehouse_requests_total counter',
    'gatehouse_requests_total{outcome="proxied",worker="1"} 10',
    'gatehouse_requests_total{outcome="unauthenticated",worker="1"} 2',
    'gatehouse_requests_total{outcome="proxied",worker="2"} 7',
    '# HELP gatehouse_providers_ready Providers ready.',
    '# TYPE gatehouse_providers_ready gauge',
    'gatehouse_providers_ready{worker="1"} 1',
    'gatehouse_providers_ready{worker="2"} 0',
    '',
  ].join('\n'))
  t.equal(mergeMetrics(new Map()), '', 'no workers answered: empty')
})

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
