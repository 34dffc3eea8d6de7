import { execFileSync } from 'node:child_process'
import { generateKeyPairSync } from 'node:crypto'
import { readFileSync } from 'node:fs'
import t from 'tap'
import { parseAllDocuments } from 'yaml'
import { parseConfig } from '../../../src/config/load.js'
import { weakSecretReason } from '../../../src/config/secret-strength.js'
import { ConfigError } from '../../../src/errors.js'

// What `gatehouse check` must refuse, each case with its fix: the broken file
// gets exactly these problems, the fixed one none.

const SECRET = 'check-test-session-secret-0123456789abcdef'
const HINT = 'generate one with: openssl rand -base64 48'

interface Parts { top?: string, provider?: string, session?: string, routes?: string }
function yaml (p: Parts = {}): string {
  return `publicUrl: https://app.example.com
${p.top ?? ''}
providers:
  - issuer: https://id.example.com/
    clientId: c
${p.provider ?? '    clientSecret: provider-issued-secret'}
session:
${p.session ?? `  secret: ${SECRET}`}
routes:
${p.routes ?? '  - upstream: http://127.0.0.1:3000'}
`
}

function problems (text: string, env: Record<string, string> = {}, files: Record<string, string> = {}): string[] {
  const readFile = (p: string): string => {
    if (p in files) return files[p]!
    throw Object.assign(new Error(`ENOENT: no such file or directory, open '${p}'`), { code: 'ENOENT' })
  }
  try {
    parseConfig(text, { env, readFile })
    return []
  } catch (err) {
    if (err instanceof ConfigError) return [...err.problems]
    throw err
  }
}

const PARTNER = '    clientSecret: provider-issued-secret\n  - id: partner\n    issuer: https://partner.example.net/\n    clientId: p\n    clientSecret: partner-issued-secret'
const pem = (type: 'rsa' | 'ec', curve?: string): string => (type === 'rsa' ? generateKeyPairSync('rsa', { modulusLength: 2048 }) : generateKeyPairSync('ec', { namedCurve: curve! })).privateKey.export({ format: 'pem', type: 'pkcs8' }).toString()

interface Case { name: string, broken: Parts, fixed: Parts, want: string[], env?: Record<string, string>, files?: Record<string, string> }

