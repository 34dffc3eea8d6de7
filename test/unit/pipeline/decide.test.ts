import t from 'tap'
import { buildApp } from '../../../src/app.js'
import { GatewayError } from '../../../src/errors.js'
import { parseConfig } from '../../../src/config/load.js'
import type { Gateway } from '../../../src/context.js'
import { afterRefresh, decide, dropSegments, resolve, upstreamPath, type Action, type RouteTarget, type SessionInput } from '../../../src/pipeline/decide.js'
import type { RequestFacts } from '../../../src/pipeline/facts.js'
import type { ReadOutcome } from '../../../src/session/manager.js'
import type { Session } from '../../../src/session/session.js'
import { SESSION_SECRET } from '../../fixtures/stack.js'

/**
 * The decision core by tables: real compiled routes (from buildApp, nothing
 * listens), plain facts, sessions made up in the test, a fixed clock.
 */

const NOW = 1_800_000_000_000
const MIN = 60_000

const YAML = `
listen: 127.0.0.1:8080
publicUrl: http://gw.test:8080
providers:
  - { id: p, issuer: http://127.0.0.1:9/, clientId: c, clientSecret: s }
  - { id: other, issuer: http://127.0.0.1:9/other, clientId: c, clientSecret: s, groupsClaim: roles }
session: { secret: ${SESSION_SECRET}, refreshBefore: 60s, clockSkew: 0s, idleTimeout: 1h }
routes:
  - { path: /public, upstream: http://127.0.0.1:7001, auth: public }
  - { path: /opt, upstream: http://127.0.0.1:7001, auth: optional }
  - { path: /admin, upstream: http://127.0.0.1:7001, allow: { groups: [admins] } }
  - { path: /api, upstream: http://127.0.0.1:7001, unauthenticated: deny }
  - { path: /always, upstream: http://127.0.0.1:7001, unauthenticated: redirect }
  - { path: /strip, upstream: http://127.0.0.1:7002/base, stripPrefix: true }
  - { path: /idt, upstream: http://127.0.0.1:7001, bearer: id_token }
  - { path: /nob, upstream: http://127.0.0.1:7001, bearer: none }
  - { path: /cors, upstream: http://127.0.0.1:7001, allowPreflight: true }
  - { path: /get-only, upstream: http://127.0.0.1:7001, methods: [GET] }
  - { host: only.test, path: /, upstream: http://127.0.0.1:7003 }
  - { path: /multi, upstream: http://127.0.0.1:7001, providers: [p, other] }
  - { path: /multi-opt, upstream: http://127.0.0.1:7001, providers: [p, other], auth: optional }
  - { path: /only-other, upstream: http://127.0.0.1:7001, providers: [other] }
  - { path: /signed, upstream: http://127.0.0.1:7004/base, assertion: true }
  - { path: /signed-public, upstream: http://127.0.0.1:7004, assertion: true, auth: public }
  - { path: /x, upstream: http://127.0.0.1:7001 }
  - { path: /bapi, upstream: http://127.0.0.1:7001, acceptBearer: {}, allow: { groups: [admins] } }
  - { path: /bnone, upstream: http://127.0.0.1:7001, acceptBearer: {}, bearer: none, auth: optional }
`

let gw: Gateway
t.before(async () => {
  const gh = await buildApp(parseConfig(YAML, { env: {} }), { logger: false })
  t.teardown(async () => gh.close())
  gw = gh.gateway
})

const BROWSER = { host: 'gw.test:8080', accept: 'text/html', 'sec-fetch-mode': 'navigate' }
const API = { host: 'gw.test:8080', accept: 'application/json' }

function facts (url: string, o: { method?: string, headers?: Record<string, string>, host?: string } = {}): RequestFacts {
  const q = url.indexOf('?')
  return {
    method: o.method ?? 'GET',
    url,
    path: q === -1 ? url : url.slice(0, q),
    query: q === -1 ? '' : url.slice(q),
    host: o.host ?? 'gw.test',
    headers: o.headers ?? BROWSER,
    remoteAddress: '192.0.2.7',
    secure: false,
  }
}

