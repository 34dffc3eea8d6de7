import { execFile } from 'node:child_process'
import https from 'node:https'
import { mkdtempSync, writeFileSync } from 'node:fs'
import type { TLSSocket } from 'node:tls'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { startDevProvider } from '../../src/demo/idp.js'
import { startEchoUpstream } from '../../src/demo/upstream.js'
import { CLI, startGatehouse, until } from '../fixtures/cli.js'
import { CLIENT_ID, CLIENT_SECRET, SESSION_SECRET, freePort } from '../fixtures/stack.js'
import { selfSigned } from '../fixtures/tls.js'

// The proxy listener over HTTPS, on the built CLI: keep-alive, certificate
// rotation by SIGHUP without a restart, and `gatehouse check` on bad files.
const dir = mkdtempSync(join(tmpdir(), 'gatehouse-tls-'))
const one = selfSigned(dir, 'gatehouse-one')
const two = selfSigned(dir, 'gatehouse-two')
// Where the config points: the files cert-manager would rewrite in place.
const certFile = join(dir, 'tls.crt')
const keyFile = join(dir, 'tls.key')

function yaml (port: number, issuer: string, upstream: string, tls = `tls:\n  certFile: ${certFile}\n  keyFile: ${keyFile}\n`): string {
  return `
listen: 127.0.0.1:${port}
publicUrl: https://127.0.0.1:${port}
log: { level: info }
${tls}
providers:
  - issuer: ${issuer}
    clientId: ${CLIENT_ID}
    clientSecret: ${CLIENT_SECRET}
session:
  secret: ${SESSION_SECRET}
routes:
  - path: /private
    upstream: ${upstream}
  - path: /
    upstream: ${upstream}
    auth: public
`
}

interface Got { status: number, headers: import('node:http').IncomingHttpHeaders, socket: TLSSocket, text: string }

/** A GET over HTTPS trusting only `ca`. */
async function get (url: string, agent: https.Agent, headers: Record<string, string> = {}): Promise<Got> {
  return new Promise((resolve, reject) => {
    const req = https.get(url, { agent, headers }, (res) => {
      let text = ''
      res.on('data', (d: Buffer) => { text += d.toString() })
      res.on('end', () => { resolve({ status: res.statusCode ?? 0, headers: res.headers, socket: req.socket as TLSSocket, text }) })
    })
    req.on('error', reject)
  })
}

const agentFor = (ca: string): https.Agent => new https.Agent({ keepAlive: true, ca, maxSockets: 1 })
const peer = (s: TLSSocket): string => String(s.getPeerCertificate().subject.CN)

async function check (file: string): Promise<{ code: number, out: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, 'check', '--config', file], (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : (err as { code?: number }).code ?? -1, out: stdout + stderr })
    })
  })
}

