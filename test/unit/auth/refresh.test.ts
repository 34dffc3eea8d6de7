import t from 'tap'
import { isTokenExpired, needsRefresh, refreshedSession, refreshLead } from '../../../src/auth/refresh.js'
import type { Session } from '../../../src/session/session.js'

const base: Session = { v: 1, id: 'i', provider: 'p', iat: 0, seen: 0, sub: 'alice', claims: { sub: 'alice', groups: ['admins'], email: 'a@x' }, accessToken: 'old', refreshToken: 'rt1', idToken: 'idt1', expiresAt: 100_000 }

t.test('needsRefresh and isTokenExpired follow the token expiry, refreshBefore and skew; skew never extends a token', async (t) => {
  // base: tokens obtained at 0 (iat), expiring at 100 s: the lead is capped at 50 s.
  const cases: [number, number, number, boolean, boolean][] = [
    // now, refreshBefore, skew, needsRefresh, expired
    [0, 60_000, 0, false, false],
    [49_999, 60_000, 0, false, false],
    [50_000, 60_000, 0, true, false],
    [69_999, 30_000, 0, false, false],
    [70_000, 30_000, 0, true, false],
    [69_999, 20_000, 10_000, false, false],
    [70_000, 20_000, 10_000, true, false],
    [99_999, 0, 0, false, false],
    [100_000, 0, 0, true, true],
    [95_000, 0, 5_000, true, false],
    [100_000, 0, 5_000, true, true],
    [100_001, 0, 30_000, true, true],
  ]
  for (const [now, before, skew, refresh, expired] of cases) {
    t.equal(needsRefresh(base, now, before, skew), refresh, `needsRefresh now=${now} before=${before} skew=${skew}`)
    t.equal(isTokenExpired(base, now), expired, `expired now=${now}`)
  }
  const noExpiry: Session = { ...base }
  delete noExpiry.expiresAt
  t.equal(needsRefresh(noExpiry, 1e12, 60_000, 0), false, 'no known expiry: never refreshed')
  t.equal(isTokenExpired(noExpiry, 1e12), false, 'no known expiry: never expired')
})

t.test('refreshLead: refreshBefore + clockSkew, at most half the token lifetime', async (t) => {
  // 5-second tokens with refreshBefore 1s and the default 30 s skew.
  const short: Session = { ...base, tokensAt: 95_000, expiresAt: 100_000 }
  t.equal(refreshLead(short, 1_000, 30_000), 2_500, 'capped at half of 5 s')
  t.equal(needsRefresh(short, 97_499, 1_000, 30_000), false, 'fresh tokens are not refreshed on every request')
  t.equal(needsRefresh(short, 97_500, 1_000, 30_000), true, 'refreshed in the second half of their life')
  const long: Session = { ...base, tokensAt: 0, expiresAt: 3_600_000 }
  t.equal(refreshLead(long, 60_000, 30_000), 90_000, 'a long token: refreshBefore + skew')
  t.equal(refreshLead({ ...base, tokensAt: 200_000 }, 60_000, 0), 60_000, 'no usable lifetime: the configured lead')
})

t.test('refreshedSession: new ID token claims replace the old; userinfo alone merges; neither keeps', async (t) => {
  const r = { kind: 'refreshed' as const, accessToken: 'new', refreshToken: 'rt2', idToken: 'idt2', expiresAt: 200_000, idClaims: { sub: 'alice', iss: 'x', groups: ['staff'] } }
  const a = refreshedSession(base, r, 50_000)
  t.same(a.claims, { sub: 'alice', groups: ['staff'] }, 'replaced: email gone, groups changed, protocol claims dropped')
  t.equal(a.accessToken, 'new')
  t.equal(a.refreshToken, 'rt2')
  t.equal(a.idToken, 'idt2')
  t.equal(a.expiresAt, 200_000)
  t.equal(a.seen, 50_000)
  t.equal(a.iat, 0, 'the session keeps its creation time (absolute timeout)')
  const b = refreshedSession(base, { kind: 'refreshed', accessToken: 'new', userinfo: { sub: 'alice', email: 'b@x' } }, 1)
  t.same(b.claims, { sub: 'alice', groups: ['admins'], email: 'b@x' }, 'userinfo merged over the old claims')
  t.equal(b.refreshToken, 'rt1', 'a provider that does not rotate keeps the refresh token')
  t.equal(b.idToken, 'idt1')
  t.same(refreshedSession(base, { kind: 'refreshed', accessToken: 'new' }, 1).claims, base.claims, 'neither: claims kept')
})