function session (o: Partial<Session> = {}): Session {
  return {
    v: 1, id: 'sid-1', provider: 'p', iat: NOW - 10 * MIN, seen: NOW - 1_000, sub: 'alice',
    claims: { sub: 'alice', email: 'alice@example.com', groups: ['admins'] },
    idToken: 'id.token.alice', accessToken: 'access-alice', refreshToken: 'refresh-alice',
    expiresAt: NOW + 30 * MIN, tokensAt: NOW - 10 * MIN,
    ...o,
  }
}

function input (s: Session | null, outcome: ReadOutcome = s === null ? 'none' : 'ok', reseal = false): SessionInput {
  return { read: { session: s, outcome, reseal }, cookieRest: 'app=1' }
}

function target (f: RequestFacts): RouteTarget {
  const r = resolve(gw.routes, f)
  if (r.kind !== 'route') throw new Error(`no route for ${f.url}: ${r.code}`)
  return r
}

function run (url: string, s: Session | null, o: { method?: string, headers?: Record<string, string>, outcome?: ReadOutcome, reseal?: boolean, now?: number } = {}): Action {
  const f = facts(url, o)
  return decide(gw, f, target(f), input(s, o.outcome, o.reseal), o.now ?? NOW)
}

t.test('resolve: the route, or the page for a path that cannot be accepted or has no route', async (t) => {
  const cases: [string, string | undefined, string][] = [
    // url, host, expected: a route's upstream+path, or a page code
    ['/public/x', undefined, 'route /public'],
    ['/public/../admin', undefined, 'route /admin'],
    ['/admin%2fx', undefined, 'page GH_BAD_PATH'],
    ['/x/%00', undefined, 'page GH_BAD_PATH'],
    ['/x/../.gatehouse/login', undefined, 'page GH_BAD_PATH'],
    ['/x/..%2f.gatehouse/jwks', undefined, 'page GH_BAD_PATH'],
    ['/anything', undefined, 'page GH_NO_ROUTE'],
    ['/anything', 'only.test', 'route /'],
  ]
  for (const [url, host, want] of cases) {
    const r = resolve(gw.routes, facts(url, host !== undefined ? { host } : {}))
    t.equal(r.kind === 'route' ? `route ${r.route.path}` : `page ${r.code}`, want, `${host ?? 'gw.test'}${url}`)
  }
  const bad = resolve(gw.routes, facts('/x/../.gatehouse/login'))
  t.equal(bad.kind === 'page' ? bad.outcome : '', 'bad_request')
  t.match(bad.kind === 'page' ? bad.logs[0]?.msg : '', 'request path refused')
  const r = resolve(gw.routes, facts('/public/./x'))
  t.equal(r.kind === 'route' ? r.sent : '', '/public/x', 'the dot-resolved path goes upstream')
})

t.test('decide: the Action for each auth mode, session state and kind of client', async (t) => {
  const alice = session()
  const bob = session({ sub: 'bob', claims: { sub: 'bob', groups: [] } })
  const cases: [string, Session | null, Record<string, string>, string, string | undefined][] = [
    // url, session, headers, kind, decision
    ['/public/x', null, BROWSER, 'forward', 'allow:public'],
    ['/public/x', alice, BROWSER, 'forward', 'allow:public'],
    ['/opt/x', null, BROWSER, 'forward', 'allow:anonymous'],
    ['/opt/x', alice, API, 'forward', 'allow:session'],
    ['/x', null, BROWSER, 'login', 'login:redirect'],
    ['/x', null, API, 'unauthenticated', 'deny:unauthenticated'],
    ['/x', null, { ...BROWSER, 'x-requested-with': 'XMLHttpRequest' }, 'unauthenticated', 'deny:unauthenticated'],
    ['/api/x', null, BROWSER, 'unauthenticated', 'deny:unauthenticated'],
    ['/always/x', null, API, 'login', 'login:redirect'],
    ['/x', alice, API, 'forward', 'allow:session'],
    ['/admin', alice, BROWSER, 'forward', 'allow:session'],
    ['/admin', bob, BROWSER, 'forbidden', 'deny:policy'],
    ['/admin', null, API, 'unauthenticated', 'deny:unauthenticated'],
  ]
  for (const [url, s, headers, kind, decision] of cases) {
    const a = run(url, s, { headers })
    t.equal(a.kind, kind, `${url} ${s?.sub ?? 'anonymous'} ${headers.accept}: ${kind}`)
    t.equal(a.decision, decision, `${url}: decision ${decision}`)
  }
  const post = run('/always/x', null, { method: 'POST' })
  t.equal(post.kind, 'unauthenticated', 'a POST never starts a login, even on a redirect route')
  const login = run('/x/y?z=1', null)
  t.same(login.kind === 'login' ? [login.rd, login.via, login.provider.id] : [], ['/x/y?z=1', 'provider', 'p'], 'login returns to the URL asked for')
})

