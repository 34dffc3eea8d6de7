import t from 'tap'
import { request } from '../fixtures/browser.js'
import { api, loginCookie } from '../fixtures/gateway.js'
import { gatewayYaml, startStack } from '../fixtures/stack.js'

const ROUTES = `
  - path: /public
    name: pub
    upstream: {{UPSTREAM}}
    auth: public
  - path: /admin
    upstream: {{UPSTREAM}}
    allow:
      groups: [admins]
  - path: /
    name: app
    upstream: {{UPSTREAM}}
`

type Line = Record<string, unknown>

async function logStack (t: { teardown (fn: () => unknown): void }, log = ''): Promise<{ s: Awaited<ReturnType<typeof startStack>>, raw: string[], access: () => Line[], byId: (id: string) => Line | undefined }> {
  const raw: string[] = []
  const yaml = gatewayYaml({ routes: ROUTES }).replace('publicUrl: {{PUBLIC}}', `publicUrl: {{PUBLIC}}${log}`)
  const s = await startStack(t, { yaml, deps: { logStream: { write: (line: string) => { raw.push(line) } } } })
  const access = (): Line[] => raw.map((l) => JSON.parse(l) as Line).filter((l) => l.msg === 'request')
  return { s, raw, access, byId: (id) => access().find((l) => l.reqId === id) }
}

/** Lets the server's 'close' listeners run (the line is written when the response closes). */
const settle = async (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 20))

t.test('one access-log line per request, with the fields that answer questions', async (t) => {
  const { s, access, byId } = await logStack(t)
  const cookie = await loginCookie(s.browser(), `${s.url}/start`, 'bob')
  const sub = String(s.upstream.received.at(-1)!.headers['x-forwarded-user'])
  t.ok(sub.length > 0, 'the user has a subject')

  const r = await api(`${s.url}/app/x?q=1`, cookie, { 'x-request-id': 'client-id.42' })
  t.equal(r.status, 200)
  t.equal(r.headers['x-request-id'], 'client-id.42', 'a sane incoming id comes back')
  t.equal(s.upstream.received.at(-1)!.headers['x-request-id'], 'client-id.42', 'and goes upstream')
  await settle()
  const line = byId('client-id.42')!
  t.ok(line, 'logged under that id')
  t.match(line, {
    level: 30, method: 'GET', host: '127.0.0.1', url: '/app/x?q=1', route: 'app', status: 200,
    user: sub, decision: 'allow', reason: 'session', remoteAddress: '127.0.0.1',
  })
  t.type(line.durationMs, 'number')
  t.type(line.upstreamMs, 'number')
  t.ok((line.upstreamMs as number) <= (line.durationMs as number), 'upstream time is part of the request time')

  // Insane ids are replaced; the fast path (public route) logs too and has its own id series.
  for (const bad of ['<script>', 'x'.repeat(129), 'a b', 'id\u00e9']) {
    const p = await request(`${s.url}/public/p`, { headers: { 'x-request-id': Buffer.from(bad, 'utf8').toString('latin1') } })
    t.equal(p.status, 200)
    t.match(p.headers['x-request-id'], /^[0-9a-f]+_[0-9a-z]+$/, `replaced: ${JSON.stringify(bad.slice(0, 10))}`)
    t.equal(s.upstream.received.at(-1)!.headers['x-request-id'], p.headers['x-request-id'], 'the same id upstream')
    await settle()
    t.match(byId(String(p.headers['x-request-id'])), { route: 'pub', status: 200, decision: 'allow', reason: 'public', user: undefined })
  }

  const denied = await api(`${s.url}/admin/x`, cookie)
  t.equal(denied.status, 403)
  await settle()
  t.match(byId(String(denied.headers['x-request-id'])), { route: '1', status: 403, decision: 'deny', reason: 'policy', detail: 'not in an allowed group', user: sub })

  const anon = await api(`${s.url}/app/y`, '')
  t.equal(anon.status, 401)
  await settle()
  t.match(byId(String(anon.headers['x-request-id'])), { route: 'app', status: 401, decision: 'deny', reason: 'unauthenticated', user: undefined })

  const nf = await request(`${s.url}/.gatehouse/nothing`)
  await settle()
  t.match(byId(String(nf.headers['x-request-id'])), { route: 'gatehouse:other', status: 404 })
  const callback = access().find((l) => l.route === 'gatehouse:callback')
  t.match(callback, { status: 303, user: sub, url: /^\/\.gatehouse\/callback\?code=\[redacted\]&state=\[redacted\]/ }, 'the login callback: redacted, with the new user')
  t.ok(access().every((l) => typeof l.reqId === 'string' && typeof l.host === 'string' && typeof l.status === 'number'), 'every line has id, host and status')
})

