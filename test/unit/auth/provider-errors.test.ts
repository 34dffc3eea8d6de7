import t from 'tap'
import { ERROR_CODES, GatewayError, LoginError } from '../../../src/errors.js'
import {
  codePart, discoveryError, INTERACTION_REQUIRED, issuerMismatch, providerError, providerRefusal, type ProviderFailure,
} from '../../../src/auth/provider-errors.js'

const ISSUER = 'https://idp.example/realm'
const err = (message = 'failed', cause?: unknown): Error => new Error(message, { cause })

t.test('providerError: each kind of provider failure gets its code and status', async (t) => {
  const cases: [string, unknown, ProviderFailure | undefined, string, number, string?][] = [
    // name, thrown, failure, code, status, message part
    ['user refused', err(), { kind: 'refusal', error: 'access_denied', description: 'no' }, 'GH_LOGIN_PROVIDER_ACCESS_DENIED', 403, '(no)'],
    ['login required', err(), { kind: 'refusal', error: 'login_required', description: undefined }, 'GH_LOGIN_PROVIDER_LOGIN_REQUIRED', 400],
    ['endpoint 5xx', err(), { kind: 'body', status: 503, error: 'server_error', description: undefined }, 'GH_PROVIDER_ERROR', 502, 'HTTP 503 server_error'],
    ['invalid_grant', err(), { kind: 'body', status: 400, error: 'invalid_grant', description: 'code used' }, 'GH_LOGIN_INVALID_GRANT', 400, 'invalid_grant (code used)'],
    ['error name not a code', err(), { kind: 'body', status: 400, error: 'bad name!', description: undefined }, 'GH_LOGIN_UNKNOWN', 400],
    ['client credentials refused', err(), { kind: 'challenge', status: 401 }, 'GH_PROVIDER_REJECTED_CLIENT', 502, 'HTTP 401'],
    ['timeout', err(), { kind: 'client', code: 'OAUTH_TIMEOUT', cause: undefined }, 'GH_PROVIDER_UNAVAILABLE', 503],
    ['not JSON', err(), { kind: 'client', code: 'OAUTH_RESPONSE_IS_NOT_JSON', cause: undefined }, 'GH_PROVIDER_ERROR', 502],
    ['expired ID token', err(), { kind: 'client', code: 'OAUTH_JWT_TIMESTAMP_CHECK_FAILED', cause: { cause: { claim: 'exp' } } }, 'GH_LOGIN_ID_TOKEN_EXPIRED', 400],
    ['bad nonce', err(), { kind: 'client', code: 'OAUTH_JWT_CLAIM_COMPARISON_FAILED', cause: { cause: { claim: 'nonce' } } }, 'GH_LOGIN_ID_TOKEN_NONCE', 400],
    ['claim comparison without a claim', err(), { kind: 'client', code: 'OAUTH_JWT_CLAIM_COMPARISON_FAILED', cause: undefined }, 'GH_LOGIN_INVALID_RESPONSE', 400],
    ['another check', err('state mismatch', err('inner')), { kind: 'client', code: 'OAUTH_INVALID_RESPONSE', cause: err('inner') }, 'GH_LOGIN_INVALID_RESPONSE', 400, 'state mismatch: inner'],
    ['network', new TypeError('fetch failed', { cause: { code: 'ECONNREFUSED' } }), undefined, 'GH_PROVIDER_UNAVAILABLE', 503, 'ECONNREFUSED'],
    ['abort', Object.assign(err('aborted'), { name: 'TimeoutError' }), undefined, 'GH_PROVIDER_UNAVAILABLE', 503],
    ['anything else', err('boom'), undefined, 'GH_PROVIDER_ERROR', 502, 'boom'],
  ]
  for (const [name, thrown, failure, code, status, part] of cases) {
    const e = providerError(thrown, failure, 'login')
    t.equal(e.code, code, `${name}: code`)
    t.equal(e.status, status, `${name}: status`)
    t.equal(e.cause, thrown, `${name}: keeps the cause`)
    if (part !== undefined) t.match(e.message, part, `${name}: message`)
    t.equal(e instanceof LoginError, status < 500, `${name}: a login error exactly when the login's fault`)
  }
  const own = new GatewayError('GH_PROVIDER_NO_JWKS', 502, 'x')
  t.equal(providerError(own, undefined, 'login'), own, 'a GatewayError passes through')
  const otherUser: ProviderFailure = { kind: 'client', code: 'OAUTH_JSON_ATTRIBUTE_COMPARISON_FAILED', cause: { cause: { attribute: 'sub' } } }
  t.equal(providerError(err(), otherUser, 'userinfo').code, 'GH_LOGIN_USERINFO_SUB', 'userinfo of another user')
  t.equal(providerError(err(), otherUser, 'login').code, 'GH_LOGIN_INVALID_RESPONSE', 'the sub attribute means userinfo only during userinfo')
})

