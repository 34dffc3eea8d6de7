import { spawn } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { NAVIGATE, request } from '../fixtures/browser.js'
import { CLIENT_ID, CLIENT_SECRET, SESSION_SECRET, reservePort } from '../fixtures/stack.js'
import { startDevProvider } from '../../src/demo/idp.js'

// The built CLI (npm test builds dist/ first), with a provider whose discovery takes 800 ms.
const CLI = join(process.cwd(), 'dist/cli.js')

/** Resolves once something accepts TCP connections on the port (polling, bounded). */
async function portOpen (port: number): Promise<void> {
  const deadline = Date.now() + 20_000
  while (Date.now() < deadline) {
    const open = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1')
      s.once('connect', () => { s.destroy(); resolve(true) })
      s.once('error', () => { resolve(false) })
    })
    if (open) return
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
  throw new Error('the gateway never listened')
}

t.test('the first request after the port opens is redirected to the provider, not answered 503', async (t) => {
  const { port, release } = await reservePort()
  const idp = await startDevProvider({ clients: [{ client_id: CLIENT_ID, client_secret: CLIENT_SECRET, redirect_uris: [`http://127.0.0.1:${port}/.gatehouse/callback`], response_types: ['code'], grant_types: ['authorization_code'] }] })
  t.teardown(async () => idp.close())
  let discoveries = 0
  idp.use(async (ctx, next) => {
    if (ctx.path === '/.well-known/openid-configuration') { discoveries++; await new Promise((resolve) => setTimeout(resolve, 800)) }
    await next()
  })
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-first-'))
  const cfg = join(dir, 'gatehouse.yaml')
  writeFileSync(cfg, `
listen: 127.0.0.1:${port}
publicUrl: http://127.0.0.1:${port}
log:
  level: warn
providers:
  - issuer: ${idp.issuer}
    clientId: ${CLIENT_ID}
    clientSecret: ${CLIENT_SECRET}
session:
  secret: ${SESSION_SECRET}
routes:
  - upstream: http://127.0.0.1:1
`)
  await release()
  const child = spawn(process.execPath, [CLI, '--config', cfg], { stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
  t.teardown(() => { child.kill('SIGKILL') })
  await portOpen(port)
  const first = await request(`http://127.0.0.1:${port}/page`, { headers: NAVIGATE })
  t.equal(first.status, 302, `the first visitor is sent to log in ${stderr}`)
  t.ok(String(first.headers.location).startsWith(`${idp.issuer}/auth?`), 'at the provider')
  t.equal(discoveries, 1, 'discovery ran once')
})
