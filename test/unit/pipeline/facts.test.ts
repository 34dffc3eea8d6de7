import t from 'tap'
import { requestHost, wantsLoginRedirect } from '../../../src/pipeline/facts.js'

t.test('requestHost: lower-case, without port, X-Forwarded-Host only behind a trusted proxy', async (t) => {
  const cases: [Record<string, string | string[] | undefined>, boolean, string][] = [
    [{ host: 'app.example.com' }, false, 'app.example.com'],
    [{ host: 'App.Example.COM:8443' }, false, 'app.example.com'],
    [{ host: '127.0.0.1:8080' }, false, '127.0.0.1'],
    [{ host: '[::1]:8080' }, false, '[::1]'],
    [{ host: '[::1]' }, false, '[::1]'],
    [{ host: '[::1' }, false, '[::1'],
    [{ host: '' }, false, ''],
    [{}, false, ''],
    [{ host: 'a.test', 'x-forwarded-host': 'evil.test' }, false, 'a.test'],
    [{ host: 'a.test', 'x-forwarded-host': 'B.test:443' }, true, 'b.test'],
    [{ host: 'a.test', 'x-forwarded-host': 'b.test, c.test' }, true, 'b.test'],
    [{ host: 'a.test', 'x-forwarded-host': ['b.test', 'c.test'] }, true, 'b.test'],
    [{ host: 'a.test' }, true, 'a.test'],
  ]
  for (const [headers, trust, want] of cases) t.equal(requestHost(headers, trust), want, `${JSON.stringify(headers)} trust=${trust}`)
})

t.test('wantsLoginRedirect: only a browser navigation goes to log in', async (t) => {
  const nav = { 'sec-fetch-mode': 'navigate', accept: 'text/html' }
  const cases: [string, Record<string, string>, 'auto' | 'redirect' | 'deny', boolean][] = [
    ['GET', nav, 'auto', true],
    ['HEAD', nav, 'auto', true],
    ['GET', { accept: 'text/html,application/xhtml+xml' }, 'auto', true],
    ['GET', { accept: 'application/json' }, 'auto', false],
    ['GET', {}, 'auto', false],
    ['GET', { accept: '*/*' }, 'auto', false],
    ['GET', { 'sec-fetch-mode': 'cors', accept: 'text/html' }, 'auto', false],
    ['GET', { 'sec-fetch-mode': 'no-cors' }, 'auto', false],
    ['GET', { ...nav, 'x-requested-with': 'XMLHttpRequest' }, 'auto', false],
    ['POST', nav, 'auto', false],
    ['PUT', nav, 'redirect', false],
    ['GET', { accept: 'application/json' }, 'redirect', true],
    ['GET', nav, 'deny', false],
  ]
  for (const [method, headers, mode, want] of cases) t.equal(wantsLoginRedirect(method, headers, mode), want, `${method} ${JSON.stringify(headers)} ${mode}`)
})
