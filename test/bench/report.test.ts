import t from 'tap'
import { parseMachineStat, parseRss, parseStat, treeTicks, usPerRequest } from '../../bench/lib/proc.mjs'
import { aggregate, appendHistory, historyLine, median, pairedDelta, pairedRatio, resultsTable } from '../../bench/lib/report.mjs'
import { parseWrkOutput } from '../../bench/lib/load.mjs'
import { area, selfTimes } from '../../bench/lib/cpuprofile.mjs'

t.test('/proc/<pid>/stat: fields counted from the last parenthesis', async (t) => {
  // A command name with spaces and a ')' must not shift the fields.
  const line = '4242 (node (gh) x) S 4200 4242 4200 0 -1 4194560 1 2 3 4 1500 250 7 9 20 0 11 0 100 0 0'
  const s = parseStat(line)
  t.same(s, { pid: 4242, state: 'S', ppid: 4200, utime: 1500, stime: 250, cutime: 7, cstime: 9 })
  t.throws(() => parseStat('garbage'))
})

t.test('process tree ticks include descendants and their reaped children', async (t) => {
  const table = new Map([
    [1, { pid: 1, ppid: 0, state: 'S', utime: 100, stime: 10, cutime: 5, cstime: 0 }],
    [2, { pid: 2, ppid: 1, state: 'S', utime: 40, stime: 4, cutime: 0, cstime: 0 }],
    [3, { pid: 3, ppid: 2, state: 'S', utime: 1, stime: 1, cutime: 0, cstime: 0 }],
    [9, { pid: 9, ppid: 0, state: 'S', utime: 999, stime: 999, cutime: 0, cstime: 0 }],
  ])
  t.equal(treeTicks(1, table), 115 + 44 + 2)
  t.equal(treeTicks(2, table), 46)
  t.equal(treeTicks(7, table), 0, 'a gone process counts nothing')
})

t.test('machine stat, RSS, µs per request', async (t) => {
  t.same(parseMachineStat('cpu  100 0 50 800 50 0 0 0 0 0\ncpu0 1 2 3\n'), { total: 1000, idle: 850 })
  t.throws(() => parseMachineStat('intr 1 2 3\n'))
  t.equal(parseRss('Name:\tnode\nVmRSS:\t  123456 kB\nThreads: 11\n'), 123456 * 1024)
  t.equal(parseRss('Name:\tkthread\n'), 0)
  // 150 ticks at 100 Hz = 1.5 s of CPU over 15,000 requests = 100 µs each
  t.equal(usPerRequest(150, 100, 15_000), 100)
  t.ok(Number.isNaN(usPerRequest(10, 100, 0)))
})

t.test('wrk report line', async (t) => {
  const out = 'Running 5s test\nWRKJSON {"requests":50000,"duration_us":5000000,"bytes":6000000,"errors":{"connect":0,"read":1,"write":0,"status":3,"timeout":2},"latency_us":{"mean":1000.5,"max":9000,"p50":900,"p90":1500,"p99":4200,"p999":8100}}\n'
  const r = parseWrkOutput(out)
  t.equal(r.requests, 50000)
  t.equal(r.seconds, 5)
  t.equal(r.non2xx, 3)
  t.equal(r.socketErrors, 3)
  t.equal(r.p50ms, 0.9)
  t.equal(r.p99ms, 4.2)
  t.equal(r.p999ms, 8.1)
  t.throws(() => parseWrkOutput('wrk: connection refused'))
})

const run = (key: string, round: number, rps: number, cpuUs: number, noisy = false) => ({
  key, round, rps, p50ms: 1, p99ms: 2 * round, p999ms: 5 * round, cpuUs, cores: 0.9, rssMb: 100, providerCalls: 0, unexpected: 0, socketErrors: 0, otherPct: noisy ? 40 : 1, noisy,
})

t.test('aggregate: medians, noisy runs left out when clean ones exist', async (t) => {
  t.equal(median([3, 1, 2]), 2)
  t.equal(median([4, 1, 2, 3]), 2.5)
  t.ok(Number.isNaN(median([])))
  const rows = aggregate([
    run('direct', 1, 80_000, NaN), run('direct', 2, 90_000, NaN), run('direct', 3, 85_000, NaN),
    run('cookie', 1, 10_000, 100), run('cookie', 2, 5_000, 300, true), run('cookie', 3, 12_000, 90),
    run('public', 1, 1_000, 500, true),
  ], ['direct', 'cookie', 'public', 'absent'])
  t.same(rows.map((r) => r.key), ['direct', 'cookie', 'public'], 'table order; a case without runs is left out')
  const cookie = rows[1]!
  t.equal(cookie.rps, 11_000, 'median of the two clean runs')
  t.equal(cookie.cpuUs, 95)
  t.equal(cookie.runs, '2/3')
  t.notOk(cookie.noisy)
  t.ok(rows[2]!.noisy, 'only noisy runs: kept, and marked')
  const md = resultsTable(rows, { direct: 'direct', cookie: 'cookie store', public: 'public route' })
  t.match(md, /\| cookie store \| 11,000 \| 10,000\.\.12,000 \| 0\.129 \| 1\.00 \| 4\.00 \| 10\.00 \| 95\.0 \|/, 'p50, p99, p99.9: medians of the clean runs')
  t.match(md, /\| public route \(noisy\) \|/)
})

