import { generateKeyPair, SignJWT } from 'jose'
import t from 'tap'
import { BearerVerifier, bearerToken } from '../../../src/auth/bearer.js'
import type { OidcProvider } from '../../../src/auth/oidc.js'

t.test('bearerToken: the token of an Authorization header', async (t) => {
  const cases: [string | undefined, string | undefined][] = [
    [undefined, undefined],
    ['Basic YTpi', undefined],
    ['Bearer', undefined],
    ['Bearerabc', undefined],
    ['Bearer abc.def.ghi', 'abc.def.ghi'],
    ['bearer abc', 'abc'],
    ['BEARER  abc  ', 'abc'],
    ['Bearer abc==', 'abc=='],
    ['Bearer a-b_c~d+e/f.g', 'a-b_c~d+e/f.g'],
    ['Bearer ', ''],
    ['Bearer a b', ''],
    ['Bearer a"b', ''],
    ['Bearer ab=c', ''],
  ]
  for (const [header, want] of cases) t.equal(bearerToken(header), want, JSON.stringify(header))
})

t.test('BearerVerifier: keys from the provider only, results kept until exp, expired tokens refused from memory', async (t) => {
  const { privateKey, publicKey } = await generateKeyPair('ES256')
  let lookups = 0
  const provider = {
    id: 'p',
    cfg: { issuer: 'https://id.example', clientId: 'client' },
    signingKeys: async () => { lookups++; return publicKey },
    canIntrospect: false,
  } as unknown as OidcProvider
  let wall = Date.UTC(2030, 0, 1)
  const v = new BearerVerifier({ providers: [provider], audiences: undefined, introspect: false, clockSkew: 0, wallClock: () => wall })
  const s = Math.floor(wall / 1000)
  const sign = async (claims: Record<string, unknown>): Promise<string> => new SignJWT({ iss: 'https://id.example', aud: 'client', sub: 'u', iat: s, exp: s + 60, ...claims }).setProtectedHeader({ alg: 'ES256' }).sign(privateKey)
  const token = await sign({})
  const first = await v.check(token)
  t.same(first.ok ? [first.sub, first.claims.aud] : first, ['u', 'client'])
  t.equal(lookups, 1)
  const again = v.check(token)
  t.notOk(again instanceof Promise, 'a repeat is answered synchronously')
  t.equal(lookups, 1, 'and without a key lookup')
  wall += 61_000
  t.same(await v.check(token), { ok: false, reason: 'expired' }, 'past exp it is verified again, and refused')
  t.equal(lookups, 2)
  t.same(v.check(token), { ok: false, reason: 'expired' }, 'then refused from memory')
  t.equal(lookups, 2)
  const other = await sign({ iss: 'https://other.example' })
  t.same(await v.check(other), { ok: false, reason: 'iss not accepted' })
  t.equal(lookups, 2, 'an unknown issuer looks up no key')
  const hs = await new SignJWT({ iss: 'https://id.example', aud: 'client', exp: s + 600 }).setProtectedHeader({ alg: 'HS256' }).sign(new TextEncoder().encode('client-secret-0123456789abcdef01'))
  t.same(await v.check(hs), { ok: false, reason: 'alg not accepted' })
  t.equal(lookups, 2, 'HS256 looks up no key')
  const concurrent = await sign({ sub: 'c' })
  await Promise.all([v.check(concurrent), v.check(concurrent), v.check(concurrent)])
  t.equal(lookups, 3, 'concurrent checks of one token share one verification')
})
