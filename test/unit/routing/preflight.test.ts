import t from 'tap'
import { isCorsPreflight } from '../../../src/routing/preflight.js'

t.test('what counts as a CORS preflight', async (t) => {
  const o = 'https://app.example.com'
  const cases: [string | undefined, Record<string, string | string[] | undefined>, boolean, string][] = [
    ['OPTIONS', { origin: o, 'access-control-request-method': 'POST' }, true, 'the usual preflight'],
    ['OPTIONS', { origin: 'null', 'access-control-request-method': 'PUT', 'access-control-request-headers': 'content-type' }, true, 'opaque origin, with request headers'],
    ['options', { origin: o, 'access-control-request-method': 'POST' }, false, 'methods are case-sensitive'],
    ['Options', { origin: o, 'access-control-request-method': 'POST' }, false, 'mixed case'],
    ['GET', { origin: o, 'access-control-request-method': 'POST' }, false, 'not OPTIONS'],
    [undefined, { origin: o, 'access-control-request-method': 'POST' }, false, 'no method'],
    ['OPTIONS', { 'access-control-request-method': 'POST' }, false, 'no Origin'],
    ['OPTIONS', { origin: o }, false, 'no Access-Control-Request-Method'],
    ['OPTIONS', {}, false, 'a plain OPTIONS'],
    ['OPTIONS', { origin: '', 'access-control-request-method': 'POST' }, false, 'empty Origin'],
    ['OPTIONS', { origin: o, 'access-control-request-method': '' }, false, 'empty method'],
    ['OPTIONS', { origin: `${o}, https://evil.example`, 'access-control-request-method': 'POST' }, false, 'Origin given twice (joined by Node)'],
    ['OPTIONS', { origin: o, 'access-control-request-method': 'POST, GET' }, false, 'method given twice (joined by Node)'],
    ['OPTIONS', { origin: [o, o], 'access-control-request-method': 'POST' }, false, 'Origin as a list'],
    ['OPTIONS', { origin: o, 'access-control-request-method': ['POST'] }, false, 'method as a list'],
    ['OPTIONS', { origin: o, 'access-control-request-method': 'PO ST' }, false, 'method not a token'],
  ]
  for (const [method, headers, want, name] of cases) t.equal(isCorsPreflight(method, headers), want, name)
})
