import t from 'tap'
import { safeReturnTo } from '../../../src/auth/return-to.js'

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
