import t from 'tap'
import { NAVIGATE, request } from '../fixtures/browser.js'
import { DEFAULT_YAML, SESSION_SECRET, startGateway, startStack } from '../fixtures/stack.js'
import { Sealer } from '../../src/session/crypto.js'

const JSON_API = { accept: 'application/json', 'sec-fetch-mode': 'cors' }

function sessionCookie (header: string): { name: string, value: string } {
  const pair = header.split('; ').find((p) => /^gatehouse=/.test(p))!
  return { name: 'gatehouse', value: pair.slice('gatehouse='.length) }
}

t.test('tampered, truncated, foreign and misplaced cookies are "no session", never a 500', async (t) => {
  const s = await startStack(t)
  const b = s.browser()
  await b.login(`${s.url}/`)
  const { value } = sessionCookie(await b.cookieHeader(`${s.url}/`))
  const ok = await request(`${s.url}/api`, { headers: { ...JSON_API, cookie: `gatehouse=${value}` } })
  t.equal(ok.status, 200, 'the genuine cookie works')
  const flip = (v: string, i: number): string => v.slice(0, i) + (v[i] === 'A' ? 'B' : 'A') + v.slice(i + 1)
  const forged = new Sealer(['another-secret-0123456789abcdef-0123456789']).seal('session:gatehouse', JSON.stringify({ v: 1, id: 'x', provider: 'test', iat: Date.now(), seen: Date.now(), sub: 'admin', claims: { sub: 'admin' } }))
  const misplaced = new Sealer([SESSION_SECRET]).seal('login:gatehouse.login.x', JSON.stringify({ v: 1, id: 'x', provider: 'test', iat: Date.now(), seen: Date.now(), sub: 'admin', claims: { sub: 'admin' } }))
  const cases: [string, string][] = [
    ['flipped in the ciphertext', flip(value, Math.floor(value.length / 2))],
    ['flipped in the tag', flip(value, value.length - 3)],
    ['truncated', value.slice(0, value.length - 30)],
    ['empty', ''],
    ['garbage', 'not-a-sealed-value'],
    ['sealed with a foreign key', forged],
    ['sealed for another cookie name', misplaced],
    ['a chunk without its first part', ''],
  ]
  for (const [name, v] of cases) {
    const cookie = name.startsWith('a chunk') ? `gatehouse.2=${value}` : `gatehouse=${v}`
    const api = await request(`${s.url}/api`, { headers: { ...JSON_API, cookie } })
    t.equal(api.status, 401, `${name}: API client gets 401`)
    const nav = await request(`${s.url}/page`, { headers: { ...NAVIGATE, cookie } })
    t.equal(nav.status, 302, `${name}: browser is sent to log in`)
    if (v !== '') t.match(String(nav.headers['set-cookie']), /gatehouse=; Max-Age=0/, `${name}: the bad cookie is cleared`)
  }
})

t.test('idle and absolute timeouts are enforced on the server side', async (t) => {
  let now = Date.now()
  const yaml = DEFAULT_YAML.replace(`secret: ${SESSION_SECRET}`, `secret: ${SESSION_SECRET}\n  idleTimeout: 30m\n  absoluteTimeout: 2h\n  refreshBefore: 0s`)
  const s = await startStack(t, { yaml, deps: { now: () => now }, idp: { ttl: { AccessToken: 86_400, IdToken: 86_400 } } })
  const b = s.browser()
  await b.login(`${s.url}/`)
  const cookie = await b.cookieHeader(`${s.url}/`)
  now += 30 * 1000
  const quick = await request(`${s.url}/api`, { headers: { ...JSON_API, cookie } })
  t.equal(quick.status, 200)
  t.equal(quick.headers['set-cookie'], undefined, 'no cookie rewrite within the touch interval')
  now += 31 * 60 * 1000
  const idle = await request(`${s.url}/api`, { headers: { ...JSON_API, cookie } })
  t.equal(idle.status, 401, 'idle for 31 minutes: session over')

  // a session kept busy still ends at the absolute timeout
  const c = s.browser()
  await c.login(`${s.url}/`)
  for (let i = 0; i < 4; i++) {
    now += 25 * 60 * 1000
    const r = await c.fetch(`${s.url}/api`, { headers: JSON_API })
    t.equal(r.status, 200, `active at +${(i + 1) * 25} min`)
    t.match(String(r.headers['set-cookie']), /gatehouse=/, 'last-seen refreshed in the cookie')
  }
  now += 25 * 60 * 1000
  const late = await c.fetch(`${s.url}/api`, { headers: JSON_API })
  t.equal(late.status, 401, 'past 2 h absolute timeout')
})

