import t from 'tap'
import type { ResponseMode } from '../../../src/config/types.js'
import {
  firstFailure, formParams, repeatedParameter, RESPONSE_CHECKS, SHAPE_CHECKS, SINGLE_PARAMETERS,
  type AuthorizationResponse, type ResponseChannel,
} from '../../../src/auth/authorization-response.js'

const STATE = 'Q3x9aZ0kLm2Np4Rs6Tu8Vw0Yb1Cd3Ef5'
const ISSUER = 'https://idp.example'

t.test('shape checks: repeated parameters, then a missing or oversized state', async (t) => {
  const cases: [string, string | undefined][] = [
    // query, expected code (undefined: passes)
    [`state=${STATE}&code=c`, undefined],
    ['code=c', 'GH_LOGIN_NO_STATE'],
    ['state=&code=c', 'GH_LOGIN_NO_STATE'],
    [`state=${'a'.repeat(513)}`, 'GH_LOGIN_NO_STATE'],
    [`state=${'a'.repeat(512)}`, undefined],
    [`state=${STATE}&code=a&code=b`, 'GH_LOGIN_REPEATED_PARAMETER'],
    // A repeat is reported before the state is looked at.
    ['state=a&state=b', 'GH_LOGIN_REPEATED_PARAMETER'],
    ['code=a&code=b', 'GH_LOGIN_REPEATED_PARAMETER'],
    // Parameters the response does not define may repeat.
    [`state=${STATE}&extra=1&extra=2`, undefined],
  ]
  for (const [query, code] of cases) {
    t.equal(firstFailure(SHAPE_CHECKS, new URLSearchParams(query))?.code, code, query.slice(0, 60))
  }
  t.same(SHAPE_CHECKS.map((c) => c.name), ['no repeated parameter', 'state present'])
})

t.test('repeatedParameter: the first of SINGLE_PARAMETERS given twice', async (t) => {
  for (const name of SINGLE_PARAMETERS) {
    t.equal(repeatedParameter(new URLSearchParams(`${name}=1&x=2&${name}=1`)), name, name)
    t.equal(repeatedParameter(new URLSearchParams(`${name}=1&x=2`)), undefined, `${name} once`)
  }
  t.equal(repeatedParameter(formParams({ state: ['a', 'b'], code: 'c' })), 'state', 'form copies are all kept')
  t.same([...formParams({ a: '1', b: ['2', '3'] })], [['a', '1'], ['b', '2'], ['b', '3']])
  t.same([...formParams(undefined)], [])
})

function response (query: string, over: Partial<Omit<AuthorizationResponse, 'params'>> = {}): AuthorizationResponse {
  return { params: new URLSearchParams(query), channel: 'query', state: STATE, issuer: ISSUER, responseType: 'code', responseMode: 'query', ...over }
}

