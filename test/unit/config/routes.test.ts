import t from 'tap'
import { parseConfig } from '../../../src/config/load.js'
import { HEAD, problems } from '../../fixtures/minimal-config.js'

const load = (routes: string): ReturnType<typeof parseConfig> => parseConfig(HEAD + routes, { env: {} })

t.test('methods, pathRegex and allowPreflight are read and normalised', async (t) => {
  const yaml = `
  - path: /items
    methods: [get, HEAD]
    upstream: http://127.0.0.1:3000
  - pathRegex: '^/api/v[0-9]+/health$'
    allowPreflight: true
    upstream: http://127.0.0.1:3001
`
  t.same(problems(HEAD + yaml), [])
  const [a, b] = load(yaml).routes
  t.same(a!.methods, ['GET', 'HEAD'], 'upper-cased')
  t.equal(a!.pathRegex, undefined)
  t.equal(a!.allowPreflight, false, 'off by default')
  t.equal(b!.pathRegex, '^/api/v[0-9]+/health$')
  t.equal(b!.methods, undefined, 'any method when absent')
  t.equal(b!.allowPreflight, true)
})

t.test('bad routes are reported with their paths', async (t) => {
  const cases: [string, string[]][] = [
    [`
  - pathRegex: '/api/(v1'
    upstream: http://127.0.0.1:3000
`, ['routes[0].pathRegex: not a valid regular expression: /^(?:/api/(v1)$/u: Unterminated group: "/api/(v1"']],
    [`
  - pathRegex: '^/(a+)+$'
    upstream: http://127.0.0.1:3000
`, ['routes[0].pathRegex: it can match the same text in exponentially many ways (catastrophic backtracking): "^/(a+)+$"']],
    [`
  - pathRegex: '/.*.*x'
    upstream: http://127.0.0.1:3000
`, ['routes[0].pathRegex: it can match the same text in polynomially many ways (slow backtracking on long paths): "/.*.*x"']],
    [`
  - pathRegex: '/(a)\\1'
    upstream: http://127.0.0.1:3000
`, ['routes[0].pathRegex: backreferences are not supported (they defeat the linear-time check): "/(a)\\\\1"']],
    [`
  - pathRegex: '/(?=a)a'
    upstream: http://127.0.0.1:3000
`, ['routes[0].pathRegex: lookahead and lookbehind are not supported (they defeat the linear-time check): "/(?=a)a"']],
    [`
  - path: /
    upstream: http://127.0.0.1:3000
  - pathRegex: '/(a+)+'
    upstream: http://127.0.0.1:3000
`, ['routes[1].pathRegex: it can match the same text in exponentially many ways (catastrophic backtracking): "/(a+)+"']],
    [`
  - path: /api
    pathRegex: '/api/.*'
    upstream: http://127.0.0.1:3000
`, ['routes[0].pathRegex: give either path or pathRegex, not both']],
    [`
  - pathRegex: '/api/.*'
    stripPrefix: true
    upstream: http://127.0.0.1:3000
`, ['routes[0].stripPrefix: has no prefix to strip on a pathRegex route']],
    [`
  - methods: [GET, "BAD METHOD", "", "GET\u0000"]
    upstream: http://127.0.0.1:3000
`, ['routes[0].methods[2]: expected a non-empty string, got ""', 'routes[0].methods[1]: not an HTTP method: "BAD METHOD"', 'routes[0].methods[2]: not an HTTP method: "GET\\u0000"']],
    [`
  - methods: []
    upstream: http://127.0.0.1:3000
`, ['routes[0].methods: must list at least one method (leave it out for any method)']],
    [`
  - methods: GET
    allowPreflight: maybe
    upstream: http://127.0.0.1:3000
`, ['routes[0].allowPreflight: expected true or false, got "maybe"']],
  ]
  for (const [yaml, want] of cases) t.same(problems(HEAD + yaml), want, yaml.trim().split('\n')[0])
})

t.test('routes on one path: a duplicate only when the first covers the later one\'s methods', async (t) => {
  t.same(problems(HEAD + `
  - path: /items
    methods: [GET]
    upstream: http://127.0.0.1:3000
  - path: /items
    methods: [POST]
    upstream: http://127.0.0.1:3001
  - path: /items
    upstream: http://127.0.0.1:3002
`), [], 'different methods, then the rest')
  t.same(problems(HEAD + `
  - path: /items
    methods: [GET, POST]
    upstream: http://127.0.0.1:3000
  - path: /items
    methods: [POST]
    upstream: http://127.0.0.1:3001
  - pathRegex: /x
    upstream: http://127.0.0.1:3001
  - pathRegex: /x
    upstream: http://127.0.0.1:3001
  - path: /x
    upstream: http://127.0.0.1:3001
`), [
    'routes[1]: same host and path as routes[0] for these methods; the first wins, so this route is never used',
    'routes[3]: same host and path as routes[2]; the first wins, so this route is never used',
  ])
})
