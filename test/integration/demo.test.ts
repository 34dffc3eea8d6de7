import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { Browser } from '../fixtures/browser.js'
import { reservePort } from '../fixtures/stack.js'

/**
 * The demo (`npm start`, src/demo/main.ts with config/demo.yaml) switched to
 * another flow by its one field, responseType, given here through
 * DEMO_RESPONSE_TYPE: it starts, registers a matching client at its
 * provider, and a user can sign in and see the headers at the upstream.
 */

const ROOT = fileURLToPath(new URL('../../', import.meta.url))

async function freePorts (n: number): Promise<number[]> {
  const held = await Promise.all(Array.from({ length: n }, reservePort))
  await Promise.all(held.map(async (h) => h.release()))
  return held.map((h) => h.port)
}

for (const responseType of ['code', 'id_token', 'code id_token token']) {
  t.test(`npm start with responseType ${responseType}`, async (t) => {
    const [port, admin, idp, upstream] = await freePorts(4)
    const child = spawn(process.execPath, [...process.execArgv, `${ROOT}src/demo/main.ts`], {
      cwd: ROOT,
      env: { ...process.env, DEMO_PORT: String(port), DEMO_ADMIN_PORT: String(admin), DEMO_IDP_PORT: String(idp), DEMO_UPSTREAM_PORT: String(upstream), DEMO_RESPONSE_TYPE: responseType },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    t.teardown(() => { child.kill('SIGTERM') })
    let out = ''
    child.stdout.on('data', (c: Buffer) => { out += c.toString() })
    child.stderr.on('data', (c: Buffer) => { out += c.toString() })
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => { reject(new Error(`demo did not start:\n${out}`)) }, 60_000)
      child.stdout.on('data', () => { if (out.includes('Press Ctrl+C')) { clearTimeout(timer); resolve() } })
      child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`demo exited with ${code}:\n${out}`)) })
    })
    t.match(out, `response_type=${responseType}`, 'the demo says which flow it runs')
    const b = new Browser()
    const res = await b.login(`http://127.0.0.1:${port}/hello`, 'alice')
    t.equal(res.status, 200)
    t.equal(res.url, `http://127.0.0.1:${port}/hello`)
    t.match(res.text, /<h1>Demo upstream<\/h1>/)
    t.match(res.text, /<th>x-forwarded-user<\/th><td>alice<\/td>/, 'the upstream page shows the identity')
    t.match(res.text, /<th>authorization<\/th><td>Bearer eyJ/, 'and the ID token as Bearer')
    t.match(res.text, /&#34;sub&#34;: &#34;alice&#34;/, 'whose claims the page shows')
  })
}