t.test('response checks: each named check, passing and failing', async (t) => {
  const implicit = { responseType: 'id_token token', responseMode: 'form_post' as ResponseMode, channel: 'post' as ResponseChannel }
  const hybrid = { responseType: 'code id_token', responseMode: 'form_post' as ResponseMode, channel: 'post' as ResponseChannel }
  const cases: [string, AuthorizationResponse, string | undefined][] = [
    // name, response, expected code (undefined: passes)
    ['code flow', response(`state=${STATE}&code=c`), undefined],
    ['code flow with our iss', response(`state=${STATE}&code=c&iss=${encodeURIComponent(ISSUER)}`), undefined],
    ['no state', response('code=c'), 'GH_LOGIN_STATE_MISMATCH'],
    ['another state', response(`state=${STATE.slice(1)}x&code=c`), 'GH_LOGIN_STATE_MISMATCH'],
    ['a state that only starts the same', response(`state=${STATE}x&code=c`), 'GH_LOGIN_STATE_MISMATCH'],
    ['another issuer', response(`state=${STATE}&code=c&iss=https%3A%2F%2Fevil.example`), 'GH_LOGIN_ISS_MISMATCH'],
    ['issuer with a trailing slash', response(`state=${STATE}&code=c&iss=${encodeURIComponent(ISSUER + '/')}`), 'GH_LOGIN_ISS_MISMATCH'],
    ['user refused', response(`state=${STATE}&error=access_denied`), 'GH_LOGIN_PROVIDER_ACCESS_DENIED'],
    ['login required', response(`state=${STATE}&error=login_required&error_description=no+session`), 'GH_LOGIN_PROVIDER_LOGIN_REQUIRED'],
    ['refusal with an odd error name', response(`state=${STATE}&error=${encodeURIComponent('<script>')}`), 'GH_LOGIN_PROVIDER_UNKNOWN'],
    ['query response for form_post', response(`state=${STATE}&code=c`, { responseMode: 'form_post' }), 'GH_LOGIN_RESPONSE_MODE'],
    ['POST response for query', response(`state=${STATE}&code=c`, { channel: 'post' }), 'GH_LOGIN_RESPONSE_MODE'],
    ['fragment comes back by POST', response(`state=${STATE}&code=c`, { responseMode: 'fragment', channel: 'post' }), undefined],
    ['no code', response(`state=${STATE}`), 'GH_LOGIN_INCOMPLETE_RESPONSE'],
    ['empty code', response(`state=${STATE}&code=`), 'GH_LOGIN_INCOMPLETE_RESPONSE'],
    ['implicit', response(`state=${STATE}&id_token=i&token_type=Bearer&access_token=a`, implicit), undefined],
    ['implicit, bearer in lower case', response(`state=${STATE}&id_token=i&token_type=bearer&access_token=a`, implicit), undefined],
    ['implicit without id_token', response(`state=${STATE}&token_type=Bearer&access_token=a`, implicit), 'GH_LOGIN_INCOMPLETE_RESPONSE'],
    ['implicit without token_type', response(`state=${STATE}&id_token=i&access_token=a`, implicit), 'GH_LOGIN_INCOMPLETE_RESPONSE'],
    ['implicit with a MAC token', response(`state=${STATE}&id_token=i&token_type=MAC&access_token=a`, implicit), 'GH_LOGIN_TOKEN_TYPE'],
    ['implicit, MAC token and no access_token: the type is reported', response(`state=${STATE}&id_token=i&token_type=MAC`, implicit), 'GH_LOGIN_TOKEN_TYPE'],
    ['implicit without access_token', response(`state=${STATE}&id_token=i&token_type=Bearer`, implicit), 'GH_LOGIN_INCOMPLETE_RESPONSE'],
    ['hybrid', response(`state=${STATE}&code=c&id_token=i`, hybrid), undefined],
    ['hybrid without code', response(`state=${STATE}&id_token=i`, hybrid), 'GH_LOGIN_INCOMPLETE_RESPONSE'],
    ['hybrid without id_token', response(`state=${STATE}&code=c`, hybrid), 'GH_LOGIN_INCOMPLETE_RESPONSE'],
    // code token: the front access token is not used, so not required.
    ['code token without access_token', response(`state=${STATE}&code=c`, { ...hybrid, responseType: 'code token' }), undefined],
  ]
  for (const [name, r, code] of cases) t.equal(firstFailure(RESPONSE_CHECKS, r)?.code, code, name)
})

t.test('response checks run in order: state, iss, refusal, mode, then required parameters', async (t) => {
  t.same(RESPONSE_CHECKS.map((c) => c.name), [
    'state matches', 'iss matches', 'not a refusal', 'response mode',
    'code present', 'id_token present', 'token_type present', 'token_type Bearer', 'access_token present',
  ])
  // Each response below fails several checks; the earliest is the one reported.
  const wrongEverything = 'state=other&iss=https%3A%2F%2Fevil.example&error=access_denied'
  t.equal(firstFailure(RESPONSE_CHECKS, response(wrongEverything, { channel: 'post' }))?.code, 'GH_LOGIN_STATE_MISMATCH')
  t.equal(firstFailure(RESPONSE_CHECKS, response(wrongEverything.replace('other', STATE), { channel: 'post' }))?.code, 'GH_LOGIN_ISS_MISMATCH')
  t.equal(firstFailure(RESPONSE_CHECKS, response(`state=${STATE}&error=access_denied`, { channel: 'post' }))?.code, 'GH_LOGIN_PROVIDER_ACCESS_DENIED', 'a refusal is reported whatever the mode')
  t.equal(firstFailure(RESPONSE_CHECKS, response(`state=${STATE}`, { channel: 'post' }))?.code, 'GH_LOGIN_RESPONSE_MODE', 'the mode before missing parameters')
})

t.test('failures are LoginErrors with a status and no echo of the state', async (t) => {
  const e = firstFailure(RESPONSE_CHECKS, response('state=secret-looking-value&code=c'))!
  t.equal(e.status, 400)
  t.notMatch(e.message, 'secret-looking-value')
  t.equal(firstFailure(RESPONSE_CHECKS, response(`state=${STATE}&error=access_denied`))!.status, 403, 'a user refusal is 403')
})
