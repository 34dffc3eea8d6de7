import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { request } from '../fixtures/browser.js'
import { sessionCookieOnly, sessionOf, setCookieHeader } from '../fixtures/gateway.js'
import { freePort, gatewayYaml, startStack, type Stack } from '../fixtures/stack.js'

/**
 * Gatehouse behind a real nginx with auth_request, configured with the very
 * configuration docs/forward-auth.md gives (read from the page).
 */

const NGINX = '/usr/sbin/nginx'
const DOC = join(import.meta.dirname, '..', '..', 'docs', 'forward-auth.md')

/** The nginx configuration block of docs/forward-auth.md. */
export function docNginxBlock (): string {
  const text = readFileSync(DOC, 'utf8')
  const m = /<!-- nginx-forward-auth:start -->\n```nginx\n([\s\S]*?)```\n<!-- nginx-forward-auth:end -->/.exec(text)
  if (m === null) throw new Error('docs/forward-auth.md has no nginx-forward-auth block')
  return m[1]!
}

async function waitForPort (port: number, ms: number): Promise<void> {
  const deadline = Date.now() + ms
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1', () => { s.destroy(); resolve(true) })
      s.on('error', () => { resolve(false) })
    })
    if (ok) return
    if (Date.now() > deadline) throw new Error(`nothing listens on ${port}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

interface Teardown { teardown (fn: () => unknown): void }

/** Starts nginx with the doc's block, its upstreams pointed at the gateway and the app. */
async function startNginx (t: Teardown, port: number, gateway: string, app: string): Promise<{ conf: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-nginx-'))
  const block = docNginxBlock()
    .replace('server gatehouse:8080;', `server ${new URL(gateway).host};`)
    .replace('server app:3000;', `server ${new URL(app).host};`)
    .replace('listen 80;', `listen 127.0.0.1:${port};`)
  const conf = `daemon off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log info;
events { worker_connections 128; }
http {
  access_log ${dir}/access.log;
  client_body_temp_path ${dir}/client_body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
${block}
}
`
  writeFileSync(join(dir, 'nginx.conf'), conf)
  const child = spawn(NGINX, ['-p', dir, '-c', join(dir, 'nginx.conf'), '-e', join(dir, 'error.log')], { stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr.on('data', (c: Buffer) => { stderr += c.toString() })
  t.teardown(async () => {
    if (child.exitCode === null) {
      const done = new Promise((resolve) => child.once('exit', resolve))
      child.kill('SIGQUIT')
      await done
    }
    rmSync(dir, { recursive: true, force: true })
  })
  try {
    await waitForPort(port, 5000)
  } catch (err) {
    throw new Error(`nginx did not start: ${stderr} ${readErr(dir)}`, { cause: err })
  }
  return { conf }
}

function readErr (dir: string): string {
  try { return readFileSync(join(dir, 'error.log'), 'utf8') } catch { return '' }
}

const ROUTES = `
  - path: /admin
    upstream: {{UPSTREAM}}
    allow:
      groups: [admins]
  - path: /public
    upstream: {{UPSTREAM}}
    auth: public
  - path: /
    upstream: {{UPSTREAM}}
`

interface Behind { readonly s: Stack, readonly front: string, readonly clock: { now: number } }

/** nginx on a free port in front; the gateway's publicUrl is nginx's address. */
async function behindNginx (t: Teardown): Promise<Behind> {
  const port = await freePort()
  const front = `http://127.0.0.1:${port}`
  const clock = { now: Date.now() }
  const yaml = gatewayYaml({ routes: ROUTES, session: '  idleTimeout: 3h\n' }).replace('publicUrl: {{PUBLIC}}', `publicUrl: ${front}`)
  const s = await startStack(t, {
    yaml,
    client: { redirect_uris: [`${front}/.gatehouse/callback`], post_logout_redirect_uris: [`${front}/`] },
    deps: { now: () => clock.now },
  })
  await startNginx(t, port, s.url, s.upstream.url)
  return { s, front, clock }
}

const API = { accept: 'application/json' }

t.test('the nginx configuration of docs/forward-auth.md is valid nginx', async (t) => {
  const port = await freePort()
  const { conf } = await startNginx(t, port, 'http://127.0.0.1:1', 'http://127.0.0.1:2')
  t.match(conf, /auth_request \/\.gatehouse\/auth;/)
  t.match(conf, /auth_request_set \$auth_cookie \$upstream_http_set_cookie;/)
  t.match(conf, /add_header Set-Cookie \$auth_cookie;/)
  t.match(conf, /error_page 401 = @login;/)
})

