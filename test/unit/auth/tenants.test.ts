import { createLocalJWKSet, exportJWK, generateKeyPair, SignJWT, type JWTPayload } from 'jose'
import t from 'tap'
import { verifyIdToken, type IdTokenExpectations } from '../../../src/auth/id-token.js'
import { expectedDiscoveredIssuer, tenantIssuerProblem, TENANT_ISSUER_TEMPLATE } from '../../../src/auth/tenants.js'
import { LoginError } from '../../../src/errors.js'

const A = '11111111-2222-4333-8444-555555555555'
const B = 'aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee'
const OTHER = '99999999-8888-4777-8666-555555555555'
const issuerOf = (tid: string): string => `https://login.microsoftonline.com/${tid}/v2.0`

t.test('a token is accepted only from a listed tenant, with that tenant\'s issuer', async (t) => {
  const cases: [string, unknown, unknown, 'tid' | 'iss' | undefined][] = [
    ['listed tenant, its issuer', issuerOf(A), A, undefined],
    ['second listed tenant', issuerOf(B), B, undefined],
    ['unlisted tenant, its own issuer', issuerOf(OTHER), OTHER, 'tid'],
    ['listed tid, another tenant\'s issuer', issuerOf(OTHER), A, 'iss'],
    ['listed tid, another listed tenant\'s issuer', issuerOf(B), A, 'iss'],
    ['the template itself as iss', TENANT_ISSUER_TEMPLATE, A, 'iss'],
    ['common as iss', 'https://login.microsoftonline.com/common/v2.0', A, 'iss'],
    ['v1.0 issuer of a listed tenant', `https://sts.windows.net/${A}/`, A, 'iss'],
    ['tid missing', issuerOf(A), undefined, 'tid'],
    ['tid not a string', issuerOf(A), 42, 'tid'],
    ['tid upper-case (never what Entra sends)', issuerOf(B.toUpperCase()), B.toUpperCase(), 'tid'],
    ['tid with a path in it', issuerOf(A), `${A}/v2.0`, 'tid'],
    ['tid the {tenantid} placeholder', TENANT_ISSUER_TEMPLATE, '{tenantid}', 'tid'],
    ['iss missing', undefined, A, 'iss'],
  ]
  for (const [name, iss, tid, want] of cases) t.equal(tenantIssuerProblem(iss, tid, TENANT_ISSUER_TEMPLATE, [A, B])?.claim, want, name)
  t.equal(tenantIssuerProblem(issuerOf(A), A, TENANT_ISSUER_TEMPLATE, [])?.claim, 'tid', 'an empty list admits nobody')
  t.equal(expectedDiscoveredIssuer({ issuer: 'https://login.microsoftonline.com/organizations/v2.0', tenants: [A] }), TENANT_ISSUER_TEMPLATE)
  t.equal(expectedDiscoveredIssuer({ issuer: issuerOf(A) }), issuerOf(A), 'one tenant: its issuer, exactly')
})

t.test('verifyIdToken applies the tenant list to signed tokens', async (t) => {
  const { privateKey, publicKey } = await generateKeyPair('RS256')
  const jwk = { ...await exportJWK(publicKey), kid: 'k1', alg: 'RS256', use: 'sig' }
  const getKey = createLocalJWKSet({ keys: [jwk] })
  const now = Date.now()
  const sign = async (claims: JWTPayload): Promise<string> => new SignJWT({ sub: 'pairwise-sub', aud: 'client-1', iat: Math.floor(now / 1000), exp: Math.floor(now / 1000) + 600, ...claims })
    .setProtectedHeader({ alg: 'RS256', kid: 'k1' }).sign(privateKey)
  const multi = { issuer: TENANT_ISSUER_TEMPLATE, tenants: [A, B], clientId: 'client-1', algorithms: ['RS256'], now, clockSkew: 0 }
  const code = async (jwt: string, expect: IdTokenExpectations = multi): Promise<string> => {
    try {
      await verifyIdToken(jwt, getKey, expect)
      return 'ok'
    } catch (err) {
      if (err instanceof LoginError) return err.code
      throw err
    }
  }
  t.equal(await code(await sign({ iss: issuerOf(A), tid: A })), 'ok', 'tenant A')
  t.equal(await code(await sign({ iss: issuerOf(B), tid: B })), 'ok', 'tenant B')
  t.equal(await code(await sign({ iss: issuerOf(OTHER), tid: OTHER })), 'GH_LOGIN_ID_TOKEN_TID', 'a tenant not listed')
  t.equal(await code(await sign({ iss: issuerOf(OTHER), tid: A })), 'GH_LOGIN_ID_TOKEN_ISS', 'tid and iss disagree')
  t.equal(await code(await sign({ iss: issuerOf(A) })), 'GH_LOGIN_ID_TOKEN_TID', 'no tid')
  t.equal(await code(await sign({ iss: issuerOf(A), tid: A, aud: 'another-client' })), 'GH_LOGIN_ID_TOKEN_AUD', 'the other checks still apply')
  // One tenant, no list: the issuer is compared exactly, as for every provider.
  const single = { issuer: issuerOf(A), clientId: 'client-1', algorithms: ['RS256'], now, clockSkew: 0 }
  t.equal(await code(await sign({ iss: issuerOf(A), tid: A }), single), 'ok', 'single tenant')
  t.equal(await code(await sign({ iss: issuerOf(B), tid: B }), single), 'GH_LOGIN_ID_TOKEN_ISS', 'single tenant: another tenant\'s token')
  const template = { issuer: TENANT_ISSUER_TEMPLATE, clientId: 'client-1', algorithms: ['RS256'], now, clockSkew: 0 }
  t.equal(await code(await sign({ iss: issuerOf(A), tid: A }), template), 'GH_LOGIN_ID_TOKEN_ISS', 'the template without a list accepts no tenant')
})
