import t from 'tap'
import { buildApp } from '../../../src/app.js'
import { bindingUrl, handoffBinding, handoffHost, HANDOFF_TTL_MS, loginElsewhere, openHandoff, returnTarget, sealHandoff } from '../../../src/auth/handoff.js'
import { parseConfig } from '../../../src/config/load.js'
import type { Gateway } from '../../../src/context.js'
import { domainCovers } from '../../../src/session/cookies.js'
import { Sealer } from '../../../src/session/crypto.js'
import { SESSION_SECRET } from '../../fixtures/stack.js'

const NOW = 1_800_000_000_000
const sealer = new Sealer([SESSION_SECRET])
const RD = 'https://b.other.test/page?x=1'
const BIND = 'b'.repeat(22)

t.test('openHandoff: only a fresh token sealed here, for this host', async (t) => {
  const token = sealHandoff(sealer, { any: 'ticket' }, RD, NOW, BIND)
  const ok = openHandoff(sealer, token, 'b.other.test', NOW + HANDOFF_TTL_MS, BIND)
  t.same(ok.ok ? [ok.handoff.host, ok.handoff.rd, ok.handoff.ticket, ok.handoff.exp] : ok, ['b.other.test', RD, { any: 'ticket' }, NOW + HANDOFF_TTL_MS], 'opens on its host until it expires')
  const a = openHandoff(sealer, token, 'b.other.test', NOW, BIND)
  const b = openHandoff(sealer, sealHandoff(sealer, {}, RD, NOW, BIND), 'b.other.test', NOW, BIND)
  t.ok(a.ok && b.ok && a.handoff.jti !== b.handoff.jti && a.handoff.jti.length >= 22, 'a fresh random jti per token')
  const flip = (v: string, i: number): string => v.slice(0, i) + (v[i] === 'A' ? 'B' : 'A') + v.slice(i + 1)
  const rows: [string, unknown, string, number, string, string?][] = [
    // name, token, host, now, code, binding held
    ['no binding cookie', token, 'b.other.test', NOW, 'GH_HANDOFF_WRONG_BROWSER', ''],
    ['another browser\'s binding', token, 'b.other.test', NOW, 'GH_HANDOFF_WRONG_BROWSER', 'c'.repeat(22)],
    ['a binding one character short', token, 'b.other.test', NOW, 'GH_HANDOFF_WRONG_BROWSER', 'b'.repeat(21)],
    ['another host', token, 'a.other.test', NOW, 'GH_HANDOFF_WRONG_HOST'],
    ['the host with a port', token, 'b.other.test:443', NOW, 'GH_HANDOFF_WRONG_HOST'],
    ['expired', token, 'b.other.test', NOW + HANDOFF_TTL_MS + 1, 'GH_HANDOFF_EXPIRED'],
    ['tampered', flip(token, 40), 'b.other.test', NOW, 'GH_HANDOFF_INVALID'],
    ['another secret', sealHandoff(new Sealer(['x'.repeat(40)]), {}, RD, NOW, BIND), 'b.other.test', NOW, 'GH_HANDOFF_INVALID'],
    ['another purpose', sealer.seal('session:gatehouse', JSON.stringify({ host: 'b.other.test', rd: RD, exp: NOW + 1, jti: 'j', bind: BIND })), 'b.other.test', NOW, 'GH_HANDOFF_INVALID'],
    ['not JSON', sealer.seal('handoff', 'nope'), 'b.other.test', NOW, 'GH_HANDOFF_INVALID'],
    ['JSON null', sealer.seal('handoff', 'null'), 'b.other.test', NOW, 'GH_HANDOFF_INVALID'],
    ['fields missing', sealer.seal('handoff', JSON.stringify({ host: 'b.other.test' })), 'b.other.test', NOW, 'GH_HANDOFF_INVALID'],
    ['no binding in it', sealer.seal('handoff', JSON.stringify({ host: 'b.other.test', ticket: {}, rd: RD, exp: NOW + 1, jti: 'j' })), 'b.other.test', NOW, 'GH_HANDOFF_INVALID'],
    ['not a string', ['a'], 'b.other.test', NOW, 'GH_HANDOFF_INVALID'],
    ['absent', undefined, 'b.other.test', NOW, 'GH_HANDOFF_INVALID'],
    ['empty', '', 'b.other.test', NOW, 'GH_HANDOFF_INVALID'],
    ['huge', 'A'.repeat(70_000), 'b.other.test', NOW, 'GH_HANDOFF_INVALID'],
  ]
  for (const [name, tok, host, now, code, held] of rows) {
    const r = openHandoff(sealer, tok, host, now, held === '' ? undefined : held ?? BIND)
    t.same(r.ok ? 'ok' : r.code, code, name)
  }
})

