import { generateKeyPairSync } from 'node:crypto'
import t, { type Test } from 'tap'
import { calculateJwkThumbprint, decodeProtectedHeader, type JWK } from 'jose'
import { request } from '../fixtures/browser.js'
import { CLIENT_ID, CLIENT_SECRET, gatewayYaml, startStack, type Stack } from '../fixtures/stack.js'

/**
 * Client authentication at the token endpoint, one login per method, with
 * the token request recorded at the provider to see how the client
 * authenticated. (oidc-provider accepts client_secret_basic and
 * client_secret_post interchangeably; the other methods it enforces as
 * registered, so a client registered otherwise must be refused.)
 */

const yaml = (provider: string): string => gatewayYaml({ provider })

/** Records the token requests the provider receives (client_assertion header, auth scheme). */
function recordTokenRequests (s: Stack): { auth: string | undefined, body: URLSearchParams }[] {
  const seen: { auth: string | undefined, body: URLSearchParams }[] = []
  s.idp.use(async (ctx, next) => {
    await next()
    if (ctx.path === '/token') seen.push({ auth: ctx.get('authorization') || undefined, body: new URLSearchParams(ctx.oidc?.params === undefined ? '' : Object.entries(ctx.oidc.params).filter(([, v]) => typeof v === 'string') as [string, string][]) })
  })
  return seen
}

async function loginWorks (t: Test, s: Stack): Promise<void> {
  const res = await s.browser().login(`${s.url}/page`)
  t.equal(res.status, 200, 'login completes')
  t.match(s.upstream.received.at(-1)?.headers.authorization, /^Bearer /)
  t.equal(s.idp.grants.get('authorization_code'), 1, 'the code was redeemed')
}

async function loginRefused (t: Test, s: Stack): Promise<void> {
  const res = await s.browser().login(`${s.url}/page`)
  t.equal(res.status, 400, 'the provider refuses the client')
  t.equal(res.headers['x-gatehouse-response'], 'GH_LOGIN_INVALID_CLIENT')
  t.equal(s.upstream.received.length, 0)
}

t.test('client_secret_basic', async (t) => {
  const s = await startStack(t, { yaml: yaml(`    clientSecret: ${CLIENT_SECRET}\n    tokenEndpointAuthMethod: client_secret_basic\n`), client: { token_endpoint_auth_method: 'client_secret_basic' } })
  const seen = recordTokenRequests(s)
  await loginWorks(t, s)
  const basic = /^Basic (.+)$/.exec(seen[0]?.auth ?? '')
  t.ok(basic !== null, 'credentials in the Authorization header')
  // RFC 6749 2.3.1: each part form-urlencoded, then base64.
  t.same(Buffer.from(basic![1]!, 'base64').toString().split(':').map(decodeURIComponent), [CLIENT_ID, CLIENT_SECRET])
  t.equal(seen[0]?.body.get('client_secret'), null, 'not in the body')
})

t.test('client_secret_post', async (t) => {
  const s = await startStack(t, { yaml: yaml(`    clientSecret: ${CLIENT_SECRET}\n    tokenEndpointAuthMethod: client_secret_post\n`), client: { token_endpoint_auth_method: 'client_secret_post' } })
  const seen = recordTokenRequests(s)
  await loginWorks(t, s)
  t.equal(seen[0]?.auth, undefined, 'no Authorization header')
  t.equal(seen[0]?.body.get('client_secret'), CLIENT_SECRET, 'the secret in the form body')
  t.equal(seen[0]?.body.get('client_id'), CLIENT_ID)
})

t.test('none: a public client, with PKCE', async (t) => {
  const s = await startStack(t, { yaml: yaml('    tokenEndpointAuthMethod: none\n'), client: { token_endpoint_auth_method: 'none', client_secret: undefined } })
  const seen = recordTokenRequests(s)
  const first = await s.browser().fetch(`${s.url}/page`)
  t.equal(new URL(first.headers.location!).searchParams.get('code_challenge_method'), 'S256', 'PKCE')
  await loginWorks(t, s)
  t.equal(seen[0]?.auth, undefined, 'no client credentials')
  t.equal(seen[0]?.body.get('client_secret'), null)
  t.match(seen[0]?.body.get('code_verifier'), /^[A-Za-z0-9_-]{43}$/, 'the PKCE verifier instead')
  const wrong = await startStack(t, { yaml: yaml('    tokenEndpointAuthMethod: none\n'), client: { token_endpoint_auth_method: 'client_secret_basic' } })
  await loginRefused(t, wrong)
})

