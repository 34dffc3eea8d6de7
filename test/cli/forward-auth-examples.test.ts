import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import t from 'tap'

// `gatehouse check` (the built CLI, as an operator runs it) accepts the
// configuration of every guide in docs/deploy/.
const CLI = join(process.cwd(), 'dist/cli.js')
const env = { ...process.env, CLIENT_SECRET: 'x', SESSION_SECRET: 'an-example-session-secret-0123456789abcdef' }

for (const g of ['nginx', 'ingress-nginx', 'traefik', 'caddy', 'envoy']) {
  t.test(`gatehouse check config/examples/forward-auth-${g}.yaml`, async (t) => {
    const file = join('config', 'examples', `forward-auth-${g}.yaml`)
    const r = spawnSync(process.execPath, [CLI, 'check', '--config', file], { encoding: 'utf8', env })
    t.equal(r.status, 0, r.stderr + r.stdout)
    t.match(r.stdout, /: OK \(/)
  })
}

t.test('gatehouse check fails without the secrets the examples reference (the test can fail)', async (t) => {
  const { CLIENT_SECRET: _c, SESSION_SECRET: _s, ...bare } = env
  const r = spawnSync(process.execPath, [CLI, 'check', '--config', join('config', 'examples', 'forward-auth-nginx.yaml')], { encoding: 'utf8', env: bare })
  t.equal(r.status, 1)
})