const cases: Case[] = [
  {
    name: 'the same route twice',
    broken: { routes: '  - path: /\n    upstream: http://127.0.0.1:3000\n  - path: /\n    upstream: http://127.0.0.1:4000' },
    fixed: { routes: '  - path: /\n    upstream: http://127.0.0.1:3000\n  - path: /api\n    upstream: http://127.0.0.1:4000' },
    want: ['routes[1]: same host and path as routes[0]; the first wins, so this route is never used'],
  },
  {
    name: '/app and /app/ on the same host',
    broken: { routes: '  - path: /\n    upstream: http://127.0.0.1:3000\n  - path: /app\n    host: App.example.com\n    upstream: http://127.0.0.1:3000\n  - path: /x\n    upstream: http://127.0.0.1:3000\n  - path: /app/\n    host: app.example.com\n    upstream: http://127.0.0.1:4000' },
    fixed: { routes: '  - path: /\n    upstream: http://127.0.0.1:3000\n  - path: /app\n    host: app.example.com\n    upstream: http://127.0.0.1:3000\n  - path: /x\n    upstream: http://127.0.0.1:3000\n  - path: /app/\n    host: other.example.com\n    upstream: http://127.0.0.1:4000' },
    want: ['routes[3]: same host and path as routes[1]; the first wins, so this route is never used'],
  },
  {
    name: 'the placeholder secret of deploy/sidecar.yaml',
    broken: { session: '  secret: change-me-to-a-random-value-of-32-characters-or-more' },
    fixed: {},
    want: [`session.secret: is a placeholder, not a secret; ${HINT}`],
  },
  {
    name: '32 times "a"',
    broken: { session: `  secret: ${'a'.repeat(32)}` },
    fixed: {},
    want: [`session.secret: is one character repeated; ${HINT}`],
  },
  {
    name: 'a weak old secret in secrets',
    broken: { session: `  secrets: [${SECRET}, abcabcabcabcabcabcabcabcabcabcabc, aaaaaaaaaaaaaaaabbbbbbbbbbbbbbbbcccc]` },
    fixed: { session: `  secrets: [${SECRET}, old-${SECRET}]` },
    want: [
      `session.secrets[1]: is a 3-character sequence repeated; ${HINT}`,
      `session.secrets[2]: is too predictable (3 distinct characters, 1.4 bits of entropy per character, where random hex has about 3.6); ${HINT}`,
    ],
  },
  {
    name: 'a placeholder secret from the environment',
    broken: { session: '  secret: ${SESSION_SECRET}' },
    fixed: { session: '  secret: ${GOOD_SECRET}' },
    env: { SESSION_SECRET: 'REPLACE_ME_REPLACE_ME_REPLACE_ME_0123', GOOD_SECRET: SECRET },
    want: [`session.secret: is a placeholder, not a secret; ${HINT}`],
  },
  {
    name: 'a placeholder client secret',
    broken: { provider: '    clientSecret: change-me' },
    fixed: {},
    want: ['providers[0].clientSecret: is a placeholder; use the secret the provider issued for this client'],
  },
  {
    name: 'admin.listen equal to listen',
    broken: { top: 'listen: 0.0.0.0:8080\nadmin:\n  listen: 0.0.0.0:8080' },
    fixed: { top: 'listen: 0.0.0.0:8080\nadmin:\n  listen: 0.0.0.0:9901' },
    want: ['admin.listen: 0.0.0.0:8080 overlaps listen 0.0.0.0:8080 (both on port 8080; the second listener would fail with EADDRINUSE); give the admin endpoints a port of their own, e.g. 0.0.0.0:9901'],
  },
  {
    name: 'admin.listen on loopback, listen on every address, same port',
    broken: { top: 'listen: :9901\nadmin:\n  listen: 127.0.0.1:9901' },
    fixed: { top: 'listen: 127.0.0.1:9901\nadmin:\n  listen: 10.0.0.1:9901' },
    want: ['admin.listen: 127.0.0.1:9901 overlaps listen 0.0.0.0:9901 (both on port 9901; the second listener would fail with EADDRINUSE); give the admin endpoints a port of their own, e.g. 127.0.0.1:9902'],
  },
  {
    name: 'localhost and 127.0.0.1 are the same host; port 0 is never a clash',
    broken: { top: 'listen: localhost:8080\nadmin:\n  listen: 127.0.0.1:8080' },
    fixed: { top: 'listen: 127.0.0.1:0\nadmin:\n  listen: 127.0.0.1:0' },
    want: ['admin.listen: 127.0.0.1:8080 overlaps listen localhost:8080 (both on port 8080; the second listener would fail with EADDRINUSE); give the admin endpoints a port of their own, e.g. 127.0.0.1:9901'],
  },
  {
    name: 'cookieDomain that is not a domain',
    broken: { session: `  secret: ${SECRET}\n  cookieDomain: "not a domain!!"` },
    fixed: { session: `  secret: ${SECRET}\n  cookieDomain: example.com` },
    want: ['session.cookieDomain: not a domain: "not a domain!!" (write a domain name such as example.com, without scheme, port, path or wildcard; it covers every subdomain)'],
  },
  {
    name: 'cookieDomain with a scheme, a wildcard, an IP address',
    broken: { session: `  secret: ${SECRET}\n  cookieDomain: https://example.com` },
    fixed: { session: `  secret: ${SECRET}\n  cookieDomain: .Example.com` },
    want: ['session.cookieDomain: not a domain: "https://example.com" (write a domain name such as example.com, without scheme, port, path or wildcard; it covers every subdomain)'],
  },
  {
    name: 'cookieDomain that does not cover publicUrl',
    broken: { session: `  secret: ${SECRET}\n  cookieDomain: example.org` },
    fixed: { session: `  secret: ${SECRET}\n  cookieDomain: app.example.com` },
    want: ['session.cookieDomain: "example.org" does not cover the publicUrl host app.example.com: browsers would refuse the session cookie'],
  },
  {
    name: 'refreshBefore longer than absoluteTimeout',
    broken: { session: `  secret: ${SECRET}\n  absoluteTimeout: 12h\n  refreshBefore: 24h` },
    fixed: { session: `  secret: ${SECRET}\n  absoluteTimeout: 12h\n  refreshBefore: 5m` },
    want: ['session.refreshBefore: must be shorter than absoluteTimeout (1d >= 12h): every token would count as expiring and be refreshed on every request (the default is 60s)'],
  },
  {
    name: 'trustProxy and loginRedirect are reported with every other problem',
    broken: { top: 'trustProxy: maybe\nloginRedirect: somewhere\nlisten: nowhere', session: '  secret: short' },
    fixed: { top: 'trustProxy: true\nloginRedirect: gateway\nlisten: 127.0.0.1:8080' },
    want: [
      'listen: expected host:port, got "nowhere"',
      'trustProxy: expected true or false, got "maybe"',
      'loginRedirect: expected one of "provider", "gateway", got "somewhere"',
      `session.secret: must be at least 32 characters (got 5); ${HINT}`,
    ],
  },
  {
    name: 'a missing secret file is reported once, with the file and the errno',
    broken: { provider: '    clientSecretFile: /run/secrets/client', session: '  secretFile: /run/secrets/session' },
    fixed: { provider: '    clientSecretFile: /run/secrets/there', session: '  secretFile: /run/secrets/session-there' },
    files: { '/run/secrets/there': 'provider-issued-secret\n', '/run/secrets/session-there': `${SECRET}\n` },
    want: [
      'providers[0].clientSecretFile: cannot read "/run/secrets/client": ENOENT (no such file or directory)',
      'session.secretFile: cannot read "/run/secrets/session": ENOENT (no such file or directory)',
    ],
  },
  {
    name: 'a missing secretsFile, an empty clientSecretFile',
    broken: { provider: '    clientSecretFile: /run/secrets/empty', session: '  secretsFile: /run/secrets/nope' },
    fixed: { provider: '    clientSecretFile: /run/secrets/there', session: '  secretsFile: /run/secrets/list' },
    files: { '/run/secrets/empty': '\n', '/run/secrets/there': 'provider-issued-secret', '/run/secrets/list': `${SECRET}\nold-${SECRET}\n` },
    want: [
      'providers[0].clientSecretFile: "/run/secrets/empty" is empty (expected the clientSecret)',
      'session.secretsFile: cannot read "/run/secrets/nope": ENOENT (no such file or directory)',
    ],
  },
  {
    name: 'claim names that lead into an object prototype',
    broken: {
      provider: '    clientSecret: provider-issued-secret\n    groupsClaim: realm_access.__proto__',
      routes: '  - upstream: http://127.0.0.1:3000\n    allow:\n      claims: { constructor.name: [x] }\n    headers:\n      X-Roles: __proto__',
    },
    fixed: {
      provider: '    clientSecret: provider-issued-secret\n    groupsClaim: realm_access.roles',
      routes: '  - upstream: http://127.0.0.1:3000\n    allow:\n      claims: { https://example.com/plan: [pro], resource_access.app.roles: [x] }\n    headers:\n      X-Roles: resource_access.app.roles',
    },
    want: [
      'providers[0].groupsClaim: "realm_access.__proto__" names an object prototype key (__proto__, constructor, prototype), never a claim',
      'routes[0].allow.claims.constructor.name: "constructor.name" names an object prototype key (__proto__, constructor, prototype), never a claim',
      'routes[0].headers.X-Roles: "__proto__" names an object prototype key (__proto__, constructor, prototype), never a claim',
    ],
  },
  {
    name: 'claims the session does not keep',
    broken: { routes: '  - upstream: http://127.0.0.1:3000\n    allow:\n      claims: { acr: [mfa] }\n    headers:\n      X-Session: sid' },
    fixed: { routes: '  - upstream: http://127.0.0.1:3000\n    allow:\n      claims: { https://example.com/mfa: [true] }\n    headers:\n      X-Session: sub' },
    want: [
      'routes[0].allow.claims.acr: "acr" describes the token, not the user: the session does not keep it, so "acr" would never be found',
      'routes[0].headers.X-Session: "sid" describes the token, not the user: the session does not keep it, so "sid" would never be found',
    ],
  },
  {
    name: 'Entra ID multi-tenant: an explicit list of tenants, never any tenant',
    broken: { provider: '    clientSecret: provider-issued-secret\n  - id: any\n    issuer: https://login.microsoftonline.com/organizations/v2.0\n    clientId: a\n    clientSecret: provider-issued-secret\n  - id: listed\n    issuer: https://login.microsoftonline.com/common/v2.0\n    clientId: b\n    clientSecret: provider-issued-secret\n    tenants: [not-a-guid, 11111111-2222-4333-8444-55555555555]\n  - id: one\n    issuer: https://login.microsoftonline.com/11111111-2222-4333-8444-555555555555/v2.0\n    clientId: c\n    clientSecret: provider-issued-secret\n    tenants: [11111111-2222-4333-8444-555555555555]\n  - id: empty\n    issuer: https://login.microsoftonline.com/organizations/v2.0\n    clientId: d\n    clientSecret: provider-issued-secret\n    tenants: []' },
    fixed: { provider: '    clientSecret: provider-issued-secret\n  - id: any\n    issuer: https://login.microsoftonline.com/organizations/v2.0\n    clientId: a\n    clientSecret: provider-issued-secret\n    tenants: [11111111-2222-4333-8444-555555555555, AAAAAAAA-BBBB-4CCC-8DDD-EEEEEEEEEEEE]\n  - id: listed\n    issuer: https://login.microsoftonline.com/common/v2.0\n    clientId: b\n    clientSecret: provider-issued-secret\n    tenants: [11111111-2222-4333-8444-555555555555]\n  - id: one\n    issuer: https://login.microsoftonline.com/11111111-2222-4333-8444-555555555555/v2.0\n    clientId: c\n    clientSecret: provider-issued-secret\n  - id: empty\n    issuer: https://login.microsoftonline.com/organizations/v2.0\n    clientId: d\n    clientSecret: provider-issued-secret\n    tenants: [11111111-2222-4333-8444-555555555555]' },
    want: [
      'providers[1].issuer: accepts users of every Entra ID tenant: list the tenant ids you accept in tenants, or use one tenant\'s issuer https://login.microsoftonline.com/<tenant id>/v2.0',
      'providers[2].tenants[0]: not a tenant id (a GUID, the Directory (tenant) ID): "not-a-guid"',
      'providers[2].tenants[1]: not a tenant id (a GUID, the Directory (tenant) ID): "11111111-2222-4333-8444-55555555555"',
      'providers[3].tenants: applies only with issuer https://login.microsoftonline.com/organizations/v2.0 or https://login.microsoftonline.com/common/v2.0 (one tenant\'s issuer needs no list)',
      'providers[4].tenants: must list at least one tenant id',
    ],
  },
  {
    name: 'providers on a route: known ids, each once, and provider among them',
    broken: {
      provider: PARTNER,
      routes: '  - path: /a\n    upstream: http://127.0.0.1:3000\n    providers: [default, nobody]\n  - path: /b\n    upstream: http://127.0.0.1:3000\n    provider: default\n    providers: [partner, partner]',
    },
    fixed: {
      provider: PARTNER,
      routes: '  - path: /a\n    upstream: http://127.0.0.1:3000\n    providers: [default, partner]\n  - path: /b\n    upstream: http://127.0.0.1:3000\n    provider: partner\n    providers: [partner, default]',
    },
    want: [
      'routes[0].providers[1]: no provider with id "nobody" (have: default, partner)',
      'routes[1].providers[1]: "partner" is listed twice',
      'routes[1].provider: "default" is not in the route\'s providers (partner, partner)',
    ],
  },
  {
    name: 'the assertion: a header the proxy owns, a ttl out of range, a key that cannot sign ES256',
    broken: { top: 'assertion:\n  header: Authorization\n  ttl: 5s\n  keyFile: /run/secrets/rsa.pem', routes: '  - upstream: http://127.0.0.1:3000\n    assertion: true' },
    fixed: { top: 'assertion:\n  header: X-Assertion\n  ttl: 5m\n  keyFile: /run/secrets/ec.pem', routes: '  - upstream: http://127.0.0.1:3000\n    assertion: true' },
    files: { '/run/secrets/rsa.pem': pem('rsa'), '/run/secrets/ec.pem': pem('ec', 'P-256') },
    want: [
      'assertion.header: this header is managed by the proxy and cannot carry the assertion',
      'assertion.ttl: must be from 10s to 1h, got 5s',
      'assertion.key: assertions are signed with ES256: the key must be an EC P-256 key (got a rsa key)',
    ],
  },
  {
    name: 'the assertion: a P-384 key, a ttl of a fraction of a second, and a route header named like the assertion header',
    broken: { top: 'assertion:\n  ttl: 30500ms\n  key: ${KEY}', routes: '  - upstream: http://127.0.0.1:3000\n    headers: { X-Gatehouse-Assertion: sub }' },
    fixed: { top: 'assertion:\n  ttl: 30s\n  keyFile: /run/secrets/ec.pem', routes: '  - upstream: http://127.0.0.1:3000\n    headers: { X-User: sub }' },
    env: { KEY: JSON.stringify(generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey.export({ format: 'jwk' })) },
    files: { '/run/secrets/ec.pem': pem('ec', 'P-256') },
    want: [
      'assertion.ttl: must be whole seconds (iat and exp are in seconds)',
      'assertion.key: assertions are signed with ES256: the key must be an EC P-256 key (got curve secp384r1)',
      'routes[0].headers.X-Gatehouse-Assertion: is the assertion header (assertion.header), which carries the signed assertion',
    ],
  },
]

