import t, { type Test } from 'tap'
import type { StoreKind } from '../../src/config/types.js'
import { Sealer } from '../../src/session/crypto.js'
import { request, type Browser, type Response } from '../fixtures/browser.js'
import { startSessionStack, type Clock } from '../fixtures/gateway.js'
import { splitCookieHeader } from '../../src/session/cookies.js'
import type { Session } from '../../src/session/session.js'
import { flowClient, flowYaml, gatewayYaml, SESSION_SECRET, startStack, type Stack } from '../fixtures/stack.js'

/**
 * One gateway, many host names, end to end: a real provider, a real
 * upstream, and a browser whose cookie jar keys cookies by host name while
 * every `.test` name connects to 127.0.0.1 (fixtures/browser.ts). publicUrl
 * is http://127.0.0.1:PORT unless a test says otherwise.
 */

const ROUTES = `
  - host: a.test
    path: /
    upstream: {{UPSTREAM}}
  - host: b.test
    path: /
    upstream: {{UPSTREAM}}
  - host: "*.apps.test"
    path: /
    upstream: {{UPSTREAM}}
  - path: /
    upstream: {{UPSTREAM}}
`

const JSON_API = { accept: 'application/json', 'sec-fetch-mode': 'cors' }

function portOf (s: Pick<Stack, 'url'>): string { return new URL(s.url).port }
function on (s: Pick<Stack, 'url'>, host: string, path = '/'): string { return `http://${host}:${portOf(s)}${path}` }
const pathOf = (r: Response): string => new URL(r.url).pathname
const hostOf = (r: Response): string => new URL(r.url).hostname
const esc = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')

/** Who the upstream saw, for a request with the jar's cookies for `url` ('' when the gateway did not forward it). */
async function userAt (b: Browser, url: string): Promise<string> {
  const r = await b.fetch(url, { headers: JSON_API })
  return r.status === 200 ? String(r.json<{ headers: Record<string, string> }>().headers['x-forwarded-email'] ?? '') : `status ${r.status}`
}

/** Signs in starting at `url`, stopping at the callback: returns the callback's redirect (a handoff URL, or the page). */
async function callbackTarget (b: Browser, url: string): Promise<string> {
  const { res } = await b.navigate(url, { stopAt: (r) => pathOf(r) === '/.gatehouse/callback' && r.status === 303 })
  if (pathOf(res) !== '/.gatehouse/callback') throw new Error(`no callback on the way from ${url}: ${res.status} ${res.url}`)
  return new URL(String(res.headers.location), res.url).href
}

async function hostsStack (t: Test, kind: StoreKind = 'cookie'): Promise<Stack & { clock: Clock }> {
  return startSessionStack(t, kind, { routes: ROUTES })
}

t.test('a login started on another host than publicUrl ends on that host with a working session', async (t) => {
  for (const kind of ['cookie', 'memory'] as const) {
    const s = await hostsStack(t, kind)
    const b = s.browser()
    const { res, hops } = await b.navigate(on(s, 'b.test', '/app/page?x=1'))
    t.equal(res.status, 200, `${kind}: the page asked for is served`)
    t.equal(res.url, on(s, 'b.test', '/app/page?x=1'), `${kind}: on the host and URL it asked for`)
    t.equal(s.upstream.received.at(-1)?.url, '/app/page?x=1')
    const first = hops[0]!
    t.equal(first.status, 302)
    t.match(first.headers.location, new RegExp(`^${esc(`${s.url}/.gatehouse/login?rd=${encodeURIComponent(on(s, 'b.test', '/app/page?x=1'))}&provider=test&handoff_secret=`)}[\\w-]{22}$`), `${kind}: sent to log in at publicUrl with an absolute rd and the browser's binding`)
    t.match(String(first.headers['set-cookie']), /^gatehouse\.handoff=[\w-]{22}; Max-Age=600; Path=\/; HttpOnly; SameSite=Lax$/, `${kind}: the binding cookie on b.test`)
    t.ok(hops.some((h) => hostOf(h) === 'b.test' && pathOf(h) === '/.gatehouse/handoff' && h.status === 303), `${kind}: the session came to b.test by a handoff`)
    t.equal(await userAt(b, on(s, 'b.test', '/api')), 'alice@example.com', `${kind}: the next request on b.test is signed in`)
    t.equal(await userAt(b, `${s.url}/api`), 'alice@example.com', `${kind}: and so is publicUrl's`)
    t.notOk((await b.cookieHeader(on(s, 'a.test'))).includes('gatehouse'), `${kind}: a.test got no cookie`)
  }
})

