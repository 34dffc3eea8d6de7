import t, { type Test } from 'tap'
import { request } from '../fixtures/browser.js'
import { api, loginCookie, startSessionStack, type SessionStack } from '../fixtures/gateway.js'
import { startRedis } from '../fixtures/redis.js'

/**
 * Refresh against real 5-second access tokens, with a provider that rotates
 * refresh tokens and one that does not (Google; Keycloak and Okta in their
 * common setups): every token forwarded must be one the provider still
 * accepts, and a fresh token is not refreshed on every request.
 * `refreshBefore: 1s` with the default 30 s clock skew: the configured lead
 * is longer than the tokens live.
 */

const SESSION = '  refreshBefore: 1s\n'

/** The Bearer token the upstream received on request `i` (from the end with negative i). */
const bearer = (s: SessionStack, i = -1): string => String(s.upstream.received.at(i)!.headers.authorization ?? '').replace(/^Bearer /, '')

/** Whether the provider accepts `token` right now (its userinfo endpoint). */
async function accepted (s: SessionStack, token: string): Promise<boolean> {
  return (await request(`${s.idp.issuer}/me`, { headers: { authorization: `Bearer ${token}` } })).status === 200
}

/** Waits until the provider itself no longer accepts `token` (bounded). */
async function untilExpired (t: Test, s: SessionStack, token: string): Promise<void> {
  const deadline = Date.now() + 10_000
  while (Date.now() < deadline) {
    if (!await accepted(s, token)) return
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
  t.fail('the token did not expire at the provider')
}

/** The distinct Bearer tokens the upstream received from request `from` on. */
const tokensSince = (s: SessionStack, from: number): Set<string> => new Set(s.upstream.received.slice(from).map((r) => String(r.headers.authorization).replace(/^Bearer /, '')))

const grants = (s: SessionStack): number => s.idp.grants.get('refresh_token') ?? 0

for (const rotate of [true, false]) {
  const kind = rotate ? 'rotating' : 'non-rotating'

  t.test(`${kind} refresh tokens, one gateway: after expiry every request is forwarded with a live token`, async (t) => {
    const s = await startSessionStack(t, 'cookie', { realClock: true, idpTtl: { AccessToken: 5 }, session: SESSION, rotateRefreshTokens: rotate })
    const cookie = await loginCookie(s.browser(), `${s.url}/`)
    t.equal((await api(`${s.url}/warm`, cookie)).status, 200)
    const t0 = bearer(s)
    t.equal(grants(s), 0, 'a fresh token is not refreshed (the lead is capped at half its lifetime)')
    await untilExpired(t, s, t0)

    t.equal((await api(`${s.url}/single`, cookie)).status, 200, 'the first request after expiry succeeds')
    const t1 = bearer(s)
    t.not(t1, t0, 'with a new token')
    t.ok(await accepted(s, t1), 'which the provider accepts')
    t.equal(grants(s), 1, 'one refresh')

    const before = s.upstream.received.length
    const burst = await Promise.all(Array.from({ length: 50 }, async (_, i) => api(`${s.url}/burst/${i}`, cookie)))
    t.same(burst.map((r) => r.status), Array(50).fill(200), 'a burst of 50 with the old cookie: all 200')
    const sent = tokensSince(s, before)
    for (const token of sent) t.ok(await accepted(s, token), 'every token the burst carried is live')
    t.equal(grants(s), 1, 'and the burst caused no further refresh')

    // The result kept from the first refresh has expired since: a request
    // still carrying the original cookie must not be handed it.
    await untilExpired(t, s, t1)
    t.equal((await api(`${s.url}/later`, cookie)).status, 200, 'the original cookie, after the refreshed token expired too')
    const t2 = bearer(s)
    t.not(t2, t1, 'gets yet another token')
    t.ok(await accepted(s, t2), 'a live one')
    t.equal(grants(s), 2, 'from a second refresh')
  })

  t.test(`${kind} refresh tokens, two gateways on one Redis: 40 requests after expiry, all with a live token, one refresh`, async (t) => {
    const redis = await startRedis(t)
    const s = await startSessionStack(t, 'redis', { realClock: true, replicas: 2, redis, idpTtl: { AccessToken: 5 }, session: SESSION, rotateRefreshTokens: rotate })
    const cookie = await loginCookie(s.browser(), `${s.url}/`)
    const [a, b] = s.nodes
    t.equal((await api(`${a!.url}/warm`, cookie)).status, 200)
    t.equal((await api(`${b!.url}/warm`, cookie)).status, 200)
    const t0 = bearer(s)
    t.equal(grants(s), 0, 'no refresh while the token is fresh')
    await untilExpired(t, s, t0)
    const before = s.upstream.received.length
    const results = await Promise.all(Array.from({ length: 40 }, async (_, i) => api(`${(i % 2 === 0 ? a : b)!.url}/r/${i}`, cookie)))
    t.same(results.map((r) => r.status), Array(40).fill(200), 'all 40 succeed')
    const sent = tokensSince(s, before)
    t.notOk(sent.has(t0), 'the expired token was never forwarded')
    for (const token of sent) t.ok(await accepted(s, token), 'every token forwarded is live')
    t.equal(grants(s), 1, 'one refresh across both gateways')

    const t1 = [...sent][0]!
    await untilExpired(t, s, t1)
    const again = await Promise.all(Array.from({ length: 10 }, async (_, i) => api(`${(i % 2 === 0 ? b : a)!.url}/again/${i}`, cookie)))
    t.same(again.map((r) => r.status), Array(10).fill(200), 'after the second expiry too')
    const later = tokensSince(s, s.upstream.received.length - 10)
    for (const token of later) t.ok(await accepted(s, token), 'with live tokens')
    t.equal(grants(s), 2, 'from one more refresh')
  })
}