for (const c of cases) {
  t.test(c.name, async (t) => {
    t.same(problems(yaml(c.broken), c.env, c.files), c.want, 'broken: exactly these problems')
    t.same(problems(yaml(c.fixed), c.env, c.files), [], 'fixed: valid')
  })
}

t.test('YAML syntax errors: line and column, no dangling colon', async (t) => {
  const p = problems('publicUrl: https://app.example.com\nproviders:\n  - issuer: [unclosed\nsession: {}\n')
  t.ok(p.length >= 1)
  for (const line of p) {
    t.match(line, /^yaml: line \d+, column \d+: \S/, line)
    t.notMatch(line, /:\s*$/, 'no trailing colon')
  }
  t.same(problems('a: b\n  c: d\n'), ['yaml: line 1, column 4: Nested mappings are not allowed in compact mappings', 'yaml: line 1, column 4: Implicit keys need to be on a single line'])
})

t.test('the secrets the tests and examples use are accepted; random ones too', async (t) => {
  const accepted = [
    'test-session-secret-0123456789abcdef-0123456789',
    '0123456789abcdef0123456789abcdef',
    'an-example-session-secret-0123456789abcdef',
    'demo-session-secret-not-for-production-0123456789',
    'this-old-secret-is-only-a-placeholder-0123',
    'rotated-secret-0123456789abcdef-0123456789',
    'new-secret-0123456789abcdef0123456789',
  ]
  for (let i = 0; i < 20; i++) {
    accepted.push(execFileSync('openssl', ['rand', '-hex', '16'], { encoding: 'utf8' }).trim())
    accepted.push(execFileSync('openssl', ['rand', '-base64', '48'], { encoding: 'utf8' }).trim())
  }
  for (const s of accepted) t.equal(weakSecretReason(s), undefined, s)
  for (const s of ['changeme-changeme-changeme-changeme', 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx', '12341234123412341234123412341234', 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaabcdefghij']) {
    t.not(weakSecretReason(s), undefined, `${s} refused`)
  }
})