t.test('decide: cookies that were not accepted are deleted, and the request goes on as anonymous', async (t) => {
  for (const outcome of ['malformed', 'tampered', 'unknown-key', 'unknown', 'revoked', 'idle', 'expired'] as const) {
    const api = run('/x', null, { headers: API, outcome })
    t.same([api.kind, api.clear, api.logs[0]?.fields.outcome], ['unauthenticated', true, outcome], `${outcome}: 401 and the cookie deleted`)
    const opt = run('/opt/x', null, { outcome })
    t.same([opt.kind, opt.clear], ['forward', true], `${outcome}: an optional route forwards anonymously and deletes it`)
  }
  t.equal(run('/x', null, { headers: API }).clear, false, 'no cookie: nothing to delete')
})

t.test('decide: what goes upstream', async (t) => {
  const alice = session()
  const a = run('/x?q=1', alice, { headers: { ...API, 'x-forwarded-user': 'mallory', authorization: 'Bearer forged', cookie: 'ignored' } })
  if (a.kind !== 'forward') throw new Error(a.kind)
  t.equal(a.path, '/x?q=1')
  t.equal(a.headers.authorization, 'Bearer access-alice')
  t.equal(a.headers['X-Forwarded-User'], 'alice', 'the identity header is the session\'s, the client\'s is gone')
  t.equal(a.headers['X-Forwarded-Email'], 'alice@example.com')
  t.equal(a.headers['x-forwarded-user'], undefined, 'no lower-case copy of the client\'s')
  t.equal(a.headers.cookie, 'app=1', 'only the application\'s cookies')
  t.equal(a.headers['x-forwarded-for'], '192.0.2.7')
  t.equal(a.headers['x-forwarded-proto'], 'http')
  const idt = run('/idt', alice, { headers: API })
  t.equal(idt.kind === 'forward' ? idt.headers.authorization : '', 'Bearer id.token.alice', 'bearer: id_token')
  const nob = run('/nob', alice, { headers: { ...API, authorization: 'Basic abc' } })
  t.equal(nob.kind === 'forward' ? nob.headers.authorization : '', 'Basic abc', 'bearer: none leaves the client\'s Authorization')
  const pub = run('/public/x', alice, { headers: { ...API, 'x-forwarded-email': 'mallory@evil.test' } })
  t.same(pub.kind === 'forward' ? Object.keys(pub.headers).filter((h) => h.toLowerCase() === 'x-forwarded-email') : ['x'], [], 'a public route strips identity headers and adds none')
  const strip = run('/strip/a/b?c', alice, { headers: API })
  t.equal(strip.kind === 'forward' ? strip.path : '', '/base/a/b?c', 'prefix stripped, base path added')
})

