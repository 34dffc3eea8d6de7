import t from 'tap'
import { mergeMetrics } from '../../../src/admin/metrics-merge.js'

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