t.test('secret rotation: [new, old] keeps users signed in and re-seals; [new] alone does not', async (t) => {
  const s = await startStack(t)
  const b = s.browser()
  await b.login(`${s.url}/`)
  const oldCookie = await b.cookieHeader(`${s.url}/`)
  const NEW = 'rotated-secret-0123456789abcdef-0123456789'
  const both = await startGateway(t, DEFAULT_YAML.replace(`secret: ${SESSION_SECRET}`, `secrets: [${NEW}, ${SESSION_SECRET}]`), { issuer: s.idp.issuer, upstream: s.upstream.url })
  const r = await request(`${both.url}/api`, { headers: { ...JSON_API, cookie: oldCookie } })
  t.equal(r.status, 200, 'old cookie accepted during rotation')
  const resealed = String(r.headers['set-cookie']).split(';')[0]!
  t.match(resealed, /^gatehouse=/, 're-sealed with the new key')
  t.equal(s.upstream.received.at(-1)!.headers['x-forwarded-user'], 'alice')
  const onlyNew = await startGateway(t, DEFAULT_YAML.replace(`secret: ${SESSION_SECRET}`, `secret: ${NEW}`), { issuer: s.idp.issuer, upstream: s.upstream.url })
  t.equal((await request(`${onlyNew.url}/api`, { headers: { ...JSON_API, cookie: oldCookie } })).status, 401, 'old secret retired: old cookie refused')
  t.equal((await request(`${onlyNew.url}/api`, { headers: { ...JSON_API, cookie: resealed } })).status, 200, 'the re-sealed cookie works')
})

t.test('a session with a large ID token is chunked and reassembled', async (t) => {
  const bio = Array.from({ length: 300 }, (_, i) => `word${i}`).join(' ')
  const s = await startStack(t, { idp: { users: { alice: { email: 'alice@example.com', groups: ['admins'], name: 'Alice', bio } }, configure: (c) => { c.claims.profile.push('bio') } } })
  const b = s.browser()
  const res = await b.login(`${s.url}/`)
  t.equal(res.status, 200)
  const names = (await b.jar.getCookies(`${s.url}/`)).map((c) => c.key).sort()
  t.ok(names.includes('gatehouse.1') && names.includes('gatehouse.2'), `chunked: ${names.join(', ')}`)
  t.notOk(names.includes('gatehouse'), 'no unchunked cookie alongside')
  const again = await b.fetch(`${s.url}/x`, { headers: JSON_API })
  t.equal(again.status, 200, 'chunks reassemble')
  t.equal(again.json().headers['x-forwarded-user'], 'alice')
  t.notMatch(String(again.json().headers.cookie ?? ''), /gatehouse/, 'no chunk reaches the upstream')
  const ui = await b.fetch(`${s.url}/.gatehouse/userinfo`, { headers: JSON_API })
  t.equal(ui.json().bio, bio)
})

t.test('logout ends the session for every copy of the cookie and goes to the provider', async (t) => {
  const s = await startStack(t)
  const b = s.browser()
  await b.login(`${s.url}/`)
  const copy = await b.cookieHeader(`${s.url}/`)
  const out = await b.fetch(`${s.url}/.gatehouse/logout?rd=/bye`)
  t.equal(out.status, 302)
  const loc = new URL(out.headers.location!)
  t.equal(loc.origin + loc.pathname, `${s.idp.issuer}/session/end`, 'provider end-session endpoint')
  t.equal(loc.searchParams.get('post_logout_redirect_uri'), `${s.url}/bye`)
  t.equal(loc.searchParams.get('id_token_hint')?.split('.').length, 3, 'id_token_hint sent')
  t.match(String(out.headers['set-cookie']), /gatehouse=; Max-Age=0/)
  t.equal((await b.fetch(`${s.url}/api`, { headers: JSON_API })).status, 401, 'browser signed out')
  t.equal((await request(`${s.url}/api`, { headers: { ...JSON_API, cookie: copy } })).status, 401, 'a copy taken before logout no longer works')
  // the provider's own logout page, then back to /bye
  const { hops } = await b.navigate(out.headers.location!, { stopAt: (r) => r.url.startsWith(`${s.url}/bye`) })
  t.ok(hops.some((h) => h.url.startsWith(`${s.url}/bye`)), 'provider sends the user back to the return path')
  // without a session: straight to rd, open-redirect safe
  const anon = await request(`${s.url}/.gatehouse/logout?rd=//evil.example`)
  t.equal(anon.status, 302)
  t.equal(anon.headers.location, '/')
  const post = await request(`${s.url}/.gatehouse/logout`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'rd=%2Fdone' })
  t.equal(post.headers.location, '/done', 'POST logout with a form body')
  const ui = await request(`${s.url}/.gatehouse/userinfo`)
  t.equal(ui.status, 401)
})

t.test('a login whose session cannot fit in the cookie chunks is GH_SESSION_TOO_LARGE, not a provider error', async (t) => {
  // Far beyond MAX_CHUNKS × CHUNK_SIZE once in the ID token and the claims.
  const bio = Array.from({ length: 8000 }, (_, i) => `word${i}`).join(' ')
  const s = await startStack(t, { idp: { users: { alice: { email: 'alice@example.com', groups: ['admins'], name: 'Alice', bio } }, configure: (c) => { c.claims.profile.push('bio') } } })
  const b = s.browser()
  const res = await b.login(`${s.url}/`)
  t.equal(res.status, 500)
  t.equal(res.headers['x-gatehouse-response'], 'GH_SESSION_TOO_LARGE')
  t.match(res.text, /GH_SESSION_TOO_LARGE/)
  t.notMatch(res.text, /word1 /, 'the page does not echo the claims')
  t.match(res.url, /\/\.gatehouse\/callback/, 'refused at the callback')
  const names = (await b.jar.getCookies(`${s.url}/`)).map((c) => c.key)
  t.notOk(names.some((n) => n === 'gatehouse' || n.startsWith('gatehouse.') && /\.\d+$/.test(n)), `no session cookie: ${names.join(', ')}`)
})