t.test('decide: routes that list their providers', async (t) => {
  const fromP = session()
  const fromOther = session({ provider: 'other' })
  const cases: [string, Session | null, Record<string, string>, string, string][] = [
    // url, session, headers, kind, what
    ['/multi/x', null, BROWSER, 'login', 'choices p,other'],
    ['/multi/x', null, API, 'unauthenticated', ''],
    ['/multi/x', fromP, API, 'forward', 'alice'],
    ['/multi/x', fromOther, API, 'forward', 'alice'],
    ['/only-other/x', fromOther, API, 'forward', 'alice'],
    // A session from a provider the route does not list: not signed in there.
    ['/only-other/x', fromP, API, 'unauthenticated', ''],
    ['/only-other/x', fromP, BROWSER, 'login', 'provider other'],
    ['/multi-opt/x', session({ provider: 'gone' }), API, 'forward', 'anonymous'],
    // A route without providers: takes a session from any provider, logs in at its own.
    ['/x', fromOther, API, 'forward', 'alice'],
    ['/x', null, BROWSER, 'login', 'provider p'],
  ]
  for (const [url, s, headers, kind, what] of cases) {
    const a = run(url, s, { headers })
    let got = ''
    if (a.kind === 'login') got = a.choices !== undefined ? `choices ${a.choices.map((p) => p.id).join(',')}` : `provider ${a.provider.id}`
    if (a.kind === 'forward') got = a.session?.sub ?? 'anonymous'
    t.same([a.kind, got], [kind, what], `${url} ${s?.provider ?? 'no session'} ${headers.accept}`)
  }
  const other = run('/only-other/x', session({ provider: 'p' }), { headers: API })
  t.equal(other.clear, false, 'the cookie of a session another route accepts is kept')
  t.match(other.logs.at(-1)?.msg, 'session from a provider this route does not accept')
  const groups = (provider: string, claims: Record<string, unknown>): string => run('/admin', session({ provider, claims }), { headers: API }).kind
  t.equal(groups('p', { groups: ['admins'] }), 'forward', 'groups of a session from p: p\'s groupsClaim')
  t.equal(groups('other', { roles: ['admins'] }), 'forward', 'groups of a session from other: other\'s groupsClaim')
  t.equal(groups('other', { groups: ['admins'] }), 'forbidden', 'not p\'s claim')
  const expiring = run('/only-other/x', session({ provider: 'p', expiresAt: NOW + 10_000 }), { headers: API })
  t.equal(expiring.kind, 'unauthenticated', 'a session the route does not accept is not refreshed for it')
})

t.test('decide: the forward Action says when to attach the signed assertion', async (t) => {
  const alice = session()
  const cases: [string, Session | null, boolean][] = [
    ['/signed/x', alice, true],
    ['/signed-public/x', alice, false],
    ['/x', alice, false],
  ]
  for (const [url, s, want] of cases) {
    const a = run(url, s, { headers: API })
    t.same([a.kind, a.kind === 'forward' && a.assertion], ['forward', want], `${url}: assertion ${String(want)}`)
  }
  const a = run('/signed/x', alice, { headers: API })
  t.equal(a.kind === 'forward' ? a.route.audience : '', 'http://127.0.0.1:7004', 'the audience is the upstream origin (no base path)')
})

t.test('decide: touching, resealing and refreshing', async (t) => {
  const fresh = run('/x', session({ seen: NOW - 1_000 }), { headers: API })
  t.equal(fresh.write, undefined, 'a session seen a second ago is not rewritten')
  const stale = run('/x', session({ seen: NOW - 2 * MIN }), { headers: API })
  t.equal(stale.write?.seen, NOW, 'a session last seen two minutes ago is touched')
  const resealed = run('/x', session(), { headers: API, reseal: true })
  t.ok(resealed.write !== undefined, 'a cookie sealed with an older key is written again')
  const denied = run('/admin', session({ claims: { groups: [] } }), { headers: API, reseal: true })
  t.same([denied.kind, denied.write !== undefined], ['forbidden', true], 'a denied request still carries the resealed cookie')

  const expiring = session({ expiresAt: NOW + 30_000 })
  const r = run('/x', expiring, { headers: API })
  t.same(r.kind === 'refresh' ? [r.kind, r.provider.id, r.session] : [r.kind], ['refresh', 'p', expiring], 'a token within refreshBefore is refreshed first, at the session\'s provider')
  const other = run('/x', session({ provider: 'other', expiresAt: NOW + 30_000 }), { headers: API })
  t.equal(other.kind === 'refresh' ? other.provider.id : '', 'other')

  // No refresh token: a navigation renews at the provider; an API call is served while the token lasts.
  const implicit = session({ refreshToken: undefined, expiresAt: NOW + 30_000 })
  const renew = run('/x', implicit)
  t.same(renew.kind === 'renew' ? [renew.kind, renew.rd, renew.decision] : [renew.kind], ['renew', '/x', 'login:renew'])
  t.equal(run('/x', implicit, { headers: API }).kind, 'forward', 'an API call with a still-valid token is forwarded')
  const gone = session({ refreshToken: undefined, expiresAt: NOW - 1 })
  t.equal(run('/x', gone, { headers: API }).kind, 'unauthenticated', 'an expired token is never forwarded')
  t.equal(run('/opt/x', gone, { headers: API }).decision, 'allow:anonymous', 'an optional route goes on anonymously')
})