t.test('HTTPS listener: keep-alive, rotation on SIGHUP without restart, a bad rotation keeps the old certificate', async (t) => {
  const port = await freePort()
  const idp = await startDevProvider({ clients: [{ client_id: CLIENT_ID, client_secret: CLIENT_SECRET, redirect_uris: [`https://127.0.0.1:${port}/.gatehouse/callback`], response_types: ['code'], grant_types: ['authorization_code', 'refresh_token'] }] })
  t.teardown(async () => idp.close())
  const upstream = await startEchoUpstream()
  t.teardown(async () => upstream.close())
  writeFileSync(certFile, one.cert)
  writeFileSync(keyFile, one.key)
  const file = join(dir, 'gatehouse.yaml')
  writeFileSync(file, yaml(port, idp.issuer, upstream.url))
  const g = startGatehouse(t, file, port, 'https')
  const a1 = agentFor(one.cert)
  t.teardown(() => { a1.destroy() })
  const first = await until('serving over HTTPS', async () => (await get(`${g.url}/a`, a1)).status === 200 ? true : undefined)
  t.ok(first)
  const r1 = await get(`${g.url}/b`, a1)
  const r2 = await get(`${g.url}/c`, a1)
  t.equal(r1.status, 200)
  t.equal(peer(r1.socket), 'gatehouse-one', 'the configured certificate, verified against it as the CA')
  t.equal(r1.socket.alpnProtocol, false, 'HTTP/1.1 (no ALPN upgrade to h2)')
  t.equal(r1.socket, r2.socket, 'keep-alive: the second request reuses the connection')
  t.equal(upstream.received.at(-1)!.headers['x-forwarded-proto'], 'https', 'the upstream is told the request came over HTTPS')

  // Secure cookies as before: an https publicUrl marks the login-state cookie Secure (and __Secure-).
  await until('provider discovery', async () => (await get(`${g.url}/private`, a1, { accept: 'text/html' })).status === 302 ? true : undefined)
  const login = await get(`${g.url}/private`, a1, { accept: 'text/html' })
  const cookies = [login.headers['set-cookie'] ?? []].flat()
  t.ok(cookies.length > 0, 'a login-state cookie is set')
  for (const c of cookies) t.match(c, /^__(Host|Secure)-[^;]*;.*; Secure/i, `Secure, with a secure prefix: ${c.split('=')[0]}`)

  // cert-manager rewrites the files; SIGHUP (no restart) serves the new pair.
  const pid = g.child.pid
  writeFileSync(certFile, two.cert)
  writeFileSync(keyFile, two.key)
  g.child.kill('SIGHUP')
  await until('log "TLS certificate reloaded"', () => g.count('TLS certificate reloaded') > 0 ? true : undefined)
  const a2 = agentFor(two.cert)
  t.teardown(() => { a2.destroy() })
  const rotated = await get(`${g.url}/d`, a2)
  t.equal(rotated.status, 200)
  t.equal(peer(rotated.socket), 'gatehouse-two', 'a new connection gets the new certificate')
  t.equal(g.child.pid, pid)
  t.equal(g.child.exitCode, null, 'the same process, not restarted')

  // A broken key on the next rotation: logged as a problem, the running certificate stays.
  writeFileSync(keyFile, 'not a key\n')
  const refusedBefore = g.logs().filter((l) => /^reload refused/.test(l.msg)).length
  g.child.kill('SIGHUP')
  await until('reload refused', () => g.logs().filter((l) => /^reload refused/.test(l.msg)).length > refusedBefore ? true : undefined)
  t.match(g.output(), /tls\.keyFile: .*holds no PEM private key/, 'the problem names the field')
  const a3 = agentFor(two.cert)
  t.teardown(() => { a3.destroy() })
  const kept = await get(`${g.url}/e`, a3)
  t.equal(kept.status, 200)
  t.equal(peer(kept.socket), 'gatehouse-two', 'the previous certificate is still served')
  t.equal(g.child.exitCode, null, 'still running')
})

t.test('gatehouse check: missing, broken and mismatched TLS files are config problems', async (t) => {
  const file = join(dir, 'check.yaml')
  const cases: [string, string, RegExp][] = [
    [join(dir, 'missing.crt'), one.keyFile, /tls\.certFile: cannot read ".*missing\.crt": ENOENT/],
    [one.keyFile, one.keyFile, /tls\.certFile: ".*gatehouse-one\.key" holds no PEM certificate/],
    [one.certFile, join(dir, 'bad.key'), /tls\.keyFile: ".*bad\.key" holds no PEM private key/],
    [one.certFile, two.keyFile, /tls\.keyFile: ".*gatehouse-two\.key" is not the key of the certificate in ".*gatehouse-one\.crt"/],
  ]
  writeFileSync(join(dir, 'bad.key'), '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n')
  for (const [cert, key, want] of cases) {
    writeFileSync(file, yaml(8443, 'https://id.example.com/', 'http://127.0.0.1:3000', `tls:\n  certFile: ${cert}\n  keyFile: ${key}\n`))
    const r = await check(file)
    t.equal(r.code, 1, `exit 1: ${String(want)}`)
    t.match(r.out, want)
  }
  writeFileSync(file, yaml(8443, 'https://id.example.com/', 'http://127.0.0.1:3000', `tls:\n  certFile: ${one.certFile}\n  keyFile: ${one.keyFile}\n`))
  const ok = await check(file)
  t.equal(ok.code, 0, ok.out)
  writeFileSync(file, yaml(8443, 'https://id.example.com/', 'http://127.0.0.1:3000', 'tls:\n  certFile: /x.crt\n'))
  t.match((await check(file)).out, /tls\.keyFile: is required/)
})