t.test('/.gatehouse/login on another host goes to publicUrl\'s, rd made absolute on that host', async (t) => {
  const s = await hostsStack(t)
  const r = await request(on(s, 'x.apps.test', '/.gatehouse/login?rd=%2Fdeep%2Fpath%3Fq%3D1'))
  t.equal(r.status, 302)
  t.match(r.headers.location, new RegExp(`^${esc(`${s.url}/.gatehouse/login?rd=${encodeURIComponent(on(s, 'x.apps.test', '/deep/path?q=1'))}&handoff_secret=`)}`))
  const b = s.browser()
  const { res } = await b.navigate(on(s, 'x.apps.test', '/.gatehouse/login?rd=/deep/path'))
  t.equal(res.url, on(s, 'x.apps.test', '/deep/path'), 'a wildcard host: back where it asked')
  t.equal(await userAt(b, on(s, 'x.apps.test', '/api')), 'alice@example.com')
})

t.test('a signed-in browser visiting a new host gets a handoff without going to the provider', async (t) => {
  const s = await hostsStack(t)
  const b = s.browser()
  await b.login(on(s, 'a.test', '/'))
  const { res, hops } = await b.navigate(on(s, 'b.test', '/second'))
  t.equal(res.status, 200)
  t.equal(res.url, on(s, 'b.test', '/second'))
  t.notOk(hops.some((h) => new URL(h.url).port === new URL(s.idp.issuer).port), 'no hop to the provider')
  t.equal(await userAt(b, on(s, 'b.test', '/api')), 'alice@example.com')
})

t.test('hosts under cookieDomain share one cookie without a handoff; another host gets one', async (t) => {
  const yaml = gatewayYaml({
    session: '  cookieDomain: shared.test\n',
    routes: `
  - host: "*.shared.test"
    path: /
    upstream: {{UPSTREAM}}
  - host: b.test
    path: /
    upstream: {{UPSTREAM}}
`,
  }).replace('publicUrl: {{PUBLIC}}', 'publicUrl: http://auth.shared.test:{{PORT}}')
  let offset = 0
  const s = await startStack(t, {
    yaml,
    client: (publicUrl) => ({ redirect_uris: [`http://auth.shared.test:${new URL(publicUrl).port}/.gatehouse/callback`] }),
    deps: { now: () => Date.now() + offset },
  })
  const b = s.browser()
  const { res, hops } = await b.navigate(on(s, 'one.shared.test', '/first'))
  t.equal(res.url, on(s, 'one.shared.test', '/first'), 'signed in, back on one.shared.test')
  const callback = hops.find((h) => pathOf(h) === '/.gatehouse/callback')!
  t.equal(callback.headers.location, on(s, 'one.shared.test', '/first'), 'the callback returns straight there: no handoff')
  t.match(String(callback.headers['set-cookie']), /gatehouse=[^;]+;.*Domain=shared\.test/i, 'the session cookie carries Domain=shared.test')
  t.notOk(hops.some((h) => pathOf(h) === '/.gatehouse/handoff'))
  const two = await b.fetch(on(s, 'two.shared.test', '/x'))
  t.equal(two.status, 200, 'another host under the domain: signed in at once, no redirect')
  t.equal(await userAt(b, on(s, 'two.shared.test', '/api')), 'alice@example.com')
  // b.test is outside the cookie domain: a handoff, with no trip to the provider.
  const other = await b.navigate(on(s, 'b.test', '/elsewhere'))
  t.equal(other.res.url, on(s, 'b.test', '/elsewhere'))
  t.ok(other.hops.some((h) => hostOf(h) === 'b.test' && pathOf(h) === '/.gatehouse/handoff'), 'b.test got a handoff')
  const set = other.hops.find((h) => pathOf(h) === '/.gatehouse/handoff')!.headers['set-cookie']
  t.notMatch(String(set), /Domain=/i, 'b.test\'s cookie is its own (no Domain)')
  t.equal(await userAt(b, on(s, 'b.test', '/api')), 'alice@example.com')
  // Two minutes on, each host's cookie is rewritten (last seen), each with its own scope.
  offset = 120_000
  const touchedB = await b.fetch(on(s, 'b.test', '/api'), { headers: JSON_API })
  t.match(String(touchedB.headers['set-cookie']), /^gatehouse=/, 'b.test: the session cookie is rewritten')
  t.notMatch(String(touchedB.headers['set-cookie']), /Domain=/i, 'b.test: still host-only (a Domain=shared.test cookie would be refused there)')
  const touchedTwo = await b.fetch(on(s, 'two.shared.test', '/api'), { headers: JSON_API })
  t.match(String(touchedTwo.headers['set-cookie']), /Domain=shared\.test/i, 'two.shared.test: rewritten for the whole domain')
})

