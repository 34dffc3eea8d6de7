import t from 'tap'
import { normalisePath } from '../../../src/routing/normalise.js'

/** Routes of the table: a public prefix, a guarded one, and the protected rest. */
function route (p: string): string {
  if (p.startsWith('/public/')) return 'public'
  if (p === '/admins' || p.startsWith('/admins/')) return 'admins'
  if (p === '/admin' || p.startsWith('/admin/')) return 'admin'
  return 'root'
}

t.test('plain and safely normalised paths: decision path, upstream path, route', async (t) => {
  const cases: [string, string, string, string][] = [
    // request path, decision path, upstream path, route
    ['/', '/', '/', 'root'],
    ['/public/x', '/public/x', '/public/x', 'public'],
    ['/public/', '/public/', '/public/', 'public'],
    ['/admin', '/admin', '/admin', 'admin'],
    ['/public/../admin', '/admin', '/admin', 'admin'],
    ['/public/./x', '/public/x', '/public/x', 'public'],
    ['/x/../public/y', '/public/y', '/public/y', 'public'],
    ['/a/b/..', '/a/', '/a/', 'root'],
    ['/a/b/.', '/a/b/', '/a/b/', 'root'],
    ['/..', '/', '/', 'root'],
    ['/../../admin', '/admin', '/admin', 'admin'],
    ['/.', '/', '/', 'root'],
    ['/a/%2e%2e/b', '/b', '/b', 'root'],
    ['/%2E/x', '/x', '/x', 'root'],
    ['/x/%2e%2E/y', '/y', '/y', 'root'],
    ['/%61dmin', '/admin', '/%61dmin', 'admin'],
    ['/%41dmin', '/Admin', '/%41dmin', 'root'],
    ['/public/a%2Fb', '/public/a/b', '/public/a%2Fb', 'public'],
    ['/public/a%2fb%5cc', '/public/a/b/c', '/public/a%2fb%5cc', 'public'],
    ['/caf%C3%A9', '/café', '/caf%C3%A9', 'root'],
    ['/public/a;b=c', '/public/a;b=c', '/public/a;b=c', 'public'],
    ['/a;x/b', '/a;x/b', '/a;x/b', 'root'],
    ['/public//x', '/public//x', '/public//x', 'public'],
    ['/a//b', '/a//b', '/a//b', 'root'],
    ['/public/%2541', '/public/%41', '/public/%2541', 'public'],
    ['/a\\b', '/a/b', '/a/b', 'root'],
    ['/public/x\\y', '/public/x/y', '/public/x/y', 'public'],
  ]
  for (const [path, decided, upstream, r] of cases) {
    const n = normalisePath(path, route)
    if (!n.ok) { t.fail(`${path}: refused (${n.reason})`); continue }
    t.same([n.path, n.upstream, n.route], [decided, upstream, r], path)
    t.equal(n.changed, upstream !== path, `${path}: changed`)
  }
})

t.test('every spelling that would let an upstream land on another route is refused', async (t) => {
  // Traversal out of /public/ into /admin, in every spelling of `..` and of the separator.
  const dots = ['..', '%2e%2e', '%2E%2E', '.%2e', '%2e.', '.%2E', '%2E.']
  const seps = ['%2f', '%2F', '\\', '%5c', '%5C']
  const refused: string[] = []
  for (const d of dots) for (const s of seps) refused.push(`/public/${d}${s}admin`, `/public/x/${d}${s}${d}${s}admin/y`)
  refused.push(
    '/public/..;/admin', // servlet path parameters: Tomcat reads ../admin
    '/public/..;x=1/admin',
    '/admin;jsessionid=1', // Tomcat serves /admin, the table says root
    '/admins;/x',
    '//admin', // an upstream merging slashes serves /admin
    '/public//../admin', // merged: /public/../admin -> /admin; kept: /public/admin
    '/public/%2e%2e/admin'.replace('/admin', '%2fadmin'),
    '/public/..%2f..%2fadmins/x',
    '/public/%2e%2e%5cadmins',
    '/public/..\\admins\\x',
    '/public/%2e%2e/admin', // an upstream that does not decode %2e keeps it under /public/
    '/public/.%2e/admin',
    '/%2e%2E/admin', // decoded: /admin; not decoded: a segment of the catch-all
    '/public\\x', // read as /public/x by some, as one segment of the catch-all by others
    '/public/%252F'.replace('%252F', '%252f'),
  )
  for (const path of refused) {
    const n = normalisePath(path, route)
    t.equal(n.ok, false, `refused: ${path}`)
  }
})

t.test('paths that cannot be normalised at all', async (t) => {
  const cases: [string, RegExp][] = [
    ['/a%00b', /NUL or control/],
    ['/a%0ab', /NUL or control/],
    ['/a%0Db', /NUL or control/],
    ['/a%7f', /NUL or control/],
    ['/a/%zz', /invalid percent-escape/],
    ['/a/%2', /invalid percent-escape/],
    ['/a/%', /invalid percent-escape/],
    ['/a/%%41', /invalid percent-escape/],
    ['/a/%g0', /invalid percent-escape/],
    ['/x/%252e%252e/y', /double-encoded/],
    ['/x/%252f', /double-encoded/],
    ['/x/%255c', /double-encoded/],
    ['/x/%2525', /double-encoded/],
    ['/x/%2500', /double-encoded/],
    ['/x/%c0%ae%c0%ae/admin', /not UTF-8/],
    ['/x/%ff', /not UTF-8/],
    ['/x/%e2%82', /not UTF-8/],
    ['relative', /does not start/],
    ['*', /does not start/],
  ]
  for (const [path, reason] of cases) {
    const n = normalisePath(path, route)
    t.equal(n.ok, false, `refused: ${path}`)
    if (!n.ok) t.match(n.reason, reason, `${path}: ${n.reason}`)
  }
})

t.test('the route function sees only normalised paths; a plain path is one lookup', async (t) => {
  const seen: string[] = []
  normalisePath('/public/x', (p) => { seen.push(p); return route(p) })
  t.same(seen, ['/public/x'], 'one lookup for a plain path')
  seen.length = 0
  normalisePath('/public/a%2Fb;c', (p) => { seen.push(p); return route(p) })
  t.ok(seen.length > 1, 'ambiguous spellings: every reading is looked up')
  t.ok(seen.every((p) => !p.includes('/./') && !p.includes('/../')), 'never a dot segment')
})
