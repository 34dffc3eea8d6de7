import { execFile } from 'node:child_process'
import { generateKeyPairSync } from 'node:crypto'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import t from 'tap'
import { loadConfigFile, parseConfig } from '../../../src/config/load.js'
import { configWarnings } from '../../../src/config/validate.js'
import { ALL_RESPONSE_TYPES } from '../../../src/demo/idp.js'
import { ConfigError } from '../../../src/errors.js'

const ROOT = fileURLToPath(new URL('../../../', import.meta.url))
const SECRET = 'config-test-session-secret-0123456789abcdef'

function yaml (provider: string, routes = '  - path: /\n    upstream: http://127.0.0.1:3000\n', publicUrl = 'https://app.example.com'): string {
  return `publicUrl: ${publicUrl}
providers:
  - id: main
    issuer: https://id.example.com
    clientId: app
${provider}
session:
  secret: ${SECRET}
routes:
${routes}`
}

function problems (text: string): string[] {
  try {
    parseConfig(text, { env: {} })
    return []
  } catch (err) {
    if (err instanceof ConfigError) return [...err.problems]
    throw err
  }
}

t.test('every response type and the response modes that can carry it', async (t) => {
  for (const rt of ALL_RESPONSE_TYPES) {
    for (const mode of ['query', 'fragment', 'form_post']) {
      const p = problems(yaml(`    clientSecret: s\n    responseType: ${rt}\n    responseMode: ${mode}\n`, '  - path: /\n    upstream: http://127.0.0.1:3000\n    bearer: id_token\n'))
      if (rt !== 'code' && mode === 'query') t.match(p, [/^providers\[0\]\.responseMode: query cannot carry tokens/], `${rt} + query refused`)
      else t.same(p, [], `${rt} + ${mode} accepted`)
    }
  }
  const c = parseConfig(yaml('    clientSecret: s\n    responseType: id_token token\n'), { env: {} })
  t.equal(c.providers[0]!.responseMode, 'fragment', 'default mode for tokens: fragment')
  t.equal(c.providers[0]!.pkce, false, 'no PKCE without a code')
  const h = parseConfig(yaml('    clientSecret: s\n    responseType: code id_token\n'), { env: {} })
  t.equal(h.providers[0]!.pkce, true, 'PKCE by default in hybrid flows')
})

t.test('a route asking for a token its provider\'s flow cannot give is an error with its path', async (t) => {
  t.same(problems(yaml('    responseType: id_token\n')), [
    'routes[0].bearer: provider "main" uses responseType "id_token", which yields no access token (access_token is the default); use bearer: id_token or none',
  ], 'the default bearer')
  t.same(problems(yaml('    responseType: id_token\n', '  - path: /a\n    upstream: http://127.0.0.1:3000\n    bearer: id_token\n  - path: /b\n    upstream: http://127.0.0.1:3000\n    bearer: access_token\n')), [
    'routes[1].bearer: provider "main" uses responseType "id_token", which yields no access token; use bearer: id_token or none',
  ], 'an explicit bearer')
  t.same(problems(yaml('    responseType: id_token\n', '  - path: /\n    upstream: http://127.0.0.1:3000\n    auth: public\n')), [], 'a public route forwards no token')
  for (const rt of ALL_RESPONSE_TYPES.filter((x) => x !== 'id_token')) {
    t.same(problems(yaml(`    clientSecret: s\n    responseType: ${rt}\n`)), [], `${rt} yields an access token`)
  }
})

t.test('PKCE, public clients and private keys', async (t) => {
  t.match(problems(yaml('    responseType: id_token\n    pkce: true\n', '  - path: /\n    upstream: http://127.0.0.1:3000\n    bearer: id_token\n')), [/providers\[0\]\.pkce: applies only to response types with a code/])
  t.match(problems(yaml('    tokenEndpointAuthMethod: none\n    pkce: false\n')), [/providers\[0\]\.pkce: a public client .* must use PKCE/])
  t.same(problems(yaml('    tokenEndpointAuthMethod: none\n    responseType: id_token\n', '  - path: /\n    upstream: http://127.0.0.1:3000\n    bearer: id_token\n')), [], 'an implicit public client needs no PKCE')
  const implicit = parseConfig(yaml('    responseType: id_token token\n'), { env: {} })
  t.equal(implicit.providers[0]!.tokenEndpointAuthMethod, 'none', 'without a code and a secret, a client is public by default (no token endpoint)')
  t.match(problems(yaml('    responseType: code id_token\n')), [/providers\[0\]\.clientSecret: is required with tokenEndpointAuthMethod client_secret_basic/], 'with a code, a forgotten secret is an error')
  t.match(problems(yaml('    privateKey: not a key\n')), [/providers\[0\]\.privateKey: not a private key/])
  t.match(problems(yaml('    privateKey: \'{"kty":"RSA","n":"x","e":"AQAB"}\'\n')), [/providers\[0\]\.privateKey: not a private key/], 'a public JWK is not a private key')
  const { privateKey } = generateKeyPairSync('x25519')
  const pem = privateKey.export({ format: 'pem', type: 'pkcs8' }).toString()
  t.match(problems(yaml(`    privateKey: |\n${pem.trim().split('\n').map((l) => `      ${l}`).join('\n')}\n`)), [/providers\[0\]\.privateKey: a x25519 key cannot sign/])
  const k1 = generateKeyPairSync('ec', { namedCurve: 'secp256k1' }).privateKey.export({ format: 'pem', type: 'pkcs8' }).toString()
  t.match(problems(yaml(`    privateKey: |\n${k1.trim().split('\n').map((l) => `      ${l}`).join('\n')}\n`)), [/providers\[0\]\.privateKey: an EC key on curve secp256k1 cannot sign/])
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' })
  const c = parseConfig(yaml(`    privateKey: '${JSON.stringify(ec)}'\n`), { env: {} })
  t.equal(c.providers[0]!.tokenEndpointAuthMethod, 'private_key_jwt', 'a JWK private key: private_key_jwt by default')
})

