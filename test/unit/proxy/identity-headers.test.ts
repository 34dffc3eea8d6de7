import t from 'tap'
import { compileIdentityHeaders, identityHeaders, type HeaderPlan } from '../../../src/proxy/headers.js'

const plan = (identity: [string, string][]): HeaderPlan => Object.freeze({ strip: new Set<string>(), stripAuthorization: true, identity: compileIdentityHeaders(identity) })

t.test('identity headers of frozen claims are built once per route plan', async (t) => {
  const a = plan([['X-Forwarded-User', 'sub'], ['X-Forwarded-Groups', 'groups'], ['X-Name', 'name']])
  const b = plan([['X-User', 'sub']])
  const claims = Object.freeze({ sub: 'alice', groups: Object.freeze(['x', 'y']), name: 'Zoë' })
  const first = identityHeaders(a, claims)
  t.same(first, [['X-Forwarded-User', 'alice'], ['X-Forwarded-Groups', 'x,y'], ['X-Name', 'Zo%C3%AB']])
  t.equal(identityHeaders(a, claims), first, 'the same list again')
  t.same(identityHeaders(b, claims), [['X-User', 'alice']], 'another route, its own headers')
  t.ok(Object.isFrozen(first), 'callers cannot change the shared list')
})

t.test('claims that may still change are never served from the cache', async (t) => {
  const a = plan([['X-Forwarded-User', 'sub']])
  const claims: Record<string, unknown> = { sub: 'alice' }
  const first = identityHeaders(a, claims)
  claims.sub = 'bob'
  t.same(identityHeaders(a, claims), [['X-Forwarded-User', 'bob']])
  t.not(identityHeaders(a, claims), first)
})

t.test('headers read claims whole first, then as a dotted path', async (t) => {
  const p = plan([
    ['X-Roles', 'realm_access.roles'],
    ['X-Client-Roles', 'resource_access.app.roles'],
    ['X-Ns-Roles', 'https://example.com/roles'],
    ['X-Whole', 'a.b'],
    ['X-Missing', 'realm_access.nothing'],
    ['X-Deep-Missing', 'nothing.at.all'],
    ['X-Through-Text', 'flat.length'],
    ['X-Proto', '__proto__.polluted'],
    ['X-Ctor', 'constructor.name'],
    ['X-Level', 'org.level'],
    ['X-Active', 'org.active'],
    ['X-Org', 'org'],
  ])
  const claims = JSON.parse('{"__proto__": {"polluted": "yes"}, "realm_access": {"roles": ["admins", "staff"]}, "resource_access": {"app": {"roles": ["viewer"]}}, "https://example.com/roles": ["editor"], "a.b": "whole", "a": {"b": "nested"}, "flat": "text", "org": {"level": 3, "active": false}}') as Record<string, unknown>
  t.same(identityHeaders(p, claims), [
    ['X-Roles', 'admins,staff'],
    ['X-Client-Roles', 'viewer'],
    ['X-Ns-Roles', 'editor'],
    ['X-Whole', 'whole'],
    ['X-Level', '3'],
    ['X-Active', 'false'],
    ['X-Org', '{"level":3,"active":false}'],
  ])
})

t.test('claim values never split a header, and always percent-decode to the claim', async (t) => {
  const long = 'x'.repeat(64 * 1024)
  const longUtf8 = 'ü'.repeat(20 * 1024)
  const cases: [string, unknown, string][] = [
    ['plain ASCII stays as it is', 'alice@example.com', 'alice@example.com'],
    ['non-ASCII, UTF-8 percent-encoded', 'Zoë', 'Zo%C3%AB'],
    ['outside the BMP', 'a😀', 'a%F0%9F%98%80'],
    ['CJK', '山田', '%E5%B1%B1%E7%94%B0'],
    ['CR/LF', 'evil\r\nX-Injected: 1', 'evil%0D%0AX-Injected%3A%201'],
    ['LF alone', 'a\nb', 'a%0Ab'],
    ['CR alone', 'a\rb', 'a%0Db'],
    ['NUL', 'a\u0000b', 'a%00b'],
    ['DEL', 'a\u007fb', 'a%7Fb'],
    ['a % is encoded so a plain value is never mistaken for an encoded one', '100%', '100%25'],
    ['an ASCII escape-looking value', 'Zo%C3%AB', 'Zo%25C3%25AB'],
    ['tab stays', 'a\tb', 'a\tb'],
    ['lone surrogate becomes U+FFFD', 'a\uD800b', 'a%EF%BF%BDb'],
    ['lone low surrogate', '\uDC00', '%EF%BF%BD'],
    ['array of non-ASCII, joined then encoded', ['ä', 'b'], '%C3%A4%2Cb'],
    ['an object with CR/LF: JSON escapes them', { a: 'x\r\ny' }, '{"a":"x\\r\\ny"}'],
    ['an object with non-ASCII: JSON, then encoded', { a: 'ü' }, '%7B%22a%22%3A%22%C3%BC%22%7D'],
    ['number', 3.5, '3.5'],
    ['boolean', true, 'true'],
    ['very long ASCII, whole', long, long],
    ['very long non-ASCII, whole', longUtf8, '%C3%BC'.repeat(20 * 1024)],
  ]
  const p = plan([['X-Value', 'v']])
  for (const [name, v, want] of cases) {
    const got = identityHeaders(p, { v })
    t.same(got, [['X-Value', want]], name)
    const text = got[0]![1]
    t.notMatch(text, /[\r\n\0]/, `${name}: no CR, LF or NUL`)
    t.match(text, /^[\t\x20-\x7e]*$/, `${name}: plain header text`)
    if (typeof v === 'string' && !/[\uD800-\uDFFF]/.test(v)) t.equal(decodeURIComponent(text), v, `${name}: decodes to the claim`)
  }
})
