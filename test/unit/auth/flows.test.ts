import t from 'tap'
import { acceptedAlgorithms, tokenHash } from '../../../src/auth/id-token.js'
import { LOGIN_COOKIE_PATH, loginCookieOptions } from '../../../src/auth/login-state.js'
import { needsRenewal } from '../../../src/auth/refresh.js'
import type { Session } from '../../../src/session/session.js'

t.test('tokenHash: left half of the alg\'s SHA-2 hash, base64url', async (t) => {
  // The examples of OpenID Connect Core 1.0, appendix A.3 and A.4 (RS256).
  t.equal(tokenHash('jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y', 'RS256'), '77QmUPtjPfzWtF2AnpK9RQ')
  t.equal(tokenHash('Qcb0Orv1zh30vL1MPRsbm-diHiMwcLyZvn1arpZv-Jxf_11jnpEX3Tgfvk', 'RS256'), 'LDktKdoQak3Pk0cnXxCltA')
  const lengths: [string, number][] = [['ES256', 16], ['PS256', 16], ['ES384', 24], ['RS384', 24], ['PS512', 32], ['ES512', 32], ['EdDSA', 32], ['Ed25519', 32]]
  for (const [alg, bytes] of lengths) t.equal(Buffer.from(tokenHash('x', alg)!, 'base64url').length, bytes, `${alg}: ${bytes} bytes`)
  t.equal(tokenHash('x', 'none'), undefined)
  t.equal(tokenHash('x', 'HS256X'), undefined)
})

t.test('acceptedAlgorithms: asymmetric only, RS256 when the provider says nothing', async (t) => {
  t.same(acceptedAlgorithms(undefined), ['RS256'])
  t.same(acceptedAlgorithms(['none', 'HS256', 'RS256', 'ES256', 'PS384', 'EdDSA', 'HS512']), ['RS256', 'ES256', 'PS384', 'EdDSA'])
  t.same(acceptedAlgorithms(['none']), [])
})

t.test('loginCookieOptions: SameSite=None; Secure only for form_post where Secure can stick', async (t) => {
  const cases: [string, boolean, string, string, boolean][] = [
    // publicOrigin, secure, responseMode -> sameSite, secure
    ['https://app.example.com', true, 'form_post', 'none', true],
    ['https://app.example.com', true, 'query', 'lax', true],
    ['https://app.example.com', true, 'fragment', 'lax', true],
    ['http://127.0.0.1:8080', false, 'form_post', 'none', true],
    ['http://localhost:8080', false, 'form_post', 'none', true],
    ['http://[::1]:8080', false, 'form_post', 'none', true],
    ['http://127.0.0.1:8080', false, 'query', 'lax', false],
    ['http://app.internal:8080', false, 'form_post', 'lax', false],
  ]
  for (const [publicOrigin, secure, mode, sameSite, cookieSecure] of cases) {
    const o = loginCookieOptions({ publicOrigin, secure }, mode as 'query')
    t.same([o.sameSite, o.secure, o.path, o.httpOnly], [sameSite, cookieSecure, LOGIN_COOKIE_PATH, true], `${publicOrigin} ${mode}`)
  }
})

t.test('needsRenewal: only without a refresh token, within the window, never in a loop', async (t) => {
  const base: Session = { v: 1, id: 'i', provider: 'p', iat: 0, seen: 0, sub: 's', claims: {}, idToken: 'x', expiresAt: 100_000, tokensAt: 0 }
  const W = 5_000
  const S = 1_000
  t.notOk(needsRenewal(base, 50_000, W, S), 'far from expiry')
  t.ok(needsRenewal(base, 95_000, W, S), 'within refreshBefore + skew of expiry')
  t.notOk(needsRenewal({ ...base, refreshToken: 'r' }, 95_000, W, S), 'a refresh token is used instead')
  t.notOk(needsRenewal({ ...base, tokensAt: 92_000 }, 95_000, W, S), 'tokens younger than the window: not renewed early')
  t.ok(needsRenewal({ ...base, tokensAt: 92_000 }, 101_000, W, S), 'but renewed once expired')
  t.notOk(needsRenewal({ ...base, expiresAt: undefined }, 1e12, W, S), 'no expiry known: nothing to renew')
  t.ok(needsRenewal({ ...base, tokensAt: undefined }, 95_000, W, S), 'older sessions count from their login time')
})