t.test('start-up warnings', async (t) => {
  t.same(configWarnings(parseConfig(yaml('    clientSecret: s\n'), { env: {} })), [], 'code flow: nothing to say')
  const implicit = configWarnings(parseConfig(yaml('    responseType: id_token\n', '  - path: /\n    upstream: http://127.0.0.1:3000\n    bearer: id_token\n'), { env: {} }))
  t.match(implicit, [/^providers\[0\]\.responseType: "id_token" returns tokens from the authorization endpoint .* RFC 9700/])
  const httpFormPost = configWarnings(parseConfig(yaml('    clientSecret: s\n    responseMode: form_post\n', undefined, 'http://app.internal:8080'), { env: {} }))
  t.match(httpFormPost, [/^providers\[0\]\.responseMode: form_post with a plain-http publicUrl/])
  t.same(configWarnings(parseConfig(yaml('    clientSecret: s\n    responseMode: form_post\n', undefined, 'http://127.0.0.1:8080'), { env: {} })), [], 'loopback http: the cookie can be Secure')
  const publicAssertion = configWarnings(parseConfig(yaml('    clientSecret: s\n', '  - path: /\n    upstream: http://127.0.0.1:3000\n    assertion: true\n  - path: /open\n    upstream: http://127.0.0.1:3000\n    auth: public\n    assertion: true\n'), { env: {} }))
  t.same(publicAssertion, ['routes[1].assertion: a public route reads no session, so it never sends an assertion'])
})

t.test('the demo config works with every response type (one field)', async (t) => {
  for (const rt of ALL_RESPONSE_TYPES) {
    const c = loadConfigFile(`${ROOT}config/demo.yaml`, { env: { DEMO_RESPONSE_TYPE: rt } })
    t.equal(c.providers[0]!.responseType, rt)
  }
})

t.test('the Togo examples pass `gatehouse check`', async (t) => {
  const run = promisify(execFile)
  const env = { ...process.env, CLIENT_SECRET: 'togo-secret', SESSION_SECRET: SECRET }
  for (const file of ['togo-implicit.yaml', 'togo-hybrid.yaml']) {
    const { stdout, stderr } = await run(process.execPath, [...process.execArgv, `${ROOT}src/cli.ts`, 'check', '--config', `${ROOT}config/examples/${file}`], { env, cwd: ROOT })
    t.match(stdout, `${file}: OK`, `${file} is valid`)
    t.match(stderr, /warning: providers\[0\]\.responseType: .* RFC 9700/, 'with the implicit/hybrid warning')
    const c = loadConfigFile(`${ROOT}config/examples/${file}`, { env })
    const p = c.providers[0]!
    t.equal(p.clientId, 'sample-production')
    t.same(p.authorizationParams, { profile: 'togo', behaviourProfile: 'togo' })
    t.equal(p.loginUrl, 'https://id.togo.example/login?profile=togo&behaviourProfile=togo&client_id={clientId}&ReturnUrl={authorizeUrl}')
    t.same(p.scopes.slice(0, 3), ['openid', 'email', 'profile'])
  }
  const missing = await run(process.execPath, [...process.execArgv, `${ROOT}src/cli.ts`, 'check', '--config', `${ROOT}config/examples/togo-hybrid.yaml`], { env: { ...process.env, CLIENT_SECRET: '', SESSION_SECRET: '' }, cwd: ROOT }).catch((err: { code: number, stderr: string }) => err)
  t.equal((missing as { code: number }).code, 1, 'exit 1 without the secrets')
  t.match((missing as { stderr: string }).stderr, /environment variable CLIENT_SECRET is not set/)
})
