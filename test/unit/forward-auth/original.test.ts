import type { IncomingMessage } from 'node:http'
import t from 'tap'
import type { CompiledRoute } from '../../../src/context.js'
import { originalFacts, returnTo } from '../../../src/forward-auth/plugin.js'
import { MAX_TARGET, readOriginal, type CallInfo, type OriginalResult } from '../../../src/forward-auth/original.js'
import { resolve } from '../../../src/pipeline/decide.js'
import { buildRouteTable, type RouteTable } from '../../../src/routing/match.js'

const CALL: CallInfo = { method: 'GET', suffix: undefined, defaultProto: 'https' }

/** Flat rawHeaders from pairs, spelled exactly as given. */
const raw = (...pairs: [string, string][]): string[] => pairs.flat()

type Expect = { method: string, proto: string, host: string, target: string, via: string } | `GH_${string}`

const TABLE: [string, string[], Partial<CallInfo>, Expect][] = [
  // Nothing names the original request.
  ['no header at all', raw(['Host', 'auth']), {}, 'GH_AUTH_NO_ORIGINAL_URL'],
  ['X-Forwarded-Host and -Proto without -Uri', raw(['X-Forwarded-Host', 'a.example'], ['X-Forwarded-Proto', 'https']), {}, 'GH_AUTH_NO_ORIGINAL_URL'],
  ['X-Original-Method alone', raw(['X-Original-Method', 'GET'], ['Host', 'a.example']), {}, 'GH_AUTH_NO_ORIGINAL_URL'],
  // Traefik / Caddy.
  ['Traefik: all four', raw(['X-Forwarded-Method', 'POST'], ['X-Forwarded-Proto', 'http'], ['X-Forwarded-Host', 'app.example.com'], ['X-Forwarded-Uri', '/a/b?c=d']), {}, { method: 'POST', proto: 'http', host: 'app.example.com', target: '/a/b?c=d', via: 'x-forwarded' }],
  ['lower-case names', raw(['x-forwarded-method', 'GET'], ['x-forwarded-host', 'app.example.com'], ['x-forwarded-uri', '/']), {}, { method: 'GET', proto: 'https', host: 'app.example.com', target: '/', via: 'x-forwarded' }],
  ['upper-case names', raw(['X-FORWARDED-HOST', 'app.example.com'], ['X-FORWARDED-URI', '/x'], ['X-FORWARDED-PROTO', 'HTTPS']), {}, { method: 'GET', proto: 'https', host: 'app.example.com', target: '/x', via: 'x-forwarded' }],
  ['Caddy: Host, no X-Forwarded-Host', raw(['Host', 'app.example.com:8443'], ['X-Forwarded-Method', 'PUT'], ['X-Forwarded-Uri', '/x']), {}, { method: 'PUT', proto: 'https', host: 'app.example.com:8443', target: '/x', via: 'x-forwarded' }],
  ['no method: the call\'s', raw(['X-Forwarded-Host', 'h'], ['X-Forwarded-Uri', '/x']), { method: 'HEAD' }, { method: 'HEAD', proto: 'https', host: 'h', target: '/x', via: 'x-forwarded' }],
  ['IPv6 host', raw(['X-Forwarded-Host', '[::1]:8080'], ['X-Forwarded-Uri', '/x']), {}, { method: 'GET', proto: 'https', host: '[::1]:8080', target: '/x', via: 'x-forwarded' }],
  ['X-Forwarded-Uri twice', raw(['X-Forwarded-Host', 'h'], ['X-Forwarded-Uri', '/a'], ['X-Forwarded-Uri', '/public']), {}, 'GH_AUTH_BAD_ORIGINAL'],
  ['X-Forwarded-Uri twice, spelled differently', raw(['X-Forwarded-Host', 'h'], ['X-Forwarded-Uri', '/a'], ['x-forwarded-uri', '/public']), {}, 'GH_AUTH_BAD_ORIGINAL'],
  ['X-Forwarded-Host twice', raw(['X-Forwarded-Host', 'h'], ['X-Forwarded-Host', 'i'], ['X-Forwarded-Uri', '/a']), {}, 'GH_AUTH_BAD_ORIGINAL'],
  ['X-Forwarded-Host as a list', raw(['X-Forwarded-Host', 'h, i'], ['X-Forwarded-Uri', '/a']), {}, 'GH_AUTH_BAD_ORIGINAL'],
  ['X-Forwarded-Method twice', raw(['X-Forwarded-Method', 'GET'], ['X-Forwarded-Method', 'POST'], ['X-Forwarded-Host', 'h'], ['X-Forwarded-Uri', '/a']), {}, 'GH_AUTH_BAD_ORIGINAL'],
  ['X-Forwarded-Proto as a list', raw(['X-Forwarded-Proto', 'https,http'], ['X-Forwarded-Host', 'h'], ['X-Forwarded-Uri', '/a']), {}, 'GH_AUTH_BAD_ORIGINAL'],
  ['method with a space', raw(['X-Forwarded-Method', 'G T'], ['X-Forwarded-Host', 'h'], ['X-Forwarded-Uri', '/a']), {}, 'GH_AUTH_BAD_ORIGINAL'],
  ['method with a colon', raw(['X-Forwarded-Method', 'GET:'], ['X-Forwarded-Host', 'h'], ['X-Forwarded-Uri', '/a']), {}, 'GH_AUTH_BAD_ORIGINAL'],
  ['method too long', raw(['X-Forwarded-Method', 'G'.repeat(40)], ['X-Forwarded-Host', 'h'], ['X-Forwarded-Uri', '/a']), {}, 'GH_AUTH_BAD_ORIGINAL'],
  ['empty X-Forwarded-Uri', raw(['X-Forwarded-Host', 'h'], ['X-Forwarded-Uri', '']), {}, 'GH_AUTH_BAD_ORIGINAL'],
  ['URI not starting with /', raw(['X-Forwarded-Host', 'h'], ['X-Forwarded-Uri', 'a/b']), {}, 'GH_AUTH_BAD_ORIGINAL'],
  ['absolute URI in X-Forwarded-Uri', raw(['X-Forwarded-Host', 'h'], ['X-Forwarded-Uri', 'http://evil/a']), {}, 'GH_AUTH_BAD_ORIGINAL'],
  ['URI with a space', raw(['X-Forwarded-Host', 'h'], ['X-Forwarded-Uri', '/a b']), {}, 'GH_AUTH_BAD_ORIGINAL'],
  ['URI with a tab', raw(['X-Forwarded-Host', 'h'], ['X-Forwarded-Uri', '/a\tb']), {}, 'GH_AUTH_BAD_ORIGINAL'],
  ['URI with CR/LF', raw(['X-Forwarded-Host', 'h'], ['X-Forwarded-Uri', '/a\r\nX-Evil: 1']), {}, 'GH_AUTH_BAD_ORIGINAL'],
  ['URI with a fragment', raw(['X-Forwarded-Host', 'h'], ['X-Forwarded-Uri', '/a#b']), {}, 'GH_AUTH_BAD_ORIGINAL'],
  ['URI with non-ASCII', raw(['X-Forwarded-Host', 'h'], ['X-Forwarded-Uri', '/caf\u00e9']), {}, 'GH_AUTH_BAD_ORIGINAL'],
  ['URI of MAX_TARGET', raw(['X-Forwarded-Host', 'h'], ['X-Forwarded-Uri', '/' + 'a'.repeat(MAX_TARGET - 1)]), {}, { method: 'GET', proto: 'https', host: 'h', target: '/' + 'a'.repeat(MAX_TARGET - 1), via: 'x-forwarded' }],
  ['URI over MAX_TARGET', raw(['X-Forwarded-Host', 'h'], ['X-Forwarded-Uri', '/' + 'a'.repeat(MAX_TARGET)]), {}, 'GH_AUTH_BAD_ORIGINAL'],
  ['host with a space', raw(['X-Forwarded-Host', 'a b'], ['X-Forwarded-Uri', '/a']), {}, 'GH_AUTH_BAD_ORIGINAL'],
  ['host with a slash', raw(['X-Forwarded-Host', 'a/b'], ['X-Forwarded-Uri', '/a']), {}, 'GH_AUTH_BAD_ORIGINAL'],
  ['host with userinfo', raw(['X-Forwarded-Host', 'u@h'], ['X-Forwarded-Uri', '/a']), {}, 'GH_AUTH_BAD_ORIGINAL'],
  ['no host at all', raw(['X-Forwarded-Uri', '/a']), {}, 'GH_AUTH_BAD_ORIGINAL'],
  ['scheme other than http(s)', raw(['X-Forwarded-Proto', 'ws'], ['X-Forwarded-Host', 'h'], ['X-Forwarded-Uri', '/a']), {}, 'GH_AUTH_BAD_ORIGINAL'],
  // Encodings are passed on as sent: the path is judged by routing/normalise.ts.
  ['encoded slash kept', raw(['X-Forwarded-Host', 'h'], ['X-Forwarded-Uri', '/a%2Fb']), {}, { method: 'GET', proto: 'https', host: 'h', target: '/a%2Fb', via: 'x-forwarded' }],
  ['backslashes kept', raw(['X-Forwarded-Host', 'h'], ['X-Forwarded-Uri', '/a\\..\\b']), {}, { method: 'GET', proto: 'https', host: 'h', target: '/a\\..\\b', via: 'x-forwarded' }],
  ['double encoding kept', raw(['X-Forwarded-Host', 'h'], ['X-Forwarded-Uri', '/%252e%252e/b']), {}, { method: 'GET', proto: 'https', host: 'h', target: '/%252e%252e/b', via: 'x-forwarded' }],
  // nginx.
  ['X-Original-URL absolute', raw(['Host', 'gatehouse'], ['X-Original-URL', 'http://App.example.com:8080/p?q=1']), {}, { method: 'GET', proto: 'http', host: 'App.example.com:8080', target: '/p?q=1', via: 'x-original-url' }],
  ['X-Original-URL, scheme upper-case', raw(['X-Original-URL', 'HTTPS://h/p']), {}, { method: 'GET', proto: 'https', host: 'h', target: '/p', via: 'x-original-url' }],
  ['X-Original-URL without a path', raw(['X-Original-URL', 'https://h']), {}, { method: 'GET', proto: 'https', host: 'h', target: '/', via: 'x-original-url' }],
  ['X-Original-URL with only a query', raw(['X-Original-URL', 'https://h?x=1']), {}, { method: 'GET', proto: 'https', host: 'h', target: '/?x=1', via: 'x-original-url' }],
  ['X-Original-URL relative, with Host', raw(['Host', 'h:81'], ['X-Original-URL', '/p']), {}, { method: 'GET', proto: 'https', host: 'h:81', target: '/p', via: 'x-original-url' }],
  ['X-Original-URL relative, no Host', raw(['X-Original-URL', '/p']), {}, 'GH_AUTH_BAD_ORIGINAL'],
  ['X-Original-URL scheme-relative', raw(['Host', 'h'], ['X-Original-URL', '//evil/p']), {}, 'GH_AUTH_BAD_ORIGINAL'],
  ['X-Original-URL another scheme', raw(['X-Original-URL', 'ftp://h/p']), {}, 'GH_AUTH_BAD_ORIGINAL'],
  ['X-Original-URL with userinfo', raw(['X-Original-URL', 'https://u:p@h/p']), {}, 'GH_AUTH_BAD_ORIGINAL'],
  ['X-Original-URL with an empty host', raw(['X-Original-URL', 'https:///p']), {}, 'GH_AUTH_BAD_ORIGINAL'],
  ['X-Original-URL not a URL', raw(['X-Original-URL', 'http//h/p']), {}, 'GH_AUTH_BAD_ORIGINAL'],
  ['X-Original-URL twice', raw(['X-Original-URL', 'https://h/a'], ['x-original-url', 'https://h/public']), {}, 'GH_AUTH_BAD_ORIGINAL'],
  ['X-Original-Method', raw(['X-Original-URL', 'https://h/p'], ['X-Original-Method', 'DELETE']), { method: 'GET' }, { method: 'DELETE', proto: 'https', host: 'h', target: '/p', via: 'x-original-url' }],
  ['bad X-Original-Method', raw(['X-Original-URL', 'https://h/p'], ['X-Original-Method', 'DE LETE']), {}, 'GH_AUTH_BAD_ORIGINAL'],
  ['X-Original-URI with Host', raw(['Host', 'h'], ['X-Original-URI', '/p?x']), {}, { method: 'GET', proto: 'https', host: 'h', target: '/p?x', via: 'x-original-uri' }],
  ['X-Original-URI and X-Original-URL agreeing', raw(['X-Original-URL', 'https://h/p?x'], ['X-Original-URI', '/p?x']), {}, { method: 'GET', proto: 'https', host: 'h', target: '/p?x', via: 'x-original-url' }],
  ['X-Original-URI and X-Original-URL disagreeing', raw(['X-Original-URL', 'https://h/admin'], ['X-Original-URI', '/public']), {}, 'GH_AUTH_AMBIGUOUS_ORIGINAL'],
  ['X-Forwarded-Uri and X-Original-URL', raw(['X-Forwarded-Host', 'h'], ['X-Forwarded-Uri', '/admin'], ['X-Original-URL', 'https://h/public']), {}, 'GH_AUTH_AMBIGUOUS_ORIGINAL'],
  ['X-Forwarded-Uri and X-Original-URI', raw(['Host', 'h'], ['X-Forwarded-Uri', '/admin'], ['X-Original-URI', '/public']), {}, 'GH_AUTH_AMBIGUOUS_ORIGINAL'],
  ['X-Original-URL beside X-Forwarded-Host/-Proto of a load balancer', raw(['X-Forwarded-Host', 'lb'], ['X-Forwarded-Proto', 'http'], ['X-Original-URL', 'https://h/p']), {}, { method: 'GET', proto: 'https', host: 'h', target: '/p', via: 'x-original-url' }],
  // Envoy: the path after /.gatehouse/auth.
  ['Envoy: path, Host, the call\'s method', raw(['Host', 'app.example.com']), { suffix: '/a?b=c', method: 'PATCH' }, { method: 'PATCH', proto: 'https', host: 'app.example.com', target: '/a?b=c', via: 'path' }],
  ['Envoy with X-Forwarded-Uri too', raw(['Host', 'h'], ['X-Forwarded-Uri', '/public']), { suffix: '/admin' }, 'GH_AUTH_AMBIGUOUS_ORIGINAL'],
  ['Envoy with Host twice', raw(['Host', 'h'], ['host', 'i']), { suffix: '/a' }, 'GH_AUTH_BAD_ORIGINAL'],
  ['Envoy with a bad path', raw(['Host', 'h']), { suffix: '/a b' }, 'GH_AUTH_BAD_ORIGINAL'],
]

