import t from 'tap'
import { buildRouteTable, matchRoute } from '../../../src/routing/match.js'

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
  for (const [host, path, want] of cases) t.equal(matchRoute(table, host, path, 'GET')?.name, want, `${host}${path}`)
  t.equal(matchRoute(buildRouteTable([{ index: 0, path: '/only', name: 'o' }]), 'h', '/other', 'GET'), undefined, 'no match')
})

t.test('10,000 routes still match by prefix', async (t) => {
  const many: R[] = Array.from({ length: 10_000 }, (_, i) => ({ index: i, path: `/svc${i}/api`, name: `svc${i}` }))
  const big = buildRouteTable(many)
  t.equal(matchRoute(big, 'h', '/svc9999/api/x', 'GET')?.name, 'svc9999')
  t.equal(matchRoute(big, 'h', '/svc9999/other', 'GET'), undefined)
})

interface M { index: number, path: string, pathRegex?: string, methods?: string[], host?: string, name: string }
const at = (i: number, r: Omit<M, 'index'>): M => ({ index: i, ...r })

t.test('methods: a route matches only its methods; the next route in order takes the rest', async (t) => {
  const table = buildRouteTable<M>([
    at(0, { path: '/items', methods: ['GET', 'HEAD'], name: 'read' }),
    at(1, { path: '/items', methods: ['POST'], name: 'write' }),
    at(2, { path: '/', name: 'root' }),
    at(3, { path: '/only-delete', methods: ['DELETE'], name: 'delete' }),
    at(4, { path: '/items/x', methods: ['PUT'], name: 'put-x' }),
  ])
  const cases: [string, string, string | undefined][] = [
    ['GET', '/items', 'read'],
    ['HEAD', '/items/1', 'read'],
    ['POST', '/items', 'write'],
    ['PATCH', '/items', 'root'],
    ['get', '/items', 'root'],
    ['DELETE', '/only-delete', 'delete'],
    ['GET', '/only-delete', 'root'],
    ['PUT', '/items/x/y', 'put-x'],
    ['GET', '/items/x/y', 'read'],
    ['POST', '/items/x', 'write'],
  ]
  for (const [method, path, want] of cases) t.equal(matchRoute(table, 'h', path, method)?.name, want, `${method} ${path}`)
  const only = buildRouteTable<M>([at(0, { path: '/', methods: ['GET'], name: 'get' })])
  t.equal(matchRoute(only, 'h', '/x', 'POST'), undefined, 'no route for a method nobody lists')
})

t.test('pathRegex: anchored on the whole path, beats prefixes in its host, first in the file wins', async (t) => {
  const table = buildRouteTable<M>([
    at(0, { path: '/', name: 'root' }),
    at(1, { path: '/api', name: 'api' }),
    at(2, { path: '/', pathRegex: '^/api/v[0-9]+/health$', name: 'health' }),
    at(3, { path: '/', pathRegex: '/api/v1/.*', name: 'v1' }),
    at(4, { path: '/', pathRegex: '.*\\.json', name: 'json' }),
    at(5, { path: '/', pathRegex: '/api/v[0-9]+/items', methods: ['POST'], name: 'post-items' }),
    at(6, { path: '/api/v2/deep', name: 'deep' }),
  ])
  const cases: [string, string, string | undefined][] = [
    ['GET', '/api/v1/health', 'health'],
    ['GET', '/api/v22/health', 'health'],
    ['GET', '/api/v1/health/x', 'v1'],
    ['GET', '/api/vx/health', 'api'],
    ['GET', '/x/api/v1/health', 'root'],
    ['GET', '/api/v1/other', 'v1'],
    ['GET', '/api/v2/other', 'api'],
    ['GET', '/data.json', 'json'],
    ['GET', '/api/v1/data.json', 'v1'],
    ['GET', '/api/v2/data.json', 'json'],
    ['GET', '/api/v2/deep/a.json', 'json'],
    ['GET', '/api/v2/deep/a', 'deep'],
    ['POST', '/api/v3/items', 'post-items'],
    ['GET', '/api/v3/items', 'api'],
  ]
  for (const [method, path, want] of cases) t.equal(matchRoute(table, 'h', path, method)?.name, want, `${method} ${path}`)
})

