import t from 'tap'
import { absoluteOn, returnOrigin, safeReturnTo, type ReturnOrigin } from '../../../src/auth/return-to.js'
import { buildRouteTable, namesHost } from '../../../src/routing/match.js'

/** Test names must stay on one TAP line: escape everything outside printable ASCII. */
const label = (s: string): string => JSON.stringify(s).replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)

t.test('rejects every open-redirect trick and falls back to /', async (t) => {
  const evil = [
    '//evil.example',
    '/\\evil.example',
    '/%09/evil.example',
    '/%2F%2Fevil.example',
    '/%2f%2fevil.example',
    'https://evil.example',
    'http:/evil.example',
    'javascript:alert(1)',
    'JavaScript:alert(1)',
    '///evil.example',
    '/./\\evil',
    '/\t/evil.example',
    '/\n/evil.example',
    ' //evil.example',
    '/ /evil.example',
    '/%20/evil.example',
    '/%5Cevil.example',
    '/%5C%5Cevil.example',
    '\\\\evil.example',
    '/%252F%252Fevil.example',
    'evil.example',
    '',
    '/%E0%A4%A',
    '/\u0000x',
    '/a\u2028/b',
  ]
  for (const rd of evil) t.equal(safeReturnTo(rd), '/', label(rd))
  t.equal(safeReturnTo(undefined), '/')
  t.equal(safeReturnTo(['/a']), '/')
  t.equal(safeReturnTo('/' + 'a'.repeat(5000)), '/', 'overlong')
  t.equal(safeReturnTo('//evil.example', '/home'), '/home', 'custom fallback')
})

t.test('keeps same-origin paths, normalised', async (t) => {
  const ok: [string, string][] = [
    ['/', '/'],
    ['/app', '/app'],
    ['/app/x?y=1&z=%2F#frag', '/app/x?y=1&z=%2F#frag'],
    ['/docs/my%20file', '/docs/my%20file'],
    ['/a/./b/../c', '/a/c'],
    ['/caf%C3%A9', '/caf%C3%A9'],
  ]
  for (const [rd, want] of ok) t.equal(safeReturnTo(rd), want, rd)
})

/* Absolute return URLs: the gateway at https://auth.example.com, routes naming app.example.com and *.apps.example.com. */

const table = buildRouteTable([
  { host: 'app.example.com', path: '/', index: 0 },
  { host: '*.apps.example.com', path: '/', index: 1 },
  { host: 'xn--bcher-kva.example', path: '/', index: 2 },
  { path: '/', index: 3 },
])
const https = returnOrigin('https://auth.example.com', (h) => namesHost(table, h))
const httpPort = returnOrigin('http://auth.example.com:8080', (h) => namesHost(table, h))

t.test('absolute rd on the publicUrl host or a routed host is kept, normalised', async (t) => {
  const ok: [string, string, ReturnOrigin][] = [
    ['https://auth.example.com/x?y=1#z', 'https://auth.example.com/x?y=1#z', https],
    ['https://app.example.com/', 'https://app.example.com/', https],
    ['https://app.example.com', 'https://app.example.com/', https],
    ['HTTPS://APP.Example.COM/Path', 'https://app.example.com/Path', https],
    ['https://app.example.com:443/a', 'https://app.example.com/a', https],
    ['https://one.apps.example.com/a', 'https://one.apps.example.com/a', https],
    ['https://a.b.apps.example.com/a', 'https://a.b.apps.example.com/a', https],
    ['https://bücher.example/', 'https://xn--bcher-kva.example/', https],
    ['https://app.example.com/a/../b', 'https://app.example.com/b', https],
    ['http://app.example.com:8080/a', 'http://app.example.com:8080/a', httpPort],
  ]
  for (const [rd, want, o] of ok) t.equal(safeReturnTo(rd, '/', o), want, label(rd))
})

t.test('absolute rd anywhere else falls back to /', async (t) => {
  const evil: [string, ReturnOrigin][] = [
    ['https://evil.example/', https],
    ['https://example.com/', https],
    ['https://apps.example.com/', https],
    ['https://app.example.com.evil.test/', https],
    ['https://one.apps.example.com.evil.test/', https],
    ['https://evilapps.example.com/', https],
    ['http://app.example.com/', https],
    ['https://app.example.com:8443/', https],
    ['https://app.example.com:443/', httpPort],
    ['http://app.example.com/', httpPort],
    ['http://app.example.com:8081/', httpPort],
    ['https://a@app.example.com/', https],
    ['https://app.example.com@evil.example/', https],
    ['https://a:b@app.example.com/', https],
    ['https://@app.example.com/', https],
    ['https://app.example.com\\@evil.example/', https],
    ['https:\\\\app.example.com/', https],
    ['https:/\\evil.example/', https],
    ['https:evil.example', https],
    ['https:/app.example.com/', https],
    ['https:///app.example.com/', https],
    ['//evil.example/', https],
    ['//app.example.com/', https],
    ['https%3A%2F%2Fapp.example.com%2F', https],
    ['https%253A%252F%252Fapp.example.com', https],
    ['https://app%2Eexample.com/', https],
    ['https://app.example.com%2F@evil.example/', https],
    ['https://app.example.com%252F@evil.example/', https],
    ['https://app.example.com./', https],
    ['https://.app.example.com/', https],
    ['https://app..example.com/', https],
    ['https://app.example.com/%0d%0aSet-Cookie:x', https],
    ['https://app.example.com/%5C', https],
    ['https://app.example.com/\t', https],
    ['https://app.exa\tmple.com/', https],
    [' https://app.example.com/', https],
    ['javascript://app.example.com/%0aalert(1)', https],
    ['data:text/html,x', https],
    ['https://bücher.example.evil/', https],
    ['https://127.0.0.1/', https],
    ['https://[::1]/', https],
    ['https://app.example.com/' + 'a'.repeat(3000), https],
  ]
  for (const [rd, o] of evil) t.equal(safeReturnTo(rd, '/', o), '/', label(rd))
})

t.test('without an origin, absolute URLs are refused as before', async (t) => {
  t.equal(safeReturnTo('https://app.example.com/'), '/')
  t.equal(safeReturnTo('https://auth.example.com/'), '/')
})

t.test('absoluteOn builds a URL that safeReturnTo keeps', async (t) => {
  t.equal(absoluteOn(https, 'app.example.com', '/x?y'), 'https://app.example.com/x?y')
  t.equal(absoluteOn(httpPort, 'app.example.com', '/x'), 'http://app.example.com:8080/x')
  t.equal(safeReturnTo(absoluteOn(httpPort, 'one.apps.example.com', '/a'), '/', httpPort), 'http://one.apps.example.com:8080/a')
})

t.test('namesHost follows the wildcard rule of matchRoute', async (t) => {
  const rows: [string, boolean][] = [
    ['app.example.com', true],
    ['one.apps.example.com', true],
    ['a.b.apps.example.com', true],
    ['apps.example.com', false],
    ['example.com', false],
    ['app.example.com.evil.test', false],
    ['evil.test', false],
  ]
  for (const [host, want] of rows) t.equal(namesHost(table, host), want, host)
  t.equal(namesHost(buildRouteTable([{ path: '/', index: 0 }]), 'anything.test'), false, 'a route without host names none')
})
