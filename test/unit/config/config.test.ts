import t from 'tap'
import { parseConfig, interpolate } from '../../../src/config/load.js'
import { parseDuration } from '../../../src/config/duration.js'
import { ConfigError } from '../../../src/errors.js'
import { MIN } from '../../fixtures/minimal-config.js'

function problems (yaml: string, env: Record<string, string> = {}, files: Record<string, string> = {}): string[] {
  try {
    parseConfig(yaml, { env, readFile: (p) => { if (p in files) return files[p]!; throw Object.assign(new Error('nope'), { code: 'ENOENT' }) } })
    return []
  } catch (err) {
    if (err instanceof ConfigError) return [...err.problems]
    throw err
  }
}

t.test('a minimal config gets the contract defaults', async (t) => {
  const c = parseConfig(MIN, { env: {} })
  t.same(c.listen, { host: '0.0.0.0', port: 8080 })
  t.equal(c.secure, true)
  t.equal(c.providers[0]!.id, 'default')
  t.equal(c.providers[0]!.tokenEndpointAuthMethod, 'client_secret_basic')
  t.equal(c.providers[0]!.responseMode, 'query')
  t.equal(c.providers[0]!.pkce, true)
  t.same(c.providers[0]!.scopes, ['openid', 'email', 'profile'])
  const r = c.routes[0]!
  t.equal(r.path, '/')
  t.equal(r.auth, 'required')
  t.equal(r.bearer, 'access_token')
  t.equal(r.unauthenticated, 'auto')
  t.equal(r.websocket, true, 'WebSocket upgrades are tunnelled unless a route says websocket: false')
  t.same(r.headers.map(([h]) => h), ['X-Forwarded-User', 'X-Forwarded-Email', 'X-Forwarded-Groups', 'X-Forwarded-Preferred-Username'])
  t.equal(c.session.cookieName, 'gatehouse')
  t.equal(c.session.idleTimeout, 3_600_000)
  t.equal(c.session.refreshBefore, 60_000)
  t.ok(Object.isFrozen(c) && Object.isFrozen(c.routes[0]) && Object.isFrozen(c.routes[0]!.headers), 'deep-frozen')
})

t.test('every problem is reported at once, with its path', async (t) => {
  const p = problems(`
listen: nowhere
publicUrl: https://app.example.com
providers:
  - issuer: https://id.example.com/
    clientId: c
session:
  secret: short
  idleTimeout: forever
routes:
  - path: /ok
    upstream: http://127.0.0.1:3000
  - path: /x
    upstream: http://127.0.0.1:3000
  - path: /y
    upstream: "htp:/x"
    auth: sometimes
    headers:
      Cookie: sub
    provider: missing
    upstreams: typo
`)
  const want = [
    'listen: expected host:port, got "nowhere"',
    'providers[0].clientSecret: is required with tokenEndpointAuthMethod client_secret_basic',
    'session.secret: must be at least 32 characters',
    'session.idleTimeout: not a duration: "forever"',
    'routes[2].upstream: not a URL: "htp:/x"',
    'routes[2].auth: expected one of "required", "optional", "public", got "sometimes"',
    'routes[2].headers.Cookie: this header is managed by the proxy',
    'routes[2].provider: no provider with id "missing"',
    'routes[2].upstreams: unknown field',
  ]
  for (const w of want) t.ok(p.some((x) => x.startsWith(w)), w)
  t.equal(p.length, want.length, `exactly these problems:\n${p.join('\n')}`)
})

