import t from 'tap'
import { request } from '../fixtures/browser.js'
import { DEFAULT_YAML, startStack } from '../fixtures/stack.js'

t.test('admin listener: health, readiness, metrics; not on the proxy port', async (t) => {
  const s = await startStack(t, { yaml: DEFAULT_YAML.replace('publicUrl: {{PUBLIC}}', 'publicUrl: {{PUBLIC}}\nadmin:\n  listen: 127.0.0.1:0') })
  await s.gh.admin!.listen({ host: '127.0.0.1', port: 0 })
  const admin = `http://127.0.0.1:${(s.gh.admin!.server.address() as { port: number }).port}`
  t.equal((await request(`${admin}/healthz`)).status, 200)
  const ready = await request(`${admin}/readyz`)
  t.equal(ready.status, 200)
  t.same(ready.json(), { status: 'ready', providers: { test: true }, store: { kind: 'cookie', ready: true } })
  await request(`${s.url}/x`, { headers: { accept: 'application/json' } })
  await s.browser().login(`${s.url}/y`)
  const m = await request(`${admin}/metrics`)
  t.equal(m.status, 200)
  t.match(m.headers['content-type'], /^text\/plain/)
  t.match(m.text, /# TYPE gatehouse_requests_total counter/)
  t.match(m.text, /gatehouse_requests_total\{outcome="unauthenticated"\} 1/)
  t.match(m.text, /gatehouse_requests_total\{outcome="proxied"\} 1/)
  t.match(m.text, /gatehouse_logins_total\{result="ok"\} 1/)
  t.match(m.text, /gatehouse_providers_ready 1/)
  const onProxy = await request(`${s.url}/metrics`, { headers: { accept: 'application/json' } })
  t.equal(onProxy.status, 401, 'the proxy port has no /metrics of its own')
})
