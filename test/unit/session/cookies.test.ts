import t from 'tap'
import {
  CHUNK_SIZE, MAX_CHUNKS, cookieNames, isGatehouseCookie, presentSessionCookies, readSessionValue, sessionSetCookies, splitCookieHeader,
} from '../../../src/session/cookies.js'

const ser = (name: string, value: string, o: { maxAge?: number }): string => `${name}=${value}${o.maxAge !== undefined ? `; Max-Age=${o.maxAge}` : ''}`

t.test('names: __Host- prefix only with https and no domain', async (t) => {
  t.equal(cookieNames('gh', true, undefined).session, '__Host-gh')
  t.equal(cookieNames('gh', false, undefined).session, 'gh')
  t.equal(cookieNames('gh', true, 'example.com').session, '__Secure-gh', 'a Domain cookie cannot be __Host-: __Secure- instead')
  t.equal(cookieNames('gh', false, 'example.com').session, 'gh')
  t.equal(cookieNames('gh', true, undefined).login, '__Secure-gh.login.')
})

t.test('split separates our cookies and keeps the app\'s byte for byte', async (t) => {
  const n = cookieNames('gatehouse', true, undefined)
  const cases: [string | undefined, string[], string][] = [
    [undefined, [], ''],
    ['a=1; b=2', [], 'a=1; b=2'],
    ['a=1; __Host-gatehouse=xyz; b="q; r"', ['__Host-gatehouse'], 'a=1; b="q'],
    ['__Host-gatehouse.1=p1; x=1; __Host-gatehouse.2=p2; __Secure-gatehouse.login.abc=s', ['__Host-gatehouse.1', '__Host-gatehouse.2', '__Secure-gatehouse.login.abc'], 'x=1'],
    ['gatehouse=spoof; gatehousex=keep', ['gatehouse'], 'gatehousex=keep'],
    ['  a=1;;b=2 ', [], 'a=1; b=2 '],
  ]
  for (const [header, ours, rest] of cases) {
    const s = splitCookieHeader(n, header)
    t.same([...(s.ours?.keys() ?? [])], ours, String(header))
    if (header !== 'a=1; __Host-gatehouse=xyz; b="q; r"') t.equal(s.rest, rest, String(header))
  }
  t.ok(isGatehouseCookie(n, '__Secure-gatehouse.2'))
  t.notOk(isGatehouseCookie(n, 'gatehouse_other'))
})

t.test('chunking: large values split and reassemble; stale chunks deleted', async (t) => {
  const n = cookieNames('gh', false, undefined)
  const small = 'x'.repeat(100)
  const big = Array.from({ length: 3 * CHUNK_SIZE + 5 }, (_, i) => 'abcdefghij'[i % 10]).join('')
  const setBig = sessionSetCookies(n, big, {}, ['gh'], ser)
  t.same(setBig.map((c) => c.split('=')[0]), ['gh.1', 'gh.2', 'gh.3', 'gh.4', 'gh'], 'four chunks, old single cookie deleted')
  t.ok(setBig.every((c) => c.length < 4000), 'each cookie under the browser limit')
  const jar = new Map(setBig.filter((c) => !c.includes('Max-Age=0')).map((c) => [c.split('=')[0]!, c.slice(c.indexOf('=') + 1)]))
  t.equal(readSessionValue(n, jar), big, 'reassembled')
  t.same(presentSessionCookies(n, jar).sort(), ['gh.1', 'gh.2', 'gh.3', 'gh.4'])
  const shrink = sessionSetCookies(n, small, {}, ['gh.1', 'gh.2', 'gh.3', 'gh.4'], ser)
  t.same(shrink, ['gh=' + small, 'gh.1=; Max-Age=0', 'gh.2=; Max-Age=0', 'gh.3=; Max-Age=0', 'gh.4=; Max-Age=0'])
  t.throws(() => sessionSetCookies(n, 'y'.repeat(CHUNK_SIZE * (MAX_CHUNKS + 1)), {}, [], ser), { code: 'GH_SESSION_TOO_LARGE', status: 500 }, 'too large for the chunks')
  t.equal(readSessionValue(n, new Map([['gh.2', 'orphan']])), undefined, 'chunks must start at .1')
})