t.test('environment references and secret files', async (t) => {
  const c = parseConfig(`
listen: 127.0.0.1:\${PORT:-9090}
publicUrl: \${PUBLIC}
providers:
  - issuer: https://id.example.com/
    clientId: c
    clientSecretFile: /run/secrets/client
session:
  secretsFile: /run/secrets/session
routes:
  - upstream: http://127.0.0.1:3000
    allow:
      domains: ["\${DOMAIN}"]
`, { env: { PUBLIC: 'http://localhost:1', DOMAIN: 'example.com' }, readFile: (p) => ({ '/run/secrets/client': 'from-file\n', '/run/secrets/session': 'new-secret-0123456789abcdef0123456789\nold-secret-0123456789abcdef0123456789\n' } as Record<string, string>)[p]! })
  t.equal(c.listen.port, 9090)
  t.equal(c.publicUrl, 'http://localhost:1')
  t.equal(c.providers[0]!.clientSecret, 'from-file', 'trailing newline trimmed')
  t.equal(c.session.secrets.length, 2, 'secretsFile: one per line')
  t.same(c.routes[0]!.allow?.domains, ['example.com'])
  t.same(problems(MIN.replace('clientSecret: s', 'clientSecret: ${CS}')), ['providers[0].clientSecret: environment variable CS is not set'])
  t.match(problems(MIN.replace('clientSecret: s', 'clientSecretFile: /missing')), [/providers\[0\]\.clientSecretFile: cannot read "\/missing": ENOENT/])
  t.match(problems(MIN.replace('clientSecret: s', 'clientSecret: s\n    clientSecretFile: /x')), [/give either clientSecret or clientSecretFile/])
  const p: string[] = []
  t.equal(interpolate('a $${LITERAL} b', {}, 'x', p), 'a ${LITERAL} b', '$${ escapes')
  t.same(p, [])
})

t.test('more validation cases', async (t) => {
  const cases: [string, RegExp][] = [
    [MIN.replace('https://id.example.com/', 'http://id.example.com/'), /providers\[0\]\.issuer: must be https:\/\//],
    [MIN.replace('scopes', 'x') + '', /^$/],
    [MIN.replace('clientSecret: s', 'clientSecret: s\n    scopes: [email]'), /providers\[0\]\.scopes: must include "openid"/],
    [MIN.replace('clientSecret: s', 'clientSecret: s\n    authorizationParams: { state: x }'), /authorizationParams\.state: is set by Gatehouse/],
    [MIN.replace('clientSecret: s', 'clientSecret: s\n    loginUrl: https://id.example.com/login'), /loginUrl: must contain \{authorizeUrl\}/],
    [MIN.replace('https://app.example.com', 'https://app.example.com/base'), /publicUrl: must be an origin only/],
    [MIN + '    allow: { emails: [not-an-email] }\n', /allow\.emails\[0\]: not an email address/],
    [MIN + '    allow: { domains: ["@example.com"] }\n', /allow\.domains\[0\]: not a domain/],
    [MIN + '    host: "bad host"\n', /routes\[0\]\.host: not a host name/],
    [MIN + '    path: relative\n', /routes\[0\]\.path: must start with "\/"/],
    [MIN + '    path: /a/../b\n', /routes\[0\]\.path: must be a plain path prefix/],
    [MIN + '    websocket: sometimes\n', /routes\[0\]\.websocket: /],
    [MIN.replace('session:', 'session:\n  cookieName: "bad.name"'), /session\.cookieName: use only letters/],
    ['- a list', /\(top level\): expected a map/],
    ['a: [unclosed', /^yaml: /],
  ]
  for (const [yaml, re] of cases) {
    const p = problems(yaml)
    if (re.source === '^$') t.same(p, [], 'valid')
    else t.ok(p.some((x) => re.test(x)), `${re}: got ${JSON.stringify(p)}`)
  }
})

t.test('durations', async (t) => {
  const cases: [unknown, number | undefined][] = [['90s', 90_000], ['15m', 900_000], ['12h', 43_200_000], ['7d', 604_800_000], ['1h30m', 5_400_000], ['500ms', 500], [60, 60_000], ['60', 60_000], ['1.5h', undefined], ['soon', undefined], ['', undefined], [-1, undefined]]
  for (const [v, want] of cases) t.equal(parseDuration(v), want, JSON.stringify(v))
})

t.test('websocket: false on a route', async (t) => {
  const c = parseConfig(MIN + '    websocket: false\n', { env: {} })
  t.equal(c.routes[0]!.websocket, false)
  t.same(problems(MIN + '    websocket: false\n'), [])
})
