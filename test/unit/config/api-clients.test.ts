import t from 'tap'
import { parseConfig } from '../../../src/config/load.js'
import { ConfigError } from '../../../src/errors.js'

/** acceptBearer and upstreamToken: defaults, and each problem at its path. */

const head = `
publicUrl: https://app.example.com
providers:
  - { id: main, issuer: https://id.example.com/, clientId: gw, clientSecret: provider-issued-secret }
  - { id: spa, issuer: https://spa.example.com/, clientId: spa, tokenEndpointAuthMethod: none, responseType: id_token }
session:
  secret: 0123456789abcdef0123456789abcdef
routes:
`

function load (routes: string, files: Record<string, string> = {}): ReturnType<typeof parseConfig> {
  return parseConfig(head + routes, { env: {}, readFile: (p) => { if (p in files) return files[p]!; throw Object.assign(new Error('nope'), { code: 'ENOENT' }) } })
}

function problems (routes: string, files: Record<string, string> = {}): string[] {
  try {
    load(routes, files)
    return []
  } catch (err) {
    if (err instanceof ConfigError) return [...err.problems]
    throw err
  }
}

t.test('defaults: the route\'s provider, its clientId as audience, no introspection', async (t) => {
  const c = load(`
  - { path: /a, upstream: http://127.0.0.1:3000, acceptBearer: {} }
  - { path: /b, upstream: http://127.0.0.1:3000, provider: spa, bearer: none, acceptBearer: { providers: [main, spa], audiences: api } }
  - { path: /c, upstream: http://127.0.0.1:3000, upstreamToken: { clientCredentials: {} } }
  - { path: /d, upstream: http://127.0.0.1:3000, auth: public, upstreamToken: { tokenFile: /run/t } }
`, { '/run/t': 'abc.DEF-123_~+/==\n' })
  t.same(c.routes[0]!.acceptBearer, { providers: ['main'], introspect: false })
  t.same(c.routes[1]!.acceptBearer, { providers: ['main', 'spa'], audiences: ['api'], introspect: false })
  t.same(c.routes[2]!.upstreamToken, { kind: 'clientCredentials', provider: 'main', scopes: [] })
  t.same(c.routes[3]!.upstreamToken, { kind: 'static', token: 'abc.DEF-123_~+/==' })
  t.equal(c.routes[0]!.upstreamToken, undefined)
})

t.test('an id_token-only provider may serve a route whose upstream gets the gateway\'s token', async (t) => {
  t.same(problems(`
  - { upstream: http://127.0.0.1:3000, provider: spa, upstreamToken: { clientCredentials: { provider: main } } }
`), [])
})

t.test('each problem at its path', async (t) => {
  const cases: [string, string[], Record<string, string>?][] = [
    ['{ upstream: http://x:1, acceptBearer: { providers: [nope] } }', ['routes[0].acceptBearer.providers[0]: no provider with id "nope" (have: main, spa)']],
    ['{ upstream: http://x:1, acceptBearer: { providers: [] } }', ['routes[0].acceptBearer.providers: must list at least one provider (or be left out: the route\'s provider)']],
    ['{ upstream: http://x:1, acceptBearer: { audiences: [] } }', ['routes[0].acceptBearer.audiences: must list at least one audience (or be left out: the provider\'s clientId)']],
    ['{ upstream: http://x:1, acceptBearer: { introspect: maybe } }', ['routes[0].acceptBearer.introspect: expected true or false, got "maybe"']],
    ['{ upstream: http://x:1, acceptBearer: true }', ['routes[0].acceptBearer: expected a map, got true']],
    ['{ upstream: http://x:1, acceptBearer: { audience: x } }', ['routes[0].acceptBearer.audience: unknown field (expected one of: providers, audiences, introspect)']],
    ['{ upstream: http://x:1, upstreamToken: {} }', ['routes[0].upstreamToken: give clientCredentials or tokenFile']],
    ['{ upstream: http://x:1, upstreamToken: { clientCredentials: {}, tokenFile: /run/t } }', ['routes[0].upstreamToken: give either clientCredentials or tokenFile, not both'], { '/run/t': 'tok' }],
    ['{ upstream: http://x:1, upstreamToken: { tokenFile: /run/missing } }', ['routes[0].upstreamToken.tokenFile: cannot read "/run/missing": ENOENT']],
    ['{ upstream: http://x:1, upstreamToken: { tokenFile: /run/t } }', ['routes[0].upstreamToken.tokenFile: "/run/t" is empty (expected the token)'], { '/run/t': '\n' }],
    ['{ upstream: http://x:1, upstreamToken: { tokenFile: /run/t } }', ['routes[0].upstreamToken.tokenFile: the token is not valid Bearer token text (RFC 6750: letters, digits and -._~+/ then =)'], { '/run/t': 'two words\n' }],
    ['{ upstream: http://x:1, upstreamToken: { clientCredentials: { provider: nope } } }', ['routes[0].upstreamToken.clientCredentials.provider: no provider with id "nope" (have: main, spa)']],
    ['{ upstream: http://x:1, upstreamToken: { clientCredentials: { provider: spa } } }', ['routes[0].upstreamToken.clientCredentials.provider: provider "spa" has no client credentials (tokenEndpointAuthMethod none): the client_credentials grant needs a clientSecret or privateKey']],
    ['{ upstream: http://x:1, upstreamToken: { clientCredentials: { scopes: [""] } } }', ['routes[0].upstreamToken.clientCredentials.scopes[0]: expected a non-empty string, got ""']],
  ]
  for (const [route, want, files] of cases) t.same(problems(`  - ${route}\n`, files), want, route)
})
