import t from 'tap'
import { claimAccessor, claimNameProblem } from '../../../src/policy/claim-path.js'
import { compilePolicy, evaluatePolicy } from '../../../src/policy/evaluate.js'

// Claims as a provider's JSON would carry them (parsed, so `__proto__` is an own key).
const claims = JSON.parse(JSON.stringify({
  sub: 'alice',
  'https://example.com/roles': ['editor'],
  'a.b': 'whole',
  a: { b: 'nested', c: { d: [1, 2] } },
  realm_access: { roles: ['admins', 'staff'] },
  resource_access: { app: { roles: ['viewer'] }, 'my.client': { roles: ['x'] } },
  flat: 'text',
  list: [{ x: 1 }],
  nul: null,
  level: 3,
  active: true,
  zero: 0,
  no: false,
})) as Record<string, unknown>
const poisoned = JSON.parse('{"__proto__": {"polluted": "yes", "roles": ["admins"]}, "x": {"__proto__": {"y": "z"}}, "constructor": {"name": "c"}}') as Record<string, unknown>

t.test('a claim name is read whole first, then as a dotted path', async (t) => {
  const cases: [string, Record<string, unknown>, unknown][] = [
    ['sub', claims, 'alice'],
    ['https://example.com/roles', claims, ['editor']],
    ['a.b', claims, 'whole'],
    ['a.c.d', claims, [1, 2]],
    ['a.c', claims, { d: [1, 2] }],
    ['realm_access.roles', claims, ['admins', 'staff']],
    ['resource_access.app.roles', claims, ['viewer']],
    ['missing', claims, undefined],
    ['missing.roles', claims, undefined],
    ['realm_access.missing', claims, undefined],
    ['resource_access.nope.roles', claims, undefined],
    ['flat.length', claims, undefined],
    ['list.0.x', claims, undefined],
    ['list.length', claims, undefined],
    ['nul.x', claims, undefined],
    ['level.x', claims, undefined],
    ['active.x', claims, undefined],
    ['level', claims, 3],
    ['active', claims, true],
    ['zero', claims, 0],
    ['no', claims, false],
    ['a..b', claims, undefined],
    ['.a', claims, undefined],
    ['a.', claims, undefined],
    ['toString', claims, undefined],
    ['hasOwnProperty', claims, undefined],
    ['a.b.toString', claims, undefined],
    ['__proto__', poisoned, undefined],
    ['__proto__.polluted', poisoned, undefined],
    ['__proto__.roles', poisoned, undefined],
    ['x.__proto__.y', poisoned, undefined],
    ['constructor', poisoned, undefined],
    ['constructor.name', poisoned, undefined],
    ['constructor.name', claims, undefined],
    ['prototype', { prototype: 'p' }, undefined],
  ]
  for (const [name, from, want] of cases) t.same(claimAccessor(name)(from), want, `${name} in ${from === poisoned ? 'poisoned claims' : 'claims'}`)
  // A key literally named "a..b" is found whole even though it is no path.
  t.equal(claimAccessor('a..b')({ 'a..b': 'x' }), 'x')
  t.equal(claimAccessor('.a')({ '.a': 'y' }), 'y')
  t.equal(({} as Record<string, unknown>).polluted, undefined, 'nothing leaked into Object.prototype')
})

t.test('claim names that lead into a prototype are reported at config load', async (t) => {
  const cases: [string, boolean][] = [
    ['groups', true],
    ['realm_access.roles', true],
    ['https://example.com/roles', true],
    ['', false],
    ['__proto__', false],
    ['constructor', false],
    ['prototype', false],
    ['a.__proto__', false],
    ['a.constructor.b', false],
    ['proto', true],
    ['my_constructor', true],
  ]
  for (const [name, ok] of cases) t.equal(claimNameProblem(name) === undefined, ok, JSON.stringify(name))
})

t.test('policy: groupsClaim and allow.claims take whole names and dotted paths', async (t) => {
  const cases: [string, Parameters<typeof compilePolicy>[0], string | undefined, Record<string, unknown>, boolean][] = [
    ['groups at a dotted path', { groups: ['admins'] }, 'realm_access.roles', claims, true],
    ['group not at the path', { groups: ['ops'] }, 'realm_access.roles', claims, false],
    ['client roles, three levels', { groups: ['viewer'] }, 'resource_access.app.roles', claims, true],
    ['namespaced groups claim, whole', { groups: ['editor'] }, 'https://example.com/roles', claims, true],
    ['whole name wins over the path', { claims: { 'a.b': ['whole'] } }, undefined, claims, true],
    ['the path is not read when the whole name exists', { claims: { 'a.b': ['nested'] } }, undefined, claims, false],
    ['path used without a whole claim', { claims: { 'a.b': ['nested'] } }, undefined, { a: { b: 'nested' } }, true],
    ['array at the end of a path', { claims: { 'a.c.d': [2] } }, undefined, claims, true],
    ['missing intermediate', { claims: { 'realm_access.roles': ['admins'] } }, undefined, { sub: 'x' }, false],
    ['non-object intermediate', { claims: { 'realm_access.roles': ['admins'] } }, undefined, { realm_access: 'admins' }, false],
    ['array intermediate', { claims: { 'realm_access.roles': ['admins'] } }, undefined, { realm_access: [{ roles: ['admins'] }] }, false],
    ['number at a path', { claims: { 'a.level': [3] } }, undefined, { a: { level: 3 } }, true],
    ['boolean at a path', { claims: { 'a.ok': [true] } }, undefined, { a: { ok: true } }, true],
    ['boolean written as text', { claims: { 'a.ok': ['true'] } }, undefined, { a: { ok: true } }, true],
    ['object at the end never matches', { claims: { a: ['[object Object]'] } }, undefined, claims, false],
    ['groups through __proto__ never match', { groups: ['admins'] }, '__proto__.roles', poisoned, false],
    ['non-ASCII values compare exactly', { claims: { 'org.name': ['Zoë GmbH'] } }, undefined, { org: { name: 'Zoë GmbH' } }, true],
  ]
  for (const [name, allow, groupsClaim, from, want] of cases) {
    t.equal(evaluatePolicy(compilePolicy(allow, groupsClaim), from).allow, want, name)
  }
})

t.test('claims the session does not keep are reported at config load', async (t) => {
  for (const name of ['iss', 'aud', 'exp', 'iat', 'nbf', 'nonce', 'at_hash', 'azp', 'jti', 'auth_time', 'acr', 'amr', 'sid', 'acr.values']) {
    t.match(claimNameProblem(name), /describes the token, not the user: the session does not keep it/, name)
  }
  for (const name of ['sub', 'email', 'tid', 'https://example.com/acr', 'my.acr', 'issuer']) t.equal(claimNameProblem(name), undefined, `${name} is kept`)
})
