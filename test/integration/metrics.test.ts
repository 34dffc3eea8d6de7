import t from 'tap'
import { request } from '../fixtures/browser.js'
import { api, loginCookie, startSessionStack } from '../fixtures/gateway.js'

/** Prometheus text -> series -> value (comments and blank lines skipped). */
function parse (text: string): Map<string, number> {
  const out = new Map<string, number>()
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue
    const space = line.lastIndexOf(' ')
    out.set(line.slice(0, space), Number(line.slice(space + 1)))
  }
  return out
}

const ROUTES = `
  - path: /admin
    name: admin-area
    upstream: {{UPSTREAM}}
    allow:
      groups: [admins]
  - path: /down
    name: down
    upstream: http://127.0.0.1:1
  - path: /public
    upstream: {{UPSTREAM}}
    auth: public
  - path: /
    name: app
    upstream: {{UPSTREAM}}
`

t.test('/metrics: every series exists at zero from start-up, then counts real traffic', async (t) => {
  const s = await startSessionStack(t, 'cookie', { routes: ROUTES, session: '  idleTimeout: 3h\n' })
  await s.gh.admin!.listen({ host: '127.0.0.1', port: 0 })
  const admin = `http://127.0.0.1:${(s.gh.admin!.server.address() as { port: number }).port}`
  const scrape = async (): Promise<{ text: string, m: Map<string, number> }> => {
    const r = await request(`${admin}/metrics`)
    t.equal(r.status, 200)
    return { text: r.text, m: parse(r.text) }
  }

  const start = await scrape()
  const zero = [
    'gatehouse_http_requests_total{route="app",code="200"}',
    'gatehouse_http_requests_total{route="app",code="401"}',
    'gatehouse_http_requests_total{route="admin-area",code="403"}',
    'gatehouse_http_requests_total{route="down",code="502"}',
    'gatehouse_http_requests_total{route="2",code="200"}',
    'gatehouse_http_requests_total{route="gatehouse:callback",code="303"}',
    'gatehouse_http_requests_total{route="none",code="404"}',
    'gatehouse_http_request_duration_seconds_count{route="app"}',
    'gatehouse_http_request_duration_seconds_bucket{route="app",le="0.005"}',
    'gatehouse_upstream_request_duration_seconds_count{route="down"}',
    'gatehouse_upstream_request_duration_seconds_bucket{route="app",le="+Inf"}',
    'gatehouse_auth_decisions_total{decision="allow",reason="public"}',
    'gatehouse_auth_decisions_total{decision="allow",reason="session"}',
    'gatehouse_auth_decisions_total{decision="allow",reason="anonymous"}',
    'gatehouse_auth_decisions_total{decision="deny",reason="unauthenticated"}',
    'gatehouse_auth_decisions_total{decision="deny",reason="policy"}',
    'gatehouse_auth_decisions_total{decision="deny",reason="rate_limited"}',
    'gatehouse_auth_decisions_total{decision="login",reason="redirect"}',
    'gatehouse_auth_decisions_total{decision="login",reason="renew"}',
    'gatehouse_logins_total{result="ok"}',
    'gatehouse_logins_total{result="failed"}',
    'gatehouse_logins_total{result="rate_limited"}',
    'gatehouse_refreshes_total{result="refreshed"}',
    'gatehouse_refreshes_total{result="ended"}',
    'gatehouse_refreshes_total{result="unavailable"}',
    'gatehouse_upstream_errors_total{kind="unreachable"}',
    'gatehouse_requests_total{outcome="proxied"}',
  ]
  for (const series of zero) t.equal(start.m.get(series), 0, `at start: ${series} 0`)
  t.match(start.text, /# TYPE gatehouse_http_request_duration_seconds histogram/)
  t.match(start.text, /# TYPE gatehouse_upstream_request_duration_seconds histogram/)
  t.match(start.text, /# TYPE gatehouse_http_requests_total counter/)
  t.ok((start.m.get('process_cpu_user_seconds_total') ?? 0) > 0, 'process_* metrics')
  t.ok(start.m.has('nodejs_eventloop_lag_seconds'), 'nodejs_* metrics')
  t.ok(start.m.has('nodejs_heap_size_used_bytes'), 'nodejs heap')
  t.notOk([...start.m.keys()].some((k) => k.includes('route="/')), 'no raw path is ever a route label')

  t.equal((await api(`${s.url}/x`, '')).status, 401)
  const cookie = await loginCookie(s.browser(), `${s.url}/`, 'bob')
  for (let i = 0; i < 3; i++) t.equal((await api(`${s.url}/y${i}`, cookie)).status, 200)
  t.equal((await api(`${s.url}/admin/x`, cookie)).status, 403, 'bob is not an admin')
  t.equal((await api(`${s.url}/down/x`, cookie)).status, 502, 'unreachable upstream')
  for (let i = 0; i < 2; i++) t.equal((await api(`${s.url}/public/p${i}`, '')).status, 200)
  s.clock.advance(3600_000 + 60_000)
  t.equal((await api(`${s.url}/z`, cookie)).status, 200, 'served after a refresh')

  const after = (await scrape()).m
  const expect: Record<string, number> = {
    'gatehouse_http_requests_total{route="app",code="401"}': 1,
    'gatehouse_http_requests_total{route="app",code="302"}': 1,
    'gatehouse_http_requests_total{route="app",code="200"}': 5,
    'gatehouse_http_requests_total{route="admin-area",code="403"}': 1,
    'gatehouse_http_requests_total{route="down",code="502"}': 1,
    'gatehouse_http_requests_total{route="2",code="200"}': 2,
    'gatehouse_http_requests_total{route="gatehouse:callback",code="303"}': 1,
    'gatehouse_http_request_duration_seconds_count{route="app"}': 7,
    'gatehouse_http_request_duration_seconds_bucket{route="app",le="+Inf"}': 7,
    'gatehouse_upstream_request_duration_seconds_count{route="app"}': 5,
    'gatehouse_upstream_request_duration_seconds_count{route="2"}': 2,
    'gatehouse_upstream_request_duration_seconds_count{route="down"}': 0,
    'gatehouse_upstream_request_duration_seconds_count{route="admin-area"}': 0,
    'gatehouse_auth_decisions_total{decision="deny",reason="unauthenticated"}': 1,
    'gatehouse_auth_decisions_total{decision="login",reason="redirect"}': 1,
    'gatehouse_auth_decisions_total{decision="allow",reason="session"}': 6,
    'gatehouse_auth_decisions_total{decision="deny",reason="policy"}': 1,
    'gatehouse_auth_decisions_total{decision="allow",reason="public"}': 2,
    'gatehouse_logins_total{result="ok"}': 1,
    'gatehouse_logins_total{result="failed"}': 0,
    'gatehouse_refreshes_total{result="refreshed"}': 1,
    'gatehouse_upstream_errors_total{kind="unreachable"}': 1,
    'gatehouse_requests_total{outcome="proxied"}': 6,
    'gatehouse_requests_total{outcome="proxied_anonymous"}': 2,
  }
  for (const [series, v] of Object.entries(expect)) t.equal(after.get(series), v, `${series} ${v}`)
  t.ok((after.get('gatehouse_http_request_duration_seconds_sum{route="app"}') ?? 0) > 0, 'durations are summed')
  t.ok((after.get('gatehouse_upstream_request_duration_seconds_sum{route="app"}') ?? 0) > 0, 'upstream durations are summed')
  // Buckets are cumulative: never decreasing, ending at the count.
  const buckets = [...after].filter(([k]) => k.startsWith('gatehouse_http_request_duration_seconds_bucket{route="app",')).map(([, v]) => v)
  t.ok(buckets.length > 10 && buckets.every((v, i) => i === 0 || v >= buckets[i - 1]!), 'cumulative buckets')
  t.equal(buckets.at(-1), 7)
})
