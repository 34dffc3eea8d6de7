import t from 'tap'
import { compilePolicy, evaluatePolicy } from '../../../src/policy/evaluate.js'

t.test('policy table', async (t) => {
  const cases: [string, Parameters<typeof compilePolicy>[0], Record<string, unknown>, boolean][] = [
    ['no policy', undefined, {}, true],
    ['email listed', { emails: ['alice@example.com'] }, { email: 'Alice@Example.com' }, true],
    ['email not listed', { emails: ['alice@example.com'] }, { email: 'bob@example.com' }, false],
    ['domain exact', { domains: ['example.com'] }, { email: 'bob@example.com' }, true],
    ['subdomain is another domain', { domains: ['example.com'] }, { email: 'bob@evil.example.com' }, false],
    ['suffix trick', { domains: ['example.com'] }, { email: 'bob@notexample.com' }, false],
    ['two @', { domains: ['example.com'] }, { email: 'bob@evil.com@example.com' }, false],
    ['no email claim', { domains: ['example.com'] }, {}, false],
    ['unverified email', { domains: ['example.com'] }, { email: 'bob@example.com', email_verified: false }, false],
    ['group', { groups: ['admins'] }, { groups: ['staff', 'admins'] }, true],
    ['group missing', { groups: ['admins'] }, { groups: ['staff'] }, false],
    ['groups claim absent', { groups: ['admins'] }, {}, false],
    ['claims any value', { claims: { role: ['editor', 'admin'] } }, { role: 'admin' }, true],
    ['claims array', { claims: { role: ['editor'] } }, { role: ['viewer', 'editor'] }, true],
    ['claims wrong', { claims: { role: ['editor'] } }, { role: 'viewer' }, false],
    ['claims number', { claims: { level: [3] } }, { level: 3 }, true],
    ['all kinds must pass', { domains: ['example.com'], groups: ['admins'] }, { email: 'a@example.com', groups: ['staff'] }, false],
    ['all kinds pass', { domains: ['example.com'], groups: ['admins'] }, { email: 'a@example.com', groups: ['admins'] }, true],
    ['object value never matches', { claims: { role: ['[object Object]'] } }, { role: {} }, false],
  ]
  for (const [name, allow, claims, want] of cases) {
    const d = evaluatePolicy(compilePolicy(allow), claims)
    t.equal(d.allow, want, name)
    if (!want) t.not(d.reason, 'ok', `${name}: has a reason`)
  }
  const custom = compilePolicy({ groups: ['ops'] }, 'roles')
  t.ok(evaluatePolicy(custom, { roles: ['ops'] }).allow, 'configurable groups claim')
})