t.test('providerError: every fixed code it returns is in the catalog', async (t) => {
  for (const code of ['GH_PROVIDER_ERROR', 'GH_PROVIDER_REJECTED_CLIENT', 'GH_PROVIDER_UNAVAILABLE', 'GH_LOGIN_INVALID_RESPONSE', 'GH_LOGIN_USERINFO_SUB', 'GH_PROVIDER_DISCOVERY_FAILED', 'GH_PROVIDER_ISSUER_MISMATCH']) {
    t.ok(code in ERROR_CODES, code)
  }
})

t.test('discoveryError: the URL fetched and what came back', async (t) => {
  const page = new Response('<html>', { status: 200, headers: { 'content-type': 'text/html' } })
  const notJson = discoveryError(err(), { kind: 'client', code: 'OAUTH_RESPONSE_IS_NOT_JSON', cause: page }, ISSUER)
  t.equal(notJson.code, 'GH_PROVIDER_DISCOVERY_FAILED')
  t.match(notJson.message, 'https://idp.example/realm/.well-known/openid-configuration is not a discovery document')
  t.match(notJson.message, 'content-type text/html')
  const missing = discoveryError(err(), { kind: 'client', code: 'OAUTH_RESPONSE_IS_NOT_CONFORM', cause: new Response('', { status: 404 }) }, ISSUER)
  t.match(missing.message, 'failed: HTTP 404')
  const other = discoveryError(err(), { kind: 'client', code: 'OAUTH_JSON_ATTRIBUTE_COMPARISON_FAILED', cause: { attribute: 'issuer', body: { issuer: 'https://elsewhere.example' } } }, ISSUER)
  t.equal(other.code, 'GH_PROVIDER_ISSUER_MISMATCH')
  t.match(other.message, 'names issuer "https://elsewhere.example", not the configured "https://idp.example/realm"')
  const malformed = discoveryError(err('bad document'), { kind: 'client', code: 'OAUTH_INVALID_RESPONSE', cause: undefined }, ISSUER)
  t.equal(malformed.code, 'GH_PROVIDER_DISCOVERY_FAILED', 'never a login failure')
  t.equal(discoveryError(new TypeError('fetch failed'), undefined, ISSUER).code, 'GH_PROVIDER_UNAVAILABLE', 'network failures keep their mapping')
})

t.test('issuerMismatch: a trailing slash gets its own hint', async (t) => {
  t.match(issuerMismatch(ISSUER, `${ISSUER}/`).message, 'differ only by a trailing slash: configure issuer: https://idp.example/realm/')
  t.match(issuerMismatch(ISSUER, 'https://other.example').message, 'must be exactly the value the provider publishes')
  t.match(issuerMismatch(ISSUER, 42).message, 'names issuer "42"')
})

t.test('providerRefusal, codePart and INTERACTION_REQUIRED', async (t) => {
  t.equal(codePart('invalid_grant'), 'INVALID_GRANT')
  t.equal(codePart('a'.repeat(65)), 'UNKNOWN', 'too long')
  t.equal(codePart('x-y'), 'UNKNOWN', 'not [a-z0-9_]')
  const long = providerRefusal('server_error', 'd'.repeat(500))
  t.equal(long.message.length < 300, true, 'the description is cut')
  for (const error of ['login_required', 'interaction_required', 'consent_required', 'account_selection_required']) {
    t.ok(INTERACTION_REQUIRED.has(providerRefusal(error, null).code), `${error}: a silent renewal falls back to a login`)
  }
  t.notOk(INTERACTION_REQUIRED.has(providerRefusal('access_denied', null).code))
})