t.test('decide: methods and CORS preflights', async (t) => {
  const preflight = { ...API, origin: 'https://web.test', 'access-control-request-method': 'PUT' }
  const a = run('/cors/items', session(), { method: 'OPTIONS', headers: preflight })
  t.same(a.kind === 'forward' ? [a.kind, a.session, a.headers.authorization] : [a.kind], ['forward', null, undefined], 'a preflight on an allowPreflight route: forwarded with no identity')
  t.equal(run('/cors/items', null, { method: 'OPTIONS', headers: API }).kind, 'unauthenticated', 'an OPTIONS that is not a preflight still needs a session')
  t.equal(run('/x', null, { method: 'OPTIONS', headers: preflight }).kind, 'unauthenticated', 'a preflight elsewhere needs a session')
  const post = resolve(gw.routes, facts('/get-only/x', { method: 'POST' }))
  t.equal(post.kind === 'page' ? post.code : post.route.path, 'GH_NO_ROUTE', 'a route limited to GET does not serve a POST')
  const get = resolve(gw.routes, facts('/get-only/x'))
  t.equal(get.kind === 'route' ? get.route.path : '', '/get-only')
})

t.test('decide: a bearer token (acceptBearer) is judged alone', async (t) => {
  const ok = (sub: string, groups: string[]): SessionInput['bearer'] => ({ ok: true, claims: Object.freeze({ sub, email: `${sub}@example.com`, groups }), sub, token: `token-of-${sub}` })
  const refused: SessionInput['bearer'] = { ok: false, reason: 'signature' }
  const withBearer = (url: string, bearer: SessionInput['bearer'], s: Session | null = null, headers: Record<string, string> = API): Action => {
    const f = facts(url, { headers: { ...headers, authorization: 'Bearer whatever', cookie: 'app=1' } })
    return decide(gw, f, target(f), { ...input(s), bearer }, NOW)
  }
  const cases: [string, SessionInput['bearer'], Session | null, Record<string, string>, string, string][] = [
    // url, bearer check, session beside it, headers, kind, decision
    ['/bapi/x', ok('alice', ['admins']), null, API, 'forward', 'allow:bearer'],
    ['/bapi/x', ok('bob', []), null, API, 'forbidden', 'deny:policy'],
    ['/bapi/x', refused, null, API, 'unauthenticated', 'deny:bearer_invalid'],
    ['/bapi/x', refused, null, BROWSER, 'unauthenticated', 'deny:bearer_invalid'],
    ['/bapi/x', refused, session(), API, 'unauthenticated', 'deny:bearer_invalid'],
    ['/bapi/x', ok('bob', []), session(), API, 'forbidden', 'deny:policy'],
    ['/bnone/x', refused, null, API, 'unauthenticated', 'deny:bearer_invalid'],
    ['/bnone/x', ok('bob', []), null, API, 'forward', 'allow:bearer'],
  ]
  for (const [url, bearer, s, headers, kind, decision] of cases) {
    const a = withBearer(url, bearer, s, headers)
    const who = bearer?.ok === true ? bearer.sub : 'refused'
    t.same([a.kind, a.decision], [kind, decision], `${url} ${who}${s !== null ? ' (session beside)' : ''} ${headers.accept}: ${kind} ${decision}`)
    if (a.kind === 'unauthenticated') t.equal(a.bearerError, 'invalid_token', 'the 401 says invalid_token')
    t.equal(a.write, undefined, 'no session written')
    t.equal(a.clear, false, 'no cookie deleted')
  }
  const fwd = withBearer('/bnone/x', ok('alice', ['admins']), session({ sub: 'carol', claims: { sub: 'carol' } }))
  if (fwd.kind !== 'forward') throw new Error(fwd.kind)
  t.equal(fwd.headers.authorization, 'Bearer token-of-alice', 'the client\'s token goes upstream (even with bearer: none)')
  t.equal(fwd.headers['X-Forwarded-User'], 'alice', 'identity from the token, not the session')
  t.equal(fwd.headers['X-Forwarded-Email'], 'alice@example.com')
  t.equal(fwd.headers.cookie, 'app=1')
  t.same([fwd.user, fwd.outcome, fwd.session], ['alice', 'proxied', null])
  const pub = decide(gw, facts('/public/x', { headers: { ...API, authorization: 'Bearer x' } }), target(facts('/public/x')), { ...input(null), bearer: refused }, NOW)
  t.equal(pub.decision, 'allow:public', 'a public route does not judge tokens')
})