t.test('a handoff is used once, on its own host, by its own browser, within its time', async (t) => {
  const s = await hostsStack(t)
  const b = s.browser()
  const target = await callbackTarget(b, on(s, 'b.test', '/p'))
  t.match(target, new RegExp(`^${on(s, 'b.test', '/.gatehouse/handoff?token=').replace(/[.?]/g, '\\$&')}`), 'the callback sends the browser to b.test\'s handoff')

  const wrongHost = target.replace('//b.test:', '//a.test:')
  const elsewhere = await request(wrongHost)
  t.equal(elsewhere.status, 400, 'used on another host: refused')
  t.match(elsewhere.text, 'GH_HANDOFF_WRONG_HOST')
  t.equal(elsewhere.headers['set-cookie'], undefined, 'and no cookie set')

  const planted = await s.browser().fetch(target)
  t.equal(planted.status, 400, 'in another browser (a planted link): refused')
  t.match(planted.text, 'GH_HANDOFF_WRONG_BROWSER')
  t.equal(planted.headers['set-cookie'], undefined)
  const unbound = await request(target)
  t.match(unbound.text, 'GH_HANDOFF_WRONG_BROWSER', 'without the binding cookie: refused')

  const first = await b.fetch(target)
  t.equal(first.status, 303, 'on its host, in its browser: accepted (the refused attempts did not spend it)')
  t.equal(first.headers.location, on(s, 'b.test', '/p'))
  t.equal(first.headers['referrer-policy'], 'no-referrer')
  t.match(String(first.headers['set-cookie']), /^gatehouse=/)
  const replay = await b.fetch(target)
  t.equal(replay.status, 400, 'replayed: refused')
  t.match(replay.text, 'GH_HANDOFF_REPLAYED')
  t.equal(replay.headers['set-cookie'], undefined)

  const c = s.browser()
  const late = await callbackTarget(c, on(s, 'b.test', '/q'))
  s.clock.advance(61_000)
  const expired = await c.fetch(late)
  t.equal(expired.status, 400, 'after 60 seconds: refused')
  t.match(expired.text, 'GH_HANDOFF_EXPIRED')
})

t.test('malformed handoff tokens get 400, never a 5xx', async (t) => {
  const s = await hostsStack(t)
  const b = s.browser()
  const target = await callbackTarget(b, on(s, 'b.test', '/p'))
  const token = new URL(target).searchParams.get('token')!
  const bind = /gatehouse\.handoff=([\w-]+)/.exec(await b.cookieHeader(on(s, 'b.test', '/')))![1]!
  const flip = (v: string, i: number): string => v.slice(0, i) + (v[i] === 'A' ? 'B' : 'A') + v.slice(i + 1)
  const sealer = new Sealer([SESSION_SECRET])
  const cases: [string, string][] = [
    ['no token', ''],
    ['empty', '?token='],
    ['garbage', '?token=abc'],
    ['twice', `?token=${token}&token=${token}`],
    ['flipped', `?token=${flip(token, Math.floor(token.length / 2))}`],
    ['truncated', `?token=${token.slice(0, -20)}`],
    ['huge', `?token=${'A'.repeat(70_000)}`],
    ['percent junk', '?token=%E0%A4%A'],
    ['sealed for another purpose', `?token=${sealer.seal('session:gatehouse', JSON.stringify({ host: 'b.test', ticket: {}, rd: '/', exp: Date.now() * 2, jti: 'x' }))}`],
    ['sealed with another secret', `?token=${new Sealer(['another-secret-0123456789abcdef-0123456789']).seal('handoff', '{}')}`],
    ['not an object', `?token=${sealer.seal('handoff', '"x"')}`],
    ['a ticket that is no session', `?token=${sealer.seal('handoff', JSON.stringify({ host: 'b.test', ticket: { v: 2 }, rd: on(s, 'b.test', '/'), exp: s.clock.now + 30_000, jti: 'j1', bind }))}`],
  ]
  for (const [name, query] of cases) {
    const r = await b.fetch(on(s, 'b.test', `/.gatehouse/handoff${query}`))
    t.ok(r.status >= 400 && r.status < 500, `${name}: ${r.status} is a client error`)
    t.match(r.text, /GH_HANDOFF_(INVALID|SESSION_ENDED)/, `${name}: a handoff code on the page`)
  }
  t.equal((await b.fetch(target)).status, 303, 'the genuine token still works')
})