t.test('hosts x regex: a regex is tried only within its host, hosts keep their order', async (t) => {
  const table = buildRouteTable<M>([
    at(0, { path: '/', name: 'any-root' }),
    at(1, { path: '/', pathRegex: '/status', name: 'any-status' }),
    at(2, { path: '/', host: 'a.example.com', name: 'a-root' }),
    at(3, { path: '/', host: 'a.example.com', pathRegex: '/users/[0-9]+', name: 'a-user' }),
    at(4, { path: '/', host: '*.example.com', pathRegex: '/users/[0-9]+(?:/.*)?', name: 'wild-user' }),
    at(5, { path: '/', host: 'b.example.com', pathRegex: '/only', name: 'b-only' }),
  ])
  const cases: [string, string, string | undefined][] = [
    ['a.example.com', '/users/42', 'a-user'],
    ['a.example.com', '/users/42/posts', 'a-root'],
    ['a.example.com', '/status', 'a-root'],
    ['c.example.com', '/users/42/posts', 'wild-user'],
    ['c.example.com', '/status', 'any-status'],
    ['c.example.com', '/users/x', 'any-root'],
    ['b.example.com', '/only', 'b-only'],
    ['b.example.com', '/users/1', 'wild-user'],
    ['b.example.com', '/status', 'any-status'],
    ['other.org', '/users/1', 'any-root'],
  ]
  for (const [host, path, want] of cases) t.equal(matchRoute(table, host, path, 'GET')?.name, want, `${host}${path}`)
})

t.test('order: among routes filed together the first in the file wins, whatever the insertion order', async (t) => {
  const table = buildRouteTable<M>([
    at(3, { path: '/', pathRegex: '/a/.*', name: 'late-regex' }),
    at(1, { path: '/', pathRegex: '/a/b', name: 'early-regex' }),
    at(2, { path: '/a', name: 'late-prefix' }),
    at(0, { path: '/a', name: 'early-prefix' }),
  ])
  t.equal(matchRoute(table, 'h', '/a/b', 'GET')?.name, 'early-regex')
  t.equal(matchRoute(table, 'h', '/a/c', 'GET')?.name, 'late-regex')
  t.equal(matchRoute(table, 'h', '/a', 'GET')?.name, 'early-prefix')
})

t.test('an unsafe pattern is refused when the table is built', async (t) => {
  t.throws(() => buildRouteTable<M>([at(0, { path: '/', pathRegex: '(a+)+', name: 'x' })]), /exponentially/)
})

t.test('10,000 routes with regexes and hosts still match', async (t) => {
  const many: M[] = []
  for (let i = 0; i < 10_000; i++) {
    const host = `h${i % 100}.example.com`
    many.push(i % 2 === 0
      ? at(i, { path: `/svc${i}/api`, host, name: `p${i}` })
      : at(i, { path: '/', pathRegex: `/svc${i}/v[0-9]+/items/[0-9]+`, host, methods: ['GET'], name: `r${i}` }))
  }
  const big = buildRouteTable(many)
  t.equal(matchRoute(big, 'h98.example.com', '/svc9998/api/x', 'GET')?.name, 'p9998')
  t.equal(matchRoute(big, 'h99.example.com', '/svc9999/v2/items/7', 'GET')?.name, 'r9999')
  t.equal(matchRoute(big, 'h99.example.com', '/svc9999/v2/items/7', 'POST'), undefined)
  t.equal(matchRoute(big, 'h98.example.com', '/svc9999/v2/items/7', 'GET'), undefined, 'another host does not see it')
})
