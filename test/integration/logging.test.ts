import t from 'tap'
import type { Response } from '../fixtures/browser.js'
import { DEFAULT_YAML, startStack } from '../fixtures/stack.js'

t.test('no token, code, state or cookie value ever reaches a log line', async (t) => {
  const lines: string[] = []
  const yaml = DEFAULT_YAML.replace('publicUrl: {{PUBLIC}}', 'publicUrl: {{PUBLIC}}\nlog:\n  level: debug\n  requests: true')
  const s = await startStack(t, { yaml, deps: { logStream: { write: (line: string) => { lines.push(line) } } } })
  const b = s.browser()
  const { hops } = await b.navigate(`${s.url}/page`, { user: 'alice' })
  const callback = hops.map((h: Response) => h.headers.location ?? '').find((l) => l.includes('/.gatehouse/callback?'))!
  const q = new URL(callback).searchParams
  const seen = s.upstream.received.at(-1)!
  const cookies = (await b.jar.getCookies(`${s.url}/`)).map((c) => c.value)
  // Secrets an application's own clients put in query strings.
  const apiKey = `api-key-value-${Math.random().toString(36).slice(2)}`
  const password = `password-value-${Math.random().toString(36).slice(2)}`
  t.equal((await b.fetch(`${s.url}/report?api_key=${apiKey}&password=${password}&page=2`)).status, 200)
  const secrets = [q.get('code')!, q.get('state')!, String(seen.headers.authorization).slice(7), ...cookies, apiKey, password]
  await b.fetch(`${s.url}/.gatehouse/logout`)
  t.ok(secrets.every((v) => v.length >= 20), 'secrets collected')
  const log = lines.join('')
  t.match(log, /"url":"\/\.gatehouse\/callback\?code=\[redacted\]&state=\[redacted\]/, 'the callback request is logged, redacted')
  t.match(log, /login complete/)
  const access = lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.msg === 'request')
  t.ok(access.length >= 4, `access-log lines written (${access.length})`)
  t.ok(access.some((l) => l.url === '/report?api_key=[redacted]&password=[redacted]&page=2' && l.status === 200 && typeof l.user === 'string'), 'the request with secrets in its query is logged, redacted')
  for (const v of secrets) t.notOk(log.includes(v), `not in the log: ${v.slice(0, 6)}…`)
})
