import t from 'tap'
import { parseConfig } from '../../../src/config/load.js'
import { MIN, problems } from '../../fixtures/minimal-config.js'

t.test('log.access, log.redactQueryParams, limits.loginsPerMinute, routes[].name: defaults', async (t) => {
  const c = parseConfig(MIN, { env: {} })
  t.equal(c.log.access, true, 'access log on by default')
  t.equal(c.log.flushInterval, 1000, 'access lines written together at least once a second')
  t.same(c.log.redactQueryParams, [])
  t.equal(c.limits.loginsPerMinute, 0, 'no login limit by default')
  t.equal(c.routes[0]!.name, undefined)
  const d = parseConfig(MIN.replace('  - upstream', '  - name: api.v1\n    upstream') + 'log:\n  access: false\n  flushInterval: 0\n  redactQueryParams: [ticket_id, x]\nlimits:\n  loginsPerMinute: 30\n', { env: {} })
  t.equal(d.log.access, false)
  t.equal(d.log.flushInterval, 0, '0: every line at once')
  t.same(d.log.redactQueryParams, ['ticket_id', 'x'])
  t.equal(d.limits.loginsPerMinute, 30)
  t.equal(d.routes[0]!.name, 'api.v1')
})

t.test('bad values are reported with their path', async (t) => {
  const cases: [string, RegExp][] = [
    [MIN + 'log:\n  access: maybe\n', /^log\.access: expected true or false/],
    [MIN + 'log:\n  flushInterval: soon\n', /^log\.flushInterval: not a duration: "soon"/],
    [MIN + 'log:\n  flushInterval: -1s\n', /^log\.flushInterval: not a duration/],
    [MIN + 'log:\n  redactQueryParams: { a: 1 }\n', /^log\.redactQueryParams: expected a list of strings/],
    [MIN + 'log:\n  redactQueryParams: [""]\n', /^log\.redactQueryParams\[0\]: expected a non-empty string/],
    [MIN + 'limits:\n  loginsPerMinute: -1\n', /^limits\.loginsPerMinute: expected a whole number from 0 to 1000000/],
    [MIN + 'limits:\n  loginsPerMinute: lots\n', /^limits\.loginsPerMinute: expected a whole number/],
    [MIN + 'limits:\n  logins: 5\n', /^limits\.logins: unknown field/],
    [MIN + 'limits: 5\n', /^limits: expected a map/],
    [MIN.replace('  - upstream', '  - name: "7"\n    upstream'), /^routes\[0\]\.name: use a letter/],
    [MIN.replace('  - upstream', '  - name: "a/b"\n    upstream'), /^routes\[0\]\.name: use a letter/],
    [MIN.replace('  - upstream', '  - name: "gatehouse:login"\n    upstream'), /^routes\[0\]\.name: use a letter/],
    [MIN.replace('  - upstream', '  - name: app\n    upstream') + '  - name: app\n    path: /b\n    upstream: http://127.0.0.1:3000\n', /^routes\[1\]\.name: duplicate name "app" \(routes\[0\] has it\)/],
  ]
  for (const [yaml, re] of cases) {
    const p = problems(yaml)
    t.ok(p.some((x) => re.test(x)), `${re}: got ${JSON.stringify(p)}`)
  }
})