t.test('domainCovers: the domain and its subdomains, nothing else', async (t) => {
  const rows: [string | undefined, string, boolean][] = [
    ['example.com', 'example.com', true],
    ['example.com', 'a.example.com', true],
    ['.Example.com', 'a.b.example.com', true],
    ['example.com', 'badexample.com', false],
    ['example.com', 'example.com.evil.test', false],
    [undefined, 'example.com', false],
  ]
  for (const [d, host, want] of rows) t.equal(domainCovers(d, host), want, `${String(d)} ${host}`)
})

const YAML = `
listen: 127.0.0.1:8443
publicUrl: https://auth.shared.test:8443
providers:
  - { id: p, issuer: http://127.0.0.1:9/, clientId: c, clientSecret: s }
session: { secret: ${SESSION_SECRET}, cookieDomain: shared.test }
routes:
  - { host: "*.shared.test", path: /, upstream: http://127.0.0.1:7001 }
  - { host: b.other.test, path: /, upstream: http://127.0.0.1:7001 }
`

t.test('where the browser goes after a login, and where a login runs', async (t) => {
  const gh = await buildApp(parseConfig(YAML, { env: {} }), { logger: false })
  t.teardown(async () => gh.close())
  const gw: Gateway = gh.gateway
  const rows: [string, string | undefined][] = [
    ['/path', undefined],
    ['https://auth.shared.test:8443/x', undefined],
    ['https://one.shared.test:8443/x', undefined],
    ['https://b.other.test:8443/x', 'b.other.test'],
  ]
  for (const [rd, host] of rows) {
    t.equal(handoffHost(gw.returnOrigin, gw.config.session.cookieDomain, rd), host, `${rd}: handoff host ${String(host)}`)
    const target = returnTarget(gw, rd, 'ticket', NOW, BIND)
    if (host === undefined) t.equal(target, rd, `${rd}: straight back`)
    else t.match(target, /^https:\/\/b\.other\.test:8443\/\.gatehouse\/handoff\?token=[A-Za-z0-9_-]+$/, `${rd}: by the handoff`)
    t.equal(handoffBinding(gw, rd, BIND), host === undefined ? undefined : BIND, `${rd}: binding`)
    t.equal(handoffBinding(gw, rd, 'short'), host === undefined ? undefined : false, `${rd}: a malformed binding is none`)
  }
  t.equal(returnTarget(gw, 'https://b.other.test:8443/x', 'ticket', NOW, undefined), bindingUrl('https://b.other.test:8443/x'), 'no binding: the browser fetches one on that host first')
  t.equal(bindingUrl('https://b.other.test:8443/x?y=1', 'p'), `https://b.other.test:8443/.gatehouse/login?rd=${encodeURIComponent('https://b.other.test:8443/x?y=1')}&provider=p`)
  t.equal(loginElsewhere(gw, 'auth.shared.test', '/x', undefined), undefined, 'on the publicUrl host the login runs there')
  t.same(loginElsewhere(gw, 'one.shared.test', '/x?y=1', undefined, 'p'), { url: `https://auth.shared.test:8443/.gatehouse/login?rd=${encodeURIComponent('https://one.shared.test:8443/x?y=1')}&provider=p`, cookies: [] }, 'under the cookie domain: no binding')
  const fresh = loginElsewhere(gw, 'b.other.test', '/z', undefined)!
  const secret = /&handoff_secret=([A-Za-z0-9_-]{22})$/.exec(fresh.url)?.[1]
  t.ok(fresh.url.startsWith(`https://auth.shared.test:8443/.gatehouse/login?rd=${encodeURIComponent('https://b.other.test:8443/z')}&handoff_secret=`) && secret !== undefined, 'outside it: a fresh binding secret in the URL')
  t.match(fresh.cookies[0], new RegExp(`^__Secure-gatehouse\\.handoff=${secret}; Max-Age=600; Path=/; HttpOnly; Secure; SameSite=Lax$`), '… and in a host-only cookie')
  const again = loginElsewhere(gw, 'b.other.test', '/z', `__Secure-gatehouse.handoff=${BIND}; app=1`)!
  t.ok(again.url.endsWith(`&handoff_secret=${BIND}`), 'a binding the browser holds is reused (logins in several tabs)')
  t.not(loginElsewhere(gw, 'b.other.test', '/z', undefined)!.url, fresh.url, 'fresh secrets differ')
  const names = gw.sessions.names
  t.equal(names.session, '__Secure-gatehouse', 'https with a cookie domain: __Secure-')
  t.equal(gw.sessions.cookieOptionsFor('one.shared.test').domain, 'shared.test')
  t.equal(gw.sessions.cookieOptionsFor(undefined).domain, 'shared.test')
  t.equal(gw.sessions.cookieOptionsFor('b.other.test').domain, undefined, 'outside the cookie domain: host-only')
  t.equal(gw.sessions.cookieOptionsFor('b.other.test').secure, true)
})
