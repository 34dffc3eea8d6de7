import t from 'tap'
import { CLIENT_ID, CLIENT_SECRET, gatewayYaml, startStack } from '../fixtures/stack.js'

// Keycloak-shaped nested role claims and an Auth0-style namespaced claim,
// issued by the real provider, read by policy and identity headers.
const JSON_API = { accept: 'application/json' }

const yaml = gatewayYaml({
  provider: `    clientSecret: ${CLIENT_SECRET}
    groupsClaim: realm_access.roles
`,
  routes: `
  - path: /admin
    upstream: {{UPSTREAM}}
    allow:
      groups: [admins]
      claims:
        resource_access.${CLIENT_ID}.roles: [editor]
        https://example.com/plan: [pro]
    headers:
      X-Forwarded-User: sub
      X-Roles: realm_access.roles
      X-Client-Roles: resource_access.${CLIENT_ID}.roles
      X-Plan: https://example.com/plan
      X-Name: name
      X-Nothing: realm_access.nothing.here
  - path: /
    upstream: {{UPSTREAM}}
`,
})

const users = {
  alice: {
    email: 'alice@example.com',
    name: 'Zoë\r\nX-Injected: 1',
    realm_access: { roles: ['admins', 'staff'] },
    resource_access: { [CLIENT_ID]: { roles: ['editor'] }, other: { roles: ['owner'] } },
    'https://example.com/plan': 'pro',
  },
  bob: {
    email: 'bob@example.com',
    name: 'Bob',
    realm_access: { roles: ['staff'] },
    resource_access: { [CLIENT_ID]: { roles: ['editor'] } },
    'https://example.com/plan': 'pro',
  },
}

t.test('groupsClaim realm_access.roles and nested claims in policy and headers', async (t) => {
  const s = await startStack(t, {
    yaml,
    idp: { users, configure: (c) => { c.claims.profile.push('realm_access', 'resource_access', 'https://example.com/plan') } },
  })

  const alice = s.browser()
  t.equal((await alice.login(`${s.url}/`, 'alice')).status, 200)
  const ui = await alice.fetch(`${s.url}/.gatehouse/userinfo`, { headers: JSON_API })
  t.same(ui.json().realm_access, { roles: ['admins', 'staff'] }, 'the session keeps the nested claim')
  const res = await alice.fetch(`${s.url}/admin/page`, { headers: JSON_API })
  t.equal(res.status, 200, 'a nested role lets the user through')
  const h = s.upstream.received.at(-1)!.headers
  t.equal(h['x-forwarded-user'], 'alice')
  t.equal(h['x-roles'], 'admins,staff', 'a header carries a nested claim')
  t.equal(h['x-client-roles'], 'editor', 'three levels deep, only this client\'s roles')
  t.equal(h['x-plan'], 'pro', 'a namespaced claim, read whole')
  t.equal(h['x-name'], 'Zo%C3%AB%0D%0AX-Injected%3A%201', 'non-ASCII and CR/LF percent-encoded')
  t.equal(decodeURIComponent(String(h['x-name'])), users.alice.name)
  t.equal(h['x-injected'], undefined, 'CR/LF never split the header')
  t.equal(h['x-nothing'], undefined, 'a missing path sends no header')

  const bob = s.browser()
  t.equal((await bob.login(`${s.url}/`, 'bob')).status, 200)
  const before = s.upstream.received.length
  const denied = await bob.fetch(`${s.url}/admin/page`, { headers: JSON_API })
  t.equal(denied.status, 403, 'not in the realm role: denied')
  t.equal(s.upstream.received.length, before, 'the upstream never saw it')
})