/** [query as sent, the secret value in it]: spellings of token-like parameters. */
const SPELLINGS: readonly (readonly [string, string])[] = [
  ['api_key=S1', 'S1'],
  ['API_KEY=S2', 'S2'],
  ['Api-Key=S3', 'S3'],
  ['%61pi_key=S4', 'S4'],
  ['apikey=S5', 'S5'],
  ['api+key=S6', 'S6'],
  ['password=S7', 'S7'],
  ['PassWord=S8', 'S8'],
  ['pass%77ord=S9', 'S9'],
  ['passwd=S10', 'S10'],
  ['access_token=S11', 'S11'],
  ['x-api-key=S12', 'S12'],
  ['github_token=S13', 'S13'],
  ['client_secret=S14', 'S14'],
  ['sig=S15', 'S15'],
  ['code=S16', 'S16'],
  ['token=S17&token=S18', 'S18'],
  ['token=S19&token=S19b', 'S19'],
  ['q=1;password=S20', 'S20'],
  ['%2561pi_key=S21&key=S22', 'S22'],
  ['Authorization=S23', 'S23'],
  ['custom_thing=S24', 'S24'],
  ['CUSTOM-THING=S25', 'S25'],
]

t.test('token-like query parameters are [redacted] in every spelling; Authorization and cookies never appear', async (t) => {
  const { s, raw, byId } = await logStack(t, '\nlog:\n  redactQueryParams: [custom_thing]')
  for (const [query, secret] of SPELLINGS) {
    const value = `${secret}-VALUE-${Math.random().toString(36).slice(2)}`
    const q = query.replace(secret, value)
    const r = await request(`${s.url}/public/x?keep=visible&${q}`, { headers: { authorization: 'Bearer AUTHZ-SECRET-1', cookie: 'other=COOKIE-SECRET-2' } })
    t.equal(r.status, 200)
    await settle()
    const line = byId(String(r.headers['x-request-id']))!
    t.ok(line, `logged: ${query}`)
    t.notOk(String(line.url).includes(value), `value not in the url: ${query}`)
    t.match(line.url, /^\/public\/x\?keep=visible&.*\[redacted\]/, `redacted, the rest kept: ${query}`)
    t.notOk(raw.join('').includes(value), `value in no log line: ${query}`)
  }
  // Not token-like: kept as sent.
  const plain = await request(`${s.url}/public/x?page=2&sort=name`)
  await settle()
  t.equal(byId(String(plain.headers['x-request-id']))!.url, '/public/x?page=2&sort=name')
  const all = raw.join('')
  t.notOk(all.includes('AUTHZ-SECRET-1'), 'no Authorization value')
  t.notOk(all.includes('COOKIE-SECRET-2'), 'no cookie value')
})

t.test('log.access: false writes no access lines; metrics still count', async (t) => {
  const { s, access } = await logStack(t, '\nlog:\n  access: false')
  t.equal((await request(`${s.url}/public/x`)).status, 200)
  t.equal((await api(`${s.url}/app/x`, '')).status, 401)
  await settle()
  t.equal(access().length, 0)
  t.equal(await s.gh.gateway.metrics.get('gatehouse_http_requests_total{route="pub",code="200"}'), 1)
})

t.test('log.level above info writes no access lines; a reload to info brings them back', async (t) => {
  const { s, access } = await logStack(t, '\nlog:\n  level: warn')
  t.equal((await request(`${s.url}/public/x`)).status, 200)
  await settle()
  t.equal(access().length, 0, 'no access line at level warn')
  t.equal(await s.gh.gateway.metrics.get('gatehouse_http_requests_total{route="pub",code="200"}'), 1, 'the request still counts')
  t.equal((await s.gh.reload({ ...s.config, log: { ...s.config.log, level: 'info' } })).ok, true)
  t.equal((await request(`${s.url}/public/y`)).status, 200)
  await settle()
  t.same(access().map((l) => l.url), ['/public/y'], 'at info again, the next request is logged')
})
