import t from 'tap'
import { NAVIGATE, request } from '../fixtures/browser.js'
import { loginCookie, startSessionStack } from '../fixtures/gateway.js'

/**
 * Path confusion, driven through the gateway: with a public prefix in front
 * of protected routes, no spelling of a path lets an anonymous request (or a
 * signed-in user outside the group) reach a protected route's upstream.
 */

const ROUTES = `
  - path: /public/
    upstream: {{UPSTREAM}}
    auth: public
  - path: /admins/
    upstream: {{UPSTREAM}}
    allow:
      groups: [admins]
  - path: /
    upstream: {{UPSTREAM}}
`

/** `..` and `/` in every spelling an upstream might resolve, from `prefix` into `target`. */
function traversals (prefix: string, target: string): string[] {
  const dots = ['..', '%2e%2e', '%2E%2E', '.%2e', '%2E.', '%2e.']
  const seps = ['/', '%2f', '%2F', '\\', '%5c', '%5C']
  const out: string[] = []
  for (const d of dots) {
    for (const s of seps) {
      out.push(`${prefix}${d}${s}${target}`, `${prefix}x${s}${d}${s}${d}${s}${target}`)
    }
    out.push(`${prefix}${d};/${target}`, `${prefix}${d};a=b/${target}`, `${prefix}/${d}/${target}`)
  }
  out.push(
    `${prefix}%252e%252e%252f${target}`, // double encoding
    `${prefix}%252e%252e/${target}`,
    `${prefix}..%252f${target}`,
    `${prefix}%c0%ae%c0%ae/${target}`, // overlong UTF-8 dots
    `${prefix}..%00/${target}`,
    `${prefix}..%2f${target}%00`,
  )
  return out
}

t.test('anonymous: no spelling of a traversal out of the public prefix reaches the upstream', async (t) => {
  const s = await startSessionStack(t, 'cookie', { routes: ROUTES })
  // The three spellings first seen, then the whole table.
  const paths = ['/public/..%2fadmin', '/public/%2e%2e%2fadmin', '/public/..\\admin', ...traversals('/public/', 'admin'), ...traversals('/public/', 'admins/x')]
  t.ok(paths.length > 100, `${paths.length} spellings`)
  let reached = 0
  const statuses = new Map<number, number>()
  for (const p of paths) {
    const before = s.upstream.received.length
    const r = await request(s.url, { rawPath: p, headers: { accept: 'application/json' } })
    statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1)
    if (s.upstream.received.length !== before) {
      reached++
      t.fail(`${p} reached the upstream as ${s.upstream.received.at(-1)!.url} (${r.status})`)
    } else {
      t.ok(r.status === 400 || r.status === 401, `${p}: ${r.status}`)
    }
    if (r.status === 400) t.equal(r.headers['x-gatehouse-response'], 'GH_BAD_PATH', `${p}: refused as a bad path`)
  }
  t.equal(reached, 0, 'no anonymous request reached the upstream')
  t.comment(`statuses: ${JSON.stringify(Object.fromEntries(statuses))}`)
  t.ok((statuses.get(400) ?? 0) > 0 && (statuses.get(401) ?? 0) > 0, 'both ambiguous spellings (400) and plain traversals into a protected route (401)')
  // What must keep working.
  for (const [p, sent] of [['/public/x', '/public/x'], ['/public/a%2Fb', '/public/a%2Fb'], ['/public/./x', '/public/x'], ['/public/caf%C3%A9', '/public/caf%C3%A9'], ['/public/x?q=..%2f', '/public/x?q=..%2f']] as const) {
    const r = await request(s.url, { rawPath: p })
    t.equal(r.status, 200, `${p} is public`)
    t.equal(s.upstream.received.at(-1)!.url, sent, `the upstream got ${sent}`)
  }
  const nav = await request(s.url, { rawPath: '/public/../admin', headers: NAVIGATE })
  t.equal(nav.status, 302, 'a traversal into a protected route is a protected request (login)')
})

t.test('signed in outside the group: no spelling reaches the guarded route', async (t) => {
  const s = await startSessionStack(t, 'cookie', { routes: ROUTES })
  const bob = await loginCookie(s.browser(), `${s.url}/`, 'bob')
  const alice = await loginCookie(s.browser(), `${s.url}/`, 'alice')
  const paths = ['/public/..%2fadmins/x', ...traversals('/public/', 'admins/x'), '/admins/../admins/x', '/x/../admins/x', '/%61dmins/x', '/admins;/x', '//admins/x']
  for (const p of paths) {
    const before = s.upstream.received.length
    const r = await request(s.url, { rawPath: p, headers: { accept: 'application/json', cookie: bob } })
    const got = s.upstream.received.slice(before)
    t.notOk(got.some((g) => g.url.startsWith('/admins/') || g.url.includes('admins/x')), `${p}: bob never reaches /admins/ (${r.status})`)
  }
  const ok = await request(s.url, { rawPath: '/x/../admins/x', headers: { cookie: alice } })
  t.equal(ok.status, 200, 'alice, an admin, is let through a resolved path')
  t.equal(s.upstream.received.at(-1)!.url, '/admins/x', 'and the upstream gets the resolved path')
  const enc = await request(s.url, { rawPath: '/%61dmins/x', headers: { cookie: bob } })
  t.equal(enc.status, 403, 'an encoded letter is decoded before the policy: bob gets 403 on /%61dmins/x')
})
