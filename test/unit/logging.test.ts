import { spawnSync } from 'node:child_process'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import pino from 'pino'
import t from 'tap'
import { BATCH_BYTES, BatchedLines, loggerOptions } from '../../src/logging.js'
import { accessJson, type AccessLine } from '../../src/observe.js'
import { parseConfig } from '../../src/config/load.js'
import { MIN } from '../fixtures/minimal-config.js'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')

const base: AccessLine = {
  reqId: 'a1b2c3d4-1', method: 'GET', host: 'app.example.com', url: '/x?q=1', route: 'app', status: 200,
  durationMs: 1.234, upstreamMs: 0.987, user: 'alice', decision: 'allow', reason: 'session', detail: undefined,
  remoteAddress: '127.0.0.1', aborted: undefined,
}

t.test('an access line built directly is byte for byte what pino writes for the same fields', async (t) => {
  const written: string[] = []
  const log = pino(loggerOptions(parseConfig(MIN, { env: {} })) as pino.LoggerOptions, { write: (l: string) => { written.push(l) } })
  const cases: [string, Partial<AccessLine>][] = [
    ['every field', {}],
    ['quotes, backslashes, CR/LF, NUL and other controls', { url: '/a"b\\c\r\nd\u0000\u001f\u007f', user: '"\\\n', detail: 'tab\there' }],
    ['U+2028/2029, non-ASCII, an astral character', { user: '\u2028\u2029é漢字😀', url: '/caf\u00e9' }],
    ['latin1 bytes as Node decodes a raw path', { url: Buffer.from('/ü?x=ÿ', 'utf8').toString('latin1') }],
    ['empty strings', { reqId: '', host: '', url: '', remoteAddress: '' }],
    ['no upstream, no user, no decision', { upstreamMs: undefined, user: undefined, decision: undefined, reason: undefined }],
    ['a refused request with a detail, aborted, 499', { status: 499, decision: 'deny', reason: 'policy', detail: 'not in an allowed group', aborted: true }],
    ['a decision without a reason part', { decision: 'deny', reason: '' }],
    ['zero and large numbers', { durationMs: 0, upstreamMs: 123456.789, status: 599 }],
    ['a route label with a colon', { route: 'gatehouse:login' }],
  ]
  for (const [name, over] of cases) {
    const line = { ...base, ...over }
    log.info(line, 'request')
    const fromPino = written.pop()!
    const time = (JSON.parse(fromPino) as { time: number }).time
    t.equal(accessJson(line, time), fromPino, name)
  }
  // Where the two differ: a lone surrogate is escaped (pino writes it raw, which UTF-8 turns into U+FFFD).
  const lone = accessJson({ ...base, user: 'x\ud800' }, 1)
  t.match(lone, /"user":"x\\ud800"/)
  t.equal((JSON.parse(Buffer.from(lone, 'utf8').toString('utf8')) as { user: string }).user, 'x\ud800', 'still the same value once read back')
})

const accessLine = (n: number, pad = 0): string => accessJson({ ...base, reqId: `id-${n}`, url: `/${'p'.repeat(pad)}` }, 1_700_000_000_000)
const otherLine = (msg: string, level = 40): string => `{"level":${level},"time":1,"msg":${JSON.stringify(msg)}}\n`

/** A sink that keeps each write. */
function sink (): { writes: string[], write: (d: string) => void } {
  const writes: string[] = []
  return { writes, write: (d: string) => { writes.push(d) } }
}

t.test('access lines are written together, whole lines, at most BATCH_BYTES a write', async (t) => {
  const s = sink()
  const b = new BatchedLines(s, 0)
  t.teardown(() => { b.close() })
  const lines: string[] = []
  for (let i = 0; i < 500; i++) {
    // Some lines of multi-byte text: the limit counts bytes, not characters.
    const l = i % 7 === 0 ? accessJson({ ...base, reqId: `id-${i}`, user: '漢'.repeat(200) }, 1) : accessLine(i, i % 50)
    lines.push(l)
    b.write(l)
  }
  t.ok(s.writes.length > 1 && s.writes.length < 100, `gathered: ${s.writes.length} writes for 500 lines`)
  b.flush()
  t.equal(s.writes.join(''), lines.join(''), 'every line, in order, nothing lost or split')
  for (const w of s.writes) {
    t.ok(Buffer.byteLength(w) <= BATCH_BYTES, `a write of ${Buffer.byteLength(w)} bytes`)
    t.ok(w.endsWith('\n'), 'ends at a line end')
  }
  // A line longer than a batch goes alone, after what was gathered.
  s.writes.length = 0
  b.write(accessLine(1))
  const long = accessLine(2, 10_000)
  b.write(long)
  b.write(accessLine(3))
  b.flush()
  t.same(s.writes, [accessLine(1), long, accessLine(3)])
})

