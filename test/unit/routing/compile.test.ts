import Fastify from 'fastify'
import t, { type Test } from 'tap'
import { OidcProvider } from '../../../src/auth/oidc.js'
import { parseConfig } from '../../../src/config/load.js'
import { Metrics } from '../../../src/metrics.js'
import { UpstreamPools } from '../../../src/proxy/forward.js'
import { compileRoutes } from '../../../src/routing/compile.js'

const config = parseConfig(`
listen: 127.0.0.1:8080
publicUrl: http://127.0.0.1:8080
providers:
  - { id: main, issuer: http://127.0.0.1:9000, clientId: c, clientSecret: s }
  - { id: staff, issuer: http://127.0.0.1:9001, clientId: c, clientSecret: s, groupsClaim: roles }
session: { secret: compile-test-secret-0123456789abcdef-0123456789 }
routes:
  - path: /app
    upstream: http://127.0.0.1:3001
    headers: { X-User: sub, X_Team: team }
    allow: { groups: [admins] }
  - path: /staff
    upstream: http://127.0.0.1:3001/staff
    provider: staff
    bearer: none
    allow: { groups: [ops] }
  - path: /open
    upstream: http://127.0.0.1:3002/base
    auth: public
    headers: { X-Email: email }
`, { env: {} })

function parts (t: Test): { providers: Map<string, OidcProvider>, pools: UpstreamPools, metrics: Metrics } {
  const log = Fastify({ logger: false }).log
  const providers = new Map(config.providers.map((p) => [p.id, new OidcProvider(p, 'http://127.0.0.1:8080/.gatehouse/callback', log)]))
  const pools = new UpstreamPools(config.upstream)
  t.teardown(async () => { await pools.close() })
  return { providers, pools, metrics: new Metrics({ routes: [], defaultMetrics: false }) }
}

t.test('compileRoutes: one compiled route per configured route, in order, frozen', async (t) => {
  const p = parts(t)
  const routes = compileRoutes(config.routes, p)
  t.same(routes.map((r) => r.path), config.routes.map((r) => r.path))
  for (const r of routes) {
    t.ok(Object.isFrozen(r), `${r.path} frozen`)
    t.ok(Object.isFrozen(r.plan), `${r.path} plan frozen`)
  }
  t.same(compileRoutes([], p), [], 'no routes')
})

t.test('compileRoutes: every route strips every injected header name; each injects its own', async (t) => {
  const [app, staff, open] = compileRoutes(config.routes, parts(t))
  for (const r of [app!, staff!, open!]) {
    t.ok(['x-user', 'x-team', 'x-email'].every((n) => r.plan.strip.has(n)), `${r.path} strips all`)
  }
  t.equal(app!.plan.strip, open!.plan.strip, 'one strip set shared by all routes')
  t.same(app!.plan.identity, [{ name: 'X-User', claim: 'sub' }, { name: 'X_Team', claim: 'team' }])
  t.same(open!.plan.identity, [{ name: 'X-Email', claim: 'email' }])
})

t.test('compileRoutes: Authorization is stripped unless the route is public or sends no bearer', async (t) => {
  const [app, staff, open] = compileRoutes(config.routes, parts(t))
  t.equal(app!.plan.stripAuthorization, true)
  t.equal(staff!.plan.stripAuthorization, false, 'bearer: none')
  t.equal(open!.plan.stripAuthorization, false, 'auth: public')
})

t.test('compileRoutes: provider, policy with its groups claim, pool per origin, base path', async (t) => {
  const p = parts(t)
  const [app, staff, open] = compileRoutes(config.routes, p)
  t.equal(app!.oidc, p.providers.get('main'))
  t.equal(staff!.oidc, p.providers.get('staff'))
  t.equal(app!.policy?.groupsClaim, 'groups')
  t.equal(staff!.policy?.groupsClaim, 'roles', 'the route provider\'s groupsClaim')
  t.equal(open!.policy, undefined, 'no allow: no policy')
  t.equal(app!.pool, staff!.pool, 'same origin, same pool')
  t.not(app!.pool, open!.pool, 'another origin, another pool')
  t.equal(app!.pool, p.pools.get('http://127.0.0.1:3001'))
  t.equal(app!.basePath, '')
  t.equal(staff!.basePath, '/staff')
  t.equal(open!.basePath, '/base')
})
