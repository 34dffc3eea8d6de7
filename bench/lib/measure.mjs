// One measured load run: CPU of Gatehouse's process tree from /proc before and
// after, machine noise, provider calls, status checks around the run.
import os from 'node:os'
import { execFileSync } from 'node:child_process'
import { runLoad } from './load.mjs'
import { machineTicks, processTable, reapedChildTicks, treeRss, treeTicks, usPerRequest } from './proc.mjs'
import { providerRequests } from './idp.mjs'
import { request } from './login.mjs'
import { sleep } from './stack.mjs'

export const CLK_TCK = (() => { try { return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100 } catch { return 100 } })()
const NCPU = os.cpus().length

/** Machine busy % (all cores) over `ms`. */
export async function busyPct (ms) {
  const a = machineTicks()
  await sleep(ms)
  const b = machineTicks()
  return 100 * (1 - (b.idle - a.idle) / Math.max(1, b.total - a.total))
}

/**
 * Waits (bounded by a budget shared by the whole run) until the machine is
 * under `quietPct` busy. Returns the busy % seen last.
 */
export async function waitQuiet (opts, log) {
  let b = await busyPct(1000)
  while (b > opts.quietPct && opts.quietBudgetMs > 0) {
    log(`machine ${b.toFixed(0)}% busy (other processes); waiting for < ${opts.quietPct}% (${Math.round(opts.quietBudgetMs / 1000)} s of waiting left)`)
    const t0 = Date.now()
    b = await busyPct(3000)
    opts.quietBudgetMs -= Date.now() - t0
  }
  return b
}

/**
 * @typedef {object} Case
 * @property {string} key
 * @property {string} label
 * @property {string} url
 * @property {number} expect expected HTTP status
 * @property {() => Promise<Record<string, string>>} headers fresh request headers (e.g. after a new login)
 * @property {number | undefined} pid Gatehouse's PID (undefined for the direct case)
 */

/**
 * Runs one case once and returns a RunResult (see report.mjs).
 * @param {Case} c
 * @param {number} round
 * @param {{ tool: string, seconds: number, connections: number, threads: number, quietPct: number, quietBudgetMs: number }} opts
 * @param {{ idp: any, upstreamPid: number }} env
 */
export async function measure (c, round, opts, env, log) {
  const before = await waitQuiet(opts, log)
  const headers = await c.headers()
  const pre = await request(c.url, { headers })
  if (pre.status !== c.expect) throw new Error(`${c.key}: expected HTTP ${c.expect} before the run, got ${pre.status}: ${pre.text.slice(0, 200)}`)
  const t0 = processTable()
  const gh0 = c.pid === undefined ? 0 : treeTicks(c.pid, t0)
  const up0 = treeTicks(env.upstreamPid, t0)
  const m0 = machineTicks()
  const w0 = reapedChildTicks()
  const self0 = process.cpuUsage()
  const prov0 = providerRequests(env.idp)
  const from = Number(process.hrtime.bigint() / 1000n)
  const r = await runLoad({ tool: opts.tool, url: c.url, headers, seconds: opts.seconds, connections: opts.connections, threads: opts.threads })
  const to = Number(process.hrtime.bigint() / 1000n)
  const prov1 = providerRequests(env.idp)
  const self1 = process.cpuUsage(self0)
  const w1 = reapedChildTicks()
  const m1 = machineTicks()
  const t1 = processTable()
  const gh1 = c.pid === undefined ? 0 : treeTicks(c.pid, t1)
  const up1 = treeTicks(env.upstreamPid, t1)
  const post = await request(c.url, { headers })
  const ghTicks = gh1 - gh0
  const secs = r.seconds
  // CPU of everything this benchmark runs, in ticks; the rest of the machine's busy time is noise.
  const ours = ghTicks + (up1 - up0) + (w1 - w0) + ((self1.user + self1.system) / 1e6) * CLK_TCK
  const busy = 100 * (1 - (m1.idle - m0.idle) / Math.max(1, m1.total - m0.total))
  const otherPct = Math.max(0, busy - (100 * ours) / (CLK_TCK * secs * NCPU))
  const unexpected = c.expect === 200 ? r.non2xx : Math.max(0, r.requests - r.non2xx)
  const res = {
    key: c.key,
    round,
    requests: r.requests,
    rps: r.requests / secs,
    p50ms: r.p50ms,
    p99ms: r.p99ms,
    p999ms: r.p999ms,
    cpuUs: c.pid === undefined ? NaN : usPerRequest(ghTicks, CLK_TCK, r.requests),
    cores: c.pid === undefined ? NaN : ghTicks / CLK_TCK / secs,
    rssMb: c.pid === undefined ? NaN : treeRss(c.pid) / 2 ** 20,
    providerCalls: prov1 - prov0,
    unexpected: unexpected + (post.status === c.expect ? 0 : 1),
    socketErrors: r.socketErrors,
    busyBefore: before,
    otherPct,
    noisy: otherPct > opts.quietPct || before > opts.quietPct,
    window: { from, to },
  }
  log(`round ${round} ${c.key.padEnd(10)} ${res.rps.toFixed(0).padStart(7)} req/s  p50 ${res.p50ms.toFixed(2)} ms  p99 ${res.p99ms.toFixed(2)} ms  p99.9 ${res.p999ms.toFixed(2)} ms  ` +
    `gatehouse ${Number.isNaN(res.cpuUs) ? '-' : res.cpuUs.toFixed(1)} us/req  other ${otherPct.toFixed(0)}%  provider calls ${res.providerCalls}` +
    `${res.unexpected + res.socketErrors > 0 ? `  UNEXPECTED ${res.unexpected} errors ${res.socketErrors}` : ''}${res.noisy ? '  NOISY' : ''}`)
  return res
}

/** A warm-up load (unrecorded): JIT, connection pools, caches. */
export async function warmUp (c, opts) {
  if (opts.warmup <= 0) return
  const headers = await c.headers()
  await runLoad({ tool: opts.tool, url: c.url, headers, seconds: opts.warmup, connections: opts.connections, threads: opts.threads })
}

/**
 * Every case once per round, `opts.rounds` times (A B C ... A B C ...), so
 * that machine noise is shared; a warm-up before each case's first run.
 */
export async function runRounds (cases, opts, env, log) {
  const results = []
  for (let round = 1; round <= opts.rounds; round++) {
    for (const c of roundOrder(cases, round)) {
      if (round === 1) await warmUp(c, opts)
      results.push(await measure(c, round, opts, env, log))
    }
  }
  return results
}

/**
 * The order of the cases in a round: each round starts one case later, so
 * that no case always runs right after the same other one. A case's cost
 * depends on what ran before it: an A/A run (the same build in both slots
 * of a pair) measured one slot 12 % dearer when the order was fixed
 * (docs/performance.md, "Reading paired figures").
 */
export function roundOrder (cases, round) {
  const k = (round - 1) % Math.max(1, cases.length)
  return [...cases.slice(k), ...cases.slice(0, k)]
}
