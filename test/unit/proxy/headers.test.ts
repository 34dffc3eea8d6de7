import t from 'tap'
import { buildStripSet, buildUpstreamHeaders, claimToHeaderValue, compileIdentityHeaders, identityHeaders, normaliseHeaderName, type HeaderPlan } from '../../../src/proxy/headers.js'

const plan: HeaderPlan = {
  strip: buildStripSet(['X-Forwarded-User', 'X-Forwarded-Email', 'X-Auth-Request-Groups']),
  stripAuthorization: true,
  identity: compileIdentityHeaders([['X-Forwarded-User', 'sub'], ['X-Forwarded-Email', 'email']]),
}
const ctx = { remoteAddress: '10.1.2.3', trustProxy: false, proto: 'http', host: 'app.example.com', cookie: 'app=1', bearer: 'tok', identity: [['X-Forwarded-User', 'alice']] as [string, string][] }

t.test('claim values become safe header text', async (t) => {
  const cases: [unknown, string | undefined][] = [
    ['alice', 'alice'],
    [['a', 'b', 'c'], 'a,b,c'],
    [42, '42'],
    [true, 'true'],
    [null, undefined],
    [undefined, undefined],
    ['Zoë', 'Zo%C3%AB'],
    ['evil\r\nX-Injected: 1', 'evil%0D%0AX-Injected%3A%201'],
    [{ a: 1 }, '{"a":1}'],
    [['ä', 'b'], '%C3%A4%2Cb'],
  ]
  for (const [v, want] of cases) t.equal(claimToHeaderValue(v), want, JSON.stringify(v))
  t.same(identityHeaders(plan, { sub: 'bob' }), [['X-Forwarded-User', 'bob']], 'missing claims send no header')
})

t.test('spoofed identity headers are removed in every spelling, then injected', async (t) => {
  t.equal(normaliseHeaderName('X_Forwarded_User'), 'x-forwarded-user')
  const incoming = {
    host: 'app.example.com',
    'x-forwarded-user': 'mallory',
    x_forwarded_user: 'mallory',
    'x-forwarded-email': 'mallory@evil',
    'x-auth-request-groups': 'admins',
    x_auth_request_groups: 'admins',
    authorization: 'Bearer forged',
    cookie: '__Host-gatehouse=secret; app=1',
    connection: 'keep-alive, x-secret-hop',
    'x-secret-hop': '1',
    'keep-alive': 'timeout=5',
    'transfer-encoding': 'chunked',
    'x-forwarded-for': '6.6.6.6',
    'x-forwarded-proto': 'https',
    'x-real-ip': '6.6.6.6',
    accept: 'text/html',
  }
  const out = buildUpstreamHeaders(incoming, plan, ctx)
  t.same(out, {
    accept: 'text/html',
    host: 'app.example.com',
    cookie: 'app=1',
    'x-forwarded-for': '10.1.2.3',
    'x-forwarded-proto': 'http',
    'x-forwarded-host': 'app.example.com',
    authorization: 'Bearer tok',
    'X-Forwarded-User': 'alice',
  })
})

t.test('trustProxy keeps and extends X-Forwarded-*', async (t) => {
  const out = buildUpstreamHeaders({ 'x-forwarded-for': '1.1.1.1', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'lb.example', x_forwarded_for: '6.6.6.6' }, plan, { ...ctx, trustProxy: true, bearer: undefined, identity: [], cookie: '' })
  t.equal(out['x-forwarded-for'], '1.1.1.1, 10.1.2.3')
  t.equal(out['x-forwarded-proto'], 'https')
  t.equal(out['x-forwarded-host'], 'lb.example')
  t.equal(out.x_forwarded_for, undefined, 'underscore spelling never passes')
  t.equal(out.cookie, undefined, 'no Cookie header when only ours were sent')
})

t.test('client Authorization passes on routes where the gateway sets none', async (t) => {
  const pub: HeaderPlan = { ...plan, stripAuthorization: false }
  const out = buildUpstreamHeaders({ authorization: 'Bearer client', 'x-forwarded-user': 'mallory' }, pub, { ...ctx, bearer: undefined, identity: [] })
  t.equal(out.authorization, 'Bearer client')
  t.equal(out['x-forwarded-user'], undefined, 'identity headers stripped on public routes too')
})