t.test('behind nginx: a browser is sent to log in, comes back signed in, and the upstream gets the identity from auth_request_set', async (t) => {
  const { s, front } = await behindNginx(t)
  const b = s.browser()
  const first = await b.fetch(`${front}/app/page?a=1&b=2`)
  t.equal(first.status, 302, 'error_page 401 = @login: a 302 to the login')
  t.equal(first.headers.location, `${front}/.gatehouse/login?rd=${encodeURIComponent('/app/page?a=1&b=2')}`, 'rd is the original path, encoded')
  const landed = await b.login(`${front}/app/page?a=1&b=2`)
  t.equal(landed.status, 200)
  t.equal(landed.url, `${front}/app/page?a=1&b=2`, 'back on the original URL, through nginx')
  const got = s.upstream.received.at(-1)!
  t.equal(got.url, '/app/page?a=1&b=2')
  const cookie = sessionCookieOnly(await b.cookieHeader(`${front}/`))
  const session = await sessionOf(s.nodes[0]!, cookie, Date.now())
  t.ok(session)
  t.equal(got.headers['x-forwarded-user'], session!.sub)
  t.equal(got.headers['x-forwarded-email'], 'alice@example.com')
  t.equal(got.headers['x-forwarded-groups'], 'admins,staff')
  t.equal(got.headers['x-forwarded-preferred-username'], 'alice')
  t.equal(got.headers.authorization, `Bearer ${session!.accessToken}`)
})

t.test('behind nginx: 401 for an API client, 403 when the policy denies, and a client\'s own identity headers never reach the upstream', async (t) => {
  const { s, front } = await behindNginx(t)
  const api = await request(`${front}/app`, { headers: API })
  t.equal(api.status, 401, 'an API client gets 401, not a redirect')
  t.equal(api.json().error, 'unauthenticated')
  const bob = sessionCookieOnly(await (async () => { const b = s.browser(); await b.login(`${front}/x`, 'bob'); return b.cookieHeader(`${front}/`) })())
  t.not(bob, '')
  const direct = await request(`${front}/.gatehouse/auth`, { headers: { ...API, cookie: bob, 'x-forwarded-uri': '/x', 'x-original-url': `${front}/x` } })
  t.equal(direct.status, 404, 'a client cannot call the check through nginx (internal): it would read the token')
  t.equal(direct.headers.authorization, undefined)
  const forbidden = await request(`${front}/admin/x`, { headers: { ...API, cookie: bob } })
  t.equal(forbidden.status, 403)
  // The client names another path in the forward-auth headers: nginx drops them, the real path decides.
  const sneaky = await request(`${front}/admin/x`, { headers: { ...API, cookie: bob, 'x-forwarded-uri': '/public/x', 'x-original-uri': '/public/x' } })
  t.equal(sneaky.status, 403)
  const before = s.upstream.received.length
  const spoof = { 'x-forwarded-user': 'mallory', 'x-forwarded-email': 'mallory@evil.example', 'x-forwarded-groups': 'admins', authorization: 'Bearer forged' }
  t.equal((await request(`${front}/public/x`, { headers: { ...API, ...spoof } })).status, 200)
  t.equal((await request(`${front}/x`, { headers: { ...API, ...spoof, cookie: bob } })).status, 200)
  const [anon, signed] = s.upstream.received.slice(before)
  t.equal(anon!.headers['x-forwarded-user'], undefined, 'public route: no identity, the client\'s removed')
  t.equal(anon!.headers['x-forwarded-email'], undefined)
  t.equal(anon!.headers['x-forwarded-groups'], undefined)
  t.equal(anon!.headers.authorization, undefined)
  t.equal(signed!.headers['x-forwarded-email'], 'bob@example.com', 'signed in: Gatehouse\'s identity, not the client\'s')
  t.equal(signed!.headers['x-forwarded-groups'], 'staff')
  t.not(signed!.headers.authorization, 'Bearer forged')
})

t.test('behind nginx: a refresh during the check reaches the browser as Set-Cookie, and the refreshed cookie works', async (t) => {
  const { s, front, clock } = await behindNginx(t)
  const b = s.browser()
  t.equal((await b.login(`${front}/x`)).status, 200)
  const old = sessionCookieOnly(await b.cookieHeader(`${front}/`))
  const before = await sessionOf(s.nodes[0]!, old, clock.now)
  clock.now += 3600_000 + 60_000
  const r = await request(`${front}/y`, { headers: { ...API, cookie: old } })
  t.equal(r.status, 200)
  t.equal(s.idp.grants.get('refresh_token'), 1, 'one refresh at the provider')
  const fresh = setCookieHeader(r)
  t.not(fresh, '', 'nginx passed the refreshed session cookie to the browser')
  const after = await sessionOf(s.nodes[0]!, fresh, clock.now)
  t.not(after!.accessToken, before!.accessToken)
  t.equal(s.upstream.received.at(-1)!.headers.authorization, `Bearer ${after!.accessToken}`, 'the upstream got the new token')
  t.equal((await request(`${front}/z`, { headers: { ...API, cookie: fresh } })).status, 200)
  t.equal(s.idp.grants.get('refresh_token'), 1, 'the refreshed cookie needs no second refresh')
})
