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
  const secrets = [q.get('code')!, q.get('state')!, String(seen.headers.authorization).slice(7), ...cookies]
  await b.fetch(`${s.url}/.gatehouse/logout`)
  t.ok(secrets.every((v) => v.length >= 20), 'secrets collected')
  const log = lines.join('')
  t.match(log, /"url":"\/\.gatehouse\/callback\?code=\[redacted\]&state=\[redacted\]/, 'the callback request is logged, redacted')
  t.match(log, /login complete/)
  for (const v of secrets) t.notOk(log.includes(v), `not in the log: ${v.slice(0, 6)}…`)
})