t.test('an absolute rd to a host no route names falls back to /', async (t) => {
  const s = await hostsStack(t)
  for (const rd of [on(s, 'evil.test', '/x'), on(s, 'b.test.evil.test', '/x'), `http://b.test:1/x`, `https://b.test:${portOf(s)}/x`, `http://alice@b.test:${portOf(s)}/x`]) {
    const b = s.browser()
    const { res } = await b.navigate(`${s.url}/.gatehouse/login?rd=${encodeURIComponent(rd)}`)
    t.equal(res.url, `${s.url}/`, `${rd}: back to / on publicUrl`)
  }
  const b = s.browser()
  const { res, hops } = await b.navigate(`${s.url}/.gatehouse/login?rd=${encodeURIComponent(on(s, 'b.test', '/ok'))}`)
  t.equal(res.url, on(s, 'b.test', '/ok'), 'a routed host is kept')
  t.equal(hops[1]!.url, on(s, 'b.test', `/.gatehouse/login?rd=${encodeURIComponent(on(s, 'b.test', '/ok'))}`), 'by way of b.test\'s login, which binds the browser there')
})

t.test('logout on one host ends the session on every host', async (t) => {
  for (const kind of ['cookie', 'memory'] as const) {
    const s = await hostsStack(t, kind)
    const b = s.browser()
    await b.login(on(s, 'a.test', '/'))
    await b.navigate(on(s, 'b.test', '/'))
    t.equal(await userAt(b, on(s, 'a.test', '/api')), 'alice@example.com', `${kind}: signed in on a.test`)
    t.equal(await userAt(b, on(s, 'b.test', '/api')), 'alice@example.com', `${kind}: and on b.test`)
    const bCookie = await b.cookieHeader(on(s, 'b.test', '/'))
    const out = await b.fetch(on(s, 'a.test', '/.gatehouse/logout'))
    t.equal(out.status, 302, `${kind}: logged out on a.test`)
    t.equal(await userAt(b, on(s, 'b.test', '/api')), 'status 401', `${kind}: b.test's next request is unauthenticated`)
    t.equal(await userAt(b, `${s.url}/api`), 'status 401', `${kind}: so is publicUrl's`)
    const copy = await request(on(s, 'b.test', '/api'), { headers: { ...JSON_API, cookie: bCookie } })
    t.equal(copy.status, 401, `${kind}: a copy of b.test's cookie no longer works`)
  }
})

t.test('logout may return to an absolute URL on a routed host', async (t) => {
  const s = await hostsStack(t)
  const b = s.browser()
  await b.login(on(s, 'b.test', '/'))
  // No session: the gateway redirects straight to rd.
  const anon = await request(on(s, 'a.test', `/.gatehouse/logout?rd=${encodeURIComponent(on(s, 'b.test', '/bye'))}`))
  t.equal(anon.headers.location, on(s, 'b.test', '/bye'))
  const evil = await request(on(s, 'a.test', `/.gatehouse/logout?rd=${encodeURIComponent(on(s, 'evil.test', '/bye'))}`))
  t.equal(evil.headers.location, '/')
})

