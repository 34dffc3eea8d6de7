import t from 'tap'
import { checkPathPattern, UnsafePattern } from '../../../src/routing/regex-safety.js'

// Each refused pattern is refused for the reason given; each accepted one is
// linear, and a long adversarial path is matched quickly (measured below).

t.test('accepted patterns, with the literal prefix the route index uses', async (t) => {
  const cases: [string, string][] = [
    ['^/api/v[0-9]+/health$', '/api/v'],
    ['/api/.*', '/api/'],
    ['/users/[^/]+/posts/[0-9]+', '/users/'],
    ['/(?:[a-z0-9-]+/)*[a-z0-9-]+', '/'],
    ['/files/.*\\.json', '/files/'],
    ['(?:/api/)v1', '/api/v1'],
    ['/(?<version>v[12])/x', '/v'],
    ['/(a|ab)*', '/'],
    ['/(GET|POST)+', '/'],
    ['/a{2,5}', '/'],
    ['/[0-9]{1,1000}x', '/'],
    ['/\\p{L}+', '/'],
    ['/x\\/y\\.z', '/x/y.z'],
    ['/caf\\u00e9/(?:a|b)', '/café/'],
    ['/a?b', '/'],
    ['.*', ''],
    ['/a|/b', ''],
  ]
  for (const [p, prefix] of cases) {
    const r = t.doesNotThrow(() => checkPathPattern(p), p)
    if (r) t.equal(checkPathPattern(p).prefix, prefix, `${p}: prefix`)
  }
  t.ok(checkPathPattern('/a/[0-9]+').regex.test('/a/12'), 'the compiled regex matches')
  t.notOk(checkPathPattern('/a/[0-9]+').regex.test('/a/12/x'), 'anchored at the end')
  t.notOk(checkPathPattern('/a/[0-9]+').regex.test('/x/a/12'), 'anchored at the start')
  t.notOk(checkPathPattern('/a|/b').regex.test('/a/x'), 'alternatives are anchored together')
})

t.test('refused patterns, with the reason', async (t) => {
  const cases: [string, RegExp][] = [
    ['(a+)+', /exponentially/],
    ['/(a|a)*', /exponentially/],
    ['/(\\w|\\d)+', /exponentially/],
    ['/(.*,)*x', /exponentially/],
    ['/((a?)?b)*', /exponentially/],
    ['/([a-z]+)*$', /exponentially/],
    ['(a*)*', /empty string/],
    ['/(a?)+', /empty string/],
    ['/(a|b?)+', /empty string/],
    ['/.*.*x', /polynomially/],
    ['/\\d+\\d+', /polynomially/],
    ['/.*a.*a', /polynomially/],
    ['/[a-z]*[a-z0-9]*', /polynomially/],
    ['/(a)\\1', /backreferences/],
    ['/(?<n>a)\\k<n>', /backreferences/],
    ['/(?=a)a', /lookahead and lookbehind/],
    ['/(?!a)b', /lookahead and lookbehind/],
    ['/(?<=a)b', /lookahead and lookbehind/],
    ['/(?<!a)b', /lookahead and lookbehind/],
    ['[', /not a valid regular expression/],
    ['/a)', /not a valid regular expression/],
    ['*', /not a valid regular expression/],
    ['/\\q', /not a valid regular expression/],
    ['x'.repeat(400), /too large/],
  ]
  for (const [p, why] of cases) t.throws(() => checkPathPattern(p), { constructor: UnsafePattern, message: why }, p)
})

t.test('what the check accepts runs in linear time on adversarial paths', async (t) => {
  const long = 40_000
  const cases: [string, string][] = [
    ['/(?:[a-z0-9-]+/)*[a-z0-9-]+', '/' + 'a/'.repeat(long / 2) + '!'],
    ['/(a|ab)*', '/' + 'ab'.repeat(long / 2) + '!'],
    ['/users/[^/]+/posts/[0-9]+', '/users/' + 'x'.repeat(long) + '/posts/1/!'],
    ['/files/.*\\.json', '/files/' + '.json'.repeat(long / 5) + 'x'],
  ]
  for (const [p, path] of cases) {
    const { regex } = checkPathPattern(p)
    const start = process.hrtime.bigint()
    regex.test(path)
    const ms = Number(process.hrtime.bigint() - start) / 1e6
    t.ok(ms < 50, `${p} on ${path.length} characters: ${ms.toFixed(1)} ms`)
  }
  // The refused kind, for contrast: the same measure would fail it.
  const slow = new RegExp('^(?:/.*.*x)$', 'u')
  const start = process.hrtime.bigint()
  slow.test('/' + 'a'.repeat(long))
  t.ok(Number(process.hrtime.bigint() - start) / 1e6 > 50, 'a refused pattern is measurably slow on the same length')
})