t.test('history file: header once, one line per run', async (t) => {
  const rows = aggregate([run('direct', 1, 90_000, NaN), run('cookie', 1, 10_000, 100), run('workers2', 1, 15_000, 120)], ['direct', 'cookie', 'workers2'])
  const line = historyLine({ date: '2026-01-01 00:00', commit: 'abc1234', tool: 'wrk', rows, noisyRuns: 0 })
  t.match(line, /^\| 2026-01-01 00:00 \| abc1234 \| wrk \| 90,000 \| - \| 100\.0 \| 10,000 \|/)
  t.match(line, /workers2 120\.0, 15,000/)
  const first = appendHistory(undefined, line)
  t.match(first, /^# Benchmark history/)
  const second = appendHistory(first, line)
  t.equal(second.split('# Benchmark history').length, 2, 'header written once')
  t.equal(second.trim().split('\n').filter((l) => l.startsWith('| 2026')).length, 2)
})

t.test('cpu profile: self time by function and area, within a time window', async (t) => {
  t.equal(area({ functionName: 'x', url: 'file:///a/node_modules/undici/lib/x.js' }), 'undici')
  t.equal(area({ functionName: 'x', url: 'file:///a/node_modules/@fastify/cookie/x.js' }), '@fastify/cookie')
  t.equal(area({ functionName: 'x', url: 'node:internal/streams/writable' }), 'node:streams')
  t.equal(area({ functionName: 'read', url: 'file:///w/dist/session/manager.js' }), 'gatehouse session/manager')
  t.equal(area({ functionName: '(garbage collector)', url: '' }), 'GC')
  const profile = {
    startTime: 1000,
    nodes: [
      { id: 1, callFrame: { functionName: '(root)', url: '', lineNumber: -1 } },
      { id: 2, callFrame: { functionName: 'read', url: 'file:///w/dist/session/manager.js', lineNumber: 41 } },
      { id: 3, callFrame: { functionName: '(idle)', url: '', lineNumber: -1 } },
    ],
    samples: [2, 2, 3, 2],
    timeDeltas: [10, 10, 10, 10],
  }
  const all = selfTimes(profile)
  t.same(all.functions[0], ['read manager.js:42', 75])
  const late = selfTimes(profile, { from: 1025, to: 2000 })
  t.same(late.areas.map(([a]) => a).sort(), ['gatehouse session/manager', 'idle'])
  t.equal(late.totalMs, 0.02)
})

t.test('paired differences: per round, noisy rounds left out', async (t) => {
  const results = [
    run('cookie', 1, 0, 120), run('public', 1, 0, 100),
    run('cookie', 2, 0, 150), run('public', 2, 0, 140),
    run('cookie', 3, 0, 300, true), run('public', 3, 0, 100),
    run('cookie', 4, 0, 111), run('public', 4, 0, 99),
  ]
  t.same(pairedDelta(results, 'cookie', 'public'), { median: 12, min: 10, max: 20, n: 3 })
  t.equal(pairedDelta(results, 'cookie', 'absent'), undefined)
  const ratio = pairedRatio(results, 'cookie', 'public')
  t.equal(ratio?.n, 3, 'the noisy round is left out')
  t.same([ratio?.min, ratio?.median, ratio?.max], [150 / 140, 111 / 99, 120 / 100])
})

t.test('rounds rotate the order of the cases', async (t) => {
  const { roundOrder } = await import('../../bench/lib/measure.mjs')
  const cases = ['a', 'b', 'c']
  t.same(roundOrder(cases, 1), ['a', 'b', 'c'])
  t.same(roundOrder(cases, 2), ['b', 'c', 'a'])
  t.same(roundOrder(cases, 3), ['c', 'a', 'b'])
  t.same(roundOrder(cases, 4), ['a', 'b', 'c'])
  t.same(roundOrder([], 2), [])
})