t.test('afterRefresh: each outcome of a refresh', async (t) => {
  const f = facts('/x', { headers: API })
  const tgt = target(f)
  const expiring = session({ expiresAt: NOW + 30_000 })
  const inp = input(expiring)
  const first = decide(gw, f, tgt, inp, NOW)
  if (first.kind !== 'refresh') throw new Error(first.kind)

  const renewed = session({ accessToken: 'access-2', expiresAt: NOW + 60 * MIN })
  const ok = afterRefresh(gw, f, tgt, inp, first, { kind: 'refreshed', session: renewed }, NOW)
  t.same(ok.kind === 'forward' ? [ok.headers.authorization, ok.write?.accessToken] : [ok.kind], ['Bearer access-2', 'access-2'], 'refreshed: the new token goes upstream and into the cookie')

  const ended = afterRefresh(gw, f, tgt, inp, first, { kind: 'ended', reason: 'GH_REFRESH_INVALID_GRANT' }, NOW)
  t.same([ended.kind, ended.clear, ended.end, ended.logs.at(-1)?.fields.reason], ['unauthenticated', true, expiring, 'GH_REFRESH_INVALID_GRANT'], 'ended: session ended and deleted, 401')

  const down = { kind: 'unavailable' as const, error: new GatewayError('GH_PROVIDER_UNAVAILABLE', 'down') }
  const still = afterRefresh(gw, f, tgt, inp, first, down, NOW)
  t.same(still.kind === 'forward' ? [still.kind, still.headers.authorization] : [still.kind], ['forward', 'Bearer access-alice'], 'unavailable with a valid token: served with it')
  const late = afterRefresh(gw, f, tgt, inp, first, down, expiring.expiresAt!)
  t.same(late.kind === 'page' ? [late.code, late.status, late.retryAfter, late.decision] : [late.kind], ['GH_PROVIDER_UNAVAILABLE', 503, 5, 'error:provider_unavailable'], 'unavailable with an expired token: 503, retry')
})

t.test('dropSegments and upstreamPath', async (t) => {
  const cases: [string, string, string][] = [
    ['/app/x', '/app', '/x'],
    ['/app/x', '/app/', '/x'],
    ['/app', '/app', ''],
    ['/%61pp/x/y', '/app', '/x/y'],
    ['/a/b/c', '/a/b', '/c'],
  ]
  for (const [path, prefix, want] of cases) t.equal(dropSegments(path, prefix), want, `${path} - ${prefix}`)
  t.equal(upstreamPath({ stripPrefix: true, path: '/app', basePath: '' }, '/app', ''), '/')
  t.equal(upstreamPath({ stripPrefix: false, path: '/app', basePath: '/b' }, '/app/x', '?q'), '/b/app/x?q')
})

t.test('decide: a login or renewal carries the host it was asked for on', async (t) => {
  const rows: [string, Session | null, string][] = [
    // host, session, kind
    ['gw.test', null, 'login'],
    ['only.test', null, 'login'],
    ['only.test', session({ refreshToken: undefined, expiresAt: NOW + 30_000 }), 'renew'],
  ]
  for (const [host, s, kind] of rows) {
    const f = facts('/x/y?z=1', { host })
    const a = decide(gw, f, target(f), input(s), NOW)
    t.same(a.kind === 'login' || a.kind === 'renew' ? [a.kind, a.host, a.rd] : [a.kind], [kind, host, '/x/y?z=1'], `${kind} on ${host}`)
  }
})
