import t from 'tap'
import { NAVIGATE, request } from '../fixtures/browser.js'
import { loginCookie } from '../fixtures/gateway.js'
import { gatewayYaml, startStack } from '../fixtures/stack.js'

const limited = (trustProxy: boolean, n: number): string => gatewayYaml().replace('publicUrl: {{PUBLIC}}', `publicUrl: {{PUBLIC}}\ntrustProxy: ${trustProxy}\nlimits:\n  loginsPerMinute: ${n}`)

t.test('limits.loginsPerMinute: per client address; the next login gets 429 + Retry-After; signed-in traffic is never limited', async (t) => {
  const clock = { now: Date.now() }
  const s = await startStack(t, { yaml: limited(true, 3), deps: { now: () => clock.now } })
  const from = (addr: string, extra: Record<string, string> = {}): Record<string, string> => ({ ...NAVIGATE, 'x-forwarded-for': addr, ...extra })

  // A real login from the socket's address (no X-Forwarded-For): one start, one callback.
  const cookie = await loginCookie(s.browser(), `${s.url}/home`)

  for (let i = 0; i < 3; i++) t.equal((await request(`${s.url}/app/${i}`, { headers: from('10.0.0.1') })).status, 302, `login ${i + 1} of 3 starts`)
  const over = await request(`${s.url}/app/4`, { headers: from('10.0.0.1') })
  t.equal(over.status, 429, 'the 4th login from that address is refused')
  t.equal(over.headers['x-gatehouse-response'], 'GH_RATE_LIMITED')
  t.match(over.headers['content-type'], /^text\/html/)
  t.match(over.text, /GH_RATE_LIMITED/)
  const retry = Number(over.headers['retry-after'])
  t.ok(Number.isInteger(retry) && retry >= 1 && retry <= 20, `Retry-After in seconds: ${retry}`)
  t.notOk(over.headers['set-cookie'], 'no login state is minted')
  t.equal((await request(`${s.url}/.gatehouse/login?rd=/x`, { headers: from('10.0.0.1') })).status, 429, '/.gatehouse/login shares the limit')
  t.equal((await request(`${s.url}/app/x`, { headers: from('10.0.0.1', { accept: 'application/json', 'sec-fetch-mode': 'cors' }) })).status, 401, 'an API 401 starts no login and is not limited')

  t.equal((await request(`${s.url}/app/x`, { headers: from('10.0.0.2') })).status, 302, 'another address is not limited')
  t.equal((await request(`${s.url}/app/x`, { headers: from('10.9.9.9, 10.0.0.3') })).status, 302, 'the address the trusted proxy added is the key')

  // Signed in, from the exhausted address.
  for (let i = 0; i < 5; i++) t.equal((await request(`${s.url}/app/s${i}`, { headers: from('10.0.0.1', { cookie }) })).status, 200, 'signed-in traffic is served')
  const relogin = await request(`${s.url}/.gatehouse/login?rd=/x`, { headers: from('10.0.0.1', { cookie }) })
  t.equal(relogin.status, 302, 'a signed-in browser may start a login')

  // Callbacks: a bucket of their own.
  for (let i = 0; i < 3; i++) t.equal((await request(`${s.url}/.gatehouse/callback?state=s${i}&code=c`, { headers: from('10.0.0.4') })).status, 400, 'a bad callback is 400')
  t.equal((await request(`${s.url}/.gatehouse/callback?state=s&code=c`, { headers: from('10.0.0.4') })).status, 429, 'the 4th callback from that address is refused')

  clock.now += retry * 1000
  t.equal((await request(`${s.url}/app/later`, { headers: from('10.0.0.1') })).status, 302, 'after Retry-After a login starts again')
  t.equal(await s.gh.gateway.metrics.get('gatehouse_logins_total{result="rate_limited"}'), 3, 'counted: two starts and one callback')
  t.equal(await s.gh.gateway.metrics.get('gatehouse_auth_decisions_total{decision="deny",reason="rate_limited"}'), 3)
})

t.test('without trustProxy X-Forwarded-For is ignored: spoofing it does not escape the limit', async (t) => {
  const s = await startStack(t, { yaml: limited(false, 2) })
  t.equal((await request(`${s.url}/a`, { headers: { ...NAVIGATE, 'x-forwarded-for': '10.1.0.1' } })).status, 302)
  t.equal((await request(`${s.url}/a`, { headers: { ...NAVIGATE, 'x-forwarded-for': '10.1.0.2' } })).status, 302)
  t.equal((await request(`${s.url}/a`, { headers: { ...NAVIGATE, 'x-forwarded-for': '10.1.0.3' } })).status, 429)
})

t.test('no limits configured: no limit', async (t) => {
  const s = await startStack(t, {})
  for (let i = 0; i < 30; i++) {
    const r = await request(`${s.url}/a`, { headers: NAVIGATE })
    if (r.status !== 302) { t.fail(`login ${i} got ${r.status}`); return }
  }
  t.pass('30 logins started')
})