t.test('readOriginal: every spelling, and every way to get it wrong', async (t) => {
  for (const [name, headers, call, expect] of TABLE) {
    const r: OriginalResult = readOriginal(headers, { ...CALL, ...call })
    if (typeof expect === 'string') {
      t.equal(r.ok ? 'ok' : r.code, expect, name)
      if (!r.ok) t.ok(r.reason.length > 0, `${name}: a reason`)
    } else {
      t.same(r.ok ? r.original : r, expect, name)
    }
  }
})

t.test('the original request\'s facts: decided on its normalised path, with only the headers the decision reads', async (t) => {
  const routes = buildRouteTable([
    { path: '/admin', index: 0 },
    { path: '/public', index: 1 },
    { host: 'api.example.com', path: '/', index: 2 },
    { path: '/', index: 3 },
  ]) as unknown as RouteTable<CompiledRoute>
  const call = { headers: { cookie: 'gatehouse=x', accept: 'text/html', 'x-forwarded-user': 'mallory', authorization: 'Bearer t' }, socket: { remoteAddress: '10.0.0.1' } } as unknown as IncomingMessage
  const cases: [string, string, number | string][] = [
    ['/public/x', 'h', 1],
    ['/public/../admin', 'h', 0],
    ['/public/%2e%2e/admin', 'h', 'GH_BAD_PATH'],
    ['/public\\..\\admin', 'h', 'GH_BAD_PATH'],
    ['/%61dmin', 'h', 0],
    ['/public/%252e%252e/admin', 'h', 'GH_BAD_PATH'],
    ['/public/%2F..%2Fadmin', 'h', 'GH_BAD_PATH'],
    ['/a%00', 'h', 'GH_BAD_PATH'],
    ['/x', 'API.example.com:443', 2],
    ['/x', 'other.example.com', 3],
  ]
  for (const [target, host, expect] of cases) {
    const facts = originalFacts({ method: 'GET', proto: 'https', host, target, via: 'x-forwarded' }, call)
    const r = resolve(routes, facts)
    t.equal(r.kind === 'route' ? r.route.index : r.code, expect, `${host} ${target}`)
  }
  const facts = originalFacts({ method: 'GET', proto: 'https', host: 'H.example:8443', target: '/p?q=1', via: 'x-original-url' }, call)
  t.same(facts.headers, { host: 'H.example:8443', cookie: 'gatehouse=x', accept: 'text/html', authorization: 'Bearer t' }, 'the client\'s identity headers are not among them')
  t.equal(facts.host, 'h.example')
  t.equal(facts.path, '/p')
  t.equal(facts.query, '?q=1')
  t.equal(facts.secure, true)
})

t.test('returnTo: the path on the publicUrl origin, the absolute URL elsewhere', async (t) => {
  const pub = 'https://app.example.com'
  t.equal(returnTo(pub, { proto: 'https', host: 'app.example.com', target: '/a?b=c' }), '/a?b=c')
  t.equal(returnTo(pub, { proto: 'https', host: 'APP.example.com:443', target: '/a' }), '/a', 'default port and case')
  t.equal(returnTo(pub, { proto: 'https', host: 'app.example.com', target: '//evil.example/x' }), '/', 'a path that would leave the origin falls back to /')
  t.equal(returnTo(pub, { proto: 'http', host: 'app.example.com', target: '/a' }), 'http://app.example.com/a', 'another scheme is another origin')
  t.equal(returnTo(pub, { proto: 'https', host: 'other.example.com:8443', target: '/a?b' }), 'https://other.example.com:8443/a?b')
})
