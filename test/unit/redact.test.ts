import t from 'tap'
import { normaliseParamName, queryRedactor } from '../../src/redact.js'

t.test('query redaction: every spelling of a listed name, values only, the rest as sent', async (t) => {
  const r = queryRedactor(['custom'])
  const table: [string, string][] = [
    ['/p', '/p'],
    ['/p?', '/p?'],
    ['/p?page=2&sort=a', '/p?page=2&sort=a'],
    ['/cb?code=abc&state=def', '/cb?code=[redacted]&state=[redacted]'],
    ['/p?API_KEY=x', '/p?API_KEY=[redacted]'],
    ['/p?Api-Key=x', '/p?Api-Key=[redacted]'],
    ['/p?%61pi_key=x', '/p?%61pi_key=[redacted]'],
    ['/p?api+key=x', '/p?api+key=[redacted]'],
    ['/p?pass%77ord=x&q=1', '/p?pass%77ord=[redacted]&q=1'],
    ['/p?token=a&token=b', '/p?token=[redacted]&token=[redacted]'],
    ['/p?q=1;password=x', '/p?q=1;password=[redacted]'],
    ['/p?my_access_token=x', '/p?my_access_token=[redacted]'],
    ['/p?x-amz-signature=x', '/p?x-amz-signature=[redacted]'],
    ['/p?CUSTOM=x', '/p?CUSTOM=[redacted]'],
    ['/p?password', '/p?password'],
    ['/p?password=', '/p?password=[redacted]'],
    ['/p?%zz=1&sig=2', '/p?%zz=1&sig=[redacted]'],
    ['/p?%2561pi_key=x', '/p?%2561pi_key=x'],
    ['/p?code=a#frag', '/p?code=[redacted]'],
    ['/p#code=a', '/p'],
    ['/p?a=1&&b=2', '/p?a=1&&b=2'],
  ]
  for (const [input, want] of table) t.equal(r(input), want, input)
  t.equal(queryRedactor()('/p?custom=x'), '/p?custom=x', 'extra names apply only where configured')
  t.equal(normaliseParamName('%41PI-key'), 'apikey')
})
