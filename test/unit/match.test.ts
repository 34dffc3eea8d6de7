import t from 'tap'
import { buildRouteTable, matchRoute } from '../../src/routing/match.js'

interface R { index: number, path: string, host?: string, name: string }
const routes: R[] = [
  { index: 0, path: '/', name: 'root' },
  { index: 1, path: '/app', name: 'app' },
  { index: 2, path: '/app/admin', name: 'admin' },
  { index: 3, path: '/', host: 'api.example.com', name: 'api-root' },
  { index: 4, path: '/v2', host: '*.example.com', name: 'wild-v2' },
  { index: 5, path: '/app', name: 'app-duplicate' },
  { index: 6, path: '/x', host: '*.b.example.com', name: 'deeper-wild' },
]
const table = buildRouteTable(routes)

t.test('route matching table', async (t) => {
  const cases: [string, string, string | undefined][] = [
    ['h', '/', 'root'],
    ['h', '/app', 'app'],
    ['h', '/app/', 'app'],
    ['h', '/app/x/y', 'app'],
    ['h', '/apple', 'root'],
    ['h', '/app/admin/users', 'admin'],
    ['h', '/app/administrator', 'app'],
    ['api.example.com', '/app', 'api-root'],
    ['x.example.com', '/v2/items', 'wild-v2'],
    ['x.example.com', '/v3', 'root'],
    ['example.com', '/v2', 'root'],
    ['a.b.example.com', '/x', 'deeper-wild'],
    ['a.b.example.com', '/v2', 'wild-v2'],
  ]
  for (const [host, path, want] of cases) t.equal(matchRoute(table, host, path)?.name, want, `${host}${path}`)
  t.equal(matchRoute(buildRouteTable([{ index: 0, path: '/only', name: 'o' }]), 'h', '/other'), undefined, 'no match')
})

t.test('10,000 routes still match by prefix', async (t) => {
  const many: R[] = Array.from({ length: 10_000 }, (_, i) => ({ index: i, path: `/svc${i}/api`, name: `svc${i}` }))
  const big = buildRouteTable(many)
  t.equal(matchRoute(big, 'h', '/svc9999/api/x')?.name, 'svc9999')
  t.equal(matchRoute(big, 'h', '/svc9999/other'), undefined)
})
