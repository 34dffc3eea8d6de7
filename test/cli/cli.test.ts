import { spawn, spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
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

t.test('check: the many-hosts example (docs/deploy/shared-gateway.md) is valid', async (t) => {
  const r = run(['check', '--config', join(process.cwd(), 'config/examples/many-hosts.yaml')], { CLIENT_SECRET: 'x', SESSION_SECRET })
  t.equal(r.status, 0, r.stderr)
  t.match(r.stdout, /OK \(1 provider, 4 routes, redis sessions\)/)
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
  const unknown = run(['frobnicate', '--config', cfg])
  t.equal(unknown.status, 1)
  t.match(unknown.stderr, /unknown command: frobnicate \(expected run, check, schema\)/)
  t.match(unknown.stderr, /Usage:/, 'usage follows a usage error')
  const badOption = run(['--frob'])
  t.equal(badOption.status, 1)
  t.match(badOption.stderr, /Unknown option '--frob'[\s\S]*Usage:/)
})

t.test('--version and -v print the package version', async (t) => {
  const { version } = JSON.parse(readFileSync('package.json', 'utf8')) as { version: string }
  for (const flag of ['--version', '-v']) {
    const r = run([flag])
    t.equal(r.status, 0)
    t.equal(r.stdout, `${version}\n`, flag)
  }
})

t.test('--help lists every command, option and the environment variable', async (t) => {
  for (const flag of ['--help', '-h']) {
    const r = run([flag])
    t.equal(r.status, 0)
    for (const word of ['gatehouse [run] --config FILE', 'run the gateway (run is the default command)', 'gatehouse check', 'gatehouse schema', '-c, --config FILE', '-v, --version', '-h, --help', 'GATEHOUSE_CONFIG']) {
      t.ok(r.stdout.includes(word), `${flag} mentions ${word}`)
    }
  }
})

t.test('schema prints a JSON Schema of the file', async (t) => {
  const r = run(['schema'])
  t.equal(r.status, 0, r.stderr)
  const schema = JSON.parse(r.stdout) as { $schema: string, additionalProperties: boolean, properties: Record<string, unknown> }
  t.equal(schema.$schema, 'https://json-schema.org/draft/2020-12/schema')
  t.equal(schema.additionalProperties, false)
  t.same(Object.keys(schema.properties), ['listen', 'tls', 'publicUrl', 'trustProxy', 'admin', 'log', 'limits', 'loginRedirect', 'upstream', 'workers', 'providers', 'session', 'routes', 'assertion', 'shutdownGrace', 'reload'])
  t.equal(run(['schema', 'extra']).status, 1, 'no stray arguments')
})

t.test('check: every problem of a broken file in one pass, including trustProxy and loginRedirect', async (t) => {
  const cfg = file('many.yaml', `
listen: 0.0.0.0:8080
publicUrl: https://app.example.com
trustProxy: maybe
loginRedirect: somewhere
admin:
  listen: 0.0.0.0:8080
providers:
  - issuer: https://id.example.com/
    clientId: c
    clientSecretFile: \${DIR}/nope
session:
  secret: change-me-to-a-random-value-of-32-characters-or-more
  cookieDomain: "not a domain!!"
  absoluteTimeout: 12h
  refreshBefore: 24h
routes:
  - path: /app
    upstream: http://127.0.0.1:3000
  - path: /app/
    upstream: http://127.0.0.1:3000
`)
  const r = run(['check', '-c', cfg], { DIR: dir })
  t.equal(r.status, 1)
  t.equal(r.stdout, '')
  t.equal(r.stderr, `${cfg}: 8 problems:
  trustProxy: expected true or false, got "maybe"
  loginRedirect: expected one of "provider", "gateway", got "somewhere"
  providers[0].clientSecretFile: cannot read "${dir}/nope": ENOENT (no such file or directory)
  session.cookieDomain: not a domain: "not a domain!!" (write a domain name such as example.com, without scheme, port, path or wildcard; it covers every subdomain)
  session.secret: is a placeholder, not a secret; generate one with: openssl rand -base64 48
  session.refreshBefore: must be shorter than absoluteTimeout (1d >= 12h): every token would count as expiring and be refreshed on every request (the default is 60s)
  routes[1]: same host and path as routes[0]; the first wins, so this route is never used
  admin.listen: 0.0.0.0:8080 overlaps listen 0.0.0.0:8080 (both on port 8080; the second listener would fail with EADDRINUSE); give the admin endpoints a port of their own, e.g. 0.0.0.0:9901
`)
  const yamlError = run(['check', '--config', file('syntax.yaml', 'publicUrl: https://app.example.com\nproviders: [unclosed\n')])
  t.equal(yamlError.status, 1)
  t.match(yamlError.stderr, /^  yaml: line \d+, column \d+: [^\n]*[^:\n]$/m, 'line and column, no dangling colon')
})

t.test('run: a port already in use is one clear line, not a stack trace', async (t) => {
  const blocker = createServer()
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { blocker.close() })
  const port = (blocker.address() as { port: number }).port
  const cfg = file('busy.yaml', `
listen: 127.0.0.1:${port}
publicUrl: http://127.0.0.1:${port}
log: { level: fatal }
providers: [{ issuer: http://127.0.0.1:9, clientId: c, clientSecret: provider-issued-secret }]
session: { secret: ${SESSION_SECRET} }
routes: [{ upstream: http://127.0.0.1:3000 }]
`)
  const r = run(['run', '--config', cfg])
  t.equal(r.status, 1)
  t.equal(r.stderr.trim(), `gatehouse: cannot listen on 127.0.0.1:${port}: the address is already in use (EADDRINUSE): another process listens there, or listen and admin.listen name the same port`)
  t.notMatch(r.stderr, /\n\s+at /, 'no stack trace')
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
