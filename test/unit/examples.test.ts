import { readdirSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { loadConfigFile } from '../../src/config/load.js'

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

t.test('the sidecar example with WebSockets: which routes take upgrades', async (t) => {
  const readFile = (p: string): string => (p.includes('session') ? env.SESSION_SECRET : 'client-secret')
  const c = loadConfigFile(join('config', 'examples', 'sidecar-websocket.yaml'), { env, readFile })
  t.same(c.routes.map((r) => [r.path, r.websocket]), [['/healthz', false], ['/term', true], ['/api', false], ['/', true]])
  t.same(c.routes[1]!.allow?.groups, ['admins'])
})