t.test('private_key_jwt', async (t) => {
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 })
  const pem = rsa.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString()
  const pemYaml = `    privateKey: |\n${pem.trim().split('\n').map((l) => `      ${l}`).join('\n')}\n`
  const publicJwk = rsa.publicKey.export({ format: 'jwk' }) as JWK
  const thumbprint = await calculateJwkThumbprint(publicJwk)

  t.test('PEM key; the kid is the key\'s thumbprint, registered as jwks', async (t) => {
    const s = await startStack(t, { yaml: yaml(pemYaml), client: { token_endpoint_auth_method: 'private_key_jwt', client_secret: undefined, jwks: { keys: [{ ...publicJwk, kid: thumbprint, use: 'sig' }] } } })
    const seen = recordTokenRequests(s)
    await loginWorks(t, s)
    const assertion = seen[0]?.body.get('client_assertion')
    t.ok(assertion !== undefined && assertion !== null, 'a client assertion was sent')
    t.equal(decodeProtectedHeader(assertion!).kid, thumbprint, 'carrying the kid')
    t.equal(decodeProtectedHeader(assertion!).alg, 'RS256')
    t.equal(seen[0]?.auth, undefined)

    const jwks = await request(`${s.url}/.gatehouse/jwks`)
    t.equal(jwks.status, 200, 'the public key is published')
    t.match(jwks.headers['content-type'], /application\/jwk-set\+json/)
    const keys = jwks.json<{ keys: JWK[] }>().keys
    t.equal(keys.length, 1)
    t.same({ n: keys[0]!.n, e: keys[0]!.e, kid: keys[0]!.kid, alg: keys[0]!.alg, use: keys[0]!.use }, { n: publicJwk.n, e: publicJwk.e, kid: thumbprint, alg: 'RS256', use: 'sig' })
    t.notOk('d' in keys[0]! || 'p' in keys[0]! || 'q' in keys[0]!, 'never a private member')
  })

  t.test('the provider reads the key from Gatehouse\'s /.gatehouse/jwks (jwks_uri)', async (t) => {
    const s = await startStack(t, {
      yaml: yaml(pemYaml),
      client: (publicUrl) => ({ token_endpoint_auth_method: 'private_key_jwt', client_secret: undefined, jwks_uri: `${publicUrl}/.gatehouse/jwks` }),
    })
    await loginWorks(t, s)
  })

  t.test('EC key as JWK text with privateKeyId', async (t) => {
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' })
    const priv = ec.privateKey.export({ format: 'jwk' }) as JWK
    const pub = ec.publicKey.export({ format: 'jwk' }) as JWK
    const s = await startStack(t, {
      yaml: yaml(`    privateKey: '${JSON.stringify(priv)}'\n    privateKeyId: gatehouse-2024\n`),
      client: { token_endpoint_auth_method: 'private_key_jwt', client_secret: undefined, jwks: { keys: [{ ...pub, kid: 'gatehouse-2024', use: 'sig' }] } },
    })
    const seen = recordTokenRequests(s)
    await loginWorks(t, s)
    const header = decodeProtectedHeader(seen[0]!.body.get('client_assertion')!)
    t.same([header.kid, header.alg], ['gatehouse-2024', 'ES256'])
  })

  t.test('a key the provider does not know is refused', async (t) => {
    const other = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ format: 'jwk' }) as JWK
    const s = await startStack(t, { yaml: yaml(pemYaml), client: { token_endpoint_auth_method: 'private_key_jwt', client_secret: undefined, jwks: { keys: [{ ...other, kid: thumbprint, use: 'sig' }] } } })
    await loginRefused(t, s)
  })
})

t.test('/.gatehouse/jwks does not exist without private_key_jwt', async (t) => {
  const s = await startStack(t, { yaml: yaml(`    clientSecret: ${CLIENT_SECRET}\n`) })
  const res = await request(`${s.url}/.gatehouse/jwks`)
  t.equal(res.status, 404)
})
