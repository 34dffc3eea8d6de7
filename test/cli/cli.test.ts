import { spawn, spawnSync } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { request } from '../fixtures/browser.js'
import { CLIENT_ID, CLIENT_SECRET, SESSION_SECRET, reservePort } from '../fixtures/stack.js'
import { startDevProvider } from '../../src/demo/idp.js'
import { startEchoUpstream } from '../../src/demo/upstream.js'

// Runs the built CLI (npm test builds dist/ first), as an operator would.
const CLI = join(process.cwd(), 'dist/cli.js')
const dir = mkdtempSync(join(tmpdir(), 'gatehouse-cli-'))
const file = (name: string, text: string): string => { const p = join(dir, name); writeFileSync(p, text); return p }
const run = (args: string[], env: Record<string, string> = {}) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: { ...process.env, ...env } })

t.test('check: three mistakes are all printed with their paths, exit 1', async (t) => {
  const cfg = file('bad.yaml', `
publicUrl: https://app.example.com
providers:
  - issuer: https://id.example.com/
    clientId: c
    clientSecret: s
session:
  secret: too-short
routes:
  - path: /
    upstream: http://127.0.0.1:3000
  - path: /a
    upstream: http://127.0.0.1:3000
  - path: /b
    upstream: "htp:/x"
    bearer: refresh_token
`)
  const r = run(['check', '--config', cfg])
  t.equal(r.status, 1)
  t.match(r.stderr, /3 problems/)
  t.match(r.stderr, /session\.secret: must be at least 32 characters/)
  t.match(r.stderr, /routes\[2\]\.upstream: not a URL: "htp:\/x"/)
  t.match(r.stderr, /routes\[2\]\.bearer: expected one of "access_token", "id_token", "none", got "refresh_token"/)
})

t.test('check: a good file exits 0; GATEHOUSE_CONFIG works; usage errors exit 1', async (t) => {
  const cfg = file('good.yaml', `
publicUrl: https://app.example.com
providers:
  - issuer: https://id.example.com/
    clientId: c
    clientSecret: \${CS}
session:
  secret: ${SESSION_SECRET}
routes:
  - upstream: http://127.0.0.1:3000
`)
  const ok = run(['check', '--config', cfg], { CS: 'x' })
  t.equal(ok.status, 0, ok.stderr)
  t.match(ok.stdout, /OK \(1 provider, 1 route, cookie sessions\)/)
  t.equal(run(['check'], { GATEHOUSE_CONFIG: cfg, CS: 'x' }).status, 0)
  const unset = run(['check', '--config', cfg], { CS: '' })
  t.equal(unset.status, 1)
  t.match(unset.stderr, /providers\[0\]\.clientSecret: environment variable CS is not set/)
  const missing = run(['check', '--config', join(dir, 'nope.yaml')])
  t.equal(missing.status, 1)
  t.match(missing.stderr, /cannot read: ENOENT/)
  const none = run(['check'], { GATEHOUSE_CONFIG: '' })
  t.equal(none.status, 1)
  t.match(none.stderr, /no configuration/)
  t.equal(run(['frobnicate', '--config', cfg]).status, 1)
})

t.test('run: serves, then drains in-flight requests on SIGTERM and exits 0', async (t) => {
  const { port, release } = await reservePort()
  const idp = await startDevProvider({ clients: [{ client_id: CLIENT_ID, client_secret: CLIENT_SECRET, redirect_uris: [`http://127.0.0.1:${port}/.gatehouse/callback`], response_types: ['code'], grant_types: ['authorization_code'] }] })
  t.teardown(async () => idp.close())
  const up = await startEchoUpstream()
  t.teardown(async () => up.close())
  const cfg = file('run.yaml', `
listen: 127.0.0.1:${port}
publicUrl: http://127.0.0.1:${port}
shutdownGrace: 1s
log:
  level: warn
providers:
  - issuer: ${idp.issuer}
    clientId: ${CLIENT_ID}
    clientSecret: ${CLIENT_SECRET}
session:
  secret: ${SESSION_SECRET}
routes:
  - upstream: ${up.url}
    auth: public
`)
  await release()
  const child = spawn(process.execPath, [CLI, '--config', cfg], { stdio: ['ignore', 'pipe', 'pipe'] })
  let stderr = ''
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
  t.teardown(() => { child.kill('SIGKILL') })
  for (let i = 0; i < 100; i++) {
    try { if ((await request(`http://127.0.0.1:${port}/up`)).status === 200) break } catch { /* not yet listening */ }
    await new Promise((r) => setTimeout(r, 100))
  }
  const inflight = request(`http://127.0.0.1:${port}/delay/700`)
  await new Promise((r) => setTimeout(r, 200))
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => { resolve(code) }))
  child.kill('SIGTERM')
  const res = await inflight
  t.equal(res.status, 200, 'the in-flight request completes')
  t.equal(res.text, 'late')
  t.equal(await exited, 0, `exit 0 after draining ${stderr}`)
})
