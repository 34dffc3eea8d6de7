import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { loadConfigFile } from '../../../src/config/load.js'

// Every shipped example must pass validation (with its secrets supplied).
const env = { CLIENT_SECRET: 'x', SESSION_SECRET: 'an-example-session-secret-0123456789abcdef' }
const files = (dir: string): string[] => readdirSync(dir).filter((f) => f.endsWith('.yaml')).map((f) => join(dir, f))

t.test('config/demo.yaml and config/examples/*.yaml are valid', async (t) => {
  const all = [join('config', 'demo.yaml'), ...files(join('config', 'examples'))]
  t.ok(all.length >= 4)
  for (const f of all) {
    // xFile secrets (Kubernetes mounts) are served from memory here.
    const readFile = (p: string): string => (p.includes('session') ? env.SESSION_SECRET : 'client-secret')
    t.doesNotThrow(() => loadConfigFile(f, { env, readFile }), f)
  }
})

t.test('every deployment guide behind a proxy names its Gatehouse configuration, and it is valid', async (t) => {
  const guides = ['nginx', 'ingress-nginx', 'traefik', 'caddy', 'envoy']
  for (const g of guides) {
    const text = readFileSync(join('docs', 'deploy', `${g}.md`), 'utf8')
    const example = join('config', 'examples', `forward-auth-${g}.yaml`)
    t.ok(text.includes(`(../../${example})`), `docs/deploy/${g}.md links ${example}`)
    const readFile = (p: string): string => (p.includes('session') ? env.SESSION_SECRET : 'client-secret')
    const config = loadConfigFile(example, { env, readFile })
    t.ok(config.routes.length > 0, `${example} is valid and has routes`)
    t.ok(readFileSync(join('docs', 'forward-auth.md'), 'utf8').includes(`(deploy/${g}.md)`), `docs/forward-auth.md links the ${g} guide`)
  }
})

t.test('the sidecar example with WebSockets: which routes take upgrades', async (t) => {
  const readFile = (p: string): string => (p.includes('session') ? env.SESSION_SECRET : 'client-secret')
  const c = loadConfigFile(join('config', 'examples', 'sidecar-websocket.yaml'), { env, readFile })
  t.same(c.routes.map((r) => [r.path, r.websocket]), [['/healthz', false], ['/term', true], ['/api', false], ['/', true]])
  t.same(c.routes[1]!.allow?.groups, ['admins'])
})