t.test('any other line is written at once, after the access lines before it', async (t) => {
  const s = sink()
  const b = new BatchedLines(s, 0)
  t.teardown(() => { b.close() })
  b.write(accessLine(1))
  b.write(accessLine(2))
  t.same(s.writes, [], 'access lines wait')
  b.write(otherLine('upstream failed'))
  t.same(s.writes, [accessLine(1) + accessLine(2), otherLine('upstream failed')], 'order kept, the warning not held back')
  b.write(otherLine('login complete', 30))
  t.equal(s.writes.length, 3, 'info lines other than the access log are not held either')
  // A line that only contains the access log's msg somewhere else is not one.
  b.write('{"level":30,"time":1,"note":"\\"msg\\":\\"request\\"}","msg":"x"}\n')
  t.equal(s.writes.length, 4)
})

t.test('gathered lines are written every flushInterval, and on close', async (t) => {
  const s = sink()
  const b = new BatchedLines(s, 40)
  b.write(accessLine(1))
  t.same(s.writes, [])
  await new Promise((resolve) => setTimeout(resolve, 150))
  t.same(s.writes, [accessLine(1)], 'written by the timer')
  b.write(accessLine(2))
  b.close()
  t.same(s.writes, [accessLine(1), accessLine(2)], 'close() writes the rest')
  b.write(accessLine(3))
  b.flush()
  t.equal(s.writes.length, 3, 'a line after close is still written when flushed')
})

t.test('the process writes what it gathered when it exits: process.exit and an uncaught error', async (t) => {
  const mod = path.join(ROOT, 'dist', 'logging.js')
  const obs = path.join(ROOT, 'dist', 'observe.js')
  for (const [how, end] of [['process.exit(3)', 'process.exit(3)'], ['an uncaught error', 'setTimeout(() => { throw new Error("boom") }, 5)'], ['the event loop running empty', '']] as const) {
    const script = `
      const { stdoutDestination } = await import(${JSON.stringify(mod)})
      const { accessJson } = await import(${JSON.stringify(obs)})
      const d = stdoutDestination(60000)
      for (let i = 0; i < 5; i++) d.write(accessJson({ ...${JSON.stringify(base)}, reqId: 'x-' + i }, 1))
      ${end}`
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 20_000 })
    const ids = r.stdout.split('\n').filter((l) => l !== '').map((l) => (JSON.parse(l) as { reqId: string }).reqId)
    t.same(ids, ['x-0', 'x-1', 'x-2', 'x-3', 'x-4'], `${how}: every line on stdout (exit ${r.status})`)
  }
})

t.test('SIGKILL loses what was gathered; with flushInterval 0 every line is out at once', async (t) => {
  const mod = path.join(ROOT, 'dist', 'logging.js')
  const obs = path.join(ROOT, 'dist', 'observe.js')
  for (const [interval, want] of [[60_000, []], [0, ['x-0', 'x-1', 'x-2']]] as const) {
    const script = `
      const { stdoutDestination } = await import(${JSON.stringify(mod)})
      const { accessJson } = await import(${JSON.stringify(obs)})
      const d = stdoutDestination(${interval})
      for (let i = 0; i < 3; i++) d.write(accessJson({ ...${JSON.stringify(base)}, reqId: 'x-' + i }, 1))
      process.kill(process.pid, 'SIGKILL')`
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 20_000 })
    t.equal(r.signal, 'SIGKILL')
    const ids = r.stdout.split('\n').filter((l) => l !== '').map((l) => (JSON.parse(l) as { reqId: string }).reqId)
    t.same(ids, want, `flushInterval ${interval}: ${want.length} lines on stdout`)
  }
})
