import t from 'tap'
import { identityHeaders, type HeaderPlan } from '../../src/proxy/headers.js'

const plan = (identity: [string, string][]): HeaderPlan => Object.freeze({ strip: new Set<string>(), stripAuthorization: true, identity: identity.map(([name, claim]) => ({ name, claim })) })

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
