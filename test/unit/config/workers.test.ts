import t from 'tap'
import { usableCpus } from '../../../src/cluster/cpus.js'
import { parseConfig } from '../../../src/config/load.js'
import { ConfigError } from '../../../src/errors.js'

const base = (extra: string, store = 'cookie'): string => `
publicUrl: http://127.0.0.1:8080
${extra}
providers: [{ id: p, issuer: http://127.0.0.1:9000, clientId: c, clientSecret: s }]
session: { secret: workers-test-secret-0123456789abcdef-012345, store: ${store} }
routes: [{ path: /, upstream: http://127.0.0.1:3000 }]
`

function problems (yaml: string): readonly string[] {
  try { parseConfig(yaml, { env: {} }); return [] } catch (err) { return (err as ConfigError).problems }
}

t.test('workers: default 1, a number, or auto', async (t) => {
  t.equal(parseConfig(base(''), { env: {} }).workers, 1)
  t.equal(parseConfig(base('workers: 4'), { env: {} }).workers, 4)
  t.equal(parseConfig(base('workers: "${N}"'), { env: { N: '3' } }).workers, 3, 'from the environment')
  t.equal(parseConfig(base('workers: auto'), { env: {} }).workers, usableCpus(), 'one per CPU this process may use')
})

t.test('workers: bad values are reported with their path', async (t) => {
  t.match(problems(base('workers: 0')), [/^workers: expected a whole number from 1 to 256, got 0/])
  t.match(problems(base('workers: many')), [/^workers: expected a whole number/])
  t.match(problems(base('workers: 1.5')), [/^workers: /])
})

t.test('memory sessions cannot be shared by several workers', async (t) => {
  t.ok(problems(base('workers: 2', 'memory')).some((p) => /^workers: memory sessions live inside one process/.test(p)))
  t.notOk(problems(base('workers: 1', 'memory')).some((p) => p.startsWith('workers:')))
  t.same(problems(base('workers: 2', 'cookie')), [])
})