t.test('with Redis, a handoff spent on one replica is refused on another', async (t) => {
  const s = await startSessionStack(t, 'redis', { routes: ROUTES, replicas: 2 })
  const [one, two] = s.nodes
  const b = s.browser()
  const target = await callbackTarget(b, on(one!, 'b.test', '/p'))
  const onTwo = target.replace(`:${portOf(one!)}/`, `:${portOf(two!)}/`)
  const used = await b.fetch(onTwo)
  t.equal(used.status, 303, 'accepted by the second replica')
  const replay = await b.fetch(target)
  t.equal(replay.status, 400, 'the first replica refuses it: the jti is in Redis')
  t.match(replay.text, 'GH_HANDOFF_REPLAYED')
})

t.test('no handoff token in any log line; the access log redacts it', async (t) => {
  const raw: string[] = []
  const yaml = gatewayYaml({ routes: ROUTES }).replace('publicUrl: {{PUBLIC}}', 'publicUrl: {{PUBLIC}}\nlog:\n  level: debug')
  const s = await startStack(t, { yaml, deps: { logStream: { write: (line: string) => { raw.push(line) } } } })
  const b = s.browser()
  const target = await callbackTarget(b, on(s, 'b.test', '/logged'))
  const token = new URL(target).searchParams.get('token')!
  const bind = /gatehouse\.handoff=([\w-]+)/.exec(await b.cookieHeader(on(s, 'b.test', '/')))![1]!
  t.equal((await b.fetch(target)).status, 303)
  t.equal((await b.fetch(target)).status, 400, 'the replay is logged too')
  await new Promise((resolve) => setTimeout(resolve, 50))
  const lines = raw.map((l) => JSON.parse(l) as Record<string, unknown>)
  const handoffs = lines.filter((l) => l.msg === 'request' && String(l.url).startsWith('/.gatehouse/handoff'))
  t.equal(handoffs.length, 2, 'both handoff requests are in the access log')
  for (const l of handoffs) t.equal(l.url, '/.gatehouse/handoff?token=[redacted]')
  t.ok(lines.some((l) => l.msg === 'session handed over' && l.host === 'b.test'))
  t.ok(lines.some((l) => l.msg === 'handoff refused' && l.code === 'GH_HANDOFF_REPLAYED'))
  t.notOk(raw.some((l) => l.includes(token.slice(0, 40))), 'the token appears in no line')
  t.notOk(raw.some((l) => l.includes(bind)), 'nor the browser binding secret')
  t.ok(lines.some((l) => l.msg === 'request' && String(l.url).includes('handoff_secret=[redacted]')), 'the login URL is logged with it redacted')
})

t.test('a renewal due on another host runs as a login at publicUrl and comes back with fresh tokens', async (t) => {
  const clock = { offset: 0 }
  const yaml = flowYaml({ responseType: 'code', responseMode: 'query', scopes: '[openid, email, profile]', session: '  refreshBefore: 5s\n  clockSkew: 1s\n' }) +
    '  - host: b.test\n    path: /\n    upstream: {{UPSTREAM}}\n    bearer: id_token\n'
  const s = await startStack(t, {
    yaml,
    client: flowClient('code'),
    idp: { ttl: { IdToken: 60, AccessToken: 60 }, alwaysIssueRefreshToken: false },
    deps: { now: () => Date.now() + clock.offset },
  })
  const b = s.browser()
  t.equal((await b.login(on(s, 'b.test', '/page'))).status, 200)
  const sessionOnB = async (): Promise<Session | null> => {
    const { ours } = splitCookieHeader(s.gh.gateway.sessions.names, await b.cookieHeader(on(s, 'b.test', '/')))
    return (await s.gh.gateway.sessions.read(ours, s.gh.gateway.now())).session
  }
  const first = (await sessionOnB())!
  t.equal(first.refreshToken, undefined, 'no refresh token: renewal it is')
  clock.offset = 57_000
  const { res, hops } = await b.navigate(on(s, 'b.test', '/page'))
  t.equal(res.url, on(s, 'b.test', '/page'), 'back on the page')
  t.equal(res.status, 200)
  t.match(hops[0]!.headers.location, `${s.url}/.gatehouse/login?rd=`, 'sent to publicUrl\'s login, not to the provider from b.test')
  t.ok(hops.some((h) => pathOf(h) === '/.gatehouse/handoff'), 'and handed back')
  const renewed = (await sessionOnB())!
  t.not(renewed.idToken, first.idToken, 'with a new ID token')
})
